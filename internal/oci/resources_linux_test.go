package oci

import (
	"os"
	"strings"
	"testing"
)

// TestHostCgroupSupport: what is read from this host agrees with its
// cgroup files, whichever version serves each controller.
func TestHostCgroupSupport(t *testing.T) {
	si := hostCgroupSupport()
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	v2, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	v2has := func(c string) bool { return strings.Contains(" "+string(v2)+" ", " "+c+" ") }
	if want := exists("/sys/fs/cgroup/memory/memory.limit_in_bytes") || v2has("memory"); si.MemoryLimit != want {
		t.Errorf("MemoryLimit %v, want %v", si.MemoryLimit, want)
	}
	if want := exists("/sys/fs/cgroup/pids/tasks") || v2has("pids"); si.PidsLimit != want {
		t.Errorf("PidsLimit %v, want %v", si.PidsLimit, want)
	}
	if si.Cpuset {
		if _, err := parseCpuset(si.Cpus); err != nil || si.Cpus == "" {
			t.Errorf("the host's cpuset %q: %v", si.Cpus, err)
		}
	}
	if si.NumCPU < 1 {
		t.Errorf("NumCPU %d", si.NumCPU)
	}
	if _, _, err := blockDevice("/dev/null"); err != nil {
		t.Errorf("stat /dev/null: %v", err)
	}
	if _, _, err := blockDevice("/dev/nosuch"); err == nil || !strings.HasPrefix(err.Error(), "stat /dev/nosuch: ") {
		t.Errorf("stat /dev/nosuch: %v", err)
	}
}
