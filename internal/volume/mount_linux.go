package volume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/archive"
)

// The local driver's options as mount(2) arguments: "o" is split into
// the MS_* flags moby/sys/mount knows and the filesystem's data.
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"async": {true, unix.MS_SYNCHRONOUS}, "atime": {true, unix.MS_NOATIME}, "bind": {false, unix.MS_BIND},
	"defaults": {false, 0}, "dev": {true, unix.MS_NODEV}, "diratime": {true, unix.MS_NODIRATIME},
	"dirsync": {false, unix.MS_DIRSYNC}, "exec": {true, unix.MS_NOEXEC}, "mand": {false, unix.MS_MANDLOCK},
	"noatime": {false, unix.MS_NOATIME}, "nodev": {false, unix.MS_NODEV}, "nodiratime": {false, unix.MS_NODIRATIME},
	"noexec": {false, unix.MS_NOEXEC}, "nomand": {true, unix.MS_MANDLOCK}, "nosuid": {false, unix.MS_NOSUID},
	"rbind": {false, unix.MS_BIND | unix.MS_REC}, "relatime": {false, unix.MS_RELATIME},
	"remount": {false, unix.MS_REMOUNT}, "ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"strictatime": {false, unix.MS_STRICTATIME}, "suid": {true, unix.MS_NOSUID}, "sync": {false, unix.MS_SYNCHRONOUS},
	"private": {false, unix.MS_PRIVATE}, "rprivate": {false, unix.MS_PRIVATE | unix.MS_REC},
	"shared": {false, unix.MS_SHARED}, "rshared": {false, unix.MS_SHARED | unix.MS_REC},
	"slave": {false, unix.MS_SLAVE}, "rslave": {false, unix.MS_SLAVE | unix.MS_REC},
	"unbindable": {false, unix.MS_UNBINDABLE}, "runbindable": {false, unix.MS_UNBINDABLE | unix.MS_REC},
}

func parseMountOptions(o string) (flags uintptr, data string) {
	var rest []string
	for _, opt := range strings.Split(o, ",") {
		if opt == "" {
			continue
		}
		if f, ok := mountFlags[opt]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		rest = append(rest, opt)
	}
	return flags, strings.Join(rest, ",")
}

// Use says how a container gets the volume's data.
type Use struct {
	// Source is what the container binds: the volume's _data, or for a
	// bind volume (-o type=none,o=bind,device=PATH) the device itself.
	Source string
	// ReadOnly: the volume's own options say ro.
	ReadOnly bool
	// Mount: the driver mounts a filesystem at _data while the volume is
	// in use (-o type=tmpfs, nfs, …): see Mount.
	Mount bool
}

// Use returns how a container gets volume v's data. A bind volume whose
// device is missing is Docker's mount error.
func (s *Store) Use(v *Volume) (Use, error) {
	u := Use{Source: s.Mountpoint(v.Name)}
	if v.Options["device"] == "" && v.Options["type"] == "" {
		return u, nil
	}
	flags, _ := parseMountOptions(v.Options["o"])
	u.ReadOnly = flags&unix.MS_RDONLY != 0
	if flags&unix.MS_BIND == 0 {
		u.Mount = true
		return u, nil
	}
	dev := v.Options["device"]
	if _, err := os.Stat(dev); err != nil || !filepath.IsAbs(dev) {
		errno := unix.ENOENT
		if err != nil && errors.Is(err, unix.ENOTDIR) {
			errno = unix.ENOTDIR
		}
		return u, fmt.Errorf("error while mounting volume '%s': failed to mount local volume: mount %s:%s, flags: %#x: %v",
			u.Source, dev, u.Source, flags, errno)
	}
	u.Source = filepath.Clean(dev)
	return u, nil
}

// lock takes the volume's lock (its directory's flock) until the
// returned function runs.
func (s *Store) lock(name string) (func(), error) {
	f, err := os.Open(filepath.Join(s.dir, name))
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	return func() { f.Close() }, nil
}

// Mounted reports whether the driver's filesystem is mounted at the
// volume's _data.
func (s *Store) Mounted(name string) bool {
	ok, err := mountinfo.Mounted(s.Mountpoint(name))
	return err == nil && ok
}

// A volume whose driver mounts a filesystem (Use.Mount) is mounted while
// some container runs with it, as Docker's local driver counts its
// users: every running user holds a shared flock on the volume's
// users.lock (its shim does, so a user that dies, even by kill -9, lets
// go), and the filesystem goes when the last one stops (Release).

