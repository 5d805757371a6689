package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// freezeTimeout bounds how long Freeze waits for the kernel to settle.
// Freezing waits for every task to leave the kernel, which a task stuck in
// an uninterruptible sleep (NFS, FUSE) may never do.
const freezeTimeout = 10 * time.Second

func (m *manager) Freeze(frozen bool) error {
	if dir, ok := m.v1["freezer"]; ok {
		return freezeV1(dir, frozen)
	}
	if m.v2 != "" {
		return freezeV2(m.v2, frozen)
	}
	return fmt.Errorf("cgroups: freeze: no freezer on this host: %w", ErrNotSupported)
}

func (m *manager) Frozen() (bool, error) {
	if dir, ok := m.v1["freezer"]; ok {
		s, err := readFile(dir, "freezer.state")
		return s == "FROZEN", err
	}
	if m.v2 != "" {
		ev, err := readKeyValues(m.v2, "cgroup.events")
		if err != nil {
			return false, err
		}
		return ev["frozen"] == 1, nil
	}
	return false, fmt.Errorf("cgroups: frozen: no freezer on this host: %w", ErrNotSupported)
}

// freezeV1 writes freezer.state and polls it until it settles. The kernel
// passes through FREEZING while tasks are still running; it only tries
// again to freeze stragglers on a write, so the wanted state is written
// again now and then while waiting.
func freezeV1(dir string, frozen bool) error {
	want := "THAWED"
	if frozen {
		want = "FROZEN"
	}
	deadline := time.Now().Add(freezeTimeout)
	delay := time.Millisecond
	for i := 0; ; i++ {
		if i%20 == 0 {
			if err := writeFile(dir, "freezer.state", want); err != nil {
				return err
			}
		}
		state, err := readFile(dir, "freezer.state")
		if err != nil {
			return err
		}
		if state == want {
			return nil
		}
		if time.Now().After(deadline) {
			if frozen {
				// Leave no half-frozen container behind.
				_ = writeFile(dir, "freezer.state", "THAWED")
			}
			return fmt.Errorf("cgroups: %s/freezer.state stuck in %s after %v, want %s", dir, state, freezeTimeout, want)
		}
		time.Sleep(delay)
		delay = min(2*delay, 10*time.Millisecond)
	}
}

// freezeV2 writes cgroup.freeze and waits until cgroup.events reports the
// cgroup frozen (or thawed): the write only starts the change.
func freezeV2(dir string, frozen bool) error {
	want := uint64(0)
	if frozen {
		want = 1
	}
	if err := writeFile(dir, "cgroup.freeze", fmt.Sprint(want)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w (cgroup.freeze needs Linux 5.2): %w", err, ErrNotSupported)
		}
		return err
	}
	deadline := time.Now().Add(freezeTimeout)
	delay := time.Millisecond
	for {
		ev, err := readKeyValues(dir, "cgroup.events")
		if err != nil {
			return err
		}
		if ev["frozen"] == want {
			return nil
		}
		if time.Now().After(deadline) {
			if frozen {
				_ = writeFile(dir, "cgroup.freeze", "0")
			}
			return fmt.Errorf("cgroups: %s/cgroup.events still shows frozen %d after %v", dir, ev["frozen"], freezeTimeout)
		}
		time.Sleep(delay)
		delay = min(2*delay, 10*time.Millisecond)
	}
}
