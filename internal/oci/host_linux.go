package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var host = hostFacts{
	caps:             sync.OnceValues(hostCaps),
	sysctlExists:     sysctlExists,
	extraMaskedPaths: sync.OnceValue(thermalThrottlePaths),
	hostname:         os.Hostname,
	inUserNS:         sync.OnceValue(inUserNS),
	devicesAt:        devicesAt,
	hostDevices:      hostDevices,
}

// hostCaps lists the capabilities berth knows and those in its own
// effective set (moby's caps.initCaps over containerd's cap.Current). When
// the effective set cannot be read, all known ones are taken as held.
func hostCaps() (known, held []string) {
	name := func(c capability.Cap) string { return "CAP_" + strings.ToUpper(c.String()) }
	all := capability.ListKnown()
	for _, c := range all {
		known = append(known, name(c))
	}
	self, err := capability.NewPid2(0)
	if err == nil {
		err = self.Load()
	}
	if err != nil {
		return known, known
	}
	for _, c := range all {
		if self.Get(capability.EFFECTIVE, c) {
			held = append(held, name(c))
		}
	}
	return known, held
}

// sysctlExists is moby's: runc refuses a sysctl the kernel does not have.
func sysctlExists(name string) bool {
	_, err := os.Stat(filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")))
	return err == nil
}

// thermalThrottlePaths are the per-CPU thermal_throttle directories that
// exist on this host (GHSA-6fw5-f8r9-fgfm: their counters leak host
// activity), for every possible CPU.
func thermalThrottlePaths() []string {
	var paths []string
	for _, cpu := range possibleCPUs() {
		p := fmt.Sprintf("/sys/devices/system/cpu/cpu%d/thermal_throttle", cpu)
		if _, err := os.Stat(p); err == nil {
			paths = append(paths, p)
		}
	}
	return paths
}

// possibleCPUs parses /sys/devices/system/cpu/possible ("0-3,5"), falling
// back to the CPUs Go sees.
func possibleCPUs() []int {
	var cpus []int
	data, err := os.ReadFile("/sys/devices/system/cpu/possible")
	if err == nil {
		for _, r := range strings.Split(strings.TrimSpace(string(data)), ",") {
			lo, hi, isRange := strings.Cut(r, "-")
			first, err1 := strconv.Atoi(lo)
			last, err2 := first, error(nil)
			if isRange {
				last, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil || last < first {
				cpus = nil
				break
			}
			for c := first; c <= last; c++ {
				cpus = append(cpus, c)
			}
		}
	}
	if len(cpus) == 0 {
		for c := range runtime.NumCPU() {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// inUserNS reports whether this process runs in a user namespace: its
// uid_map is not the identity over all ids (moby/sys/userns).
func inUserNS() bool {
	data, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(data))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}

// errNotADevice is runc's devices.ErrNotADevice.
var errNotADevice = errors.New("not a device node")

// deviceFromPath is runc's devices.DeviceFromPath: the node at p (not
// following a symlink) with its type, numbers, mode and owner.
func deviceFromPath(p string) (specs.LinuxDevice, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return specs.LinuxDevice{}, err
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, errNotADevice
	}
	mode := os.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	return specs.LinuxDevice{
		Path: p, Type: typ, Major: int64(unix.Major(uint64(st.Rdev))), Minor: int64(unix.Minor(uint64(st.Rdev))),
		FileMode: &mode, UID: &uid, GID: &gid,
	}, nil
}

// devicesAt is moby's oci.DevicesFromPath without the mapping: a symlink
// is resolved first; a directory gives the device nodes under it.
func devicesAt(p string) ([]specs.LinuxDevice, error) {
	resolved := p
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			resolved = r
		}
	}
	d, err := deviceFromPath(resolved)
	if err == nil {
		d.Path = ""
		return []specs.LinuxDevice{d}, nil
	}
	var out []specs.LinuxDevice
	if fi, serr := os.Stat(resolved); errors.Is(err, errNotADevice) && serr == nil && fi.IsDir() {
		filepath.WalkDir(resolved, func(dp string, _ fs.DirEntry, _ error) error {
			d, err := deviceFromPath(dp)
			if err != nil {
				return nil
			}
			d.Path, _ = filepath.Rel(resolved, dp)
			out = append(out, d)
			return nil
		})
	}
	if len(out) == 0 {
		var errno unix.Errno
		if errors.As(err, &errno) {
			return nil, errno // "no such file or directory", as Docker says it
		}
		return nil, err
	}
	return out, nil
}

// hostDevices is containerd's oci.HostDevices: every device node under
// /dev but those of the container's own mounts and the console.
func hostDevices() ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			switch {
			case e.IsDir():
				switch e.Name() {
				case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
					continue
				}
				if err := walk(p); err != nil {
					return err
				}
			case e.Name() == "console":
			default:
				d, err := deviceFromPath(p)
				if errors.Is(err, errNotADevice) || errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return err
				}
				out = append(out, d)
			}
		}
		return nil
	}
	if err := walk("/dev"); err != nil {
		return nil, err
	}
	return out, nil
}
