package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// rootfsSetup builds the container's mount tree inside its new mount
// namespace, before pivot_root. Every mount target is resolved inside the
// rootfs without following symlinks out of it (pathrs-lite), and mounted
// through the resulting O_PATH descriptor (/proc/self/fd/N), so a symlink
// swapped in by the container between resolution and mount can't redirect
// the mount onto the host (CVE-2021-30465).
type rootfsSetup struct {
	spec        *specs.Spec
	bundle      string
	rootfs      string
	root        *os.File // O_PATH handle on the rootfs, once bind mounted on itself
	userns      bool
	cgroupns    bool
	cgroupPaths map[string]string
	// cgroupMounts are the host's cgroup hierarchies, as the parent found
	// them; nil: read them here.
	cgroupMounts []cgroupMount
}

func procFd(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

func mountErr(op, src, target string, err error) error {
	return fmt.Errorf("%s %s on %s: %w", op, src, target, err)
}

// prepare does everything up to (not including) pivot_root.
func (s *rootfsSetup) prepare() error {
	// The requested propagation of / is applied now and again after
	// pivot_root, except unbindable: the rootfs must first be bind mounted
	// onto itself, so until then a slave.
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if p, ok := propagationOpts[s.spec.Linux.RootfsPropagation]; ok && p&unix.MS_UNBINDABLE == 0 {
		prop = p
	}
	if err := unix.Mount("", "/", "", prop, ""); err != nil {
		return mountErr("set propagation of", "", "/", err)
	}
	// pivot_root refuses a new root whose parent mount is shared; after a
	// recursive slave or private none is, and mountinfo need not be read.
	if prop != unix.MS_SLAVE|unix.MS_REC && prop != unix.MS_PRIVATE|unix.MS_REC {
		if err := makeParentMountPrivate(s.rootfs); err != nil {
			return err
		}
	}
	if err := unix.Mount(s.rootfs, s.rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return mountErr("bind mount", s.rootfs, s.rootfs, err)
	}
	root, err := os.OpenFile(s.rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs: %w", err)
	}
	s.root = root
	for _, m := range s.spec.Mounts {
		if err := s.mount(m); err != nil {
			return fmt.Errorf("mount %s (%s): %w", m.Destination, m.Type, err)
		}
	}
	if s.needsDevSetup() {
		if err := s.createDevices(); err != nil {
			return err
		}
	}
	return nil
}

// needsDevSetup: the default devices are made unless /dev is bind mounted
// from the host, as runc decides.
func (s *rootfsSetup) needsDevSetup() bool {
	for _, m := range s.spec.Mounts {
		if filepath.Clean(m.Destination) == "/dev" && (m.Type == "bind" || parseMountOptions(m.Options).flags&unix.MS_BIND != 0) {
			return false
		}
	}
	return true
}

// target resolves dest inside the rootfs, creating it (a directory, or an
// empty file when dir is false) if missing, and returns an O_PATH handle.
func (s *rootfsSetup) target(dest string, dir bool) (*os.File, error) {
	if f, err := openInRoot(s.root, dest); err == nil {
		return f, nil
	}
	// Missing. Usually every directory on the way is a real one (a mount
	// point in a fresh tmpfs, /sys/fs/cgroup/cpu): made one step at a time.
	if f, err := s.create(dest, dir, mkdirInRoot); err == nil {
		return f, nil
	}
	// A symlink on the way, or a dangling one (an image's /data ->
	// /srv/data): follow the symlinks that are there inside the rootfs
	// first, as runc does with SecureJoin, so that what is made is their
	// target in the rootfs. Nothing runs in the container yet to change
	// them, and the creation below resolves inside the rootfs again.
	if resolved, err := securejoin.SecureJoin(s.rootfs, dest); err == nil {
		if rel, err := filepath.Rel(s.rootfs, resolved); err == nil && filepath.IsLocal(rel) {
			dest = "/" + rel
		}
	}
	return s.create(dest, dir, pathrs.MkdirAllHandle)
}

// create makes dest (a directory, or an empty file when dir is false) and
// the directories above it with mkdirAll, and returns an O_PATH handle.
func (s *rootfsSetup) create(dest string, dir bool, mkdirAll func(root *os.File, path string, mode os.FileMode) (*os.File, error)) (*os.File, error) {
	if dir {
		return mkdirAll(s.root, dest, 0o755)
	}
	parent, err := mkdirAll(s.root, filepath.Dir(dest), 0o755)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	fd, err := unix.Openat(int(parent.Fd()), filepath.Base(dest), unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0o644)
	if err != nil && err != unix.EEXIST {
		return nil, &os.PathError{Op: "create", Path: dest, Err: err}
	}
	if err == nil {
		unix.Close(fd)
	}
	return openInRoot(s.root, dest)
}

func (s *rootfsSetup) mount(m specs.Mount) error {
	dest := m.Destination
	if !filepath.IsAbs(dest) {
		dest = "/" + dest
	}
	o := parseMountOptions(m.Options)
	switch {
	case m.Type == "bind" || o.flags&unix.MS_BIND != 0:
		if err := s.bindMount(m, dest, o); err != nil {
			return err
		}
	case m.Type == "cgroup":
		if err := s.mountCgroup(dest, o); err != nil {
			return err
		}
	default:
		t, err := s.target(dest, true)
		if err != nil {
			return err
		}
		err = unix.Mount(m.Source, procFd(t), m.Type, o.flags, o.dataString())
		t.Close()
		if err == unix.EPERM && m.Type == "sysfs" && s.userns {
			// A user namespace without its own network namespace can't
			// mount sysfs; bind the host's read-only instead, as runc does.
			return s.bindMount(specs.Mount{Source: "/sys", Type: "bind"}, dest,
				parseMountOptions(append([]string{"rbind", "ro"}, m.Options...)))
		}
		if err != nil {
			return mountErr("mount", m.Source, dest, err)
		}
	}
	return s.applyPropagation(dest, o)
}

// applyPropagation sets the mount's propagation and recursive attributes,
// reopening dest so the new mount (not the directory under it) is changed.
func (s *rootfsSetup) applyPropagation(dest string, o mountOpts) error {
	if len(o.propagation) == 0 && o.recAttrSet == 0 && o.recAttrClr == 0 {
		return nil
	}
	t, err := openInRoot(s.root, dest)
	if err != nil {
		return err
	}
	defer t.Close()
	for _, p := range o.propagation {
		if err := unix.Mount("", procFd(t), "", p, ""); err != nil {
			return mountErr("set propagation of", "", dest, err)
		}
	}
	if o.recAttrSet != 0 || o.recAttrClr != 0 {
		attr := &unix.MountAttr{Attr_set: o.recAttrSet, Attr_clr: o.recAttrClr}
		if err := unix.MountSetattr(int(t.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return &os.PathError{Op: "mount_setattr", Path: dest, Err: err}
		}
	}
	return nil
}

func (s *rootfsSetup) bindMount(m specs.Mount, dest string, o mountOpts) error {
	src := m.Source
	if !filepath.IsAbs(src) {
		src = filepath.Join(s.bundle, src)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("bind source: %w", err)
	}
	t, err := s.target(dest, fi.IsDir())
	if err != nil {
		return err
	}
	err = unix.Mount(src, procFd(t), "", unix.MS_BIND|(o.flags&unix.MS_REC), "")
	t.Close()
	if err != nil {
		return mountErr("bind mount", src, dest, err)
	}
	return s.remountBind(dest, o)
}

// remountBind applies a bind mount's flags (ro, nosuid, …), which the kernel
// ignores on the bind itself. Flags already on the mount are kept unless an
// option clears them: in a user namespace they are locked, and dropping
// one would fail.
func (s *rootfsSetup) remountBind(dest string, o mountOpts) error {
	want := o.flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
	if want == 0 && o.clear == 0 {
		return nil
	}
	t, err := openInRoot(s.root, dest)
	if err != nil {
		return err
	}
	defer t.Close()
	cur, err := mountFlagsOf(t)
	if err != nil {
		return err
	}
	if want&atimeFlags != 0 || o.clear&atimeFlags != 0 {
		cur &^= atimeFlags
	}
	flags := unix.MS_BIND | unix.MS_REMOUNT | want | (cur &^ o.clear)
	if err := unix.Mount("", procFd(t), "", flags, ""); err != nil {
		return mountErr("remount", "", dest, err)
	}
	return nil
}

const atimeFlags = unix.MS_NOATIME | unix.MS_RELATIME | unix.MS_STRICTATIME | unix.MS_NODIRATIME

// mountFlagsOf returns the MS_* flags of the mount f is on.
func mountFlagsOf(f *os.File) (uintptr, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return 0, &os.SyscallError{Syscall: "fstatfs", Err: err}
	}
	var flags uintptr
	for st_, ms := range map[int64]uintptr{
		unix.ST_RDONLY: unix.MS_RDONLY, unix.ST_NOSUID: unix.MS_NOSUID, unix.ST_NODEV: unix.MS_NODEV,
		unix.ST_NOEXEC: unix.MS_NOEXEC, unix.ST_NOATIME: unix.MS_NOATIME,
		unix.ST_NODIRATIME: unix.MS_NODIRATIME, unix.ST_RELATIME: unix.MS_RELATIME,
	} {
		if st.Flags&st_ != 0 {
			flags |= ms
		}
	}
	return flags, nil
}

// makeParentMountPrivate makes the mount that holds path private if it is
// shared, because pivot_root refuses to move a root out of a shared mount.
func makeParentMountPrivate(path string) error {
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		return err
	}
	best := ""
	shared := false
	for _, m := range mounts {
		if (path == m.Mountpoint || strings.HasPrefix(path, strings.TrimSuffix(m.Mountpoint, "/")+"/")) && len(m.Mountpoint) >= len(best) {
			best, shared = m.Mountpoint, strings.Contains(m.Optional, "shared:")
		}
	}
	if best == "" || !shared {
		return nil
	}
	if err := unix.Mount("", best, "", unix.MS_PRIVATE, ""); err != nil {
		return mountErr("make private", "", best, err)
	}
	return nil
}

