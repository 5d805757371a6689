package cgroups

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// hierarchy is one mounted cgroup hierarchy.
type hierarchy struct {
	// mountpoint is where the hierarchy is visible in our mount namespace.
	mountpoint string
	// root is the cgroup the mount shows (mountinfo field 4); it is "/"
	// unless a sub-tree was bind-mounted or cgroup namespaces are in play,
	// and is needed to turn /proc/self/cgroup paths into directories.
	root string
	// controllers are the v1 subsystems (and "name=X" for named
	// hierarchies) of the mount; empty for cgroup2, whose controllers are
	// read from cgroup.controllers.
	controllers []string
	unified     bool
}

// layout is the set of cgroup hierarchies of a host.
type layout struct {
	// v1 maps each v1 subsystem (or "name=X") to its hierarchy; co-mounted
	// subsystems share one.
	v1 map[string]*hierarchy
	// v2 is the cgroup2 mount, nil when there is none.
	v2 *hierarchy
}

// mode names the three host layouts.
type mode int

const (
	modeNone    mode = iota // no cgroup mounted at all
	modeLegacy              // only v1 hierarchies
	modeHybrid              // v1 controllers plus a cgroup2 mount
	modeUnified             // cgroup2 only
)

func (m mode) String() string {
	return [...]string{"none", "legacy", "hybrid", "unified"}[m]
}

// mode classifies the layout. Named v1 hierarchies (name=systemd) hold no
// controller, so a host with only those beside cgroup2 is still unified.
func (l *layout) mode() mode {
	realV1 := false
	for sub := range l.v1 {
		if !strings.HasPrefix(sub, "name=") {
			realV1 = true
			break
		}
	}
	switch {
	case realV1 && l.v2 != nil:
		return modeHybrid
	case realV1:
		return modeLegacy
	case l.v2 != nil:
		return modeUnified
	}
	return modeNone
}

// v1Hierarchies returns each distinct v1 hierarchy once, in a stable order.
func (l *layout) v1Hierarchies() []*hierarchy {
	seen := map[*hierarchy]bool{}
	var out []*hierarchy
	for _, h := range l.v1 {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].mountpoint < out[j].mountpoint })
	return out
}

// knownV1Options are mount options that cgroup v1 shows among the super
// options but that name no controller.
var knownV1Options = map[string]bool{
	"rw": true, "ro": true, "xattr": true, "noprefix": true, "none": true, "all": true,
	"clone_children": true, "cpuset_v2_mode": true, "favordynmods": true,
}

// parseMountinfo reads /proc/<pid>/mountinfo and returns the cgroup
// hierarchies in it. A hierarchy mounted more than once (bind mounts) is
// reported once, preferring a mount of its root.
func parseMountinfo(r io.Reader) (*layout, error) {
	l := &layout{v1: map[string]*hierarchy{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		// Fields: id parent maj:min root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(line)
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 7 || sep < 0 || sep+2 >= len(fields) {
			return nil, fmt.Errorf("cgroups: mountinfo line %d: malformed: %q", n, line)
		}
		fstype := fields[sep+1]
		if fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		h := &hierarchy{
			root:       unescapeMount(fields[3]),
			mountpoint: unescapeMount(fields[4]),
			unified:    fstype == "cgroup2",
		}
		if h.unified {
			if l.v2 == nil || (l.v2.root != "/" && h.root == "/") {
				l.v2 = h
			}
			continue
		}
		superOpts := ""
		if sep+3 < len(fields) {
			superOpts = fields[sep+3]
		}
		for _, opt := range strings.Split(superOpts, ",") {
			if opt == "" || knownV1Options[opt] || strings.HasPrefix(opt, "release_agent=") {
				continue
			}
			h.controllers = append(h.controllers, opt)
		}
		if len(h.controllers) == 0 {
			continue
		}
		// Keep the first mount of each hierarchy unless a later one shows
		// its root and the kept one does not.
		if old := l.v1[h.controllers[0]]; old != nil && (old.root == "/" || h.root != "/") {
			continue
		}
		for _, c := range h.controllers {
			l.v1[c] = h
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cgroups: read mountinfo: %w", err)
	}
	return l, nil
}

// unescapeMount undoes the octal escapes (\040 for space and the like)
// the kernel uses for mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseProcCgroup reads /proc/<pid>/cgroup into a map from each v1
// subsystem (or "name=X") to the process's cgroup path, with the key ""
// for the cgroup2 entry ("0::/path").
func parseProcCgroup(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("cgroups: /proc/self/cgroup line %d: malformed: %q", n, line)
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, sub := range strings.Split(parts[1], ",") {
			out[sub] = parts[2]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cgroups: read /proc/self/cgroup: %w", err)
	}
	return out, nil
}
