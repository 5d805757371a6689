package oci

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/blkiodev"
	containertypes "github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cgroupSupport is what the host's cgroups can limit (moby's
// pkg/sysinfo.SysInfo, the part `run` and `update` consult).
type cgroupSupport struct {
	MemoryLimit, SwapLimit, MemoryReservation, OomKillDisable, MemorySwappiness bool
	PidsLimit                                                                   bool
	CPUShares, CPUCfs, CPURealtime                                              bool
	Cpuset                                                                      bool
	Cpus, Mems                                                                  string // the cpusets the host offers, "0-3"
	BlkioWeight, BlkioWeightDevice                                              bool
	BlkioReadBps, BlkioWriteBps, BlkioReadIOps, BlkioWriteIOps                  bool
	NumCPU                                                                      int // runtime.NumCPU: the CPUs this process may use
}

// resourceFacts is what resource checks learn from the machine; tests
// replace resourceHost with fixed answers.
type resourceFacts struct {
	cgroups func() cgroupSupport
	// blockDevice returns the device number of the block device at path
	// (moby stats the path as given, following symlinks).
	blockDevice func(path string) (major, minor int64, err error)
}

const (
	// minMemory is Docker's lowest --memory and --memory-reservation
	// (linuxMinMemory: room for the container's start-up).
	minMemory = 6 << 20
	// defaultCPUPeriod is the CFS period --cpus uses, in microseconds.
	defaultCPUPeriod = 100000
	// Shares the kernel accepts; v1 clamps a write outside to these.
	minCPUShares, maxCPUShares = 2, 262144
)

