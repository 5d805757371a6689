// Package archtest guards the seams ARCHITECTURE.md names: the runtime
// imports nothing of berth outside itself, and the docker-style CLI never
// imports the runtime directly (only its own command line, runtimecli).
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/berth-dev/berth/"

func goList(t *testing.T, format string, pkgs ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-f", format}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	return strings.Fields(string(out))
}

func TestRuntimeImportsOnlyItself(t *testing.T) {
	for _, dep := range goList(t, `{{join .Deps " "}}`, module+"internal/runtime/...") {
		if strings.HasPrefix(dep, module) && !strings.HasPrefix(dep, module+"internal/runtime") {
			t.Errorf("internal/runtime depends on %s", dep)
		}
	}
}

func TestCLIDoesNotImportRuntime(t *testing.T) {
	for _, imp := range goList(t, `{{join .Imports " "}}`, module+"internal/cli") {
		if strings.HasPrefix(imp, module+"internal/runtime/") || imp == module+"internal/runtime" || strings.HasPrefix(imp, module+"internal/network") {
			t.Errorf("internal/cli imports %s; go through the engine (or runtimecli for `berth runtime`)", imp)
		}
	}
}

// TestStorageLayers: the leaves of image storage import nothing else of
// berth; the image package knows nothing of containers, runtimes or
// networks; the registry client knows nothing of images or snapshots.
func TestStorageLayers(t *testing.T) {
	allowed := map[string][]string{
		"internal/archive":   {},
		"internal/content":   {},
		"internal/store":     {},
		"internal/reference": {},
		"internal/snapshot":  {"internal/archive", "internal/store"},
		"internal/registry":  {"internal/content", "internal/reference"},
		"internal/image":     {"internal/archive", "internal/content", "internal/reference", "internal/snapshot", "internal/store"},
		// Container records know nothing of the CLI, images or the runtime.
		"internal/container": {"internal/store"},
		// The builder runs RUN through a Runner the engine gives it.
		"internal/build": {"internal/archive", "internal/cdi", "internal/content", "internal/image", "internal/oci", "internal/reference", "internal/snapshot", "internal/store"},
		// CDI specs are read and applied to a runtime spec, nothing more.
		"internal/cdi": {},
		// The local volume driver knows nothing of containers, the CLI or
		// the runtime: whether a volume is in use is the caller's answer.
		"internal/volume": {"internal/archive", "internal/store"},
	}
	for pkg, ok := range allowed {
		for _, dep := range goList(t, `{{join .Deps " "}}`, module+pkg) {
			if !strings.HasPrefix(dep, module) {
				continue
			}
			rel := strings.TrimPrefix(dep, module)
			fine := false
			for _, a := range ok {
				fine = fine || rel == a
			}
			if !fine {
				t.Errorf("%s depends on %s", pkg, rel)
			}
		}
	}
}
