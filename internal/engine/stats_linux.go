package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/runtime"
)

// ContainerStats is one sample of a container's resource usage, the
// figures docker stats shows. A container that is not running has zeros.
type ContainerStats struct {
	Read time.Time
	// CPUTotal is the CPU time the container used (ns); SystemCPU the
	// host's CPU time (ns, all CPUs, /proc/stat) when it was read, so
	// that two samples give a percentage of OnlineCPUs.
	CPUTotal, SystemCPU uint64
	OnlineCPUs          int
	// MemUsage is the memory used less the inactive page cache, as the
	// docker CLI computes it; MemLimit the cgroup's limit, or the host's
	// memory when there is none.
	MemUsage, MemLimit uint64
	// NetRx, NetTx: bytes received and sent on the container's network
	// namespace's interfaces (not lo); zero in the host's namespace.
	NetRx, NetTx uint64
	// BlockRead, BlockWrite: bytes read and written on block devices.
	BlockRead, BlockWrite uint64
	Pids                  uint64
}

// ContainerStats samples container c's usage from its cgroup and network
// namespace.
func (e *Engine) ContainerStats(ctx context.Context, c *container.Container) (*ContainerStats, error) {
	st := &ContainerStats{Read: time.Now()}
	if c.Status != container.Running {
		return st, nil
	}
	cg, err := e.runtime().Stats(c.ID)
	if errors.Is(err, runtime.ErrNotExist) {
		return st, nil // exited meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("stats %s: %w", c.ID[:12], err)
	}
	st.SystemCPU, st.OnlineCPUs = systemCPU()
	st.CPUTotal = cg.CPU.UsageTotal
	st.MemUsage = cg.Memory.Usage
	if cg.Memory.InactiveFile < st.MemUsage {
		st.MemUsage -= cg.Memory.InactiveFile
	}
	st.MemLimit = cg.Memory.Limit
	if host := hostMemory(); host > 0 && (st.MemLimit == 0 || st.MemLimit > host) {
		st.MemLimit = host
	}
	st.BlockRead, st.BlockWrite = cg.IO.ReadBytes, cg.IO.WriteBytes
	st.Pids = cg.Pids.Current
	if c.Pid > 0 {
		st.NetRx, st.NetTx = netIO(c.Pid)
	}
	return st, nil
}

// systemCPU returns the host's CPU time (ns) and the number of CPUs, from
// /proc/stat, as dockerd's stats collector reads them.
func systemCPU() (uint64, int) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	var total uint64
	cpus := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "cpu") {
			continue
		}
		if fields[0] != "cpu" {
			cpus++
			continue
		}
		for _, v := range fields[1:min(8, len(fields))] { // user … softirq
			n, _ := strconv.ParseUint(v, 10, 64)
			total += n
		}
	}
	const clockTicks = 100 // USER_HZ
	return total * (1e9 / clockTicks), cpus
}

func hostMemory() uint64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}

// netIO sums the bytes of pid's network namespace's interfaces but lo,
// or returns zeros when pid shares berth's (the host's) namespace.
func netIO(pid int) (rx, tx uint64) {
	var own, theirs unix.Stat_t
	if unix.Stat("/proc/self/ns/net", &own) != nil || unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &theirs) != nil || own.Ino == theirs.Ino {
		return 0, 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseUint(f[0], 10, 64)
		t, _ := strconv.ParseUint(f[8], 10, 64)
		rx, tx = rx+r, tx+t
	}
	return rx, tx
}
