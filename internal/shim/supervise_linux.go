package shim

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/logs"
	"github.com/berth-dev/berth/internal/runtime"
)

// clientWriteTimeout drops an attached client that stops reading, so
// that the container's output (and log) never waits on it for long.
const clientWriteTimeout = 10 * time.Second

// supervisor is the supervising phase: it copies output to the log and
// to attached clients, feeds stdin, reaps the container and decides
// what happens when it exits.
type supervisor struct {
	h    *handoff
	stop chan struct{}

	// children are our processes other than the container (health
	// probes) whose exit the reaper hands over.
	childMu  sync.Mutex
	children map[int]chan unix.WaitStatus

	mu      sync.Mutex
	stdin   *os.File // nil without -i or -t; closed on a StdinOnce EOF
	clients map[*client]bool
	stopped bool // a user stopped the container (AttachRequest "stop")
}

type client struct {
	conn           net.Conn
	req            AttachRequest
	stdout, stderr io.Writer // nil when not requested
}

// supervise is the supervising phase (see the package comment); fresh
// is a process re-executed for it, whose memory is trimmed once it waits.
func (h *handoff) supervise(fresh bool) int {
	s := &supervisor{h: h, stop: make(chan struct{}), clients: map[*client]bool{}, children: map[int]chan unix.WaitStatus{}}
	var log *logs.Writer
	if h.Config.LogPath != "" {
		var err error
		log, err = logs.New(h.Config.LogPath, logs.Options{MaxSize: h.Config.LogMaxSize, MaxFile: h.Config.LogMaxFile})
		if err != nil {
			log = nil // the output still reaches attached clients
		}
	}
	// One *os.File per descriptor: the pty is both stdin and output.
	var pty *os.File
	if h.Pty >= 0 {
		pty = os.NewFile(uintptr(h.Pty), "pty")
		s.stdin = pty
	} else if h.Stdin >= 0 {
		s.stdin = os.NewFile(uintptr(h.Stdin), "stdin")
	}
	for i, fd := range h.Clients {
		if c := s.addClient(os.NewFile(uintptr(fd), "attach"), h.Requests[i]); c != nil {
			go s.serveClient(c, bufio.NewReader(c.conn))
		}
	}
	h.startResolver() // a failure leaves the container without names, not without its shim
	// From a copy: an *os.File of the handoff's own descriptor would close
	// it when collected, and a restart's re-exec hands that one over.
	if dup, err := unix.Dup(h.Listener); err == nil {
		lf := os.NewFile(uintptr(dup), "listener")
		if l, err := net.FileListener(lf); err == nil {
			go s.accept(l)
		}
		lf.Close()
	}
	done := make(chan struct{}, 2)
	var outputs []*os.File
	copyOut := func(f *os.File, stream string) {
		outputs = append(outputs, f)
		var w io.Writer = io.Discard
		if log != nil {
			w = log.Stream(stream)
		}
		go s.copy(f, w, stream, done)
	}
	if pty != nil {
		copyOut(pty, "stdout")
	} else {
		copyOut(os.NewFile(uintptr(h.Stdout), "stdout"), "stdout")
		copyOut(os.NewFile(uintptr(h.Stderr), "stderr"), "stderr")
	}
	stopHealth := make(chan struct{})
	var health sync.WaitGroup
	if hc := h.Config.Health; hc != nil && len(hc.Test) > 0 && hc.Test[0] != "NONE" {
		health.Add(1)
		go func() {
			defer health.Done()
			s.healthLoop(stopHealth)
		}()
	}
	if fresh {
		// Once the goroutines above wait, so that the code they ran
		// to get there is dropped too.
		time.AfterFunc(50*time.Millisecond, func() {
			collectOnlyWhenNeeded(4 << 20)
			dropCode()
		})
	}
	code := s.reap(h.Pid)
	// The loop records events: it ends before the exit is recorded.
	close(stopHealth)
	health.Wait()
	// The output ends when the last process holding it exits; one that
	// lingers (a daemon the command left behind) dies with the cgroup
	// below, so don't wait long for it.
	timeout := time.After(2 * time.Second)
	for n := 0; n < len(outputs); n++ {
		select {
		case <-done:
		case <-timeout:
			n = len(outputs)
		}
	}
	if log != nil {
		log.Close()
	}
	s.closeClients()
	s.closeStdin()
	for _, f := range outputs {
		f.Close()
	}
	return s.exited(code)
}

