// Package pid1 is `--init`: a minimal init that runs as a container's
// PID 1 in place of its command, as Docker's docker-init (tini) does. The
// engine bind-mounts the berth binary at /sbin/docker-init; started
// under that name, berth runs Main instead of its CLI.
//
// It starts the command (the arguments after "--") as its child, passes
// every signal it can catch on to it, reaps every process that ends up
// its child (orphans re-parented to PID 1), and exits with the command's
// status, or 128 + the signal that killed it. The kernel shields PID 1
// from signals it has no handler for, so without an init a container's
// process that ignores SIGTERM only stops at the SIGKILL; with it, the
// command gets the signal with its default action.
package pid1

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Name is the basename berth is started under as the init.
const Name = "docker-init"

// Is reports whether this process was started as the init.
func Is(args []string) bool { return len(args) > 0 && filepath.Base(args[0]) == Name }

// Main runs the init with args (os.Args) and returns its exit code.
func Main(args []string) int {
	args = args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "docker-init: no command to run (usage: docker-init -- COMMAND [ARG...])")
		return 1
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs) // every catchable signal
	signal.Ignore(unix.SIGTTIN, unix.SIGTTOU)
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "docker-init: %v\n", err)
		return 127
	}
	// The child gets its own process group and, when we have a terminal,
	// the foreground (as tini does), so that ^C on the terminal reaches it.
	attr := &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Foreground: isTerminal(0), Ctty: 0},
	}
	pid, err := syscall.ForkExec(path, args, attr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "docker-init: exec %s: %v\n", args[0], err)
		if err == syscall.EACCES {
			return 126
		}
		return 127
	}
	for s := range sigs {
		switch sig := s.(syscall.Signal); sig {
		case unix.SIGCHLD:
			if code, done := reap(pid); done {
				return code
			}
		case unix.SIGURG: // Go's own preemption signal
		default:
			unix.Kill(pid, sig)
		}
	}
	return 0
}

// reap collects every exited child and reports the command's status once
// it has exited.
func reap(pid int) (code int, done bool) {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || got <= 0 {
			return 0, false
		}
		if got != pid {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal()), true
		}
		return ws.ExitStatus(), true
	}
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
