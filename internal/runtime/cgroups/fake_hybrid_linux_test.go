package cgroups

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1Files are the files the v1 kernel shows in a new cgroup of each
// hierarchy of this host (blkio without a weight file, as here).
var v1Files = map[string]map[string]string{
	"cpu": {"cpu.shares": "1024", "cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000", "cpu.cfs_burst_us": "0",
		"cpu.rt_period_us": "1000000", "cpu.rt_runtime_us": "0", "cpu.idle": "0",
		"cpu.stat": "nr_periods 4\nnr_throttled 1\nthrottled_time 5000\n"},
	"cpuacct": {"cpuacct.usage": "9000", "cpuacct.usage_user": "6000", "cpuacct.usage_sys": "3000"},
	"cpuset":  {"cpuset.cpus": "", "cpuset.mems": ""},
	"memory": {"memory.limit_in_bytes": "9223372036854771712", "memory.memsw.limit_in_bytes": "9223372036854771712",
		"memory.soft_limit_in_bytes": "9223372036854771712", "memory.swappiness": "60", "memory.use_hierarchy": "1",
		"memory.oom_control": "oom_kill_disable 0\nunder_oom 1\noom_kill 2\n", "memory.usage_in_bytes": "5000",
		"memory.max_usage_in_bytes": "6000", "memory.failcnt": "3"},
	"devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm"},
	"freezer": {"freezer.state": "THAWED"},
	"blkio": {"blkio.throttle.read_bps_device": "", "blkio.throttle.write_bps_device": "",
		"blkio.throttle.read_iops_device": "", "blkio.throttle.write_iops_device": ""},
	"pids":    {"pids.max": "max", "pids.current": "2"},
	"systemd": {},
}

// fakeHybrid lays this host's hierarchies out under a temporary directory
// and returns the layout read from the host's mountinfo text, rewritten to
// point there. With unified false the cgroup2 line is left out (a pure v1
// host). inner is the cgroup to lay out (every level of it).
func fakeHybrid(t *testing.T, unified bool, inner string) (*layout, string) {
	t.Helper()
	root := t.TempDir()
	info := strings.ReplaceAll(hostHybridMountinfo, " /sys/fs/cgroup", " "+root)
	if !unified {
		info = strings.ReplaceAll(info, "41 31 0:38 / "+root+"/unified rw,relatime - cgroup2 cgroup2 rw\n", "")
	}
	l, err := parseMountinfo(strings.NewReader(info))
	if err != nil {
		t.Fatal(err)
	}
	core := map[string]string{"cgroup.procs": "", "tasks": ""}
	for mnt, files := range v1Files {
		rootFiles := map[string]string{"cgroup.procs": "1\n"}
		if mnt == "cpuset" {
			rootFiles["cpuset.cpus"], rootFiles["cpuset.mems"] = "0-1", "0"
		}
		writeFiles(t, filepath.Join(root, mnt), rootFiles)
		dir := filepath.Join(root, mnt)
		for _, elem := range strings.Split(strings.Trim(inner, "/"), "/") {
			dir = filepath.Join(dir, elem)
			writeFiles(t, dir, core)
			writeFiles(t, dir, files)
		}
	}
	if unified {
		rootFiles := v2Files()
		rootFiles["cgroup.controllers"] = "hugetlb"
		writeFiles(t, filepath.Join(root, "unified"), rootFiles)
		dir := filepath.Join(root, "unified")
		for _, elem := range strings.Split(strings.Trim(inner, "/"), "/") {
			dir = filepath.Join(dir, elem)
			writeFiles(t, dir, v2Files("hugetlb"))
		}
	}
	return l, root
}

