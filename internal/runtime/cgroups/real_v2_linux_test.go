package cgroups

import (
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The v2 tests use the host's real cgroup2 mount alone, as a pure v2
// manager: /sys/fs/cgroup/unified on a hybrid host (where it offers
// hugetlb at most, but has all of the core: procs, freeze, kill, events,
// device programs), /sys/fs/cgroup on a pure v2 one (where the controller
// checks below run too).

func newRealV2(t *testing.T) (*manager, string) {
	t.Helper()
	requireRoot(t)
	host := hostLayout(t)
	if host.v2 == nil {
		t.Skip("no cgroup2 mount on this host")
	}
	l := &layout{v1: map[string]*hierarchy{}, v2: host.v2}
	name := testCgroupName(t)
	m, err := newManager(l, noOwn, name, "")
	if err != nil {
		t.Fatal(err)
	}
	cleanupCgroup(t, m, name)
	if want := filepath.Join(host.v2.mountpoint, name); m.v2 != want || len(m.Paths()) != 1 {
		t.Fatalf("Paths() = %v, want only %q", m.Paths(), want)
	}
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	return m, name
}

func TestRealV2Lifecycle(t *testing.T) {
	m, name := newRealV2(t)
	ctl := controllersOf(t, m.v2)
	t.Logf("controllers in %s: %v", m.v2, ctl)
	type check struct{ file, want string }
	var checks []check
	res := &specs.LinuxResources{}
	if slices.Contains(ctl, "hugetlb") {
		for _, sz := range hugepageSizes(t) {
			res.HugepageLimits = append(res.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: sz, Limit: 0})
			checks = append(checks, check{"hugetlb." + sz + ".max", "0"})
			if exists(m.v2, "hugetlb."+sz+".rsvd.max") {
				checks = append(checks, check{"hugetlb." + sz + ".rsvd.max", "0"})
			}
		}
	}
	if slices.Contains(ctl, "memory") {
		res.Memory = &specs.LinuxMemory{Limit: ptr(int64(256 << 20)), Reservation: ptr(int64(64 << 20))}
		checks = append(checks, check{"memory.max", "268435456"}, check{"memory.low", "67108864"})
	}
	if slices.Contains(ctl, "pids") {
		res.Pids = &specs.LinuxPids{Limit: ptr(int64(64))}
		checks = append(checks, check{"pids.max", "64"})
	}
	if slices.Contains(ctl, "cpu") {
		res.CPU = &specs.LinuxCPU{Shares: ptr(uint64(1024)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000))}
		checks = append(checks, check{"cpu.weight", "39"}, check{"cpu.max", "50000 100000"})
	}
	if len(checks) == 0 {
		t.Log("no controller to set limits with in this cgroup2 tree")
	}
	if err := m.Set(res); err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		if got := mustRead(t, m.v2, c.file); got != c.want {
			t.Errorf("%s = %q, want %q", c.file, got, c.want)
		}
	}
	if !slices.Contains(ctl, "memory") {
		// A limit the tree cannot hold must fail, not vanish.
		if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(1 << 30))}}); err == nil {
			t.Error("memory limit without a memory controller: no error")
		}
	}
	checkLifecycle(t, m, name)
}

func TestRealV2Devices(t *testing.T) {
	m, _ := newRealV2(t)
	if err := m.Set(&specs.LinuxResources{Devices: deviceRules}); err != nil {
		t.Fatal(err)
	}
	if n := attachedPrograms(t, m.v2); n != 1 {
		t.Fatalf("%d device programs attached, want 1", n)
	}
	checkDevices(t, m, deviceWant)

	// An update swaps the program, never leaving two (or none).
	if err := m.Set(&specs.LinuxResources{Devices: ociRules("!a", "c 1:3 rwm", "c 1:5 r")}); err != nil {
		t.Fatal(err)
	}
	if n := attachedPrograms(t, m.v2); n != 1 {
		t.Errorf("after update: %d device programs attached, want 1", n)
	}
	checkDevices(t, m, map[string]string{
		"rw:/dev/null":  "ok",
		"r:/dev/zero":   "ok",
		"w:/dev/zero":   "EPERM",
		"r:/dev/random": "EPERM",
	})

	// With no "a" rule the list starts from "deny everything".
	if err := m.Set(&specs.LinuxResources{Devices: ociRules("c 1:3 rwm")}); err != nil {
		t.Fatal(err)
	}
	checkDevices(t, m, map[string]string{"rw:/dev/null": "ok", "r:/dev/zero": "EPERM"})

	// A deny-list: everything but /dev/zero writes and block mknod.
	if err := m.Set(&specs.LinuxResources{Devices: ociRules("a", "!c 1:5 w", "!b *:* m")}); err != nil {
		t.Fatal(err)
	}
	checkDevices(t, m, map[string]string{
		"r:/dev/zero":           "ok",
		"rw:/dev/zero":          "EPERM",
		"r:/dev/random":         "ok",
		"mknod-b-7-0:TMP/loop0": "EPERM",
		"mknod-c-1-9:TMP/urand": "ok",
	})
}
