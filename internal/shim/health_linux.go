package shim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
)

// Docker's healthcheck defaults and limits.
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 30 * time.Second
	defaultHealthRetries  = 3
	maxHealthLog          = 5    // results kept
	maxHealthOutput       = 4096 // bytes of a probe's output kept
)

// HealthFile is where the shim keeps a running container's health (moby's
// container.Health as JSON) in its bundle; it goes when the run ends.
const HealthFile = "health.json"

// ReadHealth returns the health the shim of bundle dir recorded, or nil.
func ReadHealth(dir string) *containertypes.Health {
	data, err := os.ReadFile(filepath.Join(dir, HealthFile))
	if err != nil {
		return nil
	}
	var h containertypes.Health
	if json.Unmarshal(data, &h) != nil {
		return nil
	}
	return &h
}

// healthLoop probes the container as Docker's health monitor does: the
// first probe after Interval, each with Timeout; Retries failures in a
// row make it unhealthy, but failures in the StartPeriod don't count
// (a success then still makes it healthy). It ends with stop.
func (s *supervisor) healthLoop(stop <-chan struct{}) {
	cfg := *s.h.Config.Health
	if cfg.Interval == 0 {
		cfg.Interval = defaultHealthInterval
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultHealthTimeout
	}
	if cfg.Retries == 0 {
		cfg.Retries = defaultHealthRetries
	}
	health := containertypes.Health{Status: containertypes.Starting}
	s.writeHealth(&health)
	last := health.Status
	started := time.Now()
	for {
		interval := cfg.Interval
		if cfg.StartInterval > 0 && health.Status == containertypes.Starting && time.Since(started) < cfg.StartPeriod {
			interval = cfg.StartInterval
		}
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
		r := s.probe(cfg.Test, cfg.Timeout, stop)
		if r == nil {
			return // stopped mid-probe
		}
		health.Log = append(health.Log, r)
		if len(health.Log) > maxHealthLog {
			health.Log = health.Log[len(health.Log)-maxHealthLog:]
		}
		switch {
		case r.ExitCode == 0:
			health.Status, health.FailingStreak = containertypes.Healthy, 0
		case health.Status == containertypes.Starting && time.Since(started) < cfg.StartPeriod:
			// the start period: a failure doesn't count
		default:
			if health.FailingStreak++; health.FailingStreak >= cfg.Retries {
				health.Status = containertypes.Unhealthy
			}
		}
		s.writeHealth(&health)
		if health.Status != last {
			last = health.Status
			s.healthEvent(last)
		}
	}
}

// healthEvent records Docker's "health_status: STATUS" event. The store
// is opened for it and closed again, and the memory it took given back:
// the shim is idle most of its life.
func (s *supervisor) healthEvent(st containertypes.HealthStatus) {
	s.h.record(func(ctx context.Context, cs *container.Store) error {
		return cs.Event(ctx, s.h.Config.ID, "health_status: "+string(st), time.Now(), nil)
	})
	s.h.closeDB()
	trimMemory()
}

// probe runs one check in the container through `berth exec`, whose
// process the reaper hands back to us; nil when stop came first.
func (s *supervisor) probe(test []string, timeout time.Duration, stop <-chan struct{}) *containertypes.HealthcheckResult {
	r := &containertypes.HealthcheckResult{Start: time.Now()}
	defer func() { r.End = time.Now() }()
	var args []string
	switch {
	case len(test) > 1 && test[0] == "CMD":
		args = test[1:]
	case len(test) == 2 && test[0] == "CMD-SHELL":
		args = []string{"/bin/sh", "-c", test[1]}
	default:
		r.ExitCode, r.Output = -1, fmt.Sprintf("unknown healthcheck type %q", test)
		return r
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		r.ExitCode, r.Output = -1, err.Error()
		return r
	}
	defer outR.Close()
	self, _ := os.Executable()
	cmd := exec.Command(self, append([]string{"--root", s.h.Config.Root, "exec", s.h.Config.ID}, args...)...)
	cmd.Stdout, cmd.Stderr = outW, outW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	status, err := s.startChild(cmd)
	outW.Close()
	if err != nil {
		r.ExitCode, r.Output = -1, err.Error()
		return r
	}
	defer cmd.Process.Release()
	out := make(chan string, 1)
	go func() {
		buf := make([]byte, maxHealthOutput)
		n, _ := readFull(outR, buf)
		out <- string(buf[:n])
		// Drain the rest, so that the probe never blocks on a full pipe.
		for {
			if _, err := outR.Read(buf); err != nil {
				return
			}
		}
	}()
	select {
	case ws := <-status:
		r.ExitCode = ws.ExitStatus()
		if ws.Signaled() {
			r.ExitCode = 128 + int(ws.Signal())
		}
		select {
		case r.Output = <-out:
		case <-time.After(time.Second):
		}
	case <-time.After(timeout):
		// Its process group: the CLI, and what it leaves behind.
		unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		r.ExitCode, r.Output = -1, fmt.Sprintf("Health check exceeded timeout (%v)", timeout)
	case <-stop:
		unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		return nil
	}
	return r
}

// readFull reads until buf is full or the reader ends.
func readFull(f *os.File, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// writeHealth replaces the health file, atomically.
func (s *supervisor) writeHealth(h *containertypes.Health) {
	data, err := json.Marshal(h)
	if err != nil {
		return
	}
	path := filepath.Join(s.h.Config.Bundle, HealthFile)
	if os.WriteFile(path+".tmp", data, 0o600) == nil {
		os.Rename(path+".tmp", path)
	}
}
