package testutil

import (
	"encoding/json"
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
