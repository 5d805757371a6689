package oci

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// allowed reports whether the profile has a rule allowing name (with or
// without argument conditions).
func allowed(sc *specs.LinuxSeccomp, name string) bool {
	for _, r := range sc.Syscalls {
		if r.Action == specs.ActAllow && slices.Contains(r.Names, name) {
			return true
		}
	}
	return false
}

func specWith(t *testing.T, o Options) *specs.Spec {
	t.Helper()
	o.ContainerID, o.Cmd = testID, []string{"true"}
	s, err := Spec(nil, t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSeccompDefaultFollowsCapabilities: Docker's default profile allows
// the syscalls a granted capability needs (mount and setns with
// CAP_SYS_ADMIN), and not without it.
func TestSeccompDefaultFollowsCapabilities(t *testing.T) {
	pinHost(t)
	def := specWith(t, Options{}).Linux.Seccomp
	if def == nil || def.DefaultAction != specs.ActErrno || !allowed(def, "read") || !allowed(def, "clone") {
		t.Fatalf("default profile: %+v", def)
	}
	if allowed(def, "mount") {
		t.Fatal("default profile allows mount without CAP_SYS_ADMIN")
	}
	admin := specWith(t, Options{CapAdd: []string{"SYS_ADMIN"}}).Linux.Seccomp
	if !allowed(admin, "mount") || !allowed(admin, "setns") {
		t.Fatal("CAP_SYS_ADMIN does not allow mount and setns")
	}
	// Explicitly asking for the default profile works with --privileged.
	if sc := specWith(t, Options{Privileged: true, SecurityOpt: []string{"seccomp=builtin"}}).Linux.Seccomp; sc == nil || !allowed(sc, "mount") {
		t.Fatalf("privileged seccomp=builtin: %+v", sc)
	}
	if sc := specWith(t, Options{Privileged: true}).Linux.Seccomp; sc != nil {
		t.Fatal("privileged container has a seccomp profile")
	}
}

// TestSeccompCustomProfile: a profile given as JSON is loaded with
// moby's loader: its rules, and the architectures of its archMap entry for
// this machine.
func TestSeccompCustomProfile(t *testing.T) {
	pinHost(t)
	profile := `{"defaultAction":"SCMP_ACT_ALLOW","defaultErrnoRet":38,
		"syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"},
		{"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}`
	sc := specWith(t, Options{SecurityOpt: []string{"seccomp=" + profile}}).Linux.Seccomp
	if sc.DefaultAction != specs.ActAllow || *sc.DefaultErrnoRet != 38 || len(sc.Syscalls) != 1 ||
		sc.Syscalls[0].Action != specs.ActErrno || !slices.Equal(sc.Syscalls[0].Names, []string{"mkdir", "mkdirat"}) {
		t.Fatalf("custom profile: %+v", sc)
	}
	// The same profile with --privileged is applied too (Docker does).
	if sc := specWith(t, Options{Privileged: true, SecurityOpt: []string{"seccomp:" + profile}}).Linux.Seccomp; sc == nil || len(sc.Syscalls) != 2 {
		t.Fatalf("privileged custom profile: %+v", sc)
	}
}
