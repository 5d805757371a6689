// Package cgroups places a container's processes in a cgroup and applies the
// OCI resources to it, on cgroup v1, v2 and hybrid hosts, behind one small
// interface. It knows nothing of containers beyond a cgroupsPath and a pid,
// and must never import anything of berth outside internal/runtime/cgroups.
package cgroups

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Manager owns one container's cgroup (one directory per v1 hierarchy, or
// one cgroup2 directory).
type Manager interface {
	// Apply creates the cgroup if needed and moves pid into it.
	Apply(pid int) error
	// Set writes the resource limits. Fields that are nil are left alone, so
	// Set doubles as `update`.
	Set(r *specs.LinuxResources) error
	// Freeze stops (true) or thaws (false) every process in the cgroup and
	// returns when the kernel reports the new state.
	Freeze(frozen bool) error
	// Frozen reports whether the cgroup is frozen.
	Frozen() (bool, error)
	// Pids lists the processes in the cgroup and its descendants.
	Pids() ([]int, error)
	// Stats reads current usage.
	Stats() (*Stats, error)
	// Destroy removes the cgroup directories; it fails if processes remain.
	Destroy() error
	// Paths maps each v1 subsystem (or "" for cgroup2) to its directory;
	// the runtime saves them in its state so later commands reopen the same
	// cgroup with Load.
	Paths() map[string]string
}

// Stats is the subset of usage `events --stats` and `stats` report.
type Stats struct {
	CPU struct {
		UsageTotal  uint64 `json:"total"` // nanoseconds
		UsageKernel uint64 `json:"kernel"`
		UsageUser   uint64 `json:"user"`
	} `json:"cpu"`
	Memory struct {
		Usage    uint64 `json:"usage"`
		Limit    uint64 `json:"limit"`
		MaxUsage uint64 `json:"max"`
		Failcnt  uint64 `json:"failcnt"`
		OOMKills uint64 `json:"oom_kill"`
	} `json:"memory"`
	Pids struct {
		Current uint64 `json:"current"`
		Limit   uint64 `json:"limit"`
	} `json:"pids"`
}