// usersLock opens the file whose shared locks are the volume's users.
func (s *Store) usersLock(name string) (*os.File, error) {
	return os.OpenFile(filepath.Join(s.dir, name, "users.lock"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
}

// Acquire mounts volume v's filesystem at its _data for one more user,
// unless it is mounted for others already (a new one in place of a
// stale one nobody holds), and returns that user's hold: keep it open
// until the container's shim holds its own (Hold).
func (s *Store) Acquire(v *Volume) (*os.File, error) {
	unlock, err := s.lock(v.Name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	f, err := s.usersLock(v.Name)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*os.File, error) { f.Close(); return nil, err }
	alone := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
	if s.Mounted(v.Name) && alone {
		if err := s.unmountLocked(v.Name); err != nil {
			return fail(err)
		}
	}
	if !s.Mounted(v.Name) {
		flags, data := parseMountOptions(v.Options["o"])
		target := s.Mountpoint(v.Name)
		if err := unix.Mount(v.Options["device"], target, v.Options["type"], flags, data); err != nil {
			return fail(fmt.Errorf("error while mounting volume '%s': failed to mount local volume: mount %s:%s, flags: %#x, data: %s: %w",
				target, v.Options["device"], target, flags, data, err))
		}
	}
	// Exclusive to shared under the volume's lock, which Release takes
	// too: no Release sees the moment in between.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		return fail(&os.PathError{Op: "flock", Path: f.Name(), Err: err})
	}
	return f, nil
}

// Hold takes a user's hold on volume name: a shared lock, open for as
// long as the container runs.
func (s *Store) Hold(name string) (*os.File, error) {
	f, err := s.usersLock(name)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	return f, nil
}

// Release unmounts volume name's filesystem when no user holds it any
// more; a volume that is gone is no error.
func (s *Store) Release(name string) error {
	unlock, err := s.lock(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	f, err := s.usersLock(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return nil // in use
	}
	return s.unmountLocked(name)
}

func (s *Store) unmountLocked(name string) error {
	target := s.Mountpoint(name)
	for s.Mounted(name) {
		if err := unix.Unmount(target, 0); err != nil {
			if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
				return &os.PathError{Op: "unmount", Path: target, Err: err}
			}
		}
	}
	return nil
}

// removeDir removes the volume's directory, unless something is still
// mounted at its _data (whose files are not the volume's to delete).
func (s *Store) removeDir(name string) error {
	if s.Mounted(name) {
		return fmt.Errorf("remove %s: %s is still mounted", name, s.Mountpoint(name))
	}
	return os.RemoveAll(filepath.Join(s.dir, name))
}

// Size adds up the sizes of the regular files in the volume's data, each
// hard-linked inode once, without crossing into other mounts.
func (s *Store) Size(v *Volume) int64 {
	u, err := s.Use(v)
	if err != nil {
		return 0
	}
	var root unix.Stat_t
	if unix.Stat(u.Source, &root) != nil {
		return 0
	}
	var n int64
	seen := map[uint64]bool{}
	filepath.WalkDir(u.Source, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil {
			return nil
		}
		if st.Dev != root.Dev {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		n += st.Size
		return nil
	})
	return n
}

// CopyUp seeds volume v, when it is empty, with what the directory dest
// holds in rootfs (a container's tree, mounted on the host): Docker's
// copy of an image's content into a new volume, owners, modes, times and
// xattrs kept, the directory's own owner and mode included. dest is
// resolved inside rootfs (openat2 RESOLVE_IN_ROOT: no symlink in the
// image leads out of it); a dest that is missing or not a directory
// seeds nothing. A volume the driver mounts at use is not seeded, as with
// Docker (it is mounted only while the container runs).
func (s *Store) CopyUp(ctx context.Context, v *Volume, rootfs, dest string) error {
	u, err := s.Use(v)
	if err != nil || u.Mount {
		return err
	}
	unlock, err := s.lock(v.Name)
	if err != nil {
		return err
	}
	defer unlock()
	if empty, err := isEmptyDir(u.Source); err != nil || !empty {
		return err
	}
	rel := strings.TrimLeft(path.Clean("/"+dest), "/")
	if rel == "" {
		rel = "."
	}
	root, err := os.OpenFile(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer root.Close()
	fd, err := unix.Openat2(int(root.Fd()), rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "openat2", Path: dest, Err: err}
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		return &os.PathError{Op: "fstat", Path: dest, Err: err}
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.TarPath(ctx, rootfs, "/"+rel+"/.", false, pw)) }()
	_, err = archive.Apply(ctx, u.Source, pr, archive.Options{Whiteouts: archive.WhiteoutNone, AllowDevices: true})
	pr.CloseWithError(err) // ends the writer if Apply stopped early
	if err != nil {
		return fmt.Errorf("copy %s into volume %s: %w", dest, v.Name, err)
	}
	if err := os.Lchown(u.Source, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return unix.Chmod(u.Source, st.Mode&07777)
}

func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err == io.EOF {
		return true, nil
	}
	return len(names) == 0, err
}
