package oci

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

var resourceHost = resourceFacts{
	cgroups:     sync.OnceValue(hostCgroupSupport),
	blockDevice: blockDevice,
}

// hostCgroupSupport reads which limits the host's cgroups offer, as moby's
// sysinfo does: on each controller's hierarchy root, a v1 mount of the
// controller first (a hybrid host keeps its controllers there), else the
// cgroup2 mount when it lists the controller.
func hostCgroupSupport() cgroupSupport {
	si := cgroupSupport{NumCPU: runtime.NumCPU()}
	v1 := map[string]string{} // controller → mount point
	v2 := ""
	mounts, _ := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	for _, m := range mounts {
		if m.FSType == "cgroup2" {
			if v2 == "" {
				v2 = m.Mountpoint
			}
			continue
		}
		for _, opt := range strings.Split(m.VFSOptions, ",") {
			if _, seen := v1[opt]; !seen {
				v1[opt] = m.Mountpoint
			}
		}
	}
	var v2ctl map[string]bool
	if v2 != "" {
		v2ctl = map[string]bool{}
		data, _ := os.ReadFile(filepath.Join(v2, "cgroup.controllers"))
		for _, c := range strings.Fields(string(data)) {
			v2ctl[c] = true
		}
	}
	has := func(dir, file string) bool {
		_, err := os.Stat(filepath.Join(dir, file))
		return err == nil
	}
	read := func(dir, file string) string {
		data, _ := os.ReadFile(filepath.Join(dir, file))
		return strings.TrimSpace(string(data))
	}

	if dir, ok := v1["memory"]; ok {
		si.MemoryLimit = true
		si.SwapLimit = has(dir, "memory.memsw.limit_in_bytes")
		si.MemoryReservation = has(dir, "memory.soft_limit_in_bytes")
		si.OomKillDisable = has(dir, "memory.oom_control")
		si.MemorySwappiness = has(dir, "memory.swappiness")
	} else if v2ctl["memory"] {
		// cgroup2 has no swappiness or OOM-killer switch. Without swap
		// accounting, child cgroups have memory.max but no memory.swap.max.
		si.MemoryLimit, si.MemoryReservation = true, true
		withMemory, _ := filepath.Glob(filepath.Join(v2, "*", "memory.max"))
		withSwap, _ := filepath.Glob(filepath.Join(v2, "*", "memory.swap.max"))
		si.SwapLimit = len(withSwap) > 0 || len(withMemory) == 0
	}
	if dir, ok := v1["cpu"]; ok {
		si.CPUShares = has(dir, "cpu.shares")
		si.CPUCfs = has(dir, "cpu.cfs_quota_us") && has(dir, "cpu.cfs_period_us")
		si.CPURealtime = has(dir, "cpu.rt_period_us") && has(dir, "cpu.rt_runtime_us")
	} else if v2ctl["cpu"] {
		si.CPUShares, si.CPUCfs = true, true
	}
	if dir, ok := v1["cpuset"]; ok {
		si.Cpuset = true
		si.Cpus, si.Mems = read(dir, "cpuset.cpus"), read(dir, "cpuset.mems")
	} else if v2ctl["cpuset"] {
		si.Cpuset = true
		si.Cpus, si.Mems = read(v2, "cpuset.cpus.effective"), read(v2, "cpuset.mems.effective")
	}
	if dir, ok := v1["blkio"]; ok {
		// CFQ's weights (gone since Linux 5.0) or BFQ's.
		si.BlkioWeight = has(dir, "blkio.weight") || has(dir, "blkio.bfq.weight")
		si.BlkioWeightDevice = has(dir, "blkio.weight_device") || has(dir, "blkio.bfq.weight_device")
		si.BlkioReadBps = has(dir, "blkio.throttle.read_bps_device")
		si.BlkioWriteBps = has(dir, "blkio.throttle.write_bps_device")
		si.BlkioReadIOps = has(dir, "blkio.throttle.read_iops_device")
		si.BlkioWriteIOps = has(dir, "blkio.throttle.write_iops_device")
	} else if v2ctl["io"] {
		si.BlkioWeight, si.BlkioWeightDevice = true, true
		si.BlkioReadBps, si.BlkioWriteBps, si.BlkioReadIOps, si.BlkioWriteIOps = true, true, true, true
	}
	if _, ok := v1["pids"]; ok || v2ctl["pids"] {
		si.PidsLimit = true
	}
	return si
}

// blockDevice stats path for its device number, as moby's
// getBlkioThrottleDevices does; the error names the path.
func blockDevice(path string) (major, minor int64, err error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev)), nil
}
