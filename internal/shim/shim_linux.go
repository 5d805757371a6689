package shim

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

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/logs"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/snapshot"
	"github.com/berth-dev/berth/internal/store"
)

// Start runs `berth shim` for cfg (self is this binary) and returns once
// the container runs, or with a *StartError when it could not start.
func Start(self string, cfg Config) (*Ready, error) {
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer cfgR.Close()
	defer cfgW.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()
	defer readyW.Close()
	cmd := exec.Command(self, "shim")
	cmd.ExtraFiles = []*os.File{cfgR, readyW} // fds 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start shim: %w", err)
	}
	// Reaped by us while we live; by init (or a subreaper) after.
	go cmd.Wait()
	cfgR.Close()
	readyW.Close()
	if err := json.NewEncoder(cfgW).Encode(cfg); err != nil {
		return nil, fmt.Errorf("shim config: %w", err)
	}
	cfgW.Close()
	var r Ready
	if err := json.NewDecoder(readyR).Decode(&r); err != nil {
		return nil, &StartError{Msg: "the container's shim exited before the container started", Code: 125}
	}
	if r.Error != "" {
		return nil, &StartError{Msg: r.Error, Code: r.Code}
	}
	return &r, nil
}

// Alive reports whether the shim of the container whose bundle is dir
// runs: it holds the bundle's lock until it exits (or is killed).
func Alive(dir string) bool {
	f, err := os.Open(filepath.Join(dir, lockName))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	return false
}

// Wait returns once the shim of bundle dir has exited, or with ctx's error.
func Wait(ctx context.Context, dir string) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for Alive(dir) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Main is `berth shim`: it reads its Config on fd 3 and reports on fd 4.
func Main() int {
	cfgFile := os.NewFile(3, "config")
	ready := os.NewFile(4, "ready")
	if cfgFile == nil || ready == nil {
		fmt.Fprintln(os.Stderr, "berth shim is started by berth run and berth start")
		return 1
	}
	var cfg Config
	err := json.NewDecoder(cfgFile).Decode(&cfg)
	cfgFile.Close()
	if err != nil {
		json.NewEncoder(ready).Encode(Ready{Error: "shim config: " + err.Error(), Code: 125})
		return 1
	}
	s := &shim{cfg: cfg}
	pid, err := s.start()
	if err != nil {
		json.NewEncoder(ready).Encode(Ready{Error: err.Error(), Code: startCode(err)})
		ready.Close()
		return 1
	}
	json.NewEncoder(ready).Encode(Ready{Pid: pid})
	ready.Close()
	s.supervise(pid)
	return 0
}

// startCode is the exit code Docker gives `run` when the container's
// process can't be started: berth's runtime looks the command up before
// start, and reports "executable file not found", "no such file or
// directory" (127) or "permission denied" (126).
func startCode(err error) int {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "is a directory"):
		return 126
	}
	return 125
}

type shim struct {
	cfg        Config
	rt         *runtime.Runtime
	unmount    func() error
	log        *logs.Writer
	outR, errR *os.File
}

// start sets the container up and starts it; on failure it undoes all.
func (s *shim) start() (pid int, err error) {
	cfg := s.cfg
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 0, &os.SyscallError{Syscall: "prctl(PR_SET_CHILD_SUBREAPER)", Err: err}
	}
	// Held (close-on-exec, so never by the container) until we exit.
	lock, err := os.OpenFile(filepath.Join(cfg.Bundle, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return 0, fmt.Errorf("container %s already has a shim", cfg.ID)
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	rootfs := filepath.Join(cfg.Bundle, "rootfs")
	if s.unmount, err = snapshot.MountAll(cfg.Mounts, rootfs); err != nil {
		return 0, err
	}
	undo = append(undo, func() { s.unmount() })
	if s.log, err = logs.New(cfg.LogPath, logs.Options{MaxSize: cfg.LogMaxSize, MaxFile: cfg.LogMaxFile}); err != nil {
		return 0, err
	}
	undo = append(undo, func() { s.log.Close() })
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return 0, err
	}
	s.outR, s.errR = outR, errR
	undo = append(undo, func() { outR.Close(); errR.Close() })
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	s.rt = &runtime.Runtime{Root: cfg.RuntimeRoot}
	err = s.rt.Create(cfg.ID, runtime.CreateOpts{Bundle: cfg.Bundle, Stdin: devNull, Stdout: outW, Stderr: errW})
	devNull.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		return 0, err
	}
	undo = append(undo, func() { s.rt.Delete(cfg.ID, true) })
	st, err := s.rt.State(cfg.ID)
	if err != nil {
		return 0, err
	}
	if err := s.rt.Start(cfg.ID); err != nil {
		return 0, err
	}
	err = s.record(func(ctx context.Context, cs *container.Store) error {
		return cs.SetRunning(ctx, cfg.ID, st.Pid, os.Getpid(), time.Now())
	})
	return st.Pid, err
}

// record opens the store for one write: the shim holds no database
// between its start and its exit.
func (s *shim) record(fn func(context.Context, *container.Store) error) error {
	db, err := store.Open(s.cfg.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(context.Background(), container.New(db))
}

// supervise copies the output to the log until the container's init
// exits, records the exit and cleans up.
func (s *shim) supervise(pid int) {
	done := make(chan struct{}, 2)
	go s.copy(s.log.Stream("stdout"), s.outR, done)
	go s.copy(s.log.Stream("stderr"), s.errR, done)
	code := reap(pid)
	// The pipes close when the last process holding them exits; one that
	// lingers (a daemon the command left behind) dies with the cgroup
	// below, so don't wait long for it.
	timeout := time.After(2 * time.Second)
	for n := 0; n < 2; n++ {
		select {
		case <-done:
		case <-timeout:
			n = 2
		}
	}
	s.log.Close()
	s.record(func(ctx context.Context, cs *container.Store) error {
		return cs.SetExited(ctx, s.cfg.ID, code, time.Now())
	})
	s.rt.Delete(s.cfg.ID, true)
	s.unmount()
	if s.cfg.AutoRemove {
		// It waits for our lock, which goes when we exit.
		self, _ := os.Executable()
		cmd := exec.Command(self, "--root", s.cfg.Root, "rm", "-f", s.cfg.ID)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		cmd.Start()
	}
}

// copy moves one stream into the log. A failed log write drops the data
// and goes on reading, so that the container never blocks on a full pipe.
func (s *shim) copy(w io.Writer, r *os.File, done chan<- struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
		}
		if err != nil {
			break
		}
	}
	r.Close()
	done <- struct{}{}
}

// reap waits for children (we are their subreaper) until the container's
// init exits, and returns its exit code as Docker reports it: the status,
// or 128 + the signal that killed it.
func reap(pid int) int {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 255 // ECHILD: nothing left to wait for, and not our init
		}
		if got != pid {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}
