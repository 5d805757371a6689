package testutil

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/runtime/spectemplate"
)

// Bundle is an OCI bundle in a test's temporary directory: a private copy of
// the busybox rootfs and a config.json the test may edit before Save.
type Bundle struct {
	Dir  string
	Spec *specs.Spec
}

// NewBundle makes a bundle running args (no terminal, rootfs writable) from
// the default spec. The bundle is removed when the test ends.
func NewBundle(t testing.TB, args ...string) *Bundle {
	t.Helper()
	dir := t.TempDir()
	// A container root in a user namespace is an unprivileged host user:
	// it must be able to reach the rootfs.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rootfs := filepath.Join(dir, "rootfs")
	if out, err := exec.Command("cp", "-a", BusyboxRootfs(t), rootfs).CombinedOutput(); err != nil {
		t.Fatalf("copy rootfs: %v: %s", err, out)
	}
	s := spectemplate.New()
	s.Root.Readonly = false
	s.Process.Terminal = false
	if len(args) > 0 {
		s.Process.Args = args
	}
	// Containers of this test binary share one parent cgroup, which
	// CleanupShared removes.
	s.Linux.CgroupsPath = TestCgroupParent() + "/" + filepath.Base(filepath.Dir(dir)) + "-" + filepath.Base(dir)
	b := &Bundle{Dir: dir, Spec: s}
	b.Save(t)
	return b
}

// Save writes b.Spec to the bundle's config.json.
func (b *Bundle) Save(t testing.TB) {
	t.Helper()
	data, err := json.MarshalIndent(b.Spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCgroupParent is the cgroup (relative to each hierarchy's root) under
// which this test binary's containers are placed.
func TestCgroupParent() string { return fmt.Sprintf("/%s%d", cgroupPrefix, os.Getpid()) }

// cgroupPrefix names the test binaries' cgroup parents: prefix and pid.
const cgroupPrefix = "berth-testbin-"

// removeTestCgroups removes TestCgroupParent from every hierarchy, and
// the parents of earlier test binaries that died without cleaning up
// (their pid is gone), killing any process left inside first. A test that
// fails halfway must not leave cgroups for the next run.
func removeTestCgroups() {
	parents, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupPrefix + "*")
	v2, _ := filepath.Glob("/sys/fs/cgroup/" + cgroupPrefix + "*")
	for _, d := range append(parents, v2...) {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), cgroupPrefix))
		if err != nil || (pid != os.Getpid() && exists(fmt.Sprintf("/proc/%d", pid))) {
			continue // not ours, or another test binary still running
		}
		removeCgroupTree(d)
	}
}

// removeCgroupTree kills what runs in the cgroup tree at dir and removes
// it, deepest first.
func removeCgroupTree(dir string) {
	var all []string
	filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			all = append(all, path)
		}
		return nil
	})
	for i := len(all) - 1; i >= 0; i-- {
		data, _ := os.ReadFile(filepath.Join(all[i], "cgroup.procs"))
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		for try := 0; try < 100 && os.Remove(all[i]) != nil && exists(all[i]); try++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
