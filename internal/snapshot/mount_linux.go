package snapshot

import (
	"fmt"
	"os"
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

// Unmount detaches the mount on target.
func Unmount(target string) error {
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "unmount", Path: target, Err: err}
	}
	return nil
}

// IsMountPoint reports whether something is mounted on dir.
func IsMountPoint(dir string) bool {
	ok, err := mountinfo.Mounted(dir)
	return err == nil && ok
}
