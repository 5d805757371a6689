// Package term holds what the attached commands (exec -it, run -it,
// attach, start -ai) do with the user's terminal: raw mode and its
// restore, the terminal's size and its changes (SIGWINCH), and Docker's
// detach keys (ctrl-p ctrl-q by default) read out of the input stream.
//
// It knows nothing of containers or of the engine: a command wires these
// helpers between its terminal and the engine's streams.
package term

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	mobyterm "github.com/moby/term"
	"golang.org/x/sys/unix"
	xterm "golang.org/x/term"
)

// DefaultDetachKeys is Docker's detach sequence.
const DefaultDetachKeys = "ctrl-p,ctrl-q"

// ErrDetached is what a DetachReader returns once it has read the detach
// sequence (errors.Is). Its message is Docker's: "read escape sequence".
var ErrDetached error = mobyterm.EscapeError{}

// ParseDetachKeys reads Docker's --detach-keys syntax: comma-separated
// keys, each a single character, "ctrl-<c>" for c in a-z, @, [, \, ], ^
// and _, or "DEL". "" is DefaultDetachKeys.
func ParseDetachKeys(keys string) ([]byte, error) {
	if keys == "" {
		keys = DefaultDetachKeys
	}
	b, err := mobyterm.ToBytes(keys)
	if err != nil {
		return nil, fmt.Errorf("invalid detach keys (%s): %w", keys, err)
	}
	return b, nil
}

// DetachReader passes r through until it reads the detach sequence keys
// (from ParseDetachKeys), which it swallows and then returns ErrDetached.
// A partial sequence is held back until the next byte tells whether it
// was one, as Docker does.
func DetachReader(r io.Reader, keys []byte) io.Reader {
	return mobyterm.NewEscapeProxy(r, keys)
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool { return xterm.IsTerminal(int(f.Fd())) }

// SetRaw puts the terminal f in raw mode (no echo, no line editing, no
// signals from keys) and returns the function that restores it; calling
// that more than once is harmless.
func SetRaw(f *os.File) (restore func(), err error) {
	st, err := xterm.MakeRaw(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("set the terminal to raw mode: %w", err)
	}
	done := false
	return func() {
		if !done {
			done = true
			xterm.Restore(int(f.Fd()), st)
		}
	}, nil
}

// Size is a terminal's size in characters.
type Size struct{ Width, Height uint }

// GetSize returns the size of the terminal f.
func GetSize(f *os.File) (Size, error) {
	w, h, err := xterm.GetSize(int(f.Fd()))
	if err != nil {
		return Size{}, err
	}
	return Size{Width: uint(w), Height: uint(h)}, nil
}

// SetSize sets the size of the terminal f (a pty master: the process on
// its other side gets SIGWINCH).
func SetSize(f *os.File, s Size) error {
	ws := &unix.Winsize{Row: uint16(s.Height), Col: uint16(s.Width)}
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		return &os.SyscallError{Syscall: "ioctl(TIOCSWINSZ)", Err: err}
	}
	return nil
}

// WatchSize sends the size of terminal f on the returned channel each
// time it changes (SIGWINCH), until ctx ends, when the channel closes. The
// current size is for the caller to read first (GetSize). A size that
// can't be read is skipped.
func WatchSize(ctx context.Context, f *os.File) <-chan Size {
	out := make(chan Size, 1)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGWINCH)
	go func() {
		defer close(out)
		defer signal.Stop(sigs)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sigs:
				s, err := GetSize(f)
				if err != nil {
					continue
				}
				// Only the latest size matters: replace one not yet taken.
				select {
				case <-out:
				default:
				}
				out <- s
			}
		}
	}()
	return out
}

// IsDetached reports whether err is (or wraps) ErrDetached.
func IsDetached(err error) bool { return errors.Is(err, ErrDetached) }