func TestFakeHybridPathsApply(t *testing.T) {
	l, root := fakeHybrid(t, true, "/berth-test/c1")
	if l.mode() != modeHybrid {
		t.Fatalf("mode = %v", l.mode())
	}
	m, err := newManager(l, noOwn, "/berth-test/c1", "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"": filepath.Join(root, "unified", "berth-test", "c1"),
		"name=systemd": filepath.Join(root, "systemd", "berth-test", "c1")}
	for _, c := range []string{"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"} {
		want[c] = filepath.Join(root, c, "berth-test", "c1")
	}
	if got := m.Paths(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Paths() = %v\nwant %v", got, want)
	}
	if err := m.Apply(77); err != nil {
		t.Fatal(err)
	}
	for key, dir := range want {
		if got := content(t, dir, "cgroup.procs"); got != "77" {
			t.Errorf("%q: cgroup.procs = %q, want 77", key, got)
		}
	}
	// New cpusets start empty in v1; each level is filled from its parent.
	for _, dir := range []string{filepath.Join(root, "cpuset", "berth-test"), want["cpuset"]} {
		if c, mm := content(t, dir, "cpuset.cpus"), content(t, dir, "cpuset.mems"); c != "0-1" || mm != "0" {
			t.Errorf("%s: cpus %q mems %q, want copied 0-1 / 0", dir, c, mm)
		}
	}
	if got := content(t, filepath.Join(root, "unified"), "cgroup.subtree_control"); got != "+hugetlb" {
		t.Errorf("unified root subtree_control = %q", got)
	}
	pids, err := m.Pids()
	if err != nil || !reflect.DeepEqual(pids, []int{77}) {
		t.Errorf("Pids() = %v, %v", pids, err)
	}
	// The same directories and mounts (not the same state: it made none).
	loaded, err := loadManager(l, m.Paths())
	if err != nil || !reflect.DeepEqual(loaded.v1, m.v1) || loaded.v2 != m.v2 || !reflect.DeepEqual(loaded.mounts, m.mounts) {
		t.Errorf("Load(Paths()) = %+v, %v; want %+v", loaded, err, m)
	}
}

func TestFakeHybridSet(t *testing.T) {
	l, _ := fakeHybrid(t, true, "/c1")
	m, err := newManager(l, noOwn, "/c1", "")
	if err != nil {
		t.Fatal(err)
	}
	classID := uint32(0x100001)
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64p(64 << 20), Swap: i64p(128 << 20), Reservation: i64p(32 << 20),
			Swappiness: u64p(10), DisableOOMKiller: boolp(true), Kernel: i64p(1 << 20)},
		CPU: &specs.LinuxCPU{Shares: u64p(512), Quota: i64p(50000), Period: u64p(100000), Burst: u64p(10),
			RealtimePeriod: u64p(1000000), RealtimeRuntime: i64p(5000), Idle: i64p(1), Cpus: "1", Mems: "0"},
		Pids:    &specs.LinuxPids{Limit: i64p(32)},
		Devices: ociRules("!a", "c 1:5 rwm", "c 1:3 rwm"),
		BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1 << 20}}},
		// hugetlb has no v1 mount here: cgroup2 serves it.
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 2 << 20}},
		Unified:        map[string]string{"hugetlb.1GB.max": "0"},
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	// No net_cls/net_prio mounts on a host with v1 hierarchies: refused,
	// not silently ignored.
	net := &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: &classID}}
	if err := m.Set(net); err == nil || !strings.Contains(err.Error(), "net_cls") {
		t.Fatalf("network classID without net_cls: %v", err)
	}
	for _, tc := range []struct{ key, file, want string }{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"memory", "memory.memsw.limit_in_bytes", "134217728"},
		{"memory", "memory.soft_limit_in_bytes", "33554432"},
		{"memory", "memory.swappiness", "10"},
		{"memory", "memory.oom_control", "1"},
		{"cpu", "cpu.shares", "512"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpu", "cpu.cfs_burst_us", "10"},
		{"cpu", "cpu.rt_period_us", "1000000"},
		{"cpu", "cpu.rt_runtime_us", "5000"},
		{"cpu", "cpu.idle", "1"},
		{"cpuset", "cpuset.cpus", "1"},
		{"pids", "pids.max", "32"},
		{"devices", "devices.deny", "a"},
		{"devices", "devices.allow", "c 1:3 rwm"}, // the last rule
		{"blkio", "blkio.throttle.read_bps_device", "8:0 1048576"},
		{"", "hugetlb.2MB.max", "2097152"},
		{"", "hugetlb.1GB.max", "0"},
	} {
		if got := content(t, m.Paths()[tc.key], tc.file); got != tc.want {
			t.Errorf("%s/%s = %q, want %q", tc.key, tc.file, got, tc.want)
		}
	}
	for name, tc := range map[string]struct {
		r    *specs.LinuxResources
		want string
	}{
		// Raw v2 keys for controllers on v1 would mean nothing.
		"unified on v1 controller": {&specs.LinuxResources{Unified: map[string]string{"memory.max": "1"}}, "mounted as cgroup v1"},
		// No blkio.weight nor blkio.bfq.weight on this kernel.
		"blkio weight": {&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16p(500)}}, "blkio.weight"},
		"swappiness":   {&specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64p(101)}}, "out of range"},
		"rdma":         {&specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx": {HcaHandles: &classID}}}, "rdma controller"},
	} {
		if err := m.Set(tc.r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", name, err, tc.want)
		}
	}

	// A real memory.oom_control reads back as a report, not what was
	// written.
	writeFiles(t, m.Paths()["memory"], v1Files["memory"])
	writeFiles(t, m.Paths()["memory"], map[string]string{"memory.limit_in_bytes": "67108864"})
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := &Stats{}
	want.CPU.UsageTotal, want.CPU.UsageUser, want.CPU.UsageKernel = 9000, 6000, 3000
	want.CPU.Periods, want.CPU.ThrottledPeriods, want.CPU.ThrottledTime = 4, 1, 5000
	want.Memory.Usage, want.Memory.Limit, want.Memory.MaxUsage, want.Memory.Failcnt = 5000, 67108864, 6000, 3
	want.Memory.OOMKills, want.Memory.UnderOOM = 2, true
	want.Pids.Current, want.Pids.Limit = 2, 32
	if !reflect.DeepEqual(st, want) {
		t.Errorf("Stats() = %+v\nwant %+v", *st, *want)
	}
}

