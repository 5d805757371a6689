package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// EnterThread prepares the calling OS thread to fork a process that is
// born inside m's cgroup, so the process never has to be moved there.
//
// Why: moving a process (a write to cgroup.procs) makes the kernel wait
// for an RCU grace period, 5–15 ms on an idle host, which was a third of a
// container's start. Instead, on each v1 hierarchy the thread moves itself
// (writing 0 to tasks moves only the writer, which takes no grace period),
// and for cgroup2 the caller passes the returned directory to clone3 with
// CLONE_INTO_CGROUP (SysProcAttr.UseCgroupFD). A child forked from the
// thread then starts in the cgroup on every hierarchy.
//
// The caller must have locked the thread (runtime.LockOSThread), must have
// created the cgroup (Apply(-1)), and must call leave, which moves the
// thread back, before the thread does anything else. cgroup2 is nil when
// there is no cgroup2 directory.
func EnterThread(mg Manager) (cgroup2 *os.File, leave func() error, err error) {
	m, ok := mg.(*manager)
	if !ok {
		return nil, nil, fmt.Errorf("cgroups: EnterThread: %T is not a cgroupfs manager", mg)
	}
	own, err := threadCgroups()
	if err != nil {
		return nil, nil, err
	}
	var back []string // tasks files of the thread's own cgroups
	leave = func() error {
		tid := strconv.Itoa(unix.Gettid())
		for _, tasks := range back {
			if err := os.WriteFile(tasks, []byte(tid), 0); err != nil {
				return fmt.Errorf("cgroups: move thread back to %s: %w", filepath.Dir(tasks), err)
			}
		}
		if cgroup2 != nil {
			cgroup2.Close()
		}
		return nil
	}
	seen := map[string]bool{}
	for sub, dir := range m.v1 {
		if seen[dir] { // co-mounted subsystems share one directory
			continue
		}
		seen[dir] = true
		mount, ok := m.mounts[dir]
		path, mine := own[sub]
		if !ok || !mine {
			return nil, nil, fmt.Errorf("cgroups: EnterThread: no mount or own cgroup for %s", sub)
		}
		if err := os.WriteFile(filepath.Join(dir, "tasks"), []byte("0"), 0); err != nil {
			leave()
			return nil, nil, fmt.Errorf("cgroups: enter %s: %w", dir, unwrapPath(err))
		}
		back = append(back, filepath.Join(mount, path, "tasks"))
	}
	if m.v2 != "" {
		if cgroup2, err = os.OpenFile(m.v2, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			leave()
			return nil, nil, fmt.Errorf("cgroups: open %s: %w", m.v2, unwrapPath(err))
		}
	}
	return cgroup2, leave, nil
}

// threadCgroups reads the calling thread's cgroup on each hierarchy.
func threadCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/thread-self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	defer f.Close()
	return parseProcCgroup(f)
}
