package cgroups

import (
	"reflect"
	"strings"
	"testing"
)

// hostHybridMountinfo is /proc/self/mountinfo of the machine berth is
// developed on: v1 controllers each on their own mount (cpu and cpuacct
// apart), a named systemd hierarchy, and cgroup2 at /sys/fs/cgroup/unified
// holding only hugetlb.
const hostHybridMountinfo = `22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

// pureV2Mountinfo is a systemd host booted with the unified hierarchy
// (most current distributions).
const pureV2Mountinfo = `24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
30 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`

// pureV1Mountinfo is an older systemd host without cgroup2: cpu/cpuacct
// and net_cls/net_prio co-mounted, release_agent and xattr among the
// options.
const pureV1Mountinfo = `25 30 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
30 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,net_cls,net_prio
31 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory
32 25 0:30 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,devices
33 25 0:31 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,freezer
34 25 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
35 25 0:33 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpuset,clone_children
36 25 0:34 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,blkio
37 25 0:35 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,hugetlb
38 25 0:36 / /sys/fs/cgroup/perf_event rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,perf_event
`

func mustParse(t *testing.T, s string) *layout {
	t.Helper()
	l, err := parseMountinfo(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func v1Mounts(l *layout) map[string]string {
	out := map[string]string{}
	for c, h := range l.v1 {
		out[c] = h.mountpoint
	}
	return out
}

func TestParseMountinfoHostHybrid(t *testing.T) {
	l := mustParse(t, hostHybridMountinfo)
	if got := l.mode(); got != modeHybrid {
		t.Fatalf("mode = %v, want hybrid", got)
	}
	want := map[string]string{}
	for _, c := range []string{"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"} {
		want[c] = "/sys/fs/cgroup/" + c
	}
	want["name=systemd"] = "/sys/fs/cgroup/systemd"
	if got := v1Mounts(l); !reflect.DeepEqual(got, want) {
		t.Errorf("v1 mounts = %v\nwant %v", got, want)
	}
	if l.v2 == nil || l.v2.mountpoint != "/sys/fs/cgroup/unified" || l.v2.root != "/" {
		t.Errorf("v2 = %+v, want /sys/fs/cgroup/unified", l.v2)
	}
	if l.v1["cpu"] == l.v1["cpuacct"] {
		t.Error("cpu and cpuacct are separate mounts here but share a hierarchy")
	}
	if n := len(l.v1Hierarchies()); n != 9 {
		t.Errorf("%d v1 hierarchies, want 9", n)
	}
}

func TestParseMountinfoPureV2(t *testing.T) {
	l := mustParse(t, pureV2Mountinfo)
	if got := l.mode(); got != modeUnified {
		t.Fatalf("mode = %v, want unified", got)
	}
	if len(l.v1) != 0 || l.v2 == nil || l.v2.mountpoint != "/sys/fs/cgroup" {
		t.Errorf("v1 = %v, v2 = %+v", v1Mounts(l), l.v2)
	}
}

func TestParseMountinfoPureV1(t *testing.T) {
	l := mustParse(t, pureV1Mountinfo)
	if got := l.mode(); got != modeLegacy {
		t.Fatalf("mode = %v, want legacy", got)
	}
	if l.v2 != nil {
		t.Errorf("v2 = %+v, want none", l.v2)
	}
	got := v1Mounts(l)
	for c, mp := range map[string]string{
		"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
		"net_cls": "/sys/fs/cgroup/net_cls,net_prio", "net_prio": "/sys/fs/cgroup/net_cls,net_prio",
		"cpuset": "/sys/fs/cgroup/cpuset", "hugetlb": "/sys/fs/cgroup/hugetlb",
		"name=systemd": "/sys/fs/cgroup/systemd", "perf_event": "/sys/fs/cgroup/perf_event",
	} {
		if got[c] != mp {
			t.Errorf("%s mounted at %q, want %q", c, got[c], mp)
		}
	}
	// Options that are not controllers must not become subsystems.
	for _, bogus := range []string{"rw", "xattr", "clone_children", "release_agent=/lib/systemd/systemd-cgroups-agent"} {
		if _, ok := l.v1[bogus]; ok {
			t.Errorf("option %q taken for a controller", bogus)
		}
	}
	if l.v1["cpu"] != l.v1["cpuacct"] {
		t.Error("co-mounted cpu,cpuacct should share one hierarchy")
	}
	if n := len(l.v1Hierarchies()); n != 11 {
		t.Errorf("%d v1 hierarchies, want 11", n)
	}
}

func TestParseMountinfoEdgeCases(t *testing.T) {
	// A named hierarchy beside cgroup2 holds no controller: still unified.
	l := mustParse(t, pureV2Mountinfo+"50 35 0:40 / /run/sysd rw - cgroup cgroup rw,name=systemd\n")
	if l.mode() != modeUnified {
		t.Errorf("name=systemd + cgroup2: mode %v, want unified", l.mode())
	}
	// Octal escapes in mount points; a bind mount of a sub-tree seen
	// first loses to a later mount of the root.
	l = mustParse(t, `1 0 0:1 /docker/abc /mnt/in\040ctr rw - cgroup cgroup rw,memory
2 0 0:1 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
3 0 0:2 /sub /a rw - cgroup2 cgroup2 rw
4 0 0:2 / /b rw - cgroup2 cgroup2 rw
`)
	if h := l.v1["memory"]; h.mountpoint != "/sys/fs/cgroup/memory" || h.root != "/" {
		t.Errorf("memory = %+v, want the root mount", h)
	}
	if l.v2.mountpoint != "/b" {
		t.Errorf("v2 = %+v, want /b", l.v2)
	}
	l = mustParse(t, `1 0 0:1 /docker/abc /mnt/in\040ctr rw shared:3 master:4 - cgroup cgroup rw,memory`)
	if h := l.v1["memory"]; h.mountpoint != "/mnt/in ctr" || h.root != "/docker/abc" {
		t.Errorf("escaped mount = %+v", h)
	}
	if l := mustParse(t, "1 0 0:1 / /proc rw - proc proc rw\n"); l.mode() != modeNone {
		t.Errorf("no cgroup mounts: mode %v", l.mode())
	}
	for _, bad := range []string{"1 0 0:1 / /x rw cgroup cgroup rw,memory", "1 0 0:1 / /x rw -"} {
		if _, err := parseMountinfo(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	got, err := parseProcCgroup(strings.NewReader(`9:name=systemd:/
4:memory:/process_api/7722
2:cpu,cpuacct:/user.slice
0::/user.slice/user-0.slice/session-1.scope
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"name=systemd": "/", "memory": "/process_api/7722", "cpu": "/user.slice", "cpuacct": "/user.slice",
		"": "/user.slice/user-0.slice/session-1.scope",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if _, err := parseProcCgroup(strings.NewReader("garbage\n")); err == nil {
		t.Error("malformed line: no error")
	}
}
