package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/runtimecli"
	"github.com/berth-dev/berth/internal/shim"
)

// eachContainer runs fn for every argument, printing the argument on
// success and Docker's error line on failure; any failure exits 1.
func eachContainer(g *globalOptions, cmd *cobra.Command, args []string, fn func(e *engine.Engine, ref string) error) error {
	e, err := g.engine()
	if err != nil {
		return err
	}
	defer e.Close()
	failed := false
	for _, ref := range args {
		if err := fn(e, ref); err != nil {
			fmt.Fprintln(os.Stderr, "Error response from daemon:", err)
			failed = true
			continue
		}
		fmt.Println(ref)
	}
	if failed {
		return exitError{code: 1}
	}
	return nil
}

func newKillCommand(g *globalOptions) *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sig, err := runtimecli.ParseSignal(signal)
			if err != nil {
				return fmt.Errorf("invalid signal: %s", signal)
			}
			return eachContainer(g, cmd, args, func(e *engine.Engine, ref string) error {
				return e.KillContainer(cmd.Context(), ref, sig)
			})
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "KILL", "Signal to send to the container")
	return cmd
}

func newStopCommand(g *globalOptions) *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachContainer(g, cmd, args, func(e *engine.Engine, ref string) error {
				return e.StopContainer(cmd.Context(), ref, time.Duration(timeout)*time.Second)
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "time", "t", 10, "Seconds to wait before killing the container")
	return cmd
}

func newStartCommand(g *globalOptions) *cobra.Command {
	o := attachOptions{sigProxy: true}
	var attachOut bool
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if attachOut || o.stdin {
				if len(args) > 1 {
					return fmt.Errorf("you cannot start and attach multiple containers at once")
				}
				e, err := g.engine()
				if err != nil {
					return err
				}
				defer e.Close()
				c, err := e.Container(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				o.stdin = o.stdin && c.Config.OpenStdin
				if err := checkTerminal(c.Config.Tty, o.stdin); err != nil {
					return err
				}
				att, err := e.StartAttached(cmd.Context(), c, attachRequest(o.stdin))
				if err != nil {
					return startFailed(err)
				}
				return session(cmd.Context(), e, c, att, o)
			}
			return eachContainer(g, cmd, args, func(e *engine.Engine, ref string) error {
				c, err := e.Container(cmd.Context(), ref)
				if err != nil {
					return err
				}
				return e.StartContainer(cmd.Context(), c)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&attachOut, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	f.BoolVarP(&o.stdin, "interactive", "i", false, "Attach container's STDIN")
	f.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// startFailed reports a container that did not start with the exit code
// Docker gives (126, 127, or 125).
func startFailed(err error) error {
	if se, ok := err.(*shim.StartError); ok {
		return failed(se.Code, err)
	}
	return failed(125, err)
}
