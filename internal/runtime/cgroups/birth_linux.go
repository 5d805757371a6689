package cgroups

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// EnterThread prepares the calling OS thread to fork a process that is
// born inside m's cgroup, so the process never has to be moved there.
//
// Why: moving a process (a write to cgroup.procs) makes the kernel wait
// for an RCU grace period, 5–15 ms on an idle host, which was a third of a
// container's start. Instead, on each v1 hierarchy the thread moves itself
// in (writing 0 to tasks moves only the writer, and a move into a fresh
// cgroup took no grace period in our measurements), and for cgroup2 the
// caller passes the returned directory to clone3 with CLONE_INTO_CGROUP
// (SysProcAttr.UseCgroupFD). A child forked from the thread then starts in
// the cgroup on every hierarchy.
//
// The caller must have locked the thread (runtime.LockOSThread), must not
// be on the main thread, must have created the cgroup (Apply(-1)), and
// must end the thread afterwards (end its goroutine without unlocking):
// moving it back out would cost the grace period again. cgroup2 is nil when
// there is no cgroup2 directory; the caller closes it.
func EnterThread(mg Manager) (cgroup2 *os.File, err error) {
	m, ok := mg.(*manager)
	if !ok {
		return nil, fmt.Errorf("cgroups: EnterThread: %T is not a cgroupfs manager", mg)
	}
	if unix.Gettid() == unix.Getpid() {
		return nil, fmt.Errorf("cgroups: EnterThread on the main thread, which Go never ends")
	}
	seen := map[string]bool{}
	for _, dir := range m.v1 {
		if seen[dir] { // co-mounted subsystems share one directory
			continue
		}
		seen[dir] = true
		if err := os.WriteFile(filepath.Join(dir, "tasks"), []byte("0"), 0); err != nil {
			return nil, fmt.Errorf("cgroups: enter %s: %w", dir, unwrapPath(err))
		}
	}
	if m.v2 != "" {
		if cgroup2, err = os.OpenFile(m.v2, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			return nil, fmt.Errorf("cgroups: open %s: %w", m.v2, unwrapPath(err))
		}
	}
	return cgroup2, nil
}
