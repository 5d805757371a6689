package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// manager implements Manager for every host layout: it holds one
// directory per v1 hierarchy and one for cgroup2, and routes each
// controller's files to whichever hierarchy hosts it (see target).
type manager struct {
	// v1 maps each v1 subsystem (or "name=X") to its directory;
	// co-mounted subsystems map to the same one.
	v1 map[string]string
	// v2 is the cgroup2 directory, "" without a cgroup2 mount.
	v2 string
	// mounts maps each directory to the mountpoint of its hierarchy, the
	// top of the walks that create it. A directory Load could not place
	// under a known mount has no entry and is created plainly.
	mounts map[string]string
	// created: this manager made the directories already (Apply then Set
	// need not walk and read them twice); Destroy clears it.
	created atomic.Bool
}

// New returns the manager for an OCI cgroupsPath (linux.cgroupsPath). An
// absolute path is taken relative to each hierarchy's root, a relative one
// relative to the calling process's own cgroup in that hierarchy, as runc
// does; an empty one means /berth/<id>. A systemd-style "slice:prefix:name"
// becomes the cgroupfs path /<slice, expanded>/prefix-name.scope: berth
// only drives cgroupfs. Nothing is created until Apply or Set.
func New(cgroupsPath, id string) (Manager, error) {
	l, err := readLayout("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	m, err := newManager(l, ownCgroups, cgroupsPath, id)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return m, nil
}

// Load reopens a manager from the Paths() saved earlier by the runtime's
// state file.
func Load(paths map[string]string) (Manager, error) {
	l, err := readLayout("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	m, err := loadManager(l, paths)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func readLayout(mountinfo string) (*layout, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	defer f.Close()
	return parseMountinfo(f)
}

func ownCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	defer f.Close()
	return parseProcCgroup(f)
}

// newManager is New on a given layout; own reads the caller's cgroups and
// is only called for relative paths. Tests hand it fake trees.
func newManager(l *layout, own func() (map[string]string, error), cgroupsPath, id string) (*manager, error) {
	if l.mode() == modeNone {
		return nil, fmt.Errorf("cgroups: no cgroup hierarchy is mounted: %w", ErrNotSupported)
	}
	cp, err := parseCgroupsPath(cgroupsPath, id)
	if err != nil {
		return nil, err
	}
	var self map[string]string
	if cp.relative {
		if self, err = own(); err != nil {
			return nil, err
		}
	}
	ownIn := func(key string) (string, error) {
		if !cp.relative {
			return "", nil
		}
		p, ok := self[key]
		if !ok {
			return "", fmt.Errorf("cgroups: relative cgroupsPath %q: the caller has no %q cgroup", cgroupsPath, key)
		}
		return p, nil
	}
	m := &manager{v1: map[string]string{}, mounts: map[string]string{}}
	for _, h := range l.v1Hierarchies() {
		own, err := ownIn(h.controllers[0])
		if err != nil {
			return nil, err
		}
		dir, err := cp.dirIn(h, own)
		if err != nil {
			return nil, err
		}
		for _, c := range h.controllers {
			m.v1[c] = dir
		}
		m.mounts[dir] = h.mountpoint
	}
	if l.v2 != nil {
		own, err := ownIn("")
		if err != nil {
			return nil, err
		}
		if m.v2, err = cp.dirIn(l.v2, own); err != nil {
			return nil, err
		}
		m.mounts[m.v2] = l.v2.mountpoint
	}
	return m, nil
}

// loadManager is Load on a given layout, which only serves to find the
// mountpoints above the saved directories.
func loadManager(l *layout, paths map[string]string) (*manager, error) {
	if len(paths) == 0 {
		return nil, errors.New("cgroups: load: no paths")
	}
	m := &manager{v1: map[string]string{}, mounts: map[string]string{}}
	for key, dir := range paths {
		if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
			return nil, fmt.Errorf("cgroups: load: path %q of %q is not clean and absolute", dir, key)
		}
		var h *hierarchy
		if key == "" {
			m.v2, h = dir, l.v2
		} else {
			m.v1[key], h = dir, l.v1[key]
		}
		if h != nil && within(dir, h.mountpoint) {
			m.mounts[dir] = h.mountpoint
		}
	}
	return m, nil
}