func TestFakeLegacy(t *testing.T) {
	l, root := fakeHybrid(t, false, "/c1")
	if l.mode() != modeLegacy {
		t.Fatalf("mode = %v", l.mode())
	}
	m, err := newManager(l, noOwn, "/c1", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Paths()[""]; ok {
		t.Error("pure v1 host: Paths() has a cgroup2 entry")
	}
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*specs.LinuxResources{
		"unified": {Unified: map[string]string{"pids.max": "1"}},
		"hugetlb": {HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}}},
	} {
		if err := m.Set(r); err == nil {
			t.Errorf("%s on a v1 host without the controller: no error", name)
		}
	}
	// Unlimited memory lifts memory+swap too.
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(-1)}}); err != nil {
		t.Fatal(err)
	}
	if got := content(t, filepath.Join(root, "memory", "c1"), "memory.memsw.limit_in_bytes"); got != "-1" {
		t.Errorf("memsw = %q, want -1", got)
	}
}

func TestFakeRelativePath(t *testing.T) {
	l, root := fakeHybrid(t, true, "/process_api/x/berth/c1")
	own := func() (map[string]string, error) {
		m := map[string]string{"": "/", "name=systemd": "/"}
		for _, c := range []string{"cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "pids"} {
			m[c] = "/"
		}
		m["memory"] = "/process_api/x" // as this host's sandbox has it
		return m, nil
	}
	m, err := newManager(l, own, "process_api/x/berth/c1", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Paths()["memory"], filepath.Join(root, "memory", "process_api", "x", "process_api", "x", "berth", "c1"); got != want {
		t.Errorf("memory path = %q, want %q", got, want)
	}
	if got, want := m.Paths()["pids"], filepath.Join(root, "pids", "process_api", "x", "berth", "c1"); got != want {
		t.Errorf("pids path = %q, want %q", got, want)
	}
	missing := func() (map[string]string, error) { return map[string]string{"": "/"}, nil }
	if _, err := newManager(l, missing, "rel", ""); err == nil {
		t.Error("relative path with no own cgroup for the v1 hierarchies: no error")
	}
}
