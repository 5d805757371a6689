package oci

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNoBerthPackage guards the package's seam: the engine calls
// it, and it depends on nothing of berth.
func TestImportsNoBerthPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/berth-dev/berth/") && dep != "github.com/berth-dev/berth/internal/oci" {
			t.Errorf("internal/oci depends on %s", dep)
		}
	}
}