// within reports whether dir lies strictly below mountpoint.
func within(dir, mountpoint string) bool {
	rel, err := filepath.Rel(mountpoint, dir)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../")
}

// dirs returns every distinct directory of the cgroup, v1 ones first in a
// stable order.
func (m *manager) dirs() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range m.v1 {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	if m.v2 != "" && !seen[m.v2] {
		out = append(out, m.v2)
	}
	return out
}

func (m *manager) Paths() map[string]string {
	out := make(map[string]string, len(m.v1)+1)
	for k, v := range m.v1 {
		out[k] = v
	}
	if m.v2 != "" {
		out[""] = m.v2
	}
	return out
}

// create makes the cgroup directories; it is idempotent, so both Apply and
// Set call it.
func (m *manager) create() error {
	if m.created.Load() {
		return nil
	}
	for _, dir := range m.dirs() {
		if dir == m.v2 {
			if err := createV2(dir, m.mounts[dir]); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cgroups: create %s: %w", dir, unwrapPath(err))
		}
	}
	if dir, ok := m.v1["cpuset"]; ok {
		if err := initCpusetV1(dir, m.mounts[dir]); err != nil {
			return err
		}
	}
	m.created.Store(true)
	return nil
}

// createV2 creates dir level by level below mountpoint, enabling at each
// level every controller it offers for its children, as runc does, so the
// controllers' files exist in the container's cgroup.
func createV2(dir, mountpoint string) error {
	if mountpoint == "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cgroups: create %s: %w", dir, unwrapPath(err))
		}
		return nil
	}
	rel, err := filepath.Rel(mountpoint, dir)
	if err != nil {
		return fmt.Errorf("cgroups: create %s: %w", dir, err)
	}
	cur := mountpoint
	for _, elem := range strings.Split(rel, string(filepath.Separator)) {
		enableControllers(cur)
		cur = filepath.Join(cur, elem)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("cgroups: create %s: %w", cur, unwrapPath(err))
		}
	}
	return nil
}

// enableControllers writes every controller of dir/cgroup.controllers
// that is not enabled yet into dir/cgroup.subtree_control. Failure is
// not fatal, which is why nothing is returned: a level that holds
// processes cannot delegate (the no-internal-process rule), a controller
// may have threaded users, and none of that matters unless a limit needs
// the controller, in which case writing the limit fails and says so.
func enableControllers(dir string) {
	avail, err := readFile(dir, "cgroup.controllers")
	if err != nil || avail == "" {
		return
	}
	on, _ := readFile(dir, "cgroup.subtree_control")
	enabled := map[string]bool{}
	for _, c := range strings.Fields(on) {
		enabled[c] = true
	}
	var want []string
	for _, c := range strings.Fields(avail) {
		if !enabled[c] {
			want = append(want, "+"+c)
		}
	}
	if len(want) == 0 {
		return
	}
	if writeFile(dir, "cgroup.subtree_control", strings.Join(want, " ")) == nil {
		return
	}
	// One refusal fails the whole write; get the others in one by one.
	for _, c := range want {
		_ = writeFile(dir, "cgroup.subtree_control", c)
	}
}

// initCpusetV1 fills cpuset.cpus and cpuset.mems of each new level down to
// dir from its parent: v1 creates cpusets empty, and a process cannot join
// a cpuset without CPUs (ENOSPC).
func initCpusetV1(dir, mountpoint string) error {
	if mountpoint == "" || !within(dir, mountpoint) {
		return nil
	}
	rel, _ := filepath.Rel(mountpoint, dir)
	parent := mountpoint
	for _, elem := range strings.Split(rel, string(filepath.Separator)) {
		cur := filepath.Join(parent, elem)
		for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
			v, err := readFile(cur, file)
			if err != nil {
				return err
			}
			if v != "" {
				continue
			}
			pv, err := readFile(parent, file)
			if err != nil {
				return err
			}
			if err := writeFile(cur, file, pv); err != nil {
				return err
			}
		}
		parent = cur
	}
	return nil
}

