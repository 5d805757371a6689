package oci

import (
	"cmp"
	"path"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setMounts puts the caller's mounts and --tmpfs after the defaults, which
// they replace at the same destination (all of /dev/… when /dev is
// mounted), sizes /dev/shm, and applies --read-only and --privileged
// (daemon/oci_linux.go withMounts).
func setMounts(s *specs.Spec, o *Options, sec securityOpts) error {
	user, err := tmpfsMounts(o.Tmpfs)
	if err != nil {
		return err
	}
	user = append(user, o.Mounts...)
	// Shallow first, so /a is mounted before /a/b (daemon/volumes.go
	// sortMounts); stable, so equal depths keep the caller's order.
	slices.SortStableFunc(user, func(a, b specs.Mount) int {
		return cmp.Compare(depth(a.Destination), depth(b.Destination))
	})
	userDest := map[string]bool{}
	for _, m := range user {
		userDest[path.Clean(m.Destination)] = true
	}

	var mounts []specs.Mount
	for _, m := range s.Mounts {
		if userDest[m.Destination] || userDest["/dev"] && strings.HasPrefix(m.Destination, "/dev/") {
			continue
		}
		if m.Destination == "/dev/shm" {
			switch {
			case o.NoShm:
				continue
			case o.IpcNS == NetNSHost:
				// The host's POSIX shared memory with its SysV IPC, as
				// Docker's ShmPath /dev/shm.
				m = specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "nosuid", "noexec", "nodev"}}
			case o.ShmSource != "":
				m = specs.Mount{Destination: "/dev/shm", Type: "bind", Source: o.ShmSource, Options: []string{"rbind", "nosuid", "noexec", "nodev"}}
			default:
				m.Options = append(m.Options, "size="+strconv.FormatInt(o.ShmSize, 10))
			}
		}
		if m.Destination == "/dev/mqueue" && o.IpcNS == NetNSHost && len(o.UIDMappings) > 0 {
			// A user namespace can't mount the host IPC namespace's
			// mqueue, and the host may have none mounted to bind (as
			// rootless Docker does): mq_open works without it.
			continue
		}
		mounts = append(mounts, m)
	}
	defaults := len(mounts)
	mounts = append(mounts, user...)

	if o.ReadOnly {
		// Docker's list of default mounts that stay writable.
		for i := range mounts[:defaults] {
			switch mounts[i].Destination {
			case "/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev":
				continue
			}
			if !slices.Contains(mounts[i].Options, "ro") {
				mounts[i].Options = append(mounts[i].Options, "ro")
			}
		}
	}
	writableCgroups := o.Privileged
	if sec.writableCgroups != nil {
		if len(o.UIDMappings) > 0 {
			return invalidf("option WritableCgroups conflicts with user namespaces and rootless mode")
		}
		writableCgroups = *sec.writableCgroups
	}
	if len(o.UIDMappings) > 0 {
		// Docker's: a read-only remount can't be done in a user namespace.
		writableCgroups = true
	}
	for i := range mounts {
		if o.Privileged && mounts[i].Destination == "/sys" || writableCgroups && mounts[i].Type == "cgroup" {
			mounts[i].Options = slices.DeleteFunc(slices.Clone(mounts[i].Options), func(o string) bool { return o == "ro" })
		}
	}
	if o.Privileged || sec.systemPaths {
		s.Linux.MaskedPaths = nil
		s.Linux.ReadonlyPaths = nil
	}
	s.Mounts = mounts
	return nil
}

func depth(dest string) int { return strings.Count(path.Clean(dest), "/") }

// tmpfsMounts makes the --tmpfs mounts, sorted by destination: options
// noexec, nosuid, nodev and rprivate, then the flag's (daemon/oci_linux.go).
func tmpfsMounts(tmpfs map[string]string) ([]specs.Mount, error) {
	var out []specs.Mount
	for dest, data := range tmpfs {
		if path.Clean(dest) == "/" {
			return nil, invalidf("invalid specification: destination can't be '/'")
		}
		if !path.IsAbs(dest) {
			return nil, invalidf("invalid mount path: '%s' mount path must be absolute", dest)
		}
		opts := []string{"noexec", "nosuid", "nodev", "rprivate"}
		if data != "" {
			opts = append(opts, strings.Split(data, ",")...)
		}
		merged, err := mergeTmpfsOptions(opts)
		if err != nil {
			return nil, err
		}
		out = append(out, specs.Mount{Destination: dest, Type: "tmpfs", Source: "tmpfs", Options: merged})
	}
	slices.SortFunc(out, func(a, b specs.Mount) int { return cmp.Compare(a.Destination, b.Destination) })
	return out, nil
}

// mountFlagGroup maps each mount flag option to the flag it sets or
// clears, so that the later of "exec" and "noexec" wins; all propagation
// modes are one group (moby/sys/mount's flags table).
var mountFlagGroup = func() map[string]int {
	groups := [][]string{
		{"ro", "rw"}, {"suid", "nosuid"}, {"dev", "nodev"}, {"exec", "noexec"},
		{"sync", "async"}, {"dirsync"}, {"remount"}, {"mand", "nomand"},
		{"atime", "noatime"}, {"diratime", "nodiratime"}, {"bind"}, {"rbind"},
		{"relatime", "norelatime"}, {"strictatime", "nostrictatime"},
		{"private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"},
	}
	m := map[string]int{}
	for i, g := range groups {
		for _, name := range g {
			m[name] = i
		}
	}
	return m
}()

// tmpfsDataOptions are the key=value options a tmpfs mount accepts.
var tmpfsDataOptions = map[string]bool{"": true, "size": true, "mode": true, "uid": true, "gid": true, "nr_inodes": true, "nr_blocks": true, "mpol": true}

// mergeTmpfsOptions is moby/sys/mount's MergeTmpfsOptions: the last of
// each flag group and of each key=value wins, in the order given.
func mergeTmpfsOptions(options []string) ([]string, error) {
	flagSeen, dataSeen := map[int]bool{}, map[string]bool{}
	var out []string
	for i := len(options) - 1; i >= 0; i-- {
		opt := options[i]
		if opt == "defaults" {
			continue
		}
		if g, isFlag := mountFlagGroup[opt]; isFlag {
			if !flagSeen[g] {
				flagSeen[g] = true
				out = append(out, opt)
			}
			continue
		}
		k, _, ok := strings.Cut(opt, "=")
		if !ok || !tmpfsDataOptions[k] {
			return nil, invalidf("invalid tmpfs option %q", strings.SplitN(opt, "=", 2))
		}
		if !dataSeen[k] {
			dataSeen[k] = true
			out = append(out, opt)
		}
	}
	slices.Reverse(out)
	return out, nil
}
