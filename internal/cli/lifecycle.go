package cli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/runtimecli"
	"github.com/berth-dev/berth/internal/shim"
)

// errSkipArg from eachArg's fn passes over an argument silently (a
// missing one that rm -f ignores).
var errSkipArg = errors.New("skipped")

// eachArg runs fn for every argument, printing the argument on success
// and Docker's error line on failure; any failure exits 1.
func eachArg(g *globalOptions, cmd *cobra.Command, args []string, fn func(e *engine.Engine, ref string) error) error {
	e, err := g.engine()
	if err != nil {
		return err
	}
	defer e.Close()
	failed := false
	for _, ref := range args {
		if err := fn(e, ref); errors.Is(err, errSkipArg) {
			continue
		} else if err != nil {
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
			return eachArg(g, cmd, args, func(e *engine.Engine, ref string) error {
				return e.KillContainer(cmd.Context(), ref, sig)
			})
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "KILL", "Signal to send to the container")
	return cmd
}

// stopFlags are the flags `stop` and `restart` share.
type stopFlags struct {
	timeout int
	signal  string
}

func (f *stopFlags) add(cmd *cobra.Command) {
	cmd.Flags().IntVarP(&f.timeout, "time", "t", 0, "Seconds to wait before killing the container (default: the container's --stop-timeout, else 10)")
	cmd.Flags().StringVarP(&f.signal, "signal", "s", "", "Signal to send to the container (default: the container's --stop-signal, else SIGTERM)")
	cmd.Flags().IntVar(&f.timeout, "timeout", 0, "Seconds to wait before killing the container")
	cmd.Flags().MarkHidden("timeout")
}

func (f *stopFlags) options(cmd *cobra.Command) (engine.StopOptions, error) {
	var o engine.StopOptions
	if f.signal != "" {
		if _, err := engine.ParseSignal(f.signal); err != nil {
			return o, err
		}
		o.Signal = f.signal
	}
	if cmd.Flags().Changed("time") || cmd.Flags().Changed("timeout") {
		d := time.Duration(f.timeout) * time.Second
		o.Timeout = &d
	}
	return o, nil
}

func newStopCommand(g *globalOptions) *cobra.Command {
	var f stopFlags
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(cmd)
			if err != nil {
				return err
			}
			return eachArg(g, cmd, args, func(e *engine.Engine, ref string) error {
				return e.Stop(cmd.Context(), ref, o)
			})
		},
	}
	f.add(cmd)
	return cmd
}

func newRestartCommand(g *globalOptions) *cobra.Command {
	var f stopFlags
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(cmd)
			if err != nil {
				return err
			}
			return eachArg(g, cmd, args, func(e *engine.Engine, ref string) error {
				return e.RestartContainer(cmd.Context(), ref, o)
			})
		},
	}
	f.add(cmd)
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
			return eachArg(g, cmd, args, func(e *engine.Engine, ref string) error {
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

// daemonError prints an engine error as the docker CLI prints the
// daemon's, and exits 1.
func daemonError(err error) error {
	fmt.Fprintln(os.Stderr, "Error response from daemon:", err)
	return exitError{code: 1}
}

// startFailed reports a container that did not start with the exit code
// Docker gives (126, 127, or 125).
func startFailed(err error) error {
	if se, ok := err.(*shim.StartError); ok {
		return failed(se.Code, err)
	}
	return failed(125, err)
}
