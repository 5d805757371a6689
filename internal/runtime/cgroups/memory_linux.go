package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func (m *manager) setMemory(r *specs.LinuxResources) error {
	mem := r.Memory
	if mem == nil {
		return nil
	}
	// Kernel memory limits are obsolete (v1 ignores them since Linux 5.4
	// and v2 never had them): nothing to do for Kernel and KernelTCP.
	if mem.Limit == nil && mem.Swap == nil && mem.Reservation == nil && mem.Swappiness == nil &&
		mem.DisableOOMKiller == nil && mem.UseHierarchy == nil {
		return nil
	}
	t, err := m.mustTarget("memory", "memory limits")
	if err != nil {
		return err
	}
	if t.v2 {
		return setMemoryV2(t, mem)
	}
	return setMemoryV1(t, mem)
}

// checkUsage refuses a limit below current usage when the spec asks for
// it (checkBeforeUpdate), instead of letting the kernel reclaim or kill.
func checkUsage(t target, mem *specs.LinuxMemory, usageFile string) error {
	limit := i64(mem.Limit)
	if mem.CheckBeforeUpdate == nil || !*mem.CheckBeforeUpdate || limit <= 0 {
		return nil
	}
	usage, err := t.readUint(usageFile)
	if err != nil {
		return err
	}
	if usage > uint64(limit) {
		return fmt.Errorf("cgroups: memory limit %d is below current usage %d (checkBeforeUpdate)", limit, usage)
	}
	return nil
}

