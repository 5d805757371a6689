package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildBerth builds the berth binary (static, as CI does) into dir and
// returns its path. Tests that drive the real command line call it once,
// from TestMain.
func BuildBerth(dir string) (string, error) {
	bin := filepath.Join(dir, "berth")
	build := exec.Command("go", "build", "-o", bin, "./cmd/berth")
	build.Dir = RepoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/berth: %v\n%s", err, out)
	}
	return bin, nil
}
