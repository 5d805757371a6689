package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/term"
)

// ExecOptions are `exec`'s flags and the streams of the process.
type ExecOptions struct {
	Cmd        []string
	Env        []string // -e and --env-file, read: KEY=VALUE, or KEY to drop it
	User       string   // user[:group]; "" for the container's
	WorkingDir string   // "" for the container's
	Tty        bool     // give the process a pty
	Privileged bool     // every capability, whatever the container's
	// Detach starts the process and returns: it runs on, with no stdio,
	// under its exec shim.
	Detach bool

	// Stdin is the process's input (nil: /dev/null). Without Tty an
	// *os.File is handed to the process itself, and its end of file is the
	// process's. With Tty it is copied to the pty until it ends; a read
	// error other than io.EOF (a term.DetachReader's ErrDetached) makes
	// ExecContainer return that error at once, leaving the process running.
	Stdin io.Reader
	// Stdout and Stderr get the process's output (nil: discarded); an
	// *os.File is handed to the process itself. With Tty everything comes
	// on Stdout.
	Stdout, Stderr io.Writer

	ConsoleSize *term.Size       // the pty's first size, with Tty
	Resize      <-chan term.Size // later sizes, with Tty
	// Signals are passed on to the process while it runs.
	Signals <-chan os.Signal
}

// ErrNotRunning classifies an exec into a container that does not run.
var ErrNotRunning = errors.New("container is not running")

type notRunningError struct{ id string }

func (e notRunningError) Error() string   { return "container " + e.id + " is not running" }
func (e notRunningError) Is(t error) bool { return t == ErrNotRunning }

// ExecStartError is a process exec could not start, with Docker's message
// and the exit code Docker gives: 127 when the command (or the working
// directory) is not there, 126 when it can't be invoked.
type ExecStartError struct {
	Msg  string
	Code int
}

func (e *ExecStartError) Error() string { return e.Msg }

// outputGrace is how long ExecContainer waits, once the process has
// exited, for the rest of its output: a process it left in the background
// may hold the pty open for ever.
const outputGrace = 2 * time.Second

// ExecContainer runs a process in running container ref, in its
// namespaces and cgroup, as `docker exec` does, and returns its exit code
// (128+n if killed by signal n). With o.Detach it returns once the
// process runs. Errors: container.ErrNotFound, ErrNotRunning, an
// *ExecStartError, or the error that ended o.Stdin with a tty.
//
// The process's parent is an exec shim (`berth exec-shim`, see
// execshim_linux.go), so that it keeps a parent that reaps it, and its pty
// stays open, when this caller detaches or exits.
func (e *Engine) ExecContainer(ctx context.Context, ref string, o ExecOptions) (int, error) {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return -1, err
	}
	if c.Status != container.Running {
		return -1, notRunningError{c.ID}
	}
	rt := e.runtime()
	spec, err := rt.Config(c.ID)
	if err != nil {
		return -1, notRunningError{c.ID} // it has just stopped
	}
	var box *specs.Box
	if o.ConsoleSize != nil {
		box = &specs.Box{Height: o.ConsoleSize.Height, Width: o.ConsoleSize.Width}
	}
	p, err := oci.ExecProcess(spec.Process, filepath.Join(e.containerDir(c.ID), "rootfs"), oci.ExecOptions{
		Args: o.Cmd, Env: o.Env, User: o.User, GroupAdd: c.Config.GroupAdd,
		WorkingDir: o.WorkingDir, Tty: o.Tty, Privileged: o.Privileged, ConsoleSize: box,
	})
	if err != nil {
		return -1, &ExecStartError{Msg: err.Error(), Code: 126}
	}
	// event: exec_create

	sh, err := startExecShim(execShimConfig{ID: c.ID, RuntimeRoot: rt.Root, Process: p}, o)
	if err != nil {
		return -1, err
	}
	// event: exec_start
	if o.Detach {
		sh.ctl.Close() // the shim drains the pty from now on
		go sh.cmd.Wait()
		return 0, nil
	}
	return sh.attach(o)
}

// execShim is a started exec shim whose process runs.
type execShim struct {
	cmd    *exec.Cmd
	ctl    *os.File // our end of the control socket: open while we attach
	master *os.File // the pty master, with a tty
	pid    int
}