func (m *manager) Apply(pid int) error {
	if err := m.create(); err != nil {
		return err
	}
	if pid == -1 {
		return nil
	}
	if pid <= 0 {
		return fmt.Errorf("cgroups: apply: invalid pid %d", pid)
	}
	for _, dir := range m.dirs() {
		if err := writeFile(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// procsDir is the directory Pids and Kill read: the freezer's, so that
// what Kill freezes is what it signals, else cgroup2's, else any.
func (m *manager) procsDir() string {
	if d, ok := m.v1["freezer"]; ok {
		return d
	}
	if m.v2 != "" {
		return m.v2
	}
	return m.dirs()[0]
}

func (m *manager) Pids() ([]int, error) {
	root := m.procsDir()
	var pids []int
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// A sub-cgroup removed while we walk is no error.
			if errors.Is(err, fs.ErrNotExist) && p != root {
				return nil
			}
			return fmt.Errorf("cgroups: list %s: %w", p, unwrapPath(err))
		}
		if !d.IsDir() {
			return nil
		}
		s, err := readFile(p, "cgroup.procs")
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != root {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(s) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("cgroups: parse %s: %w", filepath.Join(p, "cgroup.procs"), err)
			}
			pids = append(pids, pid)
		}
		return nil
	})
	return pids, err
}

// destroyTimeout bounds how long Destroy waits for a busy cgroup: the
// kernel keeps a cgroup busy until processes just killed in it have
// finished exiting. One budget for all directories, so a cgroup that is
// really in use fails fast whatever the number of hierarchies.
const destroyTimeout = 2 * time.Second

func (m *manager) Destroy() error {
	m.created.Store(false)
	deadline := time.Now().Add(destroyTimeout)
	var errs []error
	for _, dir := range m.dirs() {
		if err := removeCgroup(dir, deadline); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeCgroup removes dir and the cgroups below it, deepest first (a
// cgroup with children cannot go). cgroupfs directories hold only control
// files, which rmdir takes along.
func removeCgroup(dir string, deadline time.Time) error {
	// Most often a leaf no process is left in: one rmdir. The kernel
	// refuses (EBUSY) a cgroup with children or processes, and only then
	// is the directory listed.
	if err := unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cgroups: remove %s: %w", dir, unwrapPath(err))
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroup(filepath.Join(dir, e.Name()), deadline); err != nil {
				return err
			}
		}
	}
	return rmdirRetry(dir, deadline)
}

// rmdirRetry retries EBUSY until deadline, backing off.
func rmdirRetry(dir string, deadline time.Time) error {
	delay := 5 * time.Millisecond
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			if errors.Is(err, unix.EBUSY) {
				return fmt.Errorf("cgroups: remove %s: %w (processes remain)", dir, err)
			}
			return fmt.Errorf("cgroups: remove %s: %w", dir, err)
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// Kill sends SIGKILL to every process in m's cgroup and its descendants.
// On cgroup2 (kernel 5.14+) it writes cgroup.kill, which the kernel applies
// to the whole tree at once, so a process forking meanwhile cannot escape.
// Elsewhere it freezes the cgroup, if a freezer is there, signals each
// process, and thaws, for the same reason. It does not wait for the
// processes to exit; Destroy does that.
func Kill(m Manager) error {
	if mm, ok := m.(*manager); ok && mm.v2 != "" && exists(mm.v2, "cgroup.kill") {
		return writeFile(mm.v2, "cgroup.kill", "1")
	}
	frozen := m.Freeze(true) == nil
	pids, err := m.Pids()
	if err == nil {
		for _, pid := range pids {
			if kerr := unix.Kill(pid, unix.SIGKILL); kerr != nil && !errors.Is(kerr, unix.ESRCH) && err == nil {
				err = fmt.Errorf("cgroups: kill %d: %w", pid, kerr)
			}
		}
	}
	if frozen {
		if terr := m.Freeze(false); terr != nil && err == nil {
			err = terr
		}
	}
	return err
}