// exited records the container's exit and restarts it (after the
// back-off) when its policy says so; else it cleans up and ends the shim.
func (s *supervisor) exited(code int) int {
	h := s.h
	cfg := h.Config
	oom := oomKilled(h.OOMFile)
	setExited := func(ctx context.Context, cs *container.Store) error {
		return cs.SetExited(ctx, cfg.ID, code, time.Now(), oom, false)
	}
	if cfg.AutoRemove {
		// Never restarted: the exit is recorded while the run is torn down.
		h.cleanup(code, true, func() { h.record(setExited) })
		return 0
	}
	restart := false
	err := h.record(func(ctx context.Context, cs *container.Store) error {
		c, err := cs.Get(ctx, cfg.ID)
		if err != nil {
			return err
		}
		// The record's policy: `update --restart` may have changed it.
		restart = !s.isStopped() && c.Config.Restart.ShouldRestart(code, h.Restarts, c.State.ManuallyStopped)
		return cs.SetExited(ctx, cfg.ID, code, time.Now(), oom, restart)
	})
	if err != nil || !restart {
		h.cleanup(code, true, nil)
		return 0
	}
	(&runtime.Runtime{Root: cfg.RuntimeRoot}).Delete(cfg.ID, true)
	h.Backoff = container.NextBackoff(h.Backoff, time.Since(h.Started))
	select {
	case <-time.After(h.Backoff):
	case <-s.stop:
		h.record(setExited)
		h.cleanup(code, true, nil)
		return 0
	}
	h.Restarts++
	h.Pid, h.Stdin, h.Stdout, h.Stderr, h.Pty = 0, -1, -1, -1, -1
	h.Clients, h.Requests = nil, nil
	h.reexec()
	// Only a failure gets here.
	h.record(setExited)
	h.cleanup(code, false, nil)
	return 1
}

// writeStdin and closeStdin share the container's stdin between the
// clients (the pty's closes with the output, after the exit).
func (s *supervisor) writeStdin(p []byte) {
	s.mu.Lock()
	f := s.stdin
	s.mu.Unlock()
	if f != nil {
		f.Write(p)
	}
}

func (s *supervisor) closeStdin() {
	s.mu.Lock()
	f := s.stdin
	s.stdin = nil
	s.mu.Unlock()
	if f != nil && s.h.Pty < 0 {
		f.Close()
	}
}

func (s *supervisor) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// copy moves one output stream into the log and to the clients. A failed
// log write drops the data and goes on reading, so that the container
// never blocks on a full pipe.
func (s *supervisor) copy(r *os.File, log io.Writer, stream string, done chan<- struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			log.Write(buf[:n])
			s.broadcast(stream, buf[:n])
		}
		if err != nil {
			break
		}
	}
	done <- struct{}{}
}

func (s *supervisor) broadcast(stream string, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		w := c.stdout
		if stream == "stderr" {
			w = c.stderr
		}
		if w == nil {
			continue
		}
		c.conn.SetWriteDeadline(time.Now().Add(clientWriteTimeout))
		if _, err := w.Write(p); err != nil {
			c.conn.Close()
			delete(s.clients, c)
		}
	}
}

