// Package testutil holds the fixtures every berth test shares: the root check,
// a busybox root filesystem built once per test binary, and OCI bundles around it.
// It must never be imported by non-test code.
package testutil

import (
	"os"
	"testing"
)

// RequireRoot skips t unless the test runs as root. why says which kernel
// feature needs it; CI runs as root, so these tests always run there.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root: %s", why)
	}
}
