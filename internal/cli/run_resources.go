package cli

import (
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/blkiodev"
	containertypes "github.com/moby/moby/api/types/container"
	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/oci"
)

// resourceFlags are the resource flags of `run` and `create`: cgroup
// limits, --ulimit, --shm-size and --oom-score-adj, parsed as Docker's
// CLI parses them (github.com/docker/go-units sizes: 512m, 1g).
type resourceFlags struct {
	memory, memoryReservation, shmSize memBytes
	memorySwap                         memSwapBytes
	swappiness                         int64
	oomKillDisable                     bool
	oomScoreAdj                        int
	cpus                               nanoCPUs
	cpuShares, cpuPeriod, cpuQuota     int64
	cpuRtPeriod, cpuRtRuntime          int64
	cpusetCpus, cpusetMems             string
	pidsLimit                          int64
	blkioWeight                        uint16
	blkioWeightDevice                  weightDevices
	readBps, writeBps                  throttleDevices
	readIOps, writeIOps                throttleDevices
	ulimits                            ulimitList
}

func (r *resourceFlags) addFlags(f *pflag.FlagSet) {
	r.readBps.iops, r.writeBps.iops = false, false
	r.readIOps.iops, r.writeIOps.iops = true, true
	r.addUpdateFlags(f)
	f.Int64Var(&r.swappiness, "memory-swappiness", -1, "Tune container memory swappiness (0 to 100)")
	f.BoolVar(&r.oomKillDisable, "oom-kill-disable", false, "Disable OOM Killer")
	f.IntVar(&r.oomScoreAdj, "oom-score-adj", 0, "Tune host's OOM preferences (-1000 to 1000)")
	f.Var(&r.blkioWeightDevice, "blkio-weight-device", "Block IO weight (relative device weight)")
	f.Var(&r.readBps, "device-read-bps", "Limit read rate (bytes per second) from a device")
	f.Var(&r.writeBps, "device-write-bps", "Limit write rate (bytes per second) to a device")
	f.Var(&r.readIOps, "device-read-iops", "Limit read rate (IO per second) from a device")
	f.Var(&r.writeIOps, "device-write-iops", "Limit write rate (IO per second) to a device")
	f.Var(&r.ulimits, "ulimit", "Ulimit options")
	f.Var(&r.shmSize, "shm-size", "Size of /dev/shm")
}

