package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Fake cgroup trees: plain directories holding the files the kernel would
// show, with the kernel's initial contents. The kernel creates a cgroup's
// files on mkdir and a plain directory cannot, so each test lays out the
// cgroups it expects the manager to use; a manager that writes elsewhere
// or to a file the kernel would not have fails with ENOENT, as it would on
// a real host.

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func content(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// v2Files returns the files of a non-root cgroup2 directory with the given
// controllers enabled by its parent.
func v2Files(controllers ...string) map[string]string {
	f := map[string]string{
		"cgroup.procs": "", "cgroup.controllers": strings.Join(controllers, " "),
		"cgroup.subtree_control": "", "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.freeze": "0",
		"cgroup.kill": "", "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
	}
	for _, c := range controllers {
		switch c {
		case "memory":
			f["memory.max"], f["memory.swap.max"], f["memory.low"], f["memory.high"] = "max", "max", "0", "max"
			f["memory.current"], f["memory.peak"] = "4096", "8192"
			f["memory.events"] = "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\noom_group_kill 0\n"
		case "cpu":
			f["cpu.weight"], f["cpu.max"], f["cpu.max.burst"], f["cpu.idle"] = "100", "max 100000", "0", "0"
			f["cpu.stat"] += "nr_periods 10\nnr_throttled 3\nthrottled_usec 250\n"
		case "io":
			f["io.weight"], f["io.max"] = "default 100", ""
		case "pids":
			f["pids.max"], f["pids.current"] = "max", "3"
		case "cpuset":
			f["cpuset.cpus"], f["cpuset.mems"] = "", ""
		case "hugetlb":
			for _, sz := range []string{"2MB", "1GB"} {
				f["hugetlb."+sz+".max"], f["hugetlb."+sz+".rsvd.max"] = "max", "max"
			}
		case "rdma":
			f["rdma.max"] = ""
		}
	}
	return f
}

// fakeV2 lays out a cgroup2 root offering all, a /berth parent with some
// controllers already delegated, and an empty leaf /berth/c1 with all
// controllers, and returns the layout and the root.
func fakeV2(t *testing.T) (*layout, string) {
	t.Helper()
	root := t.TempDir()
	all := []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma"}
	rootFiles := v2Files()
	rootFiles["cgroup.controllers"] = strings.Join(all, " ")
	delete(rootFiles, "cgroup.kill") // the root has neither
	delete(rootFiles, "cgroup.freeze")
	writeFiles(t, root, rootFiles)
	berth := v2Files(all...)
	berth["cgroup.subtree_control"] = "cpu memory"
	writeFiles(t, filepath.Join(root, "berth"), berth)
	writeFiles(t, filepath.Join(root, "berth", "c1"), v2Files(all...))
	l, err := parseMountinfo(strings.NewReader("35 24 0:30 / " + root + " rw shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"))
	if err != nil {
		t.Fatal(err)
	}
	return l, root
}

func noOwn() (map[string]string, error) {
	return nil, errors.New("own cgroups read for an absolute path")
}

func u64p(v uint64) *uint64 { return &v }
func u16p(v uint16) *uint16 { return &v }
func boolp(v bool) *bool    { return &v }

func TestFakeV2CreateEnablesControllers(t *testing.T) {
	l, root := fakeV2(t)
	m, err := newManager(l, noOwn, "", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"": filepath.Join(root, "berth", "c1")}; !reflect.DeepEqual(m.Paths(), want) {
		t.Fatalf("Paths() = %v, want %v", m.Paths(), want)
	}
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	// Every controller each level offers, minus those already on, in one
	// write; nothing in the leaf, which would forbid processes there.
	if got := content(t, root, "cgroup.subtree_control"); got != "+cpuset +cpu +io +memory +hugetlb +pids +rdma" {
		t.Errorf("root subtree_control = %q", got)
	}
	if got := content(t, filepath.Join(root, "berth"), "cgroup.subtree_control"); got != "+cpuset +io +hugetlb +pids +rdma" {
		t.Errorf("/berth subtree_control = %q", got)
	}
	if got := content(t, filepath.Join(root, "berth", "c1"), "cgroup.subtree_control"); got != "" {
		t.Errorf("leaf subtree_control = %q, want untouched", got)
	}
	if err := m.Apply(4242); err != nil {
		t.Fatal(err)
	}
	if got := content(t, m.v2, "cgroup.procs"); got != "4242" {
		t.Errorf("cgroup.procs = %q", got)
	}
}

func TestFakeV2SetConversions(t *testing.T) {
	l, _ := fakeV2(t)
	m, err := newManager(l, noOwn, "/berth/c1", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := m.v2
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{
			Limit: i64p(256 << 20), Swap: i64p(384 << 20), Reservation: i64p(128 << 20),
			Swappiness: u64p(60), DisableOOMKiller: boolp(true), Kernel: i64p(1 << 20), KernelTCP: i64p(1 << 20),
		},
		CPU: &specs.LinuxCPU{
			Shares: u64p(512), Quota: i64p(50000), Period: u64p(200000), Burst: u64p(1000),
			Idle: i64p(0), Cpus: "0-1", Mems: "0",
		},
		Pids:           &specs.LinuxPids{Limit: i64p(100)},
		BlockIO:        &specs.LinuxBlockIO{Weight: u16p(500), LeafWeight: u16p(300)},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Rdma:           map[string]specs.LinuxRdma{"mlx5_0": {HcaHandles: func() *uint32 { v := uint32(3); return &v }()}},
		Network:        &specs.LinuxNetwork{ClassID: func() *uint32 { v := uint32(7); return &v }()},
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory.max":           "268435456",
		"memory.swap.max":      "134217728", // OCI swap counts memory too
		"memory.low":           "134217728",
		"cpu.weight":           "20", // 1 + (512-2)*9999/262142
		"cpu.max":              "50000 200000",
		"cpu.max.burst":        "1000",
		"cpu.idle":             "0",
		"cpuset.cpus":          "0-1",
		"cpuset.mems":          "0",
		"pids.max":             "100",
		"io.weight":            "4950", // 1 + (500-10)*9999/990
		"hugetlb.2MB.max":      "4194304",
		"hugetlb.2MB.rsvd.max": "4194304",
		"hugetlb.1GB.max":      "max",
		"rdma.max":             "mlx5_0 hca_handle=3",
	} {
		if got := content(t, dir, file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}

	// Updates touch only what is given: a new period keeps the quota,
	// unlimited memory lifts swap too, pids 0 means no limit.
	if err := m.Set(&specs.LinuxResources{
		CPU:    &specs.LinuxCPU{Period: u64p(100000)},
		Memory: &specs.LinuxMemory{Limit: i64p(-1)},
		Pids:   &specs.LinuxPids{Limit: i64p(0)},
	}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"cpu.max": "50000 100000", "memory.max": "max", "memory.swap.max": "max", "pids.max": "max",
		"memory.low": "134217728", "cpu.weight": "20",
	} {
		if got := content(t, dir, file); got != want {
			t.Errorf("after update: %s = %q, want %q", file, got, want)
		}
	}
	// checkBeforeUpdate refuses a limit below usage (4096 in the fake).
	err = m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(4000), CheckBeforeUpdate: boolp(true)}})
	if err == nil || !strings.Contains(err.Error(), "below current usage") {
		t.Errorf("checkBeforeUpdate: err = %v", err)
	}
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(8192), CheckBeforeUpdate: boolp(true)}}); err != nil {
		t.Error(err)
	}
	// Swap alone is taken relative to the memory limit in force.
	writeFiles(t, dir, map[string]string{"memory.max": "100"})
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64p(150)}}); err != nil {
		t.Fatal(err)
	}
	if got := content(t, dir, "memory.swap.max"); got != "50" {
		t.Errorf("swap-only update: memory.swap.max = %q, want 50", got)
	}
	// memory == swap: no swap at all.
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(100), Swap: i64p(100)}}); err != nil {
		t.Fatal(err)
	}
	if got := content(t, dir, "memory.swap.max"); got != "0" {
		t.Errorf("memory == swap: memory.swap.max = %q, want 0", got)
	}
	// Quota -1 lifts the limit; throttling per device goes to io.max.
	if err := m.Set(&specs.LinuxResources{
		CPU: &specs.LinuxCPU{Quota: i64p(-1)},
		BlockIO: &specs.LinuxBlockIO{ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 300},
		}},
	}); err != nil {
		t.Fatal(err)
	}
	if got := content(t, dir, "cpu.max"); got != "max" {
		t.Errorf("quota -1: cpu.max = %q, want max", got)
	}
	if got := content(t, dir, "io.max"); got != "8:16 wiops=300" {
		t.Errorf("io.max = %q", got)
	}
	if err := m.Set(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
		{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 0},
	}}}); err != nil {
		t.Fatal(err)
	}
	if got := content(t, dir, "io.max"); got != "8:0 rbps=max" {
		t.Errorf("rate 0: io.max = %q, want the limit lifted", got)
	}
	// With BFQ, weights are written unconverted to io.bfq.weight.
	writeFiles(t, dir, map[string]string{"io.bfq.weight": "default 100"})
	if err := m.Set(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16p(500), WeightDevice: []specs.LinuxWeightDevice{
		{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: u16p(200)},
	}}}); err != nil {
		t.Fatal(err)
	}
	if got := content(t, dir, "io.bfq.weight"); got != "8:0 200" {
		t.Errorf("io.bfq.weight = %q, want the per-device weight last", got)
	}
	if got := content(t, dir, "io.weight"); got != "4950" {
		t.Errorf("io.weight = %q, want untouched once BFQ is there", got)
	}
	// Unified keys are written raw, after (so over) the converted values.
	if err := m.Set(&specs.LinuxResources{
		Pids:    &specs.LinuxPids{Limit: i64p(5)},
		Unified: map[string]string{"pids.max": "7", "memory.high": "1000000"},
	}); err != nil {
		t.Fatal(err)
	}
	if got := content(t, dir, "pids.max"); got != "7" {
		t.Errorf("unified pids.max = %q, want 7", got)
	}
	if got := content(t, dir, "memory.high"); got != "1000000" {
		t.Errorf("unified memory.high = %q", got)
	}
}

