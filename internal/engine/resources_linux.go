package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/api/types/blkiodev"
	containertypes "github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/runtime"
)

// UpdateOptions are `update`'s flags. Zero fields of Resources leave the
// container's as they are, as Docker's do; a PidsLimit of 0 or less lifts
// the limit, a MemorySwap of -1 the swap limit. Restart, when set,
// replaces the restart policy.
type UpdateOptions struct {
	Resources containertypes.Resources
	Restart   *container.RestartPolicy
}

// UpdateContainer changes a container's limits and restart policy as
// `docker update` does: checked (with Docker's warnings for what the host
// can't limit), applied at once to a running container's cgroups through
// the runtime, and recorded in the container's record and config.json, so
// a stopped container gets them at its next start. Nothing changes when
// any step fails.
//
// A running container's shim keeps the restart policy it was started
// with until the container is started again.
func (e *Engine) UpdateContainer(ctx context.Context, ref string, o UpdateOptions) ([]string, error) {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return nil, err
	}
	upd := o.Resources
	warnings, err := oci.PrepareResources(&upd, true)
	if err != nil {
		return warnings, err
	}
	cannot := func(err error) error { return fmt.Errorf("Cannot update container %s: %w", c.ID, err) }
	_, err = e.containers.UpdateConfig(ctx, c.ID, func(cfg *container.Config) error {
		if err := mergeResources(&cfg.Resources, upd); err != nil {
			return cannot(err)
		}
		if o.Restart != nil {
			if cfg.AutoRemove && !o.Restart.IsNone() {
				return cannot(errors.New("Restart policy cannot be updated because AutoRemove is enabled for the container"))
			}
			cfg.Restart = *o.Restart
		}
		res, err := oci.LinuxResources(cfg.Resources)
		if err != nil {
			return cannot(err)
		}
		if c.Status == container.Running || c.Status == container.Restarting {
			live := *res
			if cfg.Resources.MemorySwap == -1 && live.Memory != nil && live.Memory.Limit != nil {
				// Lift a swap limit set before; the spec leaves -1 out.
				m := *live.Memory
				m.Swap = ptr(int64(-1))
				live.Memory = &m
			}
			err := e.runtime().Update(c.ID, &live)
			if err != nil && !errors.Is(err, runtime.ErrNotExist) {
				return cannot(err)
			}
		}
		if err := e.rewriteSpecResources(c.ID, res); err != nil {
			return cannot(err)
		}
		return nil
	})
	return warnings, err
}

// mergeResources puts the set fields of upd over cur, refusing what
// Docker refuses (container_unix.go UpdateContainer): --cpus over a CPU
// period or quota and the other way round, and a memory limit above the
// swap limit already set unless the swap limit changes too.
func mergeResources(cur *containertypes.Resources, upd containertypes.Resources) error {
	switch {
	case upd.NanoCPUs > 0 && cur.CPUPeriod > 0:
		return errors.New("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
	case upd.NanoCPUs > 0 && cur.CPUQuota > 0:
		return errors.New("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set")
	case upd.CPUPeriod > 0 && cur.NanoCPUs > 0:
		return errors.New("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
	case upd.CPUQuota > 0 && cur.NanoCPUs > 0:
		return errors.New("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
	case upd.Memory != 0 && cur.MemorySwap > 0 && upd.Memory > cur.MemorySwap && upd.MemorySwap == 0:
		return errors.New("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
	}
	set := func(dst *int64, v int64) {
		if v != 0 {
			*dst = v
		}
	}
	if upd.BlkioWeight != 0 {
		cur.BlkioWeight = upd.BlkioWeight
	}
	set(&cur.CPUShares, upd.CPUShares)
	set(&cur.NanoCPUs, upd.NanoCPUs)
	set(&cur.CPUPeriod, upd.CPUPeriod)
	set(&cur.CPUQuota, upd.CPUQuota)
	set(&cur.CPURealtimePeriod, upd.CPURealtimePeriod)
	set(&cur.CPURealtimeRuntime, upd.CPURealtimeRuntime)
	set(&cur.Memory, upd.Memory)
	set(&cur.MemorySwap, upd.MemorySwap)
	set(&cur.MemoryReservation, upd.MemoryReservation)
	if upd.CpusetCpus != "" {
		cur.CpusetCpus = upd.CpusetCpus
	}
	if upd.CpusetMems != "" {
		cur.CpusetMems = upd.CpusetMems
	}
	if upd.PidsLimit != nil {
		limit := max(*upd.PidsLimit, 0) // 0: unlimited, as the API stores it
		cur.PidsLimit = &limit
	}
	return nil
}

// rewriteSpecResources puts res's limits into the container's
// config.json (its device rules stay), for its next start.
func (e *Engine) rewriteSpecResources(id string, res *specs.LinuxResources) error {
	return e.editSpec(id, func(s *specs.Spec) error {
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		r := s.Linux.Resources
		r.Memory, r.CPU, r.Pids, r.BlockIO = res.Memory, res.CPU, res.Pids, res.BlockIO
		return nil
	})
}

func ptr[T any](v T) *T { return &v }

// hostResources is inspect's HostConfig.Resources: the recorded limits,
// the cgroup parent, and Docker's empty lists where none were given.
func hostResources(cfg container.Config) containertypes.Resources {
	r := cfg.Resources
	r.CgroupParent = cfg.CgroupParent
	for _, l := range []*[]*blkiodev.ThrottleDevice{&r.BlkioDeviceReadBps, &r.BlkioDeviceWriteBps, &r.BlkioDeviceReadIOps, &r.BlkioDeviceWriteIOps} {
		if *l == nil {
			*l = []*blkiodev.ThrottleDevice{}
		}
	}
	if r.BlkioWeightDevice == nil {
		r.BlkioWeightDevice = []*blkiodev.WeightDevice{}
	}
	return r
}

// shmSize is inspect's HostConfig.ShmSize: --shm-size, else the default.
func shmSize(cfg container.Config) int64 {
	if cfg.ShmSize > 0 {
		return cfg.ShmSize
	}
	return oci.DefaultShmSize
}
