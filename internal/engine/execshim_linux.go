package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/runtime"
)

// The exec shim is the parent of a process `exec` runs in a container:
// berth re-executed as `berth exec-shim` (setsid, in no terminal's
// session), which asks the runtime to start the process, reaps it and exits
// with its exit code. It exists because the process must keep a parent
// that reaps it when the command that started it goes away (detached,
// killed, or `exec -d`): the container's shim is no ancestor of that
// command, so an orphan would go to the host's init instead. It also
// keeps the pty open after a detach, draining it, so the process neither
// gets SIGHUP nor blocks on a full terminal.
//
//	engine (berth exec)                          exec shim
//	  | spawn, fd 3 = config pipe,                 |
//	  |   fd 4 = control socket (seqpacket)        |
//	  | execShimConfig JSON on fd 3, close ------> |
//	  |                                            | runtime Exec (detached), console
//	  |                                            |   socket of its own with a tty
//	  | <--- execShimReady JSON on fd 4 (+ pty) -- |   (or the error; then exit 1)
//	  | copy stdio / pty, send signals to it  ...  | pass our signals to the process;
//	  | close fd 4 (done, detached, or dead) ----> |   with a pty: drain it from now on
//	  | wait: its exit code is the process's <---- | reap the process, exit with its code
//
// Without a tty the process has the shim's stdio, which is the caller's.
const execShimCommand = "exec-shim"

type execShimConfig struct {
	ID          string         `json:"id"`
	RuntimeRoot string         `json:"runtimeRoot"`
	Process     *specs.Process `json:"process"`
}

type execShimReady struct {
	Pid   int    `json:"pid,omitempty"`   // the process, on the host
	Error string `json:"error,omitempty"` // why it did not start
}

// IsExecShim reports whether args (os.Args) start the exec shim.
func IsExecShim(args []string) bool { return len(args) == 2 && args[1] == execShimCommand }

// forwardedSignals are what the shim passes on to the process.
var forwardedSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2}

// ExecShimMain is `berth exec-shim`; it returns the exit code.
func ExecShimMain() int {
	cfgFile, ctl := os.NewFile(3, "config"), os.NewFile(4, "ctl")
	if cfgFile == nil || ctl == nil {
		fmt.Fprintln(os.Stderr, "berth exec-shim is started by berth exec")
		return 1
	}
	var cfg execShimConfig
	err := json.NewDecoder(cfgFile).Decode(&cfg)
	cfgFile.Close()
	if err != nil {
		sendReady(ctl, execShimReady{Error: "exec shim config: " + err.Error()}, nil)
		return 1
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwardedSignals...)
	pid, master, err := execStart(cfg)
	if err != nil {
		sendReady(ctl, execShimReady{Error: err.Error()}, nil)
		return 1
	}
	sendReady(ctl, execShimReady{Pid: pid}, master) // a caller gone already is one that detached
	if master != nil {
		go func() {
			// Until the caller is done with the pty, it reads it; then we do.
			buf := make([]byte, 16)
			for {
				if _, err := ctl.Read(buf); err != nil {
					break
				}
			}
			io.Copy(io.Discard, master)
		}()
	}
	var mu sync.Mutex
	exited := false
	go func() {
		for s := range sigs {
			mu.Lock()
			if !exited {
				unix.Kill(pid, s.(unix.Signal))
			}
			mu.Unlock()
		}
	}()
	// Wait for the exit leaving the zombie, so that no signal above can
	// reach another process reusing the pid; then reap it.
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break
		}
	}
	mu.Lock()
	exited = true
	mu.Unlock()
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			if err != nil {
				return 255
			}
			break
		}
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// execStart has the runtime start the process, detached from it but our
// child, and returns its pid and, with a tty, the pty master.
func execStart(cfg execShimConfig) (int, *os.File, error) {
	if cfg.Process == nil {
		return 0, nil, fmt.Errorf("exec shim config: no process")
	}
	dir, err := os.MkdirTemp("", "berth-exec-")
	if err != nil {
		return 0, nil, err
	}
	defer os.RemoveAll(dir)
	var l *net.UnixListener
	var sock string
	if cfg.Process.Terminal {
		sock = filepath.Join(dir, "console.sock")
		if l, err = net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"}); err != nil {
			return 0, nil, err
		}
		defer l.Close()
	}
	pidFile := filepath.Join(dir, "pid")
	rt := &runtime.Runtime{Root: cfg.RuntimeRoot}
	if _, err := rt.Exec(cfg.ID, cfg.Process, runtime.ExecOpts{
		PidFile: pidFile, ConsoleSocket: sock, Detach: true,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	}); err != nil {
		return 0, nil, err
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, nil, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, nil, fmt.Errorf("pid file: %w", err)
	}
	if l == nil {
		return pid, nil, nil
	}
	// The init sent the master before it executed the process, which
	// Exec waited for: it is here.
	conn, err := l.AcceptUnix()
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return 0, nil, err
	}
	defer conn.Close()
	master, err := recvConsole(conn)
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return 0, nil, err
	}
	return pid, master, nil
}

// recvConsole receives the pty master the runtime's init sends over the
// console socket (runc's protocol: one descriptor, SCM_RIGHTS).
func recvConsole(conn *net.UnixConn) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("console socket: expected one control message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("console socket: expected one descriptor")
	}
	unix.CloseOnExec(fds[0])
	return os.NewFile(uintptr(fds[0]), "pty master"), nil
}

// sendReady sends r, with the pty master attached when there is one.
func sendReady(ctl *os.File, r execShimReady, master *os.File) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	var oob []byte
	if master != nil {
		oob = unix.UnixRights(int(master.Fd()))
	}
	if err := unix.Sendmsg(int(ctl.Fd()), data, oob, nil, 0); err != nil {
		return &os.SyscallError{Syscall: "sendmsg", Err: err}
	}
	return nil
}
