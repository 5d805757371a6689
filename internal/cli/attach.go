package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/shim"
)

// defaultDetachKeys is Docker's detach sequence.
const defaultDetachKeys = "ctrl-p,ctrl-q"

// parseDetachKeys parses Docker's --detach-keys syntax: comma-separated
// keys, each a single character or ctrl-<c> for c in a-z, @, [, \, ],
// ^ and _.
func parseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		s = defaultDetachKeys
	}
	var keys []byte
	for _, k := range strings.Split(s, ",") {
		if c, ok := strings.CutPrefix(strings.ToLower(k), "ctrl-"); ok && len(c) == 1 {
			switch ch := c[0]; {
			case ch >= 'a' && ch <= 'z':
				keys = append(keys, ch-'a'+1)
				continue
			case ch == '@' || ch == '[' || ch == '\\' || ch == ']' || ch == '^' || ch == '_':
				keys = append(keys, ch-'@')
				continue
			}
		} else if len(k) == 1 {
			keys = append(keys, k[0])
			continue
		}
		return nil, fmt.Errorf("Invalid detach keys (%s) provided", s)
	}
	return keys, nil
}

// errDetached ends an attachment by the detach keys.
var errDetached = errors.New("detached")

// detachReader passes input through until the detach sequence, whose
// keys it holds back while they may still become the sequence; a partial
// sequence that breaks off is passed through.
type detachReader struct {
	r       io.Reader
	keys    []byte
	matched int
	out     []byte
}

func (d *detachReader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		buf := make([]byte, len(p))
		n, err := d.r.Read(buf)
		for _, b := range buf[:n] {
			if b == d.keys[d.matched] {
				if d.matched++; d.matched == len(d.keys) {
					return 0, errDetached
				}
				continue
			}
			d.out = append(d.out, d.keys[:d.matched]...)
			d.matched = 0
			if b == d.keys[0] {
				d.matched = 1
				continue
			}
			d.out = append(d.out, b)
		}
		if err != nil {
			if len(d.out) == 0 {
				return 0, err
			}
			break
		}
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

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
	keys, err := parseDetachKeys(o.detachKeys)
	if err != nil {
		return failed(125, err)
	}
	tty := c.Config.Tty
	if tty && o.stdin && term.IsTerminal(int(os.Stdin.Fd())) {
		old, err := term.MakeRaw(int(os.Stdin.Fd()))
		if err == nil {
			defer term.Restore(int(os.Stdin.Fd()), old)
		}
	}
	if tty {
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, unix.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				if h, w, ok := termSize(); ok {
					att.Resize(h, w)
				}
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
			_, err := io.Copy(att, &detachReader{r: os.Stdin, keys: keys})
			if errors.Is(err, errDetached) {
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
	ctx = context.WithoutCancel(ctx) // Main's Ctrl-C context: the signal is the container's
	code, err := e.WaitContainer(ctx, c.ID)
	if err != nil {
		return failed(125, err)
	}
	if o.rm {
		if err := e.RemoveContainer(context.Background(), c.ID, true); err != nil && !errors.Is(err, container.ErrNotFound) {
			fmt.Fprintln(os.Stderr, "Error:", err)
		}
	}
	if code != 0 {
		return exitError{code: code}
	}
	return nil
}

// termSize is our terminal's size (stdout's, else stdin's).
func termSize() (height, width uint16, ok bool) {
	for _, f := range []*os.File{os.Stdout, os.Stdin} {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Row > 0 {
			return ws.Row, ws.Col, true
		}
	}
	return 0, 0, false
}

// attachRequest is what a client session asks the shim for.
func attachRequest(stdin bool) shim.AttachRequest {
	req := shim.AttachRequest{Stdin: stdin, Stdout: true, Stderr: true}
	req.Height, req.Width, _ = termSize()
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
			o.stdin = c.Config.OpenStdin && !noStdin
			if o.stdin && c.Config.Tty && !term.IsTerminal(int(os.Stdin.Fd())) {
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
	if tty && interactive && !term.IsTerminal(int(os.Stdin.Fd())) {
		return errors.New("the input device is not a TTY")
	}
	return nil
}
