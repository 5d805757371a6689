package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/shim"
	"github.com/berth-dev/berth/internal/term"
)

// attachOptions say how a client session with a container goes.
type attachOptions struct {
	stdin      bool   // forward our stdin
	detachKeys string // "" for Docker's default
	sigProxy   bool   // forward signals (without a terminal)
	rm         bool   // remove the container once it exited
}

// session copies between our stdio and attachment att of container c
// until the container exits (then it exits with the container's code) or
// the user detaches (exit 0). With a terminal, ours is raw meanwhile and
// its size follows ours.
func session(ctx context.Context, e *engine.Engine, c *container.Container, att *shim.Attachment, o attachOptions) error {
	defer att.Close()
	keys, err := term.ParseDetachKeys(o.detachKeys)
	if err != nil {
		return failed(125, err)
	}
	tty := c.Config.Tty
	if tty && o.stdin && term.IsTerminal(os.Stdin) {
		if restore, err := term.SetRaw(os.Stdin); err == nil {
			defer restore()
		}
	}
	if tty {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		sizes := term.WatchSize(wctx, os.Stdout)
		go func() {
			for sz := range sizes {
				att.Resize(uint16(sz.Height), uint16(sz.Width))
			}
		}()
	}
	if o.sigProxy && !tty {
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
		defer signal.Stop(sigs)
		go func() {
			for s := range sigs {
				e.KillContainer(context.Background(), c.ID, s.(unix.Signal))
			}
		}()
	}
	detached := make(chan struct{})
	if o.stdin {
		go func() {
			_, err := io.Copy(att, term.DetachReader(os.Stdin, keys))
			if term.IsDetached(err) {
				close(detached)
				att.Close()
				return
			}
			att.CloseStdin()
		}()
	}
	outErr := att.Output(os.Stdout, os.Stderr)
	select {
	case <-detached:
		return nil
	default:
	}
	if outErr != nil && !errors.Is(outErr, io.EOF) {
		return failed(125, outErr)
	}
	code, ok := att.WaitExit() // an AutoRemove container's shim reports it, removed
	if ok {
		return exitCode(code)
	}
	ctx = context.WithoutCancel(ctx) // Main's Ctrl-C context: the signal is the container's
	code, err = e.WaitContainer(ctx, c.ID)
	if err != nil {
		return failed(125, err)
	}
	if o.rm {
		if err := e.RemoveContainer(context.Background(), c.ID, true); err != nil && !errors.Is(err, container.ErrNotFound) {
			fmt.Fprintln(os.Stderr, "Error:", err)
		}
	}
	return exitCode(code)
}

func exitCode(code int) error {
	if code != 0 {
		return exitError{code: code}
	}
	return nil
}

// attachRequest is what a client session asks the shim for, with our
// terminal's size for the container's.
func attachRequest(stdin bool) shim.AttachRequest {
	req := shim.AttachRequest{Stdin: stdin, Stdout: true, Stderr: true}
	for _, f := range []*os.File{os.Stdout, os.Stdin} {
		if sz, err := term.GetSize(f); err == nil && sz.Height > 0 {
			req.Height, req.Width = uint16(sz.Height), uint16(sz.Width)
			break
		}
	}
	return req
}

func newAttachCommand(g *globalOptions) *cobra.Command {
	var noStdin bool
	o := attachOptions{}
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			c, err := e.Container(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.Status != container.Running {
				return errors.New("You cannot attach to a stopped container, start it first")
			}
			o.stdin = c.Config.OpenStdin && !noStdin
			if o.stdin && c.Config.Tty && !term.IsTerminal(os.Stdin) {
				return errors.New("the input device is not a TTY")
			}
			att, err := e.Attach(cmd.Context(), c, attachRequest(o.stdin))
			if err != nil {
				return err
			}
			return session(cmd.Context(), e, c, att, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	f.BoolVar(&noStdin, "no-stdin", false, "Do not attach STDIN")
	f.BoolVar(&o.sigProxy, "sig-proxy", true, "Proxy all received signals to the process")
	return cmd
}

// checkTerminal refuses -t with -i when stdin is not a terminal, as
// Docker does.
func checkTerminal(tty, interactive bool) error {
	if tty && interactive && !term.IsTerminal(os.Stdin) {
		return errors.New("the input device is not a TTY")
	}
	return nil
}
