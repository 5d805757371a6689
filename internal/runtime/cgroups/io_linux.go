package cgroups

import (
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func (m *manager) setBlockIO(r *specs.LinuxResources) error {
	b := r.BlockIO
	if b == nil || (b.Weight == nil && b.LeafWeight == nil && len(b.WeightDevice) == 0 &&
		len(b.ThrottleReadBpsDevice) == 0 && len(b.ThrottleWriteBpsDevice) == 0 &&
		len(b.ThrottleReadIOPSDevice) == 0 && len(b.ThrottleWriteIOPSDevice) == 0) {
		return nil
	}
	ctl := "blkio"
	if _, ok := m.v1[ctl]; !ok {
		ctl = "io"
	}
	t, err := m.mustTarget(ctl, "block I/O limits")
	if err != nil {
		return err
	}
	if t.v2 {
		return setIOV2(t, b)
	}
	return setBlkioV1(t, b)
}

func devNum(d specs.LinuxBlockIODevice) string {
	return fmt.Sprintf("%d:%d", d.Major, d.Minor)
}

// setBlkioV1 writes the blkio files. Proportional weights live in
// blkio.weight under CFQ (gone since Linux 5.0) and in blkio.bfq.weight
// under BFQ; whichever exists is used, and neither means the host has no
// proportional I/O control to offer.
func setBlkioV1(t target, b *specs.LinuxBlockIO) error {
	weightFile, weightDevFile := "blkio.weight", "blkio.weight_device"
	if !exists(t.dir, weightFile) && exists(t.dir, "blkio.bfq.weight") {
		weightFile, weightDevFile = "blkio.bfq.weight", "blkio.bfq.weight_device"
	}
	if b.Weight != nil && *b.Weight != 0 {
		if err := t.write(weightFile, strconv.FormatUint(uint64(*b.Weight), 10)); err != nil {
			return err
		}
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		if err := t.write("blkio.leaf_weight", strconv.FormatUint(uint64(*b.LeafWeight), 10)); err != nil {
			return err
		}
	}
	for _, wd := range b.WeightDevice {
		if wd.Weight != nil && *wd.Weight != 0 {
			if err := t.write(weightDevFile, fmt.Sprintf("%s %d", devNum(wd.LinuxBlockIODevice), *wd.Weight)); err != nil {
				return err
			}
		}
		if wd.LeafWeight != nil && *wd.LeafWeight != 0 {
			if err := t.write("blkio.leaf_weight_device", fmt.Sprintf("%s %d", devNum(wd.LinuxBlockIODevice), *wd.LeafWeight)); err != nil {
				return err
			}
		}
	}
	// A rate of 0 removes the device's limit, in v1's own terms.
	for _, th := range []struct {
		file string
		devs []specs.LinuxThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range th.devs {
			if err := t.write(th.file, fmt.Sprintf("%s %d", devNum(d.LinuxBlockIODevice), d.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

// setIOV2 uses io.bfq.weight when the BFQ scheduler offers it (same scale
// as blkio.weight) and io.weight with runc's conversion otherwise, and
// io.max for throttling. Leaf weights were a CFQ notion with no cgroup2
// counterpart and are ignored.
func setIOV2(t target, b *specs.LinuxBlockIO) error {
	bfq := exists(t.dir, "io.bfq.weight")
	weight := func(w uint16) (file, value string, err error) {
		if bfq {
			return "io.bfq.weight", strconv.FormatUint(uint64(w), 10), nil
		}
		v, err := blkioWeightToIOWeight(uint64(w))
		return "io.weight", strconv.FormatUint(v, 10), err
	}
	if b.Weight != nil && *b.Weight != 0 {
		file, v, err := weight(*b.Weight)
		if err != nil {
			return err
		}
		if err := t.write(file, v); err != nil {
			return err
		}
	}
	for _, wd := range b.WeightDevice {
		if wd.Weight == nil || *wd.Weight == 0 {
			continue
		}
		file, v, err := weight(*wd.Weight)
		if err != nil {
			return err
		}
		if err := t.write(file, devNum(wd.LinuxBlockIODevice)+" "+v); err != nil {
			return err
		}
	}
	for _, th := range []struct {
		key  string
		devs []specs.LinuxThrottleDevice
	}{
		{"rbps", b.ThrottleReadBpsDevice},
		{"wbps", b.ThrottleWriteBpsDevice},
		{"riops", b.ThrottleReadIOPSDevice},
		{"wiops", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range th.devs {
			// 0 lifts the limit in v1; "max" says so in v2.
			rate := "max"
			if d.Rate != 0 {
				rate = strconv.FormatUint(d.Rate, 10)
			}
			if err := t.write("io.max", fmt.Sprintf("%s %s=%s", devNum(d.LinuxBlockIODevice), th.key, rate)); err != nil {
				return err
			}
		}
	}
	return nil
}
