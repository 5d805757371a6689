package cgroups

import (
	"errors"
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func (m *manager) setCpuset(r *specs.LinuxResources) error {
	if r.CPU == nil || (r.CPU.Cpus == "" && r.CPU.Mems == "") {
		return nil
	}
	t, err := m.mustTarget("cpuset", "cpuset")
	if err != nil {
		return err
	}
	// Same file names on both versions.
	if r.CPU.Cpus != "" {
		if err := t.write("cpuset.cpus", r.CPU.Cpus); err != nil {
			return err
		}
	}
	if r.CPU.Mems != "" {
		if err := t.write("cpuset.mems", r.CPU.Mems); err != nil {
			return err
		}
	}
	return nil
}

func (m *manager) setCPU(r *specs.LinuxResources) error {
	c := r.CPU
	if c == nil || (c.Shares == nil && c.Quota == nil && c.Period == nil && c.Burst == nil &&
		c.RealtimeRuntime == nil && c.RealtimePeriod == nil && c.Idle == nil) {
		return nil
	}
	t, err := m.mustTarget("cpu", "cpu limits")
	if err != nil {
		return err
	}
	if c.Shares != nil && *c.Shares != 0 && (*c.Shares < 2 || *c.Shares > 262144) {
		return fmt.Errorf("cgroups: cpu shares %d out of range [2, 262144]", *c.Shares)
	}
	if t.v2 {
		return setCPUV2(t, c)
	}
	return setCPUV1(t, c)
}

func setCPUV1(t target, c *specs.LinuxCPU) error {
	// Realtime bandwidth first: a SCHED_RR/FIFO task can only join a cgroup
	// that already has some.
	if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
		if err := t.write("cpu.rt_period_us", strconv.FormatUint(*c.RealtimePeriod, 10)); err != nil {
			return err
		}
	}
	if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
		if err := t.write("cpu.rt_runtime_us", strconv.FormatInt(*c.RealtimeRuntime, 10)); err != nil {
			return err
		}
	}
	if c.Shares != nil && *c.Shares != 0 {
		if err := t.write("cpu.shares", strconv.FormatUint(*c.Shares, 10)); err != nil {
			return err
		}
	}
	quota := ""
	if c.Quota != nil {
		quota = "-1" // 0 or negative: no limit
		if *c.Quota > 0 {
			quota = strconv.FormatInt(*c.Quota, 10)
		}
	}
	// The kernel checks quota/period against the parent's at each write,
	// so a new period can be refused (EINVAL) until the new quota is in;
	// in that case retry it after the quota, as runc does. Burst likewise.
	period := ""
	if c.Period != nil && *c.Period != 0 {
		period = strconv.FormatUint(*c.Period, 10)
		if err := t.write("cpu.cfs_period_us", period); err != nil {
			if !errors.Is(err, unix.EINVAL) || quota == "" {
				return err
			}
		} else {
			period = ""
		}
	}
	burst := ""
	if c.Burst != nil {
		burst = strconv.FormatUint(*c.Burst, 10)
		if err := t.write("cpu.cfs_burst_us", burst); err != nil {
			if !errors.Is(err, unix.EINVAL) || quota == "" {
				return err
			}
		} else {
			burst = ""
		}
	}
	if quota != "" {
		if err := t.write("cpu.cfs_quota_us", quota); err != nil {
			return err
		}
		if period != "" {
			if err := t.write("cpu.cfs_period_us", period); err != nil {
				return err
			}
		}
		if burst != "" {
			if err := t.write("cpu.cfs_burst_us", burst); err != nil {
				return err
			}
		}
	}
	if c.Idle != nil {
		if err := t.write("cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return err
		}
	}
	return nil
}

// setCPUV2 converts shares to cpu.weight and quota/period to cpu.max.
// cgroup2 has no realtime bandwidth control, so asking for it is an error
// rather than a silently unconfined realtime task.
func setCPUV2(t target, c *specs.LinuxCPU) error {
	if (c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0) || (c.RealtimePeriod != nil && *c.RealtimePeriod != 0) {
		return fmt.Errorf("cgroups: realtime cpu runtime/period cannot be set on cgroup v2: %w", ErrNotSupported)
	}
	if c.Idle != nil {
		if err := t.write("cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return err
		}
	}
	if c.Shares != nil && *c.Shares != 0 {
		if err := t.write("cpu.weight", strconv.FormatUint(cpuSharesToWeight(*c.Shares), 10)); err != nil {
			return err
		}
	}
	burst := ""
	if c.Burst != nil {
		burst = strconv.FormatUint(*c.Burst, 10)
		if err := t.write("cpu.max.burst", burst); err != nil {
			// Refused against the old quota: retry after cpu.max below.
			if !errors.Is(err, unix.EINVAL) || c.Quota == nil {
				return err
			}
		} else {
			burst = ""
		}
	}
	if c.Quota != nil || (c.Period != nil && *c.Period != 0) {
		current := ""
		if c.Quota == nil {
			var err error
			if current, err = readFile(t.dir, "cpu.max"); err != nil {
				return err
			}
		}
		if err := t.write("cpu.max", cpuMaxV2(c.Quota, c.Period, current)); err != nil {
			return err
		}
		if burst != "" {
			if err := t.write("cpu.max.burst", burst); err != nil {
				return err
			}
		}
	}
	return nil
}

// cpuStats reads usage from cpuacct on v1, else from cgroup2's cpu.stat
// (core accounting there, present even without the cpu controller), and
// throttling from the cpu controller's cpu.stat on either version.
func (m *manager) cpuStats(st *Stats) error {
	if dir, ok := m.v1["cpuacct"]; ok {
		var err error
		if st.CPU.UsageTotal, err = readUint(dir, "cpuacct.usage"); err != nil {
			return err
		}
		if exists(dir, "cpuacct.usage_user") {
			if st.CPU.UsageUser, err = readUint(dir, "cpuacct.usage_user"); err != nil {
				return err
			}
			if st.CPU.UsageKernel, err = readUint(dir, "cpuacct.usage_sys"); err != nil {
				return err
			}
		} else {
			// Older kernels: clock ticks in cpuacct.stat. USER_HZ is 100
			// on every architecture Linux exposes to user space.
			kv, err := readKeyValues(dir, "cpuacct.stat")
			if err != nil {
				return err
			}
			st.CPU.UsageUser, st.CPU.UsageKernel = kv["user"]*1e7, kv["system"]*1e7
		}
	} else if m.v2 != "" && exists(m.v2, "cpu.stat") {
		kv, err := readKeyValues(m.v2, "cpu.stat")
		if err != nil {
			return err
		}
		st.CPU.UsageTotal = kv["usage_usec"] * 1000
		st.CPU.UsageUser = kv["user_usec"] * 1000
		st.CPU.UsageKernel = kv["system_usec"] * 1000
	}
	t, ok := m.target("cpu")
	if !ok || !exists(t.dir, "cpu.stat") {
		return nil
	}
	kv, err := readKeyValues(t.dir, "cpu.stat")
	if err != nil {
		return err
	}
	st.CPU.Periods, st.CPU.ThrottledPeriods = kv["nr_periods"], kv["nr_throttled"]
	if t.v2 {
		st.CPU.ThrottledTime = kv["throttled_usec"] * 1000
	} else {
		st.CPU.ThrottledTime = kv["throttled_time"]
	}
	return nil
}
