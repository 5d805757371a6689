package cgroups

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The v1 tests run on the host's real v1 hierarchies through New, so on a
// hybrid host (like berth's development machine) they also exercise the
// routing to the cgroup2 mount.

func newRealV1(t *testing.T) (*manager, *layout, string) {
	t.Helper()
	requireRoot(t)
	l := hostLayout(t)
	for _, c := range []string{"memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer"} {
		if l.v1[c] == nil {
			t.Skipf("no cgroup v1 %s hierarchy on this host (layout %v)", c, l.mode())
		}
	}
	name := testCgroupName(t)
	mgr, err := New(name, "")
	if err != nil {
		t.Fatal(err)
	}
	cleanupCgroup(t, mgr, name)
	return mgr.(*manager), l, name
}

func TestRealV1Lifecycle(t *testing.T) {
	m, l, name := newRealV1(t)
	for key, dir := range m.Paths() {
		if key == "" {
			if want := filepath.Join(l.v2.mountpoint, name); dir != want {
				t.Errorf("cgroup2 path %q, want %q", dir, want)
			}
		} else if want := filepath.Join(l.v1[key].mountpoint, name); dir != want {
			t.Errorf("%s path %q, want %q", key, dir, want)
		}
	}
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	mem := m.v1["memory"]
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(256 << 20)), Reservation: ptr(int64(128 << 20)),
			Swappiness: ptr(uint64(10)), DisableOOMKiller: ptr(false)},
		CPU: &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)),
			Cpus: "0", Mems: "0"},
		Pids:    &specs.LinuxPids{Limit: ptr(int64(64))},
		Devices: deviceRules,
	}
	if exists(mem, "memory.memsw.limit_in_bytes") {
		res.Memory.Swap = ptr(int64(384 << 20))
	}
	blkio, hasWeight := m.v1["blkio"]
	hasWeight = hasWeight && (exists(blkio, "blkio.weight") || exists(blkio, "blkio.bfq.weight"))
	if hasWeight {
		res.BlockIO = &specs.LinuxBlockIO{Weight: ptr(uint16(300))}
	}
	// On a hybrid host hugetlb may only exist on the cgroup2 side.
	hugeV2 := ""
	if l.v1["hugetlb"] == nil && m.v2 != "" && slices.Contains(controllersOf(t, m.v2), "hugetlb") {
		if sizes := hugepageSizes(t); len(sizes) > 0 {
			hugeV2 = sizes[0]
			res.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: hugeV2, Limit: 0}}
		}
	}
	if err := m.Set(res); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ key, file, want string }{
		{"memory", "memory.limit_in_bytes", "268435456"},
		{"memory", "memory.soft_limit_in_bytes", "134217728"},
		{"memory", "memory.swappiness", "10"},
		{"cpu", "cpu.shares", "512"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpuset", "cpuset.cpus", "0"},
		{"cpuset", "cpuset.mems", "0"},
		{"pids", "pids.max", "64"},
	} {
		if got := mustRead(t, m.v1[tc.key], tc.file); got != tc.want {
			t.Errorf("%s/%s = %q, want %q", tc.key, tc.file, got, tc.want)
		}
	}
	if res.Memory.Swap != nil {
		if got := mustRead(t, mem, "memory.memsw.limit_in_bytes"); got != "402653184" {
			t.Errorf("memory.memsw.limit_in_bytes = %q", got)
		}
	}
	if hasWeight {
		w := "blkio.weight"
		if !exists(blkio, w) {
			w = "blkio.bfq.weight"
		}
		if got := mustRead(t, blkio, w); !strings.Contains(got, "300") {
			t.Errorf("%s = %q, want 300", w, got)
		}
	} else {
		t.Log("no blkio weight file on this kernel: weight not checked")
	}
	if hugeV2 != "" {
		if got := mustRead(t, m.v2, "hugetlb."+hugeV2+".max"); got != "0" {
			t.Errorf("hugetlb.%s.max on cgroup2 = %q, want 0", hugeV2, got)
		}
	}
	list := strings.Split(mustRead(t, m.v1["devices"], "devices.list"), "\n")
	sort.Strings(list)
	if want := []string{"c 1:3 rwm", "c 1:5 m", "c 1:8 r"}; !slices.Equal(list, want) {
		t.Errorf("devices.list = %q, want %q", list, want)
	}

	st := checkLifecycle(t, m, name)
	if st.Memory.Usage == 0 || st.Memory.Limit != 256<<20 {
		t.Errorf("Stats().Memory = %+v, want usage and the 256MiB limit", st.Memory)
	}
	if st.Pids.Current == 0 || st.Pids.Limit != 64 {
		t.Errorf("Stats().Pids = %+v, want tasks and the limit 64", st.Pids)
	}
}

func TestRealV1Devices(t *testing.T) {
	m, _, _ := newRealV1(t)
	// A new v1 cgroup allows every device; a list without a leading
	// deny-all must still start from "deny everything", as on cgroup2.
	if err := m.Set(&specs.LinuxResources{Devices: ociRules("c 1:3 rwm")}); err != nil {
		t.Fatal(err)
	}
	checkDevices(t, m, map[string]string{"rw:/dev/null": "ok", "r:/dev/zero": "EPERM"})
	if err := m.Set(&specs.LinuxResources{Devices: deviceRules}); err != nil {
		t.Fatal(err)
	}
	checkDevices(t, m, deviceWant)
}

