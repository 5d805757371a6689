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
	r.addUpdateFlags(f)
	f.StringVar(&restart, "restart", "", "Restart policy to apply when a container exits")
	return cmd
}