// PrepareResources checks r as Docker's daemon does at create (update
// false) or at `update` (update true), dropping what the host's cgroups
// cannot limit with Docker's warning, and filling Docker's defaults at
// create (--memory-swap twice --memory; a --pids-limit of 0 or less is
// none). The messages are Docker's; errors are ErrInvalid. It is
// idempotent, so Spec calls it again.
func PrepareResources(r *containertypes.Resources, update bool) (warnings []string, err error) {
	si := resourceHost.cgroups()
	if r.MemorySwappiness != nil && *r.MemorySwappiness == -1 {
		r.MemorySwappiness = nil // the CLI's "unset"
	}
	if !update && r.PidsLimit != nil && *r.PidsLimit <= 0 {
		r.PidsLimit = nil // unlimited, as the API's create does
	}
	warn := func(w string) { warnings = append(warnings, w) }

	// Memory (daemon_unix.go verifyPlatformContainerResources).
	if r.Memory != 0 && r.Memory < minMemory {
		return warnings, invalidf("Minimum memory limit allowed is 6MB")
	}
	if r.Memory > 0 && !si.MemoryLimit {
		warn("Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.")
		r.Memory, r.MemorySwap = 0, -1
	}
	if r.Memory > 0 && r.MemorySwap != -1 && !si.SwapLimit {
		warn("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
		r.MemorySwap = -1
	}
	if r.Memory > 0 && r.MemorySwap > 0 && r.MemorySwap < r.Memory {
		return warnings, invalidf("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if r.Memory == 0 && r.MemorySwap > 0 && !update {
		return warnings, invalidf("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if r.MemorySwappiness != nil && !si.MemorySwappiness {
		warn("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.")
		r.MemorySwappiness = nil
	}
	if r.MemorySwappiness != nil && (*r.MemorySwappiness < 0 || *r.MemorySwappiness > 100) {
		return warnings, invalidf("Invalid value: %v, valid memory swappiness range is 0-100", *r.MemorySwappiness)
	}
	if r.MemoryReservation > 0 && !si.MemoryReservation {
		warn("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.")
		r.MemoryReservation = 0
	}
	if r.MemoryReservation > 0 && r.MemoryReservation < minMemory {
		return warnings, invalidf("Minimum memory reservation allowed is 6MB")
	}
	if r.Memory > 0 && r.MemoryReservation > 0 && r.Memory < r.MemoryReservation {
		return warnings, invalidf("Minimum memory limit can not be less than memory reservation limit, see usage")
	}
	if r.OomKillDisable != nil && !si.OomKillDisable {
		if *r.OomKillDisable {
			warn("Your kernel does not support OomKillDisable. OomKillDisable discarded.")
		}
		r.OomKillDisable = nil
	}
	if r.OomKillDisable != nil && *r.OomKillDisable && r.Memory == 0 {
		warn("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.")
	}
	if r.PidsLimit != nil && !si.PidsLimit {
		if *r.PidsLimit > 0 {
			warn("Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.")
		}
		r.PidsLimit = nil
	}

	// CPU.
	if r.CPUShares < 0 {
		return warnings, invalidf("shares: invalid argument")
	}
	if r.NanoCPUs > 0 && r.CPUPeriod > 0 {
		return warnings, invalidf("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	}
	if r.NanoCPUs > 0 && r.CPUQuota > 0 {
		return warnings, invalidf("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	}
	if r.NanoCPUs > 0 && !si.CPUCfs {
		return warnings, invalidf("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted")
	}
	if r.NanoCPUs != 0 && (r.NanoCPUs < 0 || r.NanoCPUs > int64(si.NumCPU)*1e9) {
		return warnings, invalidf("range of CPUs is from 0.01 to %[1]d.00, as there are only %[1]d CPUs available", si.NumCPU)
	}
	if r.CPUShares > 0 && !si.CPUShares {
		warn("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.")
		r.CPUShares = 0
	}
	if (r.CPUPeriod != 0 || r.CPUQuota != 0) && !si.CPUCfs {
		warn("Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.")
		r.CPUPeriod, r.CPUQuota = 0, 0
	}
	if r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000) {
		return warnings, invalidf("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	}
	if r.CPUQuota > 0 && r.CPUQuota < 1000 {
		return warnings, invalidf("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	}
	if r.CPUPercent > 0 {
		warn(runtime.GOOS + " does not support CPU percent. Percent discarded.")
		r.CPUPercent = 0
	}
	// runconfig/hostconfig_unix.go validateResources.
	if r.CPURealtimePeriod > 0 && !si.CPURealtime {
		return warnings, invalidf("Your kernel does not support cgroup cpu real-time period")
	}
	if r.CPURealtimeRuntime > 0 && !si.CPURealtime {
		return warnings, invalidf("Your kernel does not support cgroup cpu real-time runtime")
	}
	if r.CPURealtimePeriod != 0 && r.CPURealtimeRuntime != 0 && r.CPURealtimeRuntime > r.CPURealtimePeriod {
		return warnings, invalidf("cpu real-time runtime cannot be higher than cpu real-time period")
	}

	// Cpuset.
	if (r.CpusetCpus != "" || r.CpusetMems != "") && !si.Cpuset {
		warn("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.")
		r.CpusetCpus, r.CpusetMems = "", ""
	}
	if ok, err := cpusetAvailable(r.CpusetCpus, si.Cpus); err != nil {
		return warnings, invalidf("Invalid value %s for cpuset cpus: %v", r.CpusetCpus, err)
	} else if !ok {
		return warnings, invalidf("Requested CPUs are not available - requested %s, available: %s", r.CpusetCpus, si.Cpus)
	}
	if ok, err := cpusetAvailable(r.CpusetMems, si.Mems); err != nil {
		return warnings, invalidf("Invalid value %s for cpuset mems: %v", r.CpusetMems, err)
	} else if !ok {
		return warnings, invalidf("Requested memory nodes are not available - requested %s, available: %s", r.CpusetMems, si.Mems)
	}

	// Block I/O.
	if r.BlkioWeight > 0 && !si.BlkioWeight {
		warn("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.")
		r.BlkioWeight = 0
	}
	if r.BlkioWeight > 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000) {
		return warnings, invalidf("Range of blkio weight is from 10 to 1000")
	}
	if r.IOMaximumBandwidth != 0 || r.IOMaximumIOps != 0 {
		return warnings, invalidf("Invalid QoS settings: %s does not support Maximum IO Bandwidth or Maximum IO IOps", runtime.GOOS)
	}
	if len(r.BlkioWeightDevice) > 0 && !si.BlkioWeightDevice {
		warn("Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.")
		r.BlkioWeightDevice = []*blkiodev.WeightDevice{}
	}
	for _, t := range []struct {
		devs *[]*blkiodev.ThrottleDevice
		ok   bool
		warn string
	}{
		{&r.BlkioDeviceReadBps, si.BlkioReadBps, "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded."},
		{&r.BlkioDeviceWriteBps, si.BlkioWriteBps, "Your kernel does not support BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded."},
		{&r.BlkioDeviceReadIOps, si.BlkioReadIOps, "Your kernel does not support IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded."},
		{&r.BlkioDeviceWriteIOps, si.BlkioWriteIOps, "Your kernel does not support IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded."},
	} {
		if len(*t.devs) > 0 && !t.ok {
			warn(t.warn)
			*t.devs = []*blkiodev.ThrottleDevice{}
		}
	}

	// Defaults (daemon_unix.go adaptContainerSettings).
	if !update && r.Memory > 0 && r.MemorySwap == 0 {
		r.MemorySwap = 2 * r.Memory
	}
	return warnings, nil
}

// cpusetAvailable reports whether every CPU (or memory node) of the list
// requested is in the list available, both in cpuset syntax ("0-2,4");
// "" asks for nothing (moby's sysinfo.isCpusetListAvailable).
func cpusetAvailable(requested, available string) (bool, error) {
	want, err := parseCpuset(requested)
	if err != nil {
		return false, err
	}
	if len(want) == 0 {
		return true, nil
	}
	have, err := parseCpuset(available)
	if err != nil {
		return false, err
	}
	for n := range want {
		if !have[n] {
			return false, nil
		}
	}
	return true, nil
}

// maxCpusetIndex is moby's bound (Linux's usual most CPUs), which also
// keeps "0-99999999" from allocating the world.
const maxCpusetIndex = 8192

// parseCpuset reads a cpuset list, "0-3,5" (moby's parsers.ParseUintList).
func parseCpuset(s string) (map[int]bool, error) {
	set := map[int]bool{}
	if s == "" {
		return set, nil
	}
	bad := fmt.Errorf("invalid format: %s", s)
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < 0 {
			return nil, bad
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil || last < first {
				return nil, bad
			}
		}
		if last > maxCpusetIndex {
			return nil, fmt.Errorf("value of out range, maximum is %d", maxCpusetIndex)
		}
		for n := first; n <= last; n++ {
			set[n] = true
		}
	}
	return set, nil
}

// LinuxResources converts r, already prepared (PrepareResources), into
// the spec's memory, CPU, pids and block I/O limits, as Docker's
// WithResources does, except that a group nothing sets stays nil (Docker
// writes empty ones and shares 0, which runtimes read as "unset"). CPU
// shares outside the kernel's range are clamped to it, as cgroup v1 does
// on its own. Device paths are resolved to numbers on this host.
func LinuxResources(r containertypes.Resources) (*specs.LinuxResources, error) {
	out := &specs.LinuxResources{}
	var mem specs.LinuxMemory
	if r.Memory > 0 {
		mem.Limit = ptr(r.Memory)
	}
	if r.MemoryReservation > 0 {
		mem.Reservation = ptr(r.MemoryReservation)
	}
	if r.MemorySwap > 0 {
		mem.Swap = ptr(r.MemorySwap)
	}
	if r.MemorySwappiness != nil {
		mem.Swappiness = ptr(uint64(*r.MemorySwappiness))
	}
	if r.OomKillDisable != nil && *r.OomKillDisable {
		mem.DisableOOMKiller = ptr(true)
	}
	if mem != (specs.LinuxMemory{}) {
		out.Memory = &mem
	}

	var cpu specs.LinuxCPU
	if r.CPUShares > 0 {
		cpu.Shares = ptr(uint64(min(max(r.CPUShares, minCPUShares), maxCPUShares)))
	}
	cpu.Cpus, cpu.Mems = r.CpusetCpus, r.CpusetMems
	if r.NanoCPUs > 0 {
		cpu.Period = ptr(uint64(defaultCPUPeriod))
		cpu.Quota = ptr(r.NanoCPUs * defaultCPUPeriod / 1e9)
	}
	if r.CPUPeriod != 0 {
		cpu.Period = ptr(uint64(r.CPUPeriod))
	}
	if r.CPUQuota != 0 {
		cpu.Quota = ptr(r.CPUQuota)
	}
	if r.CPURealtimePeriod != 0 {
		cpu.RealtimePeriod = ptr(uint64(r.CPURealtimePeriod))
	}
	if r.CPURealtimeRuntime != 0 {
		cpu.RealtimeRuntime = ptr(r.CPURealtimeRuntime)
	}
	if !reflectZeroCPU(cpu) {
		out.CPU = &cpu
	}

	if r.PidsLimit != nil {
		limit := *r.PidsLimit
		if limit <= 0 {
			limit = -1 // runtimes need -1 to lift a limit
		}
		out.Pids = &specs.LinuxPids{Limit: &limit}
	}

	var bio specs.LinuxBlockIO
	if r.BlkioWeight > 0 {
		bio.Weight = ptr(r.BlkioWeight)
	}
	for _, wd := range r.BlkioWeightDevice {
		major, minor, err := resourceHost.blockDevice(wd.Path)
		if err != nil {
			return nil, err
		}
		d := specs.LinuxWeightDevice{Weight: ptr(wd.Weight)}
		d.Major, d.Minor = major, minor
		bio.WeightDevice = append(bio.WeightDevice, d)
	}
	for _, t := range []struct {
		from []*blkiodev.ThrottleDevice
		to   *[]specs.LinuxThrottleDevice
	}{
		{r.BlkioDeviceReadBps, &bio.ThrottleReadBpsDevice},
		{r.BlkioDeviceWriteBps, &bio.ThrottleWriteBpsDevice},
		{r.BlkioDeviceReadIOps, &bio.ThrottleReadIOPSDevice},
		{r.BlkioDeviceWriteIOps, &bio.ThrottleWriteIOPSDevice},
	} {
		for _, td := range t.from {
			major, minor, err := resourceHost.blockDevice(td.Path)
			if err != nil {
				return nil, err
			}
			d := specs.LinuxThrottleDevice{Rate: td.Rate}
			d.Major, d.Minor = major, minor
			*t.to = append(*t.to, d)
		}
	}
	if bio.Weight != nil || len(bio.WeightDevice) > 0 || len(bio.ThrottleReadBpsDevice) > 0 || len(bio.ThrottleWriteBpsDevice) > 0 ||
		len(bio.ThrottleReadIOPSDevice) > 0 || len(bio.ThrottleWriteIOPSDevice) > 0 {
		out.BlockIO = &bio
	}
	return out, nil
}

func reflectZeroCPU(c specs.LinuxCPU) bool {
	return c.Shares == nil && c.Quota == nil && c.Period == nil && c.RealtimePeriod == nil &&
		c.RealtimeRuntime == nil && c.Cpus == "" && c.Mems == ""
}

func ptr[T any](v T) *T { return &v }

// Rlimits converts Docker's ulimits (nofile=1024:2048) to the spec's
// process rlimits, sorted by type.
func Rlimits(ulimits []*containertypes.Ulimit) []specs.POSIXRlimit {
	var out []specs.POSIXRlimit
	for _, u := range ulimits {
		out = append(out, specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(u.Name), Soft: uint64(u.Soft), Hard: uint64(u.Hard)})
	}
	slices.SortFunc(out, func(a, b specs.POSIXRlimit) int { return strings.Compare(a.Type, b.Type) })
	return out
}

// setResources fills the spec's cgroup limits and rlimits from
// o.Resources (after the default devices setCgroups put there); a ulimit
// also in o.Ulimits replaces that one.
func setResources(s *specs.Spec, o *Options) error {
	r := o.Resources
	if _, err := PrepareResources(&r, false); err != nil {
		return err
	}
	lr, err := LinuxResources(r)
	if err != nil {
		var inv invalid
		if errors.As(err, &inv) {
			return err
		}
		return invalid{err}
	}
	s.Linux.Resources.Memory, s.Linux.Resources.CPU = lr.Memory, lr.CPU
	s.Linux.Resources.Pids, s.Linux.Resources.BlockIO = lr.Pids, lr.BlockIO
	o.Ulimits = slices.Clone(o.Ulimits) // the caller's stays as it was
	for _, rl := range Rlimits(r.Ulimits) {
		o.Ulimits = slices.DeleteFunc(o.Ulimits, func(x specs.POSIXRlimit) bool { return x.Type == rl.Type })
		o.Ulimits = append(o.Ulimits, rl)
	}
	return nil
}
