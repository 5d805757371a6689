package oci

import (
	"os"
	"slices"
	"testing"
)

func TestHostFacts(t *testing.T) {
	known, held := hostCaps()
	if !slices.Contains(known, "CAP_CHOWN") || !slices.Contains(known, "CAP_SYS_ADMIN") {
		t.Fatalf("known capabilities: %q", known)
	}
	for _, c := range held {
		if !slices.Contains(known, c) {
			t.Errorf("held %s is not known", c)
		}
	}
	if os.Geteuid() == 0 && !inUserNS() && !slices.Contains(held, "CAP_SYS_ADMIN") {
		t.Errorf("root without CAP_SYS_ADMIN: %q", held)
	}
	if len(possibleCPUs()) == 0 {
		t.Error("no possible CPUs")
	}
	if !sysctlExists("kernel.hostname") || sysctlExists("kernel.no_such_sysctl") {
		t.Error("sysctlExists")
	}
}