// addUpdateFlags adds the limits `update` can change too (run and create
// have them all).
func (r *resourceFlags) addUpdateFlags(f *pflag.FlagSet) {
	f.VarP(&r.memory, "memory", "m", "Memory limit")
	f.Var(&r.memoryReservation, "memory-reservation", "Memory soft limit")
	f.Var(&r.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	f.Var(&r.cpus, "cpus", "Number of CPUs")
	f.Int64VarP(&r.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.Int64Var(&r.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	f.Int64Var(&r.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	f.Int64Var(&r.cpuRtPeriod, "cpu-rt-period", 0, "Limit CPU real-time period in microseconds")
	f.Int64Var(&r.cpuRtRuntime, "cpu-rt-runtime", 0, "Limit CPU real-time runtime in microseconds")
	f.StringVar(&r.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.StringVar(&r.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	f.Int64Var(&r.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	f.Uint16Var(&r.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	addKernelMemoryStub(f)
}

// addKernelMemoryStub is Docker's --kernel-memory: parsed, then ignored
// with pflag's deprecation notice (kernels dropped kmem limits).
func addKernelMemoryStub(f *pflag.FlagSet) {
	f.Var(new(memBytes), "kernel-memory", "Kernel memory limit (deprecated)")
	f.MarkDeprecated("kernel-memory", "and no longer supported by the kernel")
}

// apply puts the flags into cfg, checked as Docker's daemon checks them
// at create; the warnings are for what this host can't limit.
func (r *resourceFlags) apply(cfg *container.Config) ([]string, error) {
	if r.swappiness != -1 && (r.swappiness < 0 || r.swappiness > 100) {
		return nil, fmt.Errorf("invalid value: %d. Valid memory swappiness range is 0-100", r.swappiness)
	}
	swappiness, oomKillDisable, pids := r.swappiness, r.oomKillDisable, r.pidsLimit
	cfg.Resources = containertypes.Resources{
		Memory: int64(r.memory), MemoryReservation: int64(r.memoryReservation), MemorySwap: int64(r.memorySwap),
		MemorySwappiness: &swappiness, OomKillDisable: &oomKillDisable,
		NanoCPUs: int64(r.cpus), CPUShares: r.cpuShares, CPUPeriod: r.cpuPeriod, CPUQuota: r.cpuQuota,
		CPURealtimePeriod: r.cpuRtPeriod, CPURealtimeRuntime: r.cpuRtRuntime,
		CpusetCpus: r.cpusetCpus, CpusetMems: r.cpusetMems, PidsLimit: &pids,
		BlkioWeight: r.blkioWeight, BlkioWeightDevice: r.blkioWeightDevice.list(),
		BlkioDeviceReadBps: r.readBps.list(), BlkioDeviceWriteBps: r.writeBps.list(),
		BlkioDeviceReadIOps: r.readIOps.list(), BlkioDeviceWriteIOps: r.writeIOps.list(),
		Ulimits: r.ulimits.list(),
	}
	cfg.ShmSize, cfg.OomScoreAdj = int64(r.shmSize), r.oomScoreAdj
	return oci.PrepareResources(&cfg.Resources, false)
}

// printWarnings shows the engine's warnings as Docker's CLI does.
func printWarnings(warnings []string) {
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "WARNING:", w)
	}
}

// memBytes is a size flag in Docker's units (opts.MemBytes).
type memBytes int64

func (m *memBytes) Set(s string) error {
	v, err := units.RAMInBytes(s)
	*m = memBytes(v)
	return err
}

func (m *memBytes) String() string {
	if *m == 0 {
		return "0" // pflag hides a "0" default
	}
	return units.BytesSize(float64(*m))
}

func (*memBytes) Type() string { return "bytes" }

// memSwapBytes is memBytes that also takes -1 (unlimited).
type memSwapBytes int64

func (m *memSwapBytes) Set(s string) error {
	if s == "-1" {
		*m = -1
		return nil
	}
	return (*memBytes)(m).Set(s)
}

func (m *memSwapBytes) String() string { return (*memBytes)(m).String() }
func (*memSwapBytes) Type() string     { return "bytes" }

// nanoCPUs is --cpus: a decimal number of CPUs, kept in billionths
// (opts.NanoCPUs).
type nanoCPUs int64

func (c *nanoCPUs) Set(s string) error {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return fmt.Errorf("failed to parse %v as a rational number", s)
	}
	nano := r.Mul(r, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return errors.New("value is too precise")
	}
	*c = nanoCPUs(nano.Num().Int64())
	return nil
}

func (c *nanoCPUs) String() string {
	if *c == 0 {
		return ""
	}
	return big.NewRat(int64(*c), 1e9).FloatString(3)
}

func (*nanoCPUs) Type() string { return "decimal" }

// throttleDevices is --device-{read,write}-{bps,iops}: PATH:RATE, a size
// for bytes per second or a plain number of operations.
type throttleDevices struct {
	iops bool
	devs []*blkiodev.ThrottleDevice
}

func (t *throttleDevices) Set(val string) error {
	path, rate, err := devicePathAnd(val)
	if err != nil {
		return err
	}
	var n uint64
	if t.iops {
		if n, err = strconv.ParseUint(rate, 10, 64); err != nil {
			return fmt.Errorf("invalid rate for device: %s. The correct format is <device-path>:<number>. Number must be a positive integer", val)
		}
	} else {
		v, err := units.RAMInBytes(rate)
		if err != nil || v < 0 {
			return fmt.Errorf("invalid rate for device: %s. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb", val)
		}
		n = uint64(v)
	}
	t.devs = append(t.devs, &blkiodev.ThrottleDevice{Path: path, Rate: n})
	return nil
}

func (t *throttleDevices) list() []*blkiodev.ThrottleDevice {
	return append([]*blkiodev.ThrottleDevice{}, t.devs...)
}

func (t *throttleDevices) String() string {
	var out []string
	for _, d := range t.devs {
		out = append(out, d.String())
	}
	return fmt.Sprint(out)
}

func (*throttleDevices) Type() string { return "list" }

// weightDevices is --blkio-weight-device PATH:WEIGHT (10 to 1000, or 0).
type weightDevices []*blkiodev.WeightDevice

func (w *weightDevices) Set(val string) error {
	path, weight, err := devicePathAnd(val)
	if err != nil {
		return err
	}
	n, err := strconv.ParseUint(weight, 10, 16)
	if err != nil || (n > 0 && (n < 10 || n > 1000)) {
		return fmt.Errorf("invalid weight for device: %s", val)
	}
	*w = append(*w, &blkiodev.WeightDevice{Path: path, Weight: uint16(n)})
	return nil
}

func (w *weightDevices) list() []*blkiodev.WeightDevice {
	return append([]*blkiodev.WeightDevice{}, *w...)
}

func (w *weightDevices) String() string {
	var out []string
	for _, d := range *w {
		out = append(out, d.String())
	}
	return fmt.Sprint(out)
}

func (*weightDevices) Type() string { return "list" }

// devicePathAnd splits PATH:VALUE, PATH under /dev/ as Docker's CLI wants.
func devicePathAnd(val string) (path, value string, err error) {
	path, value, ok := strings.Cut(val, ":")
	if !ok || path == "" {
		return "", "", fmt.Errorf("bad format: %s", val)
	}
	if !strings.HasPrefix(path, "/dev/") {
		return "", "", fmt.Errorf("bad format for device path: %s", val)
	}
	return path, value, nil
}

// ulimitList is --ulimit NAME=SOFT[:HARD], the last one of a name
// winning (opts.UlimitOpt).
type ulimitList []*containertypes.Ulimit

func (u *ulimitList) Set(val string) error {
	l, err := units.ParseUlimit(val)
	if err != nil {
		return err
	}
	*u = slices.DeleteFunc(*u, func(x *containertypes.Ulimit) bool { return x.Name == l.Name })
	*u = append(*u, l)
	return nil
}

func (u *ulimitList) list() []*containertypes.Ulimit {
	if len(*u) == 0 {
		return nil
	}
	out := slices.Clone(*u)
	slices.SortFunc(out, func(a, b *containertypes.Ulimit) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (u *ulimitList) String() string {
	var out []string
	for _, l := range *u {
		out = append(out, l.String())
	}
	slices.Sort(out)
	return fmt.Sprint(out)
}

func (*ulimitList) Type() string { return "ulimit" }