func setMemoryV1(t target, mem *specs.LinuxMemory) error {
	if err := checkUsage(t, mem, "memory.usage_in_bytes"); err != nil {
		return err
	}
	limit, swap := i64(mem.Limit), i64(mem.Swap)
	hasSwap := exists(t.dir, "memory.memsw.limit_in_bytes")
	// Unlimited memory with no word on swap lifts the swap limit too, or
	// the old memory+swap limit would still cap memory.
	if limit == -1 && swap == 0 && hasSwap {
		swap = -1
	}
	if swap != 0 && !hasSwap {
		return fmt.Errorf("cgroups: cannot set a swap limit: swap accounting is off (no memory.memsw.limit_in_bytes in %s): %w", t.dir, ErrNotSupported)
	}
	setLimit := func() error {
		if limit == 0 {
			return nil
		}
		return t.write("memory.limit_in_bytes", strconv.FormatInt(limit, 10))
	}
	setSwap := func() error {
		if swap == 0 {
			return nil
		}
		return t.write("memory.memsw.limit_in_bytes", strconv.FormatInt(swap, 10))
	}
	// The kernel keeps memory.limit <= memory.memsw.limit at every step,
	// so when memory+swap grows past the current memory limit it must be
	// raised first.
	first, second := setLimit, setSwap
	if limit != 0 && swap != 0 {
		cur, err := readUint(t.dir, "memory.limit_in_bytes")
		if err != nil {
			return err
		}
		if swap == -1 || cur < uint64(swap) {
			first, second = setSwap, setLimit
		}
	}
	if err := first(); err != nil {
		return err
	}
	if err := second(); err != nil {
		return err
	}
	if mem.Reservation != nil {
		if err := t.write("memory.soft_limit_in_bytes", strconv.FormatInt(*mem.Reservation, 10)); err != nil {
			return err
		}
	}
	if mem.Swappiness != nil {
		if *mem.Swappiness > 100 {
			return fmt.Errorf("cgroups: memory swappiness %d out of range [0, 100]", *mem.Swappiness)
		}
		if err := t.write("memory.swappiness", strconv.FormatUint(*mem.Swappiness, 10)); err != nil {
			return err
		}
	}
	if mem.DisableOOMKiller != nil {
		if err := t.write("memory.oom_control", boolDigit(*mem.DisableOOMKiller)); err != nil {
			return err
		}
	}
	if mem.UseHierarchy != nil {
		// Modern kernels only accept 1; writing 0 fails with their EINVAL.
		if err := t.write("memory.use_hierarchy", boolDigit(*mem.UseHierarchy)); err != nil {
			return err
		}
	}
	return nil
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// setMemoryV2 converts as runc does: memory.max from the limit,
// memory.swap.max from swap minus memory, memory.low from the
// reservation. Swappiness, the OOM-killer switch and use_hierarchy have no
// cgroup2 counterpart and are ignored.
func setMemoryV2(t target, mem *specs.LinuxMemory) error {
	if err := checkUsage(t, mem, "memory.current"); err != nil {
		return err
	}
	limit, swap := i64(mem.Limit), i64(mem.Swap)
	if limit == 0 && swap > 0 {
		// An update of swap alone: memory.swap.max is relative to the
		// memory limit already in force (memory.max itself is only
		// written from mem.Limit below).
		s, err := readFile(t.dir, "memory.max")
		if err != nil {
			return err
		}
		if s == "max" {
			limit = -1
		} else if cur, err := strconv.ParseInt(s, 10, 64); err == nil {
			limit = cur
		}
	}
	swapV2, err := memorySwapToV2(swap, limit)
	if err != nil {
		return err
	}
	swapStr := ""
	switch {
	case swapV2 != 0:
		swapStr = limitV2(swapV2)
	case swap > 0:
		swapStr = "0" // swap == memory: no swap at all
	}
	if swapStr != "" {
		if err := t.write("memory.swap.max", swapStr); err != nil {
			// Without swap accounting there is nothing to lift or disable.
			if !errors.Is(err, fs.ErrNotExist) || (swapStr != "max" && swapStr != "0") {
				return err
			}
		}
	}
	if mem.Limit != nil && *mem.Limit != 0 {
		if err := t.write("memory.max", limitV2(*mem.Limit)); err != nil {
			return err
		}
	}
	if mem.Reservation != nil {
		if err := t.write("memory.low", limitV2(*mem.Reservation)); err != nil {
			return err
		}
	}
	return nil
}

func (m *manager) memoryStats(st *Stats) error {
	t, ok := m.target("memory")
	if !ok {
		return nil
	}
	if t.v2 {
		if !exists(t.dir, "memory.current") {
			return nil // no memory controller in this cgroup2 tree
		}
		var err error
		if st.Memory.Usage, err = readUint(t.dir, "memory.current"); err != nil {
			return err
		}
		if st.Memory.Limit, err = readUint(t.dir, "memory.max"); err != nil {
			return err
		}
		if exists(t.dir, "memory.peak") {
			if st.Memory.MaxUsage, err = readUint(t.dir, "memory.peak"); err != nil {
				return err
			}
		}
		ev, err := readKeyValues(t.dir, "memory.events")
		if err != nil {
			return err
		}
		st.Memory.Failcnt, st.Memory.OOMKills = ev["max"], ev["oom_kill"]
		if ms, err := readKeyValues(t.dir, "memory.stat"); err == nil {
			st.Memory.InactiveFile = ms["inactive_file"]
		}
		return nil
	}
	for _, f := range []struct {
		file string
		dst  *uint64
	}{
		{"memory.usage_in_bytes", &st.Memory.Usage},
		{"memory.limit_in_bytes", &st.Memory.Limit},
		{"memory.max_usage_in_bytes", &st.Memory.MaxUsage},
		{"memory.failcnt", &st.Memory.Failcnt},
	} {
		v, err := readUint(t.dir, f.file)
		if err != nil {
			return err
		}
		*f.dst = v
	}
	oc, err := readKeyValues(t.dir, "memory.oom_control")
	if err != nil {
		return err
	}
	st.Memory.OOMKills = oc["oom_kill"] // Linux 4.13+
	st.Memory.UnderOOM = oc["under_oom"] == 1
	if ms, err := readKeyValues(t.dir, "memory.stat"); err == nil {
		st.Memory.InactiveFile = ms["total_inactive_file"]
	}
	return nil
}
