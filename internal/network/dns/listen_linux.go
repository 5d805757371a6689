package dns

import (
	"errors"
	"fmt"
	"net"
	"os"
	goruntime "runtime"

	"golang.org/x/sys/unix"
)

// Addr is where a container's resolver listens in its namespace, as
// Docker's: 127.0.0.11 is local in any namespace whose lo is up
// (127.0.0.0/8 is routed to lo).
var Addr = [4]byte{127, 0, 0, 11}

// Listen binds the resolver's UDP and TCP sockets at Addr port 53 inside
// the network namespace at nsPath and returns them (close-on-exec). A
// socket stays in the namespace it was made in, whatever thread uses it
// later: only the thread that makes them enters the namespace, and it
// goes back before it does anything else (or dies with its goroutine).
func Listen(nsPath string) (udp, tcp *os.File, err error) {
	ns, err := os.Open(nsPath)
	if err != nil {
		return nil, nil, fmt.Errorf("resolver: network namespace: %w", err)
	}
	defer ns.Close()
	type result struct {
		udp, tcp int
		err      error
	}
	done := make(chan result, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			goruntime.UnlockOSThread()
			done <- result{-1, -1, err}
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			goruntime.UnlockOSThread()
			done <- result{-1, -1, &os.SyscallError{Syscall: "setns " + nsPath, Err: err}}
			return
		}
		u, uerr := bind(unix.SOCK_DGRAM)
		t, terr := bind(unix.SOCK_STREAM)
		if serr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); serr != nil {
			// This thread stays in the container's namespace: it dies
			// locked, with this goroutine.
			done <- result{u, t, errors.Join(uerr, terr, &os.SyscallError{Syscall: "setns back", Err: serr})}
			return
		}
		goruntime.UnlockOSThread()
		done <- result{u, t, errors.Join(uerr, terr)}
	}()
	res := <-done
	if res.err != nil {
		for _, fd := range []int{res.udp, res.tcp} {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
		return nil, nil, fmt.Errorf("resolver: %w", res.err)
	}
	return os.NewFile(uintptr(res.udp), "dns-udp"), os.NewFile(uintptr(res.tcp), "dns-tcp"), nil
}

// bind makes a socket of type typ bound to Addr:53 (listening, for TCP).
func bind(typ int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, &os.SyscallError{Syscall: "socket", Err: err}
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: 53, Addr: Addr}); err != nil {
		unix.Close(fd)
		return -1, &os.SyscallError{Syscall: "bind 127.0.0.11:53", Err: err}
	}
	if typ == unix.SOCK_STREAM {
		if err := unix.Listen(fd, 64); err != nil {
			unix.Close(fd)
			return -1, &os.SyscallError{Syscall: "listen", Err: err}
		}
	}
	return fd, nil
}

// Start serves r on the sockets Listen made, in the background; they are
// dup'ed, so the caller's files stay its own.
func (r *Resolver) Start(udp, tcp *os.File) error {
	pc, err := net.FilePacketConn(udp)
	if err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	l, err := net.FileListener(tcp)
	if err != nil {
		pc.Close()
		return fmt.Errorf("resolver: %w", err)
	}
	go r.Serve(pc, l)
	return nil
}

// watcher tells whether a directory's files changed since it last looked:
// an inotify descriptor read without blocking (-1: no watcher, always
// changed).
type watcher int

func newWatcher(dir string) watcher {
	os.MkdirAll(dir, 0o755)
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return -1
	}
	const events = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_CREATE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF
	if _, err := unix.InotifyAddWatch(fd, dir, events); err != nil {
		unix.Close(fd)
		return -1
	}
	return watcher(fd)
}

// changed drains the events that came since the last call: a change of
// the directory is queued before the rename that made it returns, so an
// answer never comes from files older than the question.
func (w watcher) changed() bool {
	if w < 0 {
		return true
	}
	var buf [1024]byte // events are drained, not read: the size only sets the number of reads
	changed := false
	for {
		n, err := unix.Read(int(w), buf[:])
		if n <= 0 || err != nil {
			return changed
		}
		changed = true
	}
}