func (s *supervisor) accept(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			r := bufio.NewReader(conn)
			req, err := readRequest(r)
			if err != nil {
				conn.Close()
				return
			}
			if req.Op == "stop" {
				s.mu.Lock()
				if !s.stopped {
					s.stopped = true
					close(s.stop)
				}
				s.mu.Unlock()
				conn.Close()
				return
			}
			if req.Op == "resolver" {
				s.mu.Lock()
				err := s.h.listenResolver()
				if err == nil {
					err = s.h.startResolver()
				}
				s.mu.Unlock()
				reply := "ok\n"
				if err != nil {
					reply = err.Error() + "\n"
				}
				conn.Write([]byte(reply))
				conn.Close()
				return
			}
			if req.Op != "" {
				conn.Close()
				return
			}
			if s.h.Pty >= 0 && req.Height > 0 && req.Width > 0 {
				unix.IoctlSetWinsize(s.h.Pty, unix.TIOCSWINSZ, &unix.Winsize{Row: req.Height, Col: req.Width})
			}
			if c := s.addClient(conn, req); c != nil {
				s.serveClient(c, r)
			}
		}()
	}
}

// addClient registers an attached client; conn is a net.Conn or the
// *os.File of one handed over.
func (s *supervisor) addClient(conn any, req AttachRequest) *client {
	var nc net.Conn
	switch conn := conn.(type) {
	case net.Conn:
		nc = conn
	case *os.File:
		var err error
		nc, err = net.FileConn(conn)
		conn.Close()
		if err != nil {
			return nil
		}
	}
	c := &client{conn: nc, req: req}
	if s.h.Pty >= 0 {
		if req.Stdout || req.Stderr {
			c.stdout = nc
		}
	} else {
		if req.Stdout {
			c.stdout = &framer{w: nc, stream: stdcopy.Stdout}
		}
		if req.Stderr {
			c.stderr = &framer{w: nc, stream: stdcopy.Stderr}
		}
	}
	s.mu.Lock()
	s.clients[c] = true
	s.mu.Unlock()
	return c
}

// serveClient reads a client's frames until it detaches.
func (s *supervisor) serveClient(c *client, r *bufio.Reader) {
	defer func() {
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
		c.conn.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		kind, p, err := readFrame(r, buf)
		if err != nil {
			return
		}
		switch kind {
		case frameData:
			if c.req.Stdin {
				s.writeStdin(p)
			}
		case frameEOF:
			if c.req.Stdin && s.h.Config.StdinOnce && s.h.Pty < 0 {
				s.closeStdin()
			}
		case frameResize:
			if s.h.Pty >= 0 && len(p) == 4 {
				ws := unix.Winsize{Row: uint16(p[0])<<8 | uint16(p[1]), Col: uint16(p[2])<<8 | uint16(p[3])}
				unix.IoctlSetWinsize(s.h.Pty, unix.TIOCSWINSZ, &ws)
			}
		}
	}
}

func (s *supervisor) closeClients() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		c.conn.Close()
		delete(s.clients, c)
	}
}

// reap waits for children (we are their subreaper) until the container's
// init exits, and returns its exit code as Docker reports it: the status,
// or 128 + the signal that killed it. The exit of a child started with
// startChild goes to whoever started it.
func (s *supervisor) reap(pid int) int {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 255 // ECHILD: nothing left to wait for, and not our init
		}
		if got == pid {
			if ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return ws.ExitStatus()
		}
		s.childMu.Lock()
		ch := s.children[got]
		delete(s.children, got)
		s.childMu.Unlock()
		if ch != nil {
			ch <- ws
		}
	}
}

// startChild starts cmd, whose exit status comes on the channel (never
// Wait for it: the reaper collects it).
func (s *supervisor) startChild(cmd *exec.Cmd) (<-chan unix.WaitStatus, error) {
	s.childMu.Lock()
	defer s.childMu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := make(chan unix.WaitStatus, 1)
	s.children[cmd.Process.Pid] = ch
	return ch, nil
}

// framer writes Docker's stdcopy frames (what stdcopy.StdCopy reads): an
// 8-byte header, the stream and the big-endian length, then the bytes.
type framer struct {
	w      io.Writer
	stream stdcopy.StdType
	buf    []byte
}

func (f *framer) Write(p []byte) (int, error) {
	f.buf = append(f.buf[:0], byte(f.stream), 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(f.buf[4:8], uint32(len(p)))
	f.buf = append(f.buf, p...)
	if _, err := f.w.Write(f.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}
