// Package cgroups places a container's processes in a cgroup and applies the
// OCI resources to it, on cgroup v1, v2 and hybrid hosts, behind one small
// interface. It knows nothing of containers beyond a cgroupsPath and a pid,
// and must never import anything of berth outside internal/runtime/cgroups.
//
// The host layout is read from /proc/self/mountinfo, never assumed. Every
// mounted v1 hierarchy gets one directory (co-mounted controllers such as
// "cpu,cpuacct" share it), and the cgroup2 mount, if any, gets one more. Each
// resource is written to the hierarchy that hosts its controller: on a pure
// v2 host that is always the cgroup2 directory; on a hybrid host a controller
// mounted as v1 wins and the cgroup2 directory serves the rest (for example
// hugetlb when only it was left to cgroup2).
//
// Device rules go to devices.allow/devices.deny on v1 and, on a cgroup2
// without them, into an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) built
// here by hand and attached with bpf(2); both start from "deny everything"
// and give the same answers (see devEmulator).
//
// Beyond Manager, Kill sends SIGKILL to every process of a cgroup, with
// cgroup.kill where the kernel has it.
package cgroups

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Manager owns one container's cgroup (one directory per v1 hierarchy, plus
// one cgroup2 directory when cgroup2 is mounted).
type Manager interface {
	// Apply creates the cgroup if needed and moves pid into it in every
	// hierarchy. A pid of -1 only creates the cgroup.
	Apply(pid int) error
	// Set writes the resource limits, creating the cgroup if needed so
	// limits can be in place before the first process joins (realtime CPU
	// bandwidth on v1 must be). Fields that are nil are left alone, so Set
	// doubles as `update`. A limit whose controller the host lacks is an
	// error, except the network classID/priorities (ignored without a
	// net_cls/net_prio v1 mount), kernel memory (always ignored: obsolete)
	// and the v1-only swappiness and OOM-killer switch (ignored on cgroup2).
	Set(r *specs.LinuxResources) error
	// Freeze stops (true) or thaws (false) every process in the cgroup and
	// returns when the kernel reports the new state.
	Freeze(frozen bool) error
	// Frozen reports whether the cgroup is frozen.
	Frozen() (bool, error)
	// Pids lists the processes in the cgroup and its descendants.
	Pids() ([]int, error)
	// Stats reads current usage. Counters of controllers the host lacks
	// are left zero.
	Stats() (*Stats, error)
	// Destroy removes the cgroup directories, descendants first; it fails
	// if processes remain. Destroying a removed cgroup is not an error.
	Destroy() error
	// Paths maps each v1 subsystem (or "" for cgroup2) to its directory;
	// the runtime saves them in its state so later commands reopen the same
	// cgroup with Load.
	Paths() map[string]string
}

// ErrNotSupported is returned where the host cannot do what was asked.
var ErrNotSupported = errors.New("cgroups: not supported")

// Stats is the subset of usage `events --stats` and `stats` report.
type Stats struct {
	CPU struct {
		UsageTotal  uint64 `json:"total"` // nanoseconds
		UsageKernel uint64 `json:"kernel"`
		UsageUser   uint64 `json:"user"`
		// Throttling, from the cpu controller's cpu.stat (CFS bandwidth).
		Periods          uint64 `json:"periods,omitempty"`
		ThrottledPeriods uint64 `json:"throttled_periods,omitempty"`
		ThrottledTime    uint64 `json:"throttled_time,omitempty"` // nanoseconds
	} `json:"cpu"`
	Memory struct {
		Usage uint64 `json:"usage"`
		// Limit is math.MaxUint64 on cgroup2 when there is none (v1
		// reports its own huge page-aligned number).
		Limit    uint64 `json:"limit"`
		MaxUsage uint64 `json:"max"` // v2: memory.peak, kernel 5.19+
		// Failcnt counts hits of the limit (v2: memory.events "max").
		Failcnt uint64 `json:"failcnt"`
		// OOMKills counts processes the OOM killer killed in this cgroup
		// (v2 memory.events oom_kill, v1 memory.oom_control oom_kill).
		OOMKills uint64 `json:"oom_kill"`
		// UnderOOM is true while a v1 cgroup with the OOM killer disabled
		// sits at its limit with processes paused (memory.oom_control).
		UnderOOM bool `json:"under_oom,omitempty"`
		// InactiveFile is the page cache not recently used (v1
		// memory.stat total_inactive_file, v2 inactive_file), which
		// docker stats leaves out of the usage it shows.
		InactiveFile uint64 `json:"inactive_file,omitempty"`
	} `json:"memory"`
	// IO is the bytes read from and written to block devices (v1 blkio
	// io_service_bytes_recursive, bfq's or the throttle layer's; v2
	// io.stat rbytes and wbytes), summed over devices.
	IO struct {
		ReadBytes  uint64 `json:"read_bytes"`
		WriteBytes uint64 `json:"write_bytes"`
	} `json:"io"`
	Pids struct {
		Current uint64 `json:"current"`
		Limit   uint64 `json:"limit"` // 0 when unlimited
	} `json:"pids"`
}
