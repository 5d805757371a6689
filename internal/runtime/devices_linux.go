package runtime

import (
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func fileMode(m os.FileMode) *os.FileMode { return &m }

// defaultDevices are the nodes every container gets (OCI runtime spec,
// "Default Devices"); /dev/console comes from the terminal setup and
// /dev/ptmx is a link into /dev/pts.
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: fileMode(0o666)},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5, FileMode: fileMode(0o666)},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7, FileMode: fileMode(0o666)},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8, FileMode: fileMode(0o666)},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9, FileMode: fileMode(0o666)},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, FileMode: fileMode(0o666)},
}

// defaultDeviceRules are the device cgroup rules runc appends after the
// config's own, so the default devices, ptys and mknod work even under a
// "deny all" rule.
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	i := func(v int64) *int64 { return &v }
	wild := i(-1)
	return []specs.LinuxDeviceCgroup{
		{Allow: true, Type: "c", Major: wild, Minor: wild, Access: "m"},
		{Allow: true, Type: "b", Major: wild, Minor: wild, Access: "m"},
		{Allow: true, Type: "c", Major: i(1), Minor: i(3), Access: "rwm"},    // null
		{Allow: true, Type: "c", Major: i(1), Minor: i(8), Access: "rwm"},    // random
		{Allow: true, Type: "c", Major: i(1), Minor: i(7), Access: "rwm"},    // full
		{Allow: true, Type: "c", Major: i(5), Minor: i(0), Access: "rwm"},    // tty
		{Allow: true, Type: "c", Major: i(1), Minor: i(5), Access: "rwm"},    // zero
		{Allow: true, Type: "c", Major: i(1), Minor: i(9), Access: "rwm"},    // urandom
		{Allow: true, Type: "c", Major: i(5), Minor: i(1), Access: "rwm"},    // console
		{Allow: true, Type: "c", Major: i(136), Minor: wild, Access: "rwm"},  // pts
		{Allow: true, Type: "c", Major: i(5), Minor: i(2), Access: "rwm"},    // ptmx
		{Allow: true, Type: "c", Major: i(10), Minor: i(200), Access: "rwm"}, // tun
	}
}

// containerDevices is the default devices plus the config's, a config entry
// replacing a default one at the same path.
func containerDevices(spec *specs.Spec) []specs.LinuxDevice {
	var out []specs.LinuxDevice
	seen := map[string]bool{}
	for _, d := range spec.Linux.Devices {
		seen[filepath.Clean(d.Path)] = true
	}
	for _, d := range defaultDevices {
		if !seen[d.Path] {
			out = append(out, d)
		}
	}
	return append(out, spec.Linux.Devices...)
}

func (s *rootfsSetup) createDevices() error {
	for _, d := range containerDevices(s.spec) {
		if err := s.createDevice(d); err != nil {
			return fmt.Errorf("device %s: %w", d.Path, err)
		}
	}
	links := [][2]string{
		{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
		{"pts/ptmx", "/dev/ptmx"},
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "/dev/core"})
	}
	dev, err := s.dirHandle("/dev")
	if err != nil {
		return err
	}
	defer dev.Close()
	for _, l := range links {
		name := filepath.Base(l[1])
		if l[1] == "/dev/ptmx" {
			// A real /dev/ptmx would open the host's pty instance.
			unix.Unlinkat(int(dev.Fd()), name, 0)
		}
		if err := unix.Symlinkat(l[0], int(dev.Fd()), name); err != nil && err != unix.EEXIST {
			return &os.PathError{Op: "symlink", Path: l[1], Err: err}
		}
	}
	return nil
}

func (s *rootfsSetup) createDevice(d specs.LinuxDevice) error {
	var typ uint32
	switch d.Type {
	case "c", "u":
		typ = unix.S_IFCHR
	case "b":
		typ = unix.S_IFBLK
	case "p":
		typ = unix.S_IFIFO
	default:
		return fmt.Errorf("unknown device type %q", d.Type)
	}
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
	}
	parent, err := s.dirHandle(filepath.Dir(d.Path))
	if err != nil {
		return err
	}
	defer parent.Close()
	name := filepath.Base(d.Path)
	pfd := int(parent.Fd())
	if s.userns {
		// mknod is not allowed in a user namespace: bind the host's node
		// onto an empty file instead, as runc does.
		fd, err := unix.Openat(pfd, name, unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0o644)
		if err != nil {
			return &os.PathError{Op: "create", Path: d.Path, Err: err}
		}
		unix.Close(fd)
		t, err := openInRoot(s.root, d.Path)
		if err != nil {
			return err
		}
		defer t.Close()
		if err := unix.Mount(d.Path, procFd(t), "", unix.MS_BIND, ""); err != nil {
			return mountErr("bind mount", d.Path, d.Path, err)
		}
		return nil
	}
	if err := unix.Unlinkat(pfd, name, 0); err != nil && err != unix.ENOENT {
		return &os.PathError{Op: "unlink", Path: d.Path, Err: err}
	}
	if err := unix.Mknodat(pfd, name, typ|perm, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
		return &os.PathError{Op: "mknod", Path: d.Path, Err: err}
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if err := unix.Fchownat(pfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "chown", Path: d.Path, Err: err}
	}
	return nil
}
