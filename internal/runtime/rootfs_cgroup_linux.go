package runtime

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// mountCgroup handles a mount of type "cgroup": the container sees its own
// cgroups at dest. On a pure cgroup2 host that is one cgroup2 mount; on v1
// and hybrid hosts it is a tmpfs with one directory per hierarchy, like the
// host's /sys/fs/cgroup. With a cgroup namespace each hierarchy is mounted
// fresh (its root is the namespace's root, the container's cgroup);
// without one, the container's cgroup directories are bind mounted.
func (s *rootfsSetup) mountCgroup(dest string, o mountOpts) error {
	hier := s.cgroupMounts
	if hier == nil {
		var err error
		if hier, err = cgroupMounts(); err != nil {
			return err
		}
	}
	t, err := s.target(dest, true)
	if err != nil {
		return err
	}
	defer t.Close()
	if len(hier) == 1 && hier[0].Mountpoint == "/sys/fs/cgroup" {
		return s.mountCgroupDir(hier[0], t, dest, o)
	}
	// Made read-only (if asked) only after the hierarchies are mounted in it.
	tmpfsFlags := (o.flags &^ unix.MS_RDONLY) | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("tmpfs", procFd(t), "tmpfs", tmpfsFlags, "mode=755"); err != nil {
		return mountErr("mount", "tmpfs", dest, err)
	}
	// The directories are made in the tmpfs just mounted, which only we
	// have seen: from a handle on it, a step each.
	dir, err := openInRoot(s.root, dest)
	if err != nil {
		return err
	}
	defer dir.Close()
	for _, m := range hier {
		name := filepath.Base(m.Mountpoint)
		sub, err := mkdirInRoot(dir, name, 0o755)
		if err != nil {
			return err
		}
		err = s.mountCgroupDir(m, sub, filepath.Join(dest, name), o)
		sub.Close()
		if err != nil {
			return err
		}
		// Co-mounted controllers ("cpu,cpuacct") get a link per name.
		if parts := strings.Split(name, ","); len(parts) > 1 {
			for _, p := range parts {
				unix.Symlinkat(name, int(dir.Fd()), p)
			}
		}
	}
	if o.flags&unix.MS_RDONLY != 0 {
		return s.remountBind(dest, mountOpts{flags: unix.MS_RDONLY | tmpfsFlags})
	}
	return nil
}

// cgroupMount is a mounted cgroup hierarchy, as mountCgroup needs it.
type cgroupMount struct {
	Mountpoint string `json:"mountpoint"`
	FSType     string `json:"fstype"`  // cgroup or cgroup2
	Options    string `json:"options"` // super options (the controllers)
}

// cgroupMounts lists the hierarchies mounted in /sys/fs/cgroup, or, on a
// pure cgroup2 host, the one mounted on it.
func cgroupMounts() ([]cgroupMount, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return nil, err
	}
	hier := []cgroupMount{}
	for _, m := range mounts {
		cm := cgroupMount{Mountpoint: m.Mountpoint, FSType: m.FSType, Options: m.VFSOptions}
		if m.FSType == "cgroup2" && m.Mountpoint == "/sys/fs/cgroup" {
			return []cgroupMount{cm}, nil
		}
		if filepath.Dir(m.Mountpoint) == "/sys/fs/cgroup" {
			hier = append(hier, cm)
		}
	}
	return hier, nil
}

// mountCgroupDir mounts one hierarchy m on t, the handle of dest.
func (s *rootfsSetup) mountCgroupDir(m cgroupMount, t *os.File, dest string, o mountOpts) error {
	flags := o.flags | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if s.cgroupns {
		data := ""
		if m.FSType == "cgroup" {
			data = cgroupSuperOpts(m.Options)
		}
		if err := unix.Mount("cgroup", procFd(t), m.FSType, flags, data); err != nil {
			return mountErr("mount", m.FSType, dest, err)
		}
		return nil
	}
	// Without a cgroup namespace: bind the container's own cgroup — never
	// the host's whole hierarchy; a hierarchy without one stays empty.
	src := s.cgroupPathFor(m)
	if src == "" {
		return nil
	}
	if err := unix.Mount(src, procFd(t), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return mountErr("bind mount", src, dest, err)
	}
	return s.remountBind(dest, mountOpts{flags: flags})
}

// cgroupPathFor finds the container's directory in hierarchy m: the
// saved cgroup path that lies under its mountpoint.
func (s *rootfsSetup) cgroupPathFor(m cgroupMount) string {
	for _, p := range s.cgroupPaths {
		if strings.HasPrefix(p, m.Mountpoint+"/") || p == m.Mountpoint {
			return p
		}
	}
	return ""
}

// cgroupSuperOpts keeps the controller names (and name=) of a v1
// hierarchy's super options, dropping rw/ro.
func cgroupSuperOpts(super string) string {
	var keep []string
	for _, o := range strings.Split(super, ",") {
		if o != "rw" && o != "ro" {
			keep = append(keep, o)
		}
	}
	return strings.Join(keep, ",")
}
