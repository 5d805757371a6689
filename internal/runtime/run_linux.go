package runtime

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/containerd/console"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Run creates and starts a container and, unless detach, stays in the
// foreground: it forwards signals to the container, proxies its terminal
// when it has one and no console socket was given, deletes it when it exits
// and returns its exit code (128+n if killed by signal n).
func (r *Runtime) Run(id string, o CreateOpts, detach bool) (int, error) {
	var relay *signalRelay
	if !detach {
		relay = relaySignals()
		defer relay.stop()
	}
	spec, err := LoadSpec(o.Bundle)
	if err != nil {
		return -1, err
	}
	if spec.Process == nil {
		return -1, errors.New("the config has no process to run")
	}
	var local *os.File // our end of the console socket when we proxy
	if spec.Process.Terminal && o.ConsoleSocket == "" {
		if detach {
			return -1, errors.New("cannot allocate a tty without --console-socket when the runtime detaches")
		}
		var remote *os.File
		if local, remote, err = socketPair(); err != nil {
			return -1, err
		}
		defer local.Close()
		o.Console = remote
	}
	o.Spec = spec
	c, ch, err := r.create(id, o, true)
	if o.Console != nil {
		o.Console.Close()
	}
	if err != nil {
		return -1, err
	}
	fail := func(err error) (int, error) {
		ch.kill()
		ch.conn.Close()
		r.remove(c, false)
		return -1, err
	}
	var pty *os.File
	if local != nil {
		if pty, err = recvFd(local); err != nil {
			return fail(err)
		}
		defer pty.Close()
	}
	// The init execs the process as soon as it is ready, or, when there
	// are startContainer hooks (which may look at the state), once the
	// state is saved: now.
	if len(hooksOf(spec).StartContainer) > 0 {
		if err := ch.conn.send(syncMsg{Type: msgStart}); err != nil {
			return fail(err)
		}
	}
	if err := ch.conn.waitExec(); err != nil {
		return fail(err)
	}
	ch.conn.Close()
	runHooksWarn("poststart", hooksOf(spec).Poststart, c.state(specs.StateRunning), r.warn)
	if detach {
		return 0, ch.cmd.Process.Release()
	}
	code := superviseProcess(ch.cmd, pty, o.Stdin, o.Stdout, relay.C)
	// The init was its pid namespace's init, and is reaped: the kernel
	// killed and reaped everything else in the namespace first.
	if err := r.remove(c, hasNewNamespace(spec, specs.PIDNamespace)); err != nil {
		return code, err
	}
	return code, nil
}

// signalRelay relays every signal this process gets to C, from when it is
// made until it is stopped. signal.Notify and signal.Stop hand the 65
// signals one by one to Go's signal thread and wait for it each time, a
// round trip between threads (2 ms for all of them with one P): both run
// in a goroutine, so that the relay is set up while the container starts
// and undone after the caller has gone on.
type signalRelay struct {
	C     chan os.Signal
	ready chan struct{} // closed once Notify returned
}

func relaySignals() *signalRelay {
	r := &signalRelay{C: make(chan os.Signal, 64), ready: make(chan struct{})}
	go func() {
		signal.Notify(r.C)
		close(r.ready)
	}()
	return r
}

// stop undoes the relay in the background, once it is set up (never
// before: a relay left behind would take every signal's default action
// from a long-lived caller, such as the engine running a build).
func (r *signalRelay) stop() {
	go func() {
		<-r.ready
		signal.Stop(r.C)
	}()
}

// superviseProcess waits for cmd while forwarding the signals of sigs (a
// signalRelay's) to it and, when pty is set, copying our stdio to and from
// the pty in raw mode. It returns the exit code in the shell's convention.
func superviseProcess(cmd *exec.Cmd, pty, stdin, stdout *os.File, sigs <-chan os.Signal) int {
	if stdin == nil {
		stdin = os.Stdin
	}
	if stdout == nil {
		stdout = os.Stdout
	}
	var copied chan struct{}
	if pty != nil {
		if cur, err := console.ConsoleFromFile(stdin); err == nil {
			if err := cur.SetRaw(); err == nil {
				defer cur.Reset()
			}
			resize(cur, pty)
		}
		go io.Copy(pty, stdin)
		copied = make(chan struct{})
		go func() {
			io.Copy(stdout, pty)
			close(copied)
		}()
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			s := sig.(unix.Signal)
			switch s {
			case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
			case unix.SIGWINCH:
				if cur, err := console.ConsoleFromFile(stdin); err == nil && pty != nil {
					resize(cur, pty)
				}
			default:
				unix.Kill(cmd.Process.Pid, s)
			}
		case err := <-done:
			if copied != nil {
				<-copied
			}
			return exitCode(cmd, err)
		}
	}
}

func resize(cur console.Console, pty *os.File) {
	if ws, err := cur.Size(); err == nil {
		unix.IoctlSetWinsize(int(pty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Height, Col: ws.Width})
	}
}

// exitCode maps a wait result to a shell-style exit code.
func exitCode(cmd *exec.Cmd, err error) int {
	if cmd.ProcessState == nil {
		return 255
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return cmd.ProcessState.ExitCode()
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func socketPair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, &os.SyscallError{Syscall: "socketpair", Err: err}
	}
	return os.NewFile(uintptr(fds[0]), "socket"), os.NewFile(uintptr(fds[1]), "socket"), nil
}
