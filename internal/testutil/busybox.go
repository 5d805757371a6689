package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// BusyboxPath is where Debian's busybox-static installs its static binary.
const BusyboxPath = "/bin/busybox"

var (
	busyboxOnce sync.Once
	busyboxDir  string
	busyboxErr  error
)

// BusyboxRootfs returns a directory holding a minimal root filesystem: the
// static busybox, a link for each of its applets in /bin, and an /etc with
// passwd, group and hosts. It is built once per test binary run and shared,
// so callers must treat it as read-only; NewBundle gives each test its own copy.
func BusyboxRootfs(t testing.TB) string {
	t.Helper()
	busyboxOnce.Do(func() { busyboxDir, busyboxErr = buildBusyboxRootfs() })
	if busyboxErr != nil {
		t.Fatalf("busybox rootfs: %v (install Debian's busybox-static)", busyboxErr)
	}
	return busyboxDir
}

// BuildBusyboxRootfs makes a fresh busybox rootfs in dir (which must not
// exist yet). Benchmarks and scripts use it through `berth-testrootfs`.
func BuildBusyboxRootfs(dir string) error {
	for _, d := range []string{"bin", "sbin", "etc", "dev", "proc", "sys", "tmp", "root", "home", "var", "usr/bin", "usr/sbin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := copyFile(BusyboxPath, filepath.Join(dir, "bin/busybox"), 0o755); err != nil {
		return err
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group": "root:x:0:\ndaemon:x:1:\nwheel:x:10:root\naudio:x:29:nobody\nnogroup:x:65534:\n",
		"etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func buildBusyboxRootfs() (string, error) {
	base, err := os.MkdirTemp("", "berth-busybox-")
	if err != nil {
		return "", err
	}
	dir := filepath.Join(base, "rootfs")
	if err := BuildBusyboxRootfs(dir); err != nil {
		os.RemoveAll(base)
		return "", err
	}
	return dir, nil
}

// CleanupShared removes the shared fixtures; call it from TestMain after m.Run.
func CleanupShared() {
	if busyboxDir != "" {
		os.RemoveAll(filepath.Dir(busyboxDir))
	}
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}
