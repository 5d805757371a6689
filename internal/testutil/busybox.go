package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	busyboxOnce sync.Once
	busyboxDir  string
	busyboxErr  error
)

// RepoRoot is the repository's top directory, found from this file's path.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// BusyboxRootfs returns a directory holding a minimal root filesystem made
// by hack/busybox-rootfs.sh from Debian's busybox-static. It is built once
// per test binary run and shared, so callers must treat it as read-only;
// NewBundle gives each test its own copy. CleanupShared removes it.
func BusyboxRootfs(t testing.TB) string {
	t.Helper()
	busyboxOnce.Do(func() {
		base, err := os.MkdirTemp("", "berth-busybox-")
		if err != nil {
			busyboxErr = err
			return
		}
		busyboxDir = filepath.Join(base, "rootfs")
		out, err := exec.Command(filepath.Join(RepoRoot(), "hack", "busybox-rootfs.sh"), busyboxDir).CombinedOutput()
		if err != nil {
			busyboxErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	if busyboxErr != nil {
		t.Fatalf("busybox rootfs: %v", busyboxErr)
	}
	return busyboxDir
}

// CleanupShared removes the shared fixtures and the test cgroup parent;
// call it from TestMain after m.Run.
func CleanupShared() {
	removeTestCgroups()
	if busyboxDir != "" {
		os.RemoveAll(filepath.Dir(busyboxDir))
	}
	if layoutDir != "" {
		os.RemoveAll(filepath.Dir(layoutDir))
	}
}
