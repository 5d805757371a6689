package runtimecli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/runtime"
)

func addCreateFlags(cmd *cobra.Command, co *runtime.CreateOpts) {
	f := cmd.Flags()
	f.StringVarP(&co.Bundle, "bundle", "b", ".", "path to the bundle directory")
	f.StringVar(&co.ConsoleSocket, "console-socket", "", "unix socket to receive the pty master of a terminal container")
	f.StringVar(&co.PidFile, "pid-file", "", "write the container init's pid to this file")
	f.BoolVar(&co.NoPivot, "no-pivot", false, "use MS_MOVE and chroot instead of pivot_root (for ramdisks)")
	f.IntVar(&co.PreserveFDs, "preserve-fds", 0, "pass this many fds after stdio (3, 4, …) to the process")
	f.Bool("no-new-keyring", false, "accepted for runc compatibility")
}

func stdio(co *runtime.CreateOpts) {
	co.Stdin, co.Stdout, co.Stderr = os.Stdin, os.Stdout, os.Stderr
}

func newRuntimeCreateCommand(o *runtimeOptions) *cobra.Command {
	var co runtime.CreateOpts
	cmd := &cobra.Command{
		Use:   "create [flags] CONTAINER",
		Short: "Create a container, ready for start",
	}
	addCreateFlags(cmd, &co)
	cmd.RunE = o.run(func(cmd *cobra.Command, args []string) error {
		if err := needArgs(cmd, args, 1, "container id"); err != nil {
			return err
		}
		stdio(&co)
		return o.runtime().Create(args[0], co)
	})
	return cmd
}

func newRuntimeRunCommand(o *runtimeOptions) *cobra.Command {
	var co runtime.CreateOpts
	var detach, keep bool
	cmd := &cobra.Command{
		Use:   "run [flags] CONTAINER",
		Short: "Create and start a container, and wait for it unless -d",
	}
	addCreateFlags(cmd, &co)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "detach from the container's process")
	cmd.Flags().BoolVar(&keep, "keep", false, "accepted for runc compatibility")
	cmd.RunE = o.run(func(cmd *cobra.Command, args []string) error {
		if err := needArgs(cmd, args, 1, "container id"); err != nil {
			return err
		}
		stdio(&co)
		return exitCode(o.runtime().Run(args[0], co, detach))
	})
	return cmd
}

func newRuntimeStartCommand(o *runtimeOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "start CONTAINER", Short: "Start the process of a created container"}
	cmd.RunE = o.run(func(cmd *cobra.Command, args []string) error {
		if err := needArgs(cmd, args, 1, "container id"); err != nil {
			return err
		}
		return o.runtime().Start(args[0])
	})
	return cmd
}

func newRuntimeStateCommand(o *runtimeOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "state CONTAINER", Short: "Print a container's OCI state as JSON"}
	cmd.RunE = o.run(func(cmd *cobra.Command, args []string) error {
		if err := needArgs(cmd, args, 1, "container id"); err != nil {
			return err
		}
		st, err := o.runtime().Report(args[0])
		if err != nil {
			return err
		}
		return writeJSON(os.Stdout, st)
	})
	return cmd
}

func newRuntimeKillCommand(o *runtimeOptions) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "kill [flags] CONTAINER [SIGNAL]",
		Short: "Send a signal (default SIGTERM) to a container's init",
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "send the signal to every process in the container")
	cmd.RunE = o.run(func(cmd *cobra.Command, args []string) error {
		if len(args) < 1 || len(args) > 2 {
			return fmt.Errorf("%q requires 1 or 2 arguments: container id and signal", cmd.CommandPath())
		}
		sig := unix.SIGTERM
		if len(args) == 2 {
			var err error
			if sig, err = ParseSignal(args[1]); err != nil {
				return err
			}
		}
		return o.runtime().Kill(args[0], sig, all)
	})
	return cmd
}

// ParseSignal accepts "SIGKILL", "KILL", "kill" or "9".
func ParseSignal(s string) (unix.Signal, error) { return runtime.ParseSignal(s) }

func newRuntimeDeleteCommand(o *runtimeOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{Use: "delete [flags] CONTAINER", Short: "Delete a stopped container (any with --force)"}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the container first if it is running")
	cmd.RunE = o.run(func(cmd *cobra.Command, args []string) error {
		if err := needArgs(cmd, args, 1, "container id"); err != nil {
			return err
		}
		return o.runtime().Delete(args[0], force)
	})
	return cmd
}