func startExecShim(cfg execShimConfig, o ExecOptions) (*execShim, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer cfgR.Close()
	defer cfgW.Close()
	ctl, shimCtl, err := seqpacketPair()
	if err != nil {
		return nil, err
	}
	defer shimCtl.Close()
	cmd := exec.Command(self, execShimCommand)
	cmd.ExtraFiles = []*os.File{cfgR, shimCtl} // fds 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if !cfg.Process.Terminal && !o.Detach {
		// Typed nils would be closed descriptors: set only what is given.
		if o.Stdin != nil {
			cmd.Stdin = o.Stdin
		}
		if o.Stdout != nil {
			cmd.Stdout = o.Stdout
		}
		if o.Stderr != nil {
			cmd.Stderr = o.Stderr
		}
		// Output copied through pipes (a writer that is no file) ends at
		// the latest this long after the process.
		cmd.WaitDelay = outputGrace
	}
	if err := cmd.Start(); err != nil {
		ctl.Close()
		return nil, fmt.Errorf("start the exec shim: %w", err)
	}
	cfgR.Close()
	shimCtl.Close()
	if err := json.NewEncoder(cfgW).Encode(cfg); err != nil {
		ctl.Close()
		cmd.Wait()
		return nil, fmt.Errorf("exec shim config: %w", err)
	}
	cfgW.Close()
	var ready execShimReady
	master, err := recvReady(ctl, &ready)
	if err != nil || ready.Error != "" {
		ctl.Close()
		cmd.Wait()
		if err != nil {
			return nil, fmt.Errorf("the exec shim exited before the process started: %w", err)
		}
		return nil, &ExecStartError{
			Msg:  "OCI runtime exec failed: exec failed: unable to start container process: " + ready.Error + ": unknown",
			Code: execStartCode(ready.Error),
		}
	}
	return &execShim{cmd: cmd, ctl: ctl, master: master, pid: ready.Pid}, nil
}

// execStartCode is the exit code Docker gives an exec that could not
// start (daemon's translateContainerdStartErr).
func execStartCode(msg string) int {
	msg = strings.ToLower(msg)
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"),
		strings.Contains(msg, "not a directory"):
		return 127
	}
	return 126
}

// attach copies the streams, passes signals and sizes on, and waits for
// the process's end (or the end of stdin with an error, a detach).
func (sh *execShim) attach(o ExecOptions) (int, error) {
	defer sh.ctl.Close()
	exited := make(chan struct{})
	go func() {
		sh.cmd.Wait()
		close(exited)
	}()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case s, ok := <-o.Signals:
				if !ok {
					return
				}
				select {
				case <-exited:
				default:
					sh.cmd.Process.Signal(s) // the shim passes it on
				}
			case <-stop:
				return
			}
		}
	}()
	inErr := make(chan error, 1)
	var outDone chan struct{}
	if sh.master != nil {
		defer sh.master.Close()
		go func() {
			for {
				select {
				case s, ok := <-o.Resize:
					if !ok {
						return
					}
					term.SetSize(sh.master, s)
				case <-stop:
					return
				}
			}
		}()
		if o.Stdin != nil {
			go func() {
				if _, err := io.Copy(sh.master, o.Stdin); err != nil {
					inErr <- err
				}
			}()
		}
		out := o.Stdout
		if out == nil {
			out = io.Discard
		}
		outDone = make(chan struct{})
		go func() {
			io.Copy(out, sh.master) // ends with EIO once no one holds the pty's slave
			close(outDone)
		}()
	}
	select {
	case err := <-inErr:
		return -1, err
	case <-exited:
	}
	if outDone != nil {
		select {
		case <-outDone:
		case <-time.After(outputGrace):
		}
	}
	if ws, ok := sh.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return sh.cmd.ProcessState.ExitCode(), nil
}

// seqpacketPair is a connected pair of unix sockets that keep message
// boundaries, close-on-exec (os/exec dups the child's end).
func seqpacketPair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, &os.SyscallError{Syscall: "socketpair", Err: err}
	}
	return os.NewFile(uintptr(fds[0]), "exec-shim-ctl"), os.NewFile(uintptr(fds[1]), "exec-shim-ctl"), nil
}

// recvReady reads the shim's one message: Ready as JSON, with the pty
// master attached when there is one.
func recvReady(sock *os.File, r *execShimReady) (*os.File, error) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, &os.SyscallError{Syscall: "recvmsg", Err: err}
	}
	if n == 0 {
		return nil, io.ErrUnexpectedEOF
	}
	var master *os.File
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil && len(msgs) == 1 {
			if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) == 1 {
				master = os.NewFile(uintptr(fds[0]), "pty master")
			}
		}
	}
	if err := json.Unmarshal(buf[:n], r); err != nil {
		if master != nil {
			master.Close()
		}
		return nil, err
	}
	return master, nil
}
