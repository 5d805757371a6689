package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/term"
)

type execOptions struct {
	detach, interactive, tty, privileged bool
	user, workdir, detachKeys            string
	env, envFiles                        []string
}

func newExecCommand(g *globalOptions) *cobra.Command {
	var o execOptions
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  minArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExec(cmd.Context(), g, &o, args[0], args[1:])
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false) // flags after the container belong to the command
	f.BoolVarP(&o.detach, "detach", "d", false, "Detached mode: run command in the background")
	f.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	f.StringVarP(&o.user, "user", "u", "", `Username or UID (format: "<name|uid>[:<group|gid>]")`)
	f.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	f.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "Read in a file of environment variables")
	f.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	f.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to the command")
	return cmd
}

func runExec(ctx context.Context, g *globalOptions, o *execOptions, ref string, command []string) error {
	keys, err := term.ParseDetachKeys(o.detachKeys)
	if err != nil {
		return err
	}
	env, err := readEnv(o.envFiles, o.env)
	if err != nil {
		return err
	}
	if o.tty && o.interactive && !o.detach && !term.IsTerminal(os.Stdin) {
		return errors.New("the input device is not a TTY")
	}
	e, err := g.engine()
	if err != nil {
		return err
	}
	defer e.Close()
	eo := engine.ExecOptions{Cmd: command, Env: env, User: o.user, WorkingDir: o.workdir, Tty: o.tty, Privileged: o.privileged, Detach: o.detach}
	restore := func() {}
	if !o.detach {
		eo.Stdout, eo.Stderr = os.Stdout, os.Stderr
		if o.interactive {
			eo.Stdin = os.Stdin
		}
		// Our signals are the process's; with a tty, keys make none.
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
		defer signal.Stop(sigs)
		eo.Signals = sigs
		if o.tty {
			if term.IsTerminal(os.Stdout) {
				if size, err := term.GetSize(os.Stdout); err == nil {
					eo.ConsoleSize = &size
				}
				wctx, cancel := context.WithCancel(ctx)
				defer cancel()
				eo.Resize = term.WatchSize(wctx, os.Stdout)
			}
			if o.interactive {
				if term.IsTerminal(os.Stdin) {
					if restore, err = term.SetRaw(os.Stdin); err != nil {
						return err
					}
					defer restore()
				}
				eo.Stdin = term.DetachReader(os.Stdin, keys)
			}
		}
	}
	// Ctrl-C cancels Main's context; here it is the process's signal.
	code, err := e.ExecContainer(context.WithoutCancel(ctx), ref, eo)
	restore()
	var se *engine.ExecStartError
	switch {
	case err == nil && code == 0:
		return nil
	case err == nil:
		return exitError{code: code}
	case term.IsDetached(err):
		// What the docker CLI prints, and its exit code, on a detach from exec.
		fmt.Fprintln(os.Stderr, err)
		return exitError{code: 1}
	case errors.As(err, &se) && !o.detach:
		fmt.Fprintln(os.Stderr, se.Msg)
		return exitError{code: se.Code}
	}
	fmt.Fprintln(os.Stderr, "Error response from daemon:", err)
	return exitError{code: 1}
}