func TestFakeV2Errors(t *testing.T) {
	l, root := fakeV2(t)
	// A leaf whose parent delegated only pids: other limits must fail
	// loudly, naming the controller.
	writeFiles(t, filepath.Join(root, "berth", "small"), v2Files("pids"))
	m, err := newManager(l, noOwn, "/berth/small", "")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		r    *specs.LinuxResources
		want string
	}{
		"memory":   {&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(1 << 20)}}, "memory controller is not available"},
		"cpu":      {&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64p(100)}}, "cpu controller is not available"},
		"realtime": {&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64p(1000)}}, "realtime"},
		"shares":   {&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64p(1)}}, "out of range"},
		"io":       {&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16p(5)}}, "out of range"},
		"swap":     {&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(200), Swap: i64p(100)}}, "below memory limit"},
		"hugetlb":  {&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2M", Limit: 1}}}, "hugepage size"},
		"unified":  {&specs.LinuxResources{Unified: map[string]string{"../pids.max": "1"}}, "CONTROLLER.PARAMETER"},
		"unified2": {&specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}, "memory controller is not available"},
		"devices":  {&specs.LinuxResources{Devices: ociRules("!a", "c *:* rwm", "!c 1:3 rwm")}, "hole"},
		"check": {&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64p(1)}, Memory: &specs.LinuxMemory{
			Limit: i64p(1), CheckBeforeUpdate: boolp(true)}}, "memory controller is not available"},
	} {
		err := m.Set(tc.r)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", name, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(m.v2, "memory.max")); !os.IsNotExist(err) {
		t.Error("a write created memory.max: writes must never create files")
	}
	// A hugetlb page size the kernel does not offer, controller present.
	m2, _ := newManager(l, noOwn, "/berth/c1", "")
	if err := m2.Set(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "16GB", Limit: 1}}}); err == nil ||
		!strings.Contains(err.Error(), "16GB is not supported") {
		t.Errorf("unknown page size: err = %v", err)
	}
}

