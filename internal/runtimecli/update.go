package runtimecli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

func newRuntimeUpdateCommand(o *runtimeOptions) *cobra.Command {
	var file string
	cmd := &cobra.Command{Use: "update [flags] CONTAINER", Short: "Change a running container's resource limits"}
	f := cmd.Flags()
	f.StringVarP(&file, "resources", "r", "", "read the OCI linux.resources JSON from this file (- for stdin)")
	ints := map[string]*int64{}
	for _, name := range []string{"memory", "memory-reservation", "memory-swap", "pids-limit", "cpu-quota", "cpu-rt-runtime"} {
		ints[name] = new(int64)
		f.Int64Var(ints[name], name, 0, name+" (see the OCI spec)")
	}
	uints := map[string]*uint64{}
	for _, name := range []string{"cpu-period", "cpu-share", "cpu-rt-period", "blkio-weight"} {
		uints[name] = new(uint64)
		f.Uint64Var(uints[name], name, 0, name+" (see the OCI spec)")
	}
	var cpus, mems string
	f.StringVar(&cpus, "cpuset-cpus", "", "CPUs the container may use (0-3, 0,1)")
	f.StringVar(&mems, "cpuset-mems", "", "memory nodes the container may use")
	f.Uint64("kernel-memory", 0, "accepted and ignored, as on new kernels")
	cmd.RunE = o.run(func(cmd *cobra.Command, args []string) error {
		if err := needArgs(cmd, args, 1, "container id"); err != nil {
			return err
		}
		res := &specs.LinuxResources{}
		if file != "" {
			var r io.Reader = os.Stdin
			if file != "-" {
				fh, err := os.Open(file)
				if err != nil {
					return err
				}
				defer fh.Close()
				r = fh
			}
			if err := json.NewDecoder(r).Decode(res); err != nil {
				return fmt.Errorf("resources: %w", err)
			}
		}
		changed := func(name string) bool { return cmd.Flags().Changed(name) }
		mem := func() *specs.LinuxMemory {
			if res.Memory == nil {
				res.Memory = &specs.LinuxMemory{}
			}
			return res.Memory
		}
		cpu := func() *specs.LinuxCPU {
			if res.CPU == nil {
				res.CPU = &specs.LinuxCPU{}
			}
			return res.CPU
		}
		if changed("memory") {
			mem().Limit = ints["memory"]
		}
		if changed("memory-reservation") {
			mem().Reservation = ints["memory-reservation"]
		}
		if changed("memory-swap") {
			mem().Swap = ints["memory-swap"]
		}
		if changed("pids-limit") {
			res.Pids = &specs.LinuxPids{Limit: ints["pids-limit"]}
		}
		if changed("cpu-quota") {
			cpu().Quota = ints["cpu-quota"]
		}
		if changed("cpu-rt-runtime") {
			cpu().RealtimeRuntime = ints["cpu-rt-runtime"]
		}
		if changed("cpu-period") {
			cpu().Period = uints["cpu-period"]
		}
		if changed("cpu-share") {
			cpu().Shares = uints["cpu-share"]
		}
		if changed("cpu-rt-period") {
			cpu().RealtimePeriod = uints["cpu-rt-period"]
		}
		if changed("cpuset-cpus") {
			cpu().Cpus = cpus
		}
		if changed("cpuset-mems") {
			cpu().Mems = mems
		}
		if changed("blkio-weight") {
			w := uint16(*uints["blkio-weight"])
			res.BlockIO = &specs.LinuxBlockIO{Weight: &w}
		}
		return o.runtime().Update(args[0], res)
	})
	return cmd
}
