package testutil

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

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
func TestCgroupParent() string { return fmt.Sprintf("/berth-test-%d", os.Getpid()) }

// removeTestCgroups removes TestCgroupParent from every hierarchy, deepest
// directories first; containers the tests deleted left them empty.
func removeTestCgroups() {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + TestCgroupParent())
	if d := "/sys/fs/cgroup" + TestCgroupParent(); exists(d) {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		var all []string
		filepath.WalkDir(d, func(path string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				all = append(all, path)
			}
			return nil
		})
		for i := len(all) - 1; i >= 0; i-- {
			os.Remove(all[i])
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
