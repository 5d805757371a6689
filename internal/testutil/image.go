package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	layoutOnce sync.Once
	layoutDir  string
	layoutErr  string
)

// BusyboxLayout returns an OCI image layout (built once per test binary
// with umoci, which is a reference tool here, not part of berth) holding
// "busybox:latest": two layers, the busybox rootfs plus /etc/layer1,
// /etc/gone and /data/a, then a layer that deletes /etc/gone (a
// whiteout) and adds /etc/layer2; config cmd ["sh"], label
// berth.test=busybox. The test is skipped when umoci isn't installed
// outside CI.
func BusyboxLayout(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("umoci"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("umoci is not installed (hack/deps.sh installs it)")
		}
		t.Skip("umoci is not installed")
	}
	rootfs := BusyboxRootfs(t)
	layoutOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berth-test-layout-")
		if err != nil {
			layoutErr = err.Error()
			return
		}
		layoutDir = filepath.Join(dir, "oci")
		bundle := filepath.Join(dir, "bundle")
		img := layoutDir + ":busybox"
		steps := [][]string{
			{"umoci", "init", "--layout", layoutDir},
			{"umoci", "new", "--image", img},
			{"umoci", "unpack", "--image", img, bundle},
			{"sh", "-c", "cp -a " + rootfs + "/. " + bundle + "/rootfs/ && echo 1 > " + bundle + "/rootfs/etc/layer1 && echo x > " + bundle + "/rootfs/etc/gone && mkdir -p " + bundle + "/rootfs/data && echo a > " + bundle + "/rootfs/data/a"},
			{"umoci", "repack", "--refresh-bundle", "--image", img, bundle},
			{"sh", "-c", "rm " + bundle + "/rootfs/etc/gone && echo 2 > " + bundle + "/rootfs/etc/layer2"},
			{"umoci", "repack", "--image", img, bundle},
			{"umoci", "config", "--image", img, "--config.cmd", "sh", "--config.label", "berth.test=busybox", "--os", "linux", "--architecture", "amd64"},
			{"umoci", "gc", "--layout", layoutDir},
		}
		for _, s := range steps {
			if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
				layoutErr = strings.Join(s, " ") + ": " + err.Error() + ": " + string(out)
				return
			}
		}
		os.RemoveAll(bundle)
	})
	if layoutErr != "" {
		t.Fatal(layoutErr)
	}
	return layoutDir
}

// Skopeo runs skopeo (a reference client) with args and returns its
// output; the test fails when it fails.
func Skopeo(t testing.TB, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("skopeo"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("skopeo is not installed (hack/deps.sh installs it)")
		}
		t.Skip("skopeo is not installed")
	}
	out, err := exec.Command("skopeo", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