// TestRealV1Kill checks Kill on a host without cgroup2, where it must
// freeze, signal every process and thaw.
func TestRealV1Kill(t *testing.T) {
	requireRoot(t)
	host := hostLayout(t)
	if host.v1["freezer"] == nil {
		t.Skip("no cgroup v1 freezer on this host")
	}
	l := &layout{v1: host.v1} // as if cgroup2 were not mounted
	name := testCgroupName(t)
	m, err := newManager(l, noOwn, name, "")
	if err != nil {
		t.Fatal(err)
	}
	cleanupCgroup(t, m, name)
	if _, ok := m.Paths()[""]; ok {
		t.Fatal("cgroup2 path on a v1-only layout")
	}
	var hs []*helper
	for range 3 {
		h := startHelper(t, "tick")
		if err := m.Apply(h.pid()); err != nil {
			t.Fatal(err)
		}
		h.start(t)
		hs = append(hs, h)
	}
	if err := Kill(m); err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if err := h.wait(t); err == nil {
			t.Errorf("helper %d exited cleanly after Kill", h.pid())
		}
	}
	if fr, err := m.Frozen(); err != nil || fr {
		t.Errorf("after Kill: Frozen() = %v, %v; want thawed", fr, err)
	}
	if err := m.Destroy(); err != nil {
		t.Error(err)
	}
}

func TestRealV1OOM(t *testing.T) {
	m, _, _ := newRealV1(t)
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(32 << 20))}}
	if exists(filepath.Dir(m.v1["memory"]), "memory.memsw.limit_in_bytes") {
		res.Memory.Swap = res.Memory.Limit // no swapping out of the OOM
	}
	checkOOM(t, m, res)
}

func TestRealV1Update(t *testing.T) {
	m, _, _ := newRealV1(t)
	mem := m.v1["memory"]
	set := func(r *specs.LinuxResources) {
		t.Helper()
		if err := m.Set(r); err != nil {
			t.Fatal(err)
		}
	}
	hasSwap := exists(filepath.Dir(mem), "memory.memsw.limit_in_bytes")
	if !hasSwap {
		t.Skip("no swap accounting: memory+swap ordering cannot be checked")
	}
	// Growing memory past the current memory+swap limit only works if
	// memsw is raised first; shrinking needs the opposite order.
	set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(64 << 20))}})
	set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(512 << 20)), Swap: ptr(int64(1 << 30))}})
	set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(32 << 20)), Swap: ptr(int64(48 << 20))}})
	if l, s := mustRead(t, mem, "memory.limit_in_bytes"), mustRead(t, mem, "memory.memsw.limit_in_bytes"); l != "33554432" || s != "50331648" {
		t.Errorf("limit %s memsw %s, want 32MiB / 48MiB", l, s)
	}
	set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(-1))}})
	if s := mustRead(t, mem, "memory.memsw.limit_in_bytes"); s == "50331648" {
		t.Error("unlimited memory left the memory+swap limit in place")
	}
	// A period alone leaves the quota; shares out of range are refused.
	set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(20000)), Period: ptr(uint64(100000))}})
	set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Period: ptr(uint64(50000))}})
	if q, p := mustRead(t, m.v1["cpu"], "cpu.cfs_quota_us"), mustRead(t, m.v1["cpu"], "cpu.cfs_period_us"); q != "20000" || p != "50000" {
		t.Errorf("quota %s period %s, want 20000 / 50000", q, p)
	}
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr(uint64(1 << 20))}}); err == nil {
		t.Error("shares 1<<20: no error")
	}
}

// TestRealNested uses a two-level path on the host's real layout: the new
// intermediate level must get its cpuset filled in (v1) and its
// controllers delegated (cgroup2) for a process to join the leaf, and
// destroying the parent must remove the leaf first.
func TestRealNested(t *testing.T) {
	requireRoot(t)
	name := testCgroupName(t)
	parent, err := New(name, "")
	if err != nil {
		t.Fatal(err)
	}
	cleanupCgroup(t, parent, name)
	child, err := New(name+"/inner", "")
	if err != nil {
		t.Fatal(err)
	}
	h := startHelper(t, "tick")
	if err := child.Apply(h.pid()); err != nil {
		t.Fatal(err)
	}
	for key, dir := range child.Paths() {
		if key == "cpuset" {
			if got := mustRead(t, filepath.Dir(dir), "cpuset.cpus"); got == "" {
				t.Error("intermediate cpuset has no cpus")
			}
		}
		if cg := cgroupOf(t, h.pid()); cg[key] != name+"/inner" {
			t.Errorf("%q: helper in %q", key, cg[key])
		}
	}
	if pids, err := parent.Pids(); err != nil || !slices.Contains(pids, h.pid()) {
		t.Errorf("parent Pids() = %v, %v; want the child's %d", pids, err, h.pid())
	}
	if err := parent.Destroy(); err == nil {
		t.Error("Destroy with a live process inside: no error")
	}
	h.kill()
	if err := parent.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range child.Paths() {
		if _, err := os.Stat(filepath.Dir(dir)); !os.IsNotExist(err) {
			t.Errorf("%s survived the parent's Destroy", filepath.Dir(dir))
		}
	}
}