// dirHandle returns an O_PATH handle on the directory path of the rootfs,
// creating it (and its parents) if missing.
func (s *rootfsSetup) dirHandle(path string) (*os.File, error) {
	if f, err := openInRoot(s.root, path); err == nil {
		return f, nil
	}
	if f, err := mkdirInRoot(s.root, path, 0o755); err == nil {
		return f, nil
	}
	return pathrs.MkdirAllHandle(s.root, path, 0o755)
}

// mkdirInRoot returns an O_PATH handle on the directory path inside root,
// making the directories that are missing, in one openat2 (and a mkdirat
// where missing) per step: each step opens one name beneath the directory
// before it with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, so no step can leave
// it or follow a link, and the walk stays inside root without the /proc
// checks pathrs-lite adds to every handle. It fails on a symlink on the way
// (ELOOP) and where openat2 is missing; the callers then take pathrs-lite's
// MkdirAllHandle, which follows symlinks inside the root.
func mkdirInRoot(root *os.File, path string, mode os.FileMode) (*os.File, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	cur, err := unix.Openat2(int(root.Fd()), ".", how)
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: "/", Err: err}
	}
	for _, name := range strings.Split(filepath.Clean("/" + path)[1:], "/") {
		if name == "" { // path is the root
			break
		}
		next, err := unix.Openat2(cur, name, how)
		if err == unix.ENOENT {
			if err = unix.Mkdirat(cur, name, uint32(mode.Perm())); err == nil || err == unix.EEXIST {
				next, err = unix.Openat2(cur, name, how)
			}
		}
		unix.Close(cur)
		if err != nil {
			return nil, &os.PathError{Op: "mkdir in root", Path: path, Err: err}
		}
		cur = next
	}
	return os.NewFile(uintptr(cur), path), nil
}

// openInRoot resolves path inside root and returns an O_PATH handle:
// openat2 with RESOLVE_IN_ROOT makes the kernel keep "..", absolute
// symlinks and every other step of the walk inside root, in one syscall.
// pathrs-lite (which does the same in user space, with more checks and
// syscalls) is the fallback where openat2 is missing, and still creates
// what is missing (MkdirAllHandle).
func openInRoot(root *os.File, path string) (*os.File, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for try := 0; ; try++ {
		fd, err := unix.Openat2(int(root.Fd()), path, how)
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), path), nil
		case err == unix.EAGAIN && try < 16: // a concurrent rename: retry
			continue
		case err == unix.ENOSYS:
			return pathrs.OpenatInRoot(root, path)
		default:
			return nil, &os.PathError{Op: "openat2", Path: path, Err: err}
		}
	}
}
