package cgroups

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Checks shared by the real v1 and v2 tests.

// checkLifecycle runs a ticking helper in m's cgroup and checks that it
// lands in every hierarchy, is listed, freezes and thaws, shows up in the
// stats, and dies by Kill, after which Destroy leaves nothing.
func checkLifecycle(t *testing.T, m *manager, inner string) *Stats {
	t.Helper()
	h := startHelper(t, "tick")
	if err := m.Apply(h.pid()); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	cg := cgroupOf(t, h.pid())
	for key := range m.Paths() {
		if cg[key] != inner {
			t.Errorf("helper's %q cgroup is %q, want %q", key, cg[key], inner)
		}
	}
	pids, err := m.Pids()
	if err != nil || !slices.Contains(pids, h.pid()) {
		t.Errorf("Pids() = %v, %v; want %d in it", pids, err, h.pid())
	}
	if !h.ticking(200 * time.Millisecond) {
		t.Fatal("helper is not ticking")
	}

	if err := m.Freeze(true); err != nil {
		t.Fatal(err)
	}
	if fr, err := m.Frozen(); err != nil || !fr {
		t.Errorf("after Freeze(true): Frozen() = %v, %v", fr, err)
	}
	// What the kernel itself says, besides Frozen().
	if dir, ok := m.v1["freezer"]; ok {
		if got := mustRead(t, dir, "freezer.state"); got != "FROZEN" {
			t.Errorf("freezer.state = %q, want FROZEN", got)
		}
	} else if got := mustRead(t, m.v2, "cgroup.events"); !strings.Contains(got, "frozen 1") {
		t.Errorf("cgroup.events = %q, want frozen 1", got)
	}
	if h.ticking(300 * time.Millisecond) {
		t.Error("helper still ticks in a frozen cgroup")
	}
	if err := m.Freeze(false); err != nil {
		t.Fatal(err)
	}
	if fr, err := m.Frozen(); err != nil || fr {
		t.Errorf("after Freeze(false): Frozen() = %v, %v", fr, err)
	}
	if !h.ticking(300 * time.Millisecond) {
		t.Error("helper does not tick after thawing")
	}

	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU.UsageTotal == 0 {
		t.Errorf("Stats: no CPU usage for a spinning helper: %+v", st.CPU)
	}

	if err := Kill(m); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := h.wait(t); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("helper after Kill: %v, want killed by SIGKILL", err)
	}
	// A child cgroup, such as a container's own, goes first.
	for _, dir := range m.Paths() {
		if err := os.Mkdir(filepath.Join(dir, "child"), 0o755); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for key, dir := range m.Paths() {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%q: %s still there after Destroy (%v)", key, dir, err)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	return st
}

// deviceRules allows /dev/null fully, /dev/random read-only and mknod of
// /dev/zero only; everything else is denied.
var deviceRules = ociRules("!a", "c 1:3 rwm", "c 1:8 r", "c 1:5 m")

// checkDevices runs a helper in m's cgroup that opens and creates device
// nodes, and checks which of those the kernel let through.
func checkDevices(t *testing.T, m *manager, want map[string]string) {
	t.Helper()
	tmp := t.TempDir()
	var ops []string
	for op := range want {
		ops = append(ops, strings.ReplaceAll(op, "TMP", tmp))
	}
	sort.Strings(ops)
	h := startHelper(t, "devices", ops...)
	if err := m.Apply(h.pid()); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	got := map[string]string{}
	for _, line := range h.output(t) {
		op, res, _ := strings.Cut(line, " ")
		got[strings.ReplaceAll(op, tmp, "TMP")] = res
	}
	for op, w := range want {
		if got[op] != w {
			t.Errorf("%s: %q, want %q", op, got[op], w)
		}
	}
}

var deviceWant = map[string]string{
	"rw:/dev/null":          "ok",
	"r:/dev/zero":           "EPERM",
	"r:/dev/random":         "ok",
	"w:/dev/random":         "EPERM",
	"mknod-c-1-5:TMP/zero":  "ok",
	"mknod-c-1-9:TMP/urand": "EPERM",
	"mknod-b-7-0:TMP/loop0": "EPERM",
	"r:/dev/urandom":        "EPERM",
}

// checkOOM runs a helper that allocates past a small memory limit and
// expects the OOM killer to be counted in the stats.
func checkOOM(t *testing.T, m *manager, res *specs.LinuxResources) {
	t.Helper()
	if err := m.Set(res); err != nil {
		t.Fatal(err)
	}
	h := startHelper(t, "alloc", "512")
	if err := m.Apply(h.pid()); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	var ee *exec.ExitError
	if err := h.wait(t); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper allocating 512MiB under a 32MiB limit: %v, want OOM-killed", err)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.OOMKills == 0 {
		t.Errorf("Stats().Memory = %+v, want OOMKills > 0", st.Memory)
	}
}

func hugepageSizes(t *testing.T) []string {
	entries, _ := os.ReadDir("/sys/kernel/mm/hugepages")
	var out []string
	for _, e := range entries {
		kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(e.Name(), "hugepages-"), "kB"))
		if err != nil {
			continue
		}
		switch {
		case kb >= 1<<20:
			out = append(out, strconv.Itoa(kb>>20)+"GB")
		case kb >= 1<<10:
			out = append(out, strconv.Itoa(kb>>10)+"MB")
		default:
			out = append(out, strconv.Itoa(kb)+"KB")
		}
	}
	return out
}

func attachedPrograms(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ids, err := queryDevicePrograms(fd)
	if err != nil {
		t.Fatal(err)
	}
	return len(ids)
}

func controllersOf(t *testing.T, dir string) []string {
	return strings.Fields(mustRead(t, dir, "cgroup.controllers"))
}

func ptr[T any](v T) *T { return &v }
