package cli

import (
	"errors"
	"fmt"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/engine"
)

// newUpdateCommand is `docker update`: new limits (and restart policy)
// for running and stopped containers.
func newUpdateCommand(g *globalOptions) *cobra.Command {
	var (
		r       resourceFlags
		restart string
	)
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0 // --root and the other global flags don't count
			cmd.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
				if f.Changed {
					n++
				}
			})
			if n == 0 {
				return errors.New("you must provide one or more flags when using this command")
			}
			o := engine.UpdateOptions{Resources: containertypes.Resources{
				BlkioWeight: r.blkioWeight, CpusetCpus: r.cpusetCpus, CpusetMems: r.cpusetMems,
				CPUShares: r.cpuShares, Memory: int64(r.memory), MemoryReservation: int64(r.memoryReservation),
				MemorySwap: int64(r.memorySwap), CPUPeriod: r.cpuPeriod, CPUQuota: r.cpuQuota,
				CPURealtimePeriod: r.cpuRtPeriod, CPURealtimeRuntime: r.cpuRtRuntime, NanoCPUs: int64(r.cpus),
			}}
			if r.pidsLimit != 0 {
				o.Resources.PidsLimit = &r.pidsLimit
			}
			if restart != "" {
				p, err := container.ParseRestartPolicy(restart)
				if err != nil {
					return err
				}
				o.Restart = &p
			}
			var warnings []string
			err := eachArg(g, cmd, args, func(e *engine.Engine, ref string) error {
				w, err := e.UpdateContainer(cmd.Context(), ref, o)
				warnings = append(warnings, w...)
				return err
			})
			for _, w := range warnings {
				fmt.Println(w) // on stdout after the names, as Docker's CLI
			}
			return err
		},
	}
	f := cmd.Flags()
	f.Uint16Var(&r.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	f.Int64Var(&r.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	f.Int64Var(&r.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	f.Int64Var(&r.cpuRtPeriod, "cpu-rt-period", 0, "Limit the CPU real-time period in microseconds")
	f.Int64Var(&r.cpuRtRuntime, "cpu-rt-runtime", 0, "Limit the CPU real-time runtime in microseconds")
	f.StringVar(&r.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.StringVar(&r.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	f.Int64VarP(&r.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.VarP(&r.memory, "memory", "m", "Memory limit")
	f.Var(&r.memoryReservation, "memory-reservation", "Memory soft limit")
	f.Var(&r.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	f.StringVar(&restart, "restart", "", "Restart policy to apply when a container exits")
	f.Int64Var(&r.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	f.Var(&r.cpus, "cpus", "Number of CPUs")
	addKernelMemoryStub(f)
	return cmd
}