func TestFakeV2PidsStatsLoad(t *testing.T) {
	l, _ := fakeV2(t)
	m, err := newManager(l, noOwn, "/berth/c1", "")
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, m.v2, map[string]string{"cgroup.procs": "12\n34\n"})
	writeFiles(t, filepath.Join(m.v2, "sub"), map[string]string{"cgroup.procs": "56\n"})
	pids, err := m.Pids()
	if err != nil {
		t.Fatal(err)
	}
	sort.Ints(pids)
	if !reflect.DeepEqual(pids, []int{12, 34, 56}) {
		t.Errorf("Pids() = %v, want [12 34 56] (descendants included)", pids)
	}
	writeFiles(t, m.v2, map[string]string{"pids.max": "64"})
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := &Stats{}
	want.CPU.UsageTotal, want.CPU.UsageUser, want.CPU.UsageKernel = 1500000, 1000000, 500000
	want.CPU.Periods, want.CPU.ThrottledPeriods, want.CPU.ThrottledTime = 10, 3, 250000
	want.Memory.Usage, want.Memory.Limit, want.Memory.MaxUsage = 4096, ^uint64(0), 8192
	want.Memory.Failcnt, want.Memory.OOMKills = 7, 1
	want.Pids.Current, want.Pids.Limit = 3, 64
	if !reflect.DeepEqual(st, want) {
		t.Errorf("Stats() = %+v\nwant %+v", *st, *want)
	}
	if fr, err := m.Frozen(); err != nil || fr {
		t.Errorf("Frozen() = %v, %v", fr, err)
	}

	loaded, err := loadManager(l, m.Paths())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded, m) {
		t.Errorf("Load(Paths()) = %+v, want %+v", loaded, m)
	}
	for _, bad := range []map[string]string{nil, {"": "relative/dir"}, {"memory": "/a/../b"}} {
		if _, err := loadManager(l, bad); err == nil {
			t.Errorf("loadManager(%v): no error", bad)
		}
	}
}
