package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// MountAll mounts a snapshot's mounts on target, for callers that need
// the tree on the host (builds, cp, tests); containers get the mounts
// through their OCI spec instead. The returned function unmounts.
func MountAll(mounts []Mount, target string) (func() error, error) {
	if len(mounts) != 1 {
		return nil, fmt.Errorf("mount %s: %d mounts, want 1", target, len(mounts))
	}
	m := mounts[0]
	var flags uintptr
	var data []string
	ro := false
	for _, o := range m.Options {
		switch o {
		case "volatile":
			clearVolatile(m.Options)
			data = append(data, o)
		case "rbind":
			flags |= unix.MS_BIND | unix.MS_REC
		case "bind":
			flags |= unix.MS_BIND
		case "ro":
			ro = true
		case "rw":
		default:
			data = append(data, o)
		}
	}
	if m.Type == "overlay" && ro {
		flags |= unix.MS_RDONLY
	}
	if opts := strings.Join(data, ","); m.Type == "overlay" && len(opts) > maxMountData {
		if err := mountOverlayFS(data, target, ro); err != nil {
			return nil, err
		}
		return func() error { return unix.Unmount(target, unix.MNT_DETACH) }, nil
	}
	if err := unix.Mount(m.Source, target, m.Type, flags, strings.Join(data, ",")); err != nil {
		return nil, fmt.Errorf("mount %s on %s: %w", m.Type, target, err)
	}
	if ro && flags&unix.MS_BIND != 0 {
		if err := unix.Mount("", target, "", flags|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return nil, fmt.Errorf("remount %s read-only: %w", target, err)
		}
	}
	return func() error { return unix.Unmount(target, unix.MNT_DETACH) }, nil
}

// maxMountData is what mount(2) takes of its options: one page, less a
// margin. A deep image's lowerdir list can be longer.
const maxMountData = 4000

// mountOverlayFS mounts an overlay through the new mount API, giving the
// lower directories one by one ("lowerdir+", Linux 6.8), so that their
// number is not bounded by the one-page option string.
func mountOverlayFS(opts []string, target string, ro bool) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return &os.SyscallError{Syscall: "fsopen overlay", Err: err}
	}
	defer unix.Close(fsfd)
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		if k == "lowerdir" {
			for _, dir := range strings.Split(v, ":") {
				if err := unix.FsconfigSetString(fsfd, "lowerdir+", dir); err != nil {
					return fmt.Errorf("mount overlay on %s: %d lower directories need lowerdir+ (Linux 6.8 or newer): %w", target, strings.Count(v, ":")+1, err)
				}
			}
			continue
		}
		set := func() error { return unix.FsconfigSetString(fsfd, k, v) }
		if !strings.Contains(o, "=") { // a flag: volatile
			set = func() error { return unix.FsconfigSetFlag(fsfd, k) }
		}
		if err := set(); err != nil {
			return fmt.Errorf("mount overlay on %s: option %s: %w", target, k, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", target, err)
	}
	var attr int
	if ro {
		attr = unix.MOUNT_ATTR_RDONLY
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attr)
	if err != nil {
		return fmt.Errorf("mount overlay on %s: fsmount: %w", target, err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount overlay on %s: move_mount: %w", target, err)
	}
	return nil
}

// Unmount detaches the mount on target.
func Unmount(target string) error {
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "unmount", Path: target, Err: err}
	}
	return nil
}

// Volatile returns ms with their overlay mounts volatile where the kernel
// has the option (Linux 5.10): it then never syncs their upper directory,
// not even at the unmount, which makes the unmount of a freshly written
// one several times faster. For a container that is removed when it
// exits: its writes need not survive a crash.
func Volatile(ms []Mount) []Mount {
	if !VolatileSupported() {
		return ms
	}
	out, _ := withUpperOption(ms, "volatile")
	return out
}

// ReadOnly returns ms to be mounted read-only at target, and writable,
// which remounts them read-write there: for a caller that may not write.
// The unmount of a read-write overlay syncs the filesystem of its upper
// directory (about 0.5 ms here), a read-only one's does not. Mounts
// other than an overlay with an upper directory are returned as they are.
func ReadOnly(ms []Mount, target string) (ro []Mount, writable func() error) {
	ro, ok := withUpperOption(ms, "ro")
	if !ok || len(ms) != 1 {
		return ms, func() error { return nil }
	}
	return ro, func() error {
		if err := unix.Mount("", target, "", unix.MS_REMOUNT, ""); err != nil {
			return fmt.Errorf("remount %s read-write: %w", target, err)
		}
		return nil
	}
}

// withUpperOption returns ms with opt added to each overlay mount with
// an upper directory, and whether there was one.
func withUpperOption(ms []Mount, opt string) ([]Mount, bool) {
	out, found := slices.Clone(ms), false
	for i, m := range out {
		if hasUpper(m) {
			out[i].Options = append(slices.Clip(m.Options), opt)
			found = true
		}
	}
	return out, found
}

func hasUpper(m Mount) bool {
	return m.Type == "overlay" && slices.ContainsFunc(m.Options, func(o string) bool { return strings.HasPrefix(o, "upperdir=") })
}

// VolatileSupported says whether overlayfs has the volatile option.
func VolatileSupported() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor)
	return major > 5 || major == 5 && minor >= 10
}

// clearVolatile removes the mark a volatile mount leaves in its work
// directory, without which overlayfs refuses to mount it again (a
// container whose shim was killed, started again).
func clearVolatile(options []string) {
	for _, o := range options {
		if dir, ok := strings.CutPrefix(o, "workdir="); ok {
			incompat := filepath.Join(dir, "work", "incompat")
			if _, err := os.Lstat(incompat); err == nil {
				os.RemoveAll(incompat)
			}
		}
	}
}

// UnmountAll unmounts everything mounted at target, one on another.
func UnmountAll(target string) {
	for IsMountPoint(target) {
		if Unmount(target) != nil {
			return
		}
	}
}

// UnmountBelow unmounts everything mounted at dir or below it, deepest
// first: what a container's run mounted in its bundle (rootfs, /dev/shm,
// volume subpaths).
func UnmountBelow(dir string) {
	ms, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.Mountpoint != dir && !strings.HasPrefix(m.Mountpoint, dir+"/"), false
	})
	if err != nil {
		return
	}
	slices.SortFunc(ms, func(a, b *mountinfo.Info) int { return len(b.Mountpoint) - len(a.Mountpoint) })
	for _, m := range ms {
		Unmount(m.Mountpoint)
	}
}

// IsMountPoint reports whether something is mounted on dir.
func IsMountPoint(dir string) bool {
	ok, err := mountinfo.Mounted(dir)
	return err == nil && ok
}
