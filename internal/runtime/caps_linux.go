package runtime

import (
	"fmt"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// capNumbers maps "CAP_CHOWN" style names to capability numbers, for every
// capability known to exist; those past the kernel's last one map to -1.
func capNumbers() (map[string]int, int, error) {
	last, err := capability.LastCap()
	if err != nil {
		return nil, 0, fmt.Errorf("read cap_last_cap: %w", err)
	}
	m := make(map[string]int)
	for _, c := range capability.ListKnown() {
		n := int(c)
		if c > last {
			n = -1
		}
		m["CAP_"+strings.ToUpper(c.String())] = n
	}
	return m, int(last), nil
}

// checkCaps rejects capability names that don't exist at all, as the OCI
// spec requires ("any value which cannot be mapped … MUST cause an error").
func checkCaps(caps *specs.LinuxCapabilities) error {
	if caps == nil {
		return nil
	}
	known, _, err := capNumbers()
	if err != nil {
		return err
	}
	for _, set := range [][]string{caps.Bounding, caps.Effective, caps.Permitted, caps.Inheritable, caps.Ambient} {
		for _, name := range set {
			if _, ok := known[strings.ToUpper(name)]; !ok {
				return fmt.Errorf("unknown capability %q", name)
			}
		}
	}
	return nil
}

// capSet is a capability set as the kernel's two 32-bit words.
type capSet [2]uint32

func (s *capSet) add(n int) { s[n/32] |= 1 << (uint(n) % 32) }

func (s capSet) has(n int) bool { return s[n/32]&(1<<(uint(n)%32)) != 0 }

func toCapSet(names []string, known map[string]int) capSet {
	var s capSet
	for _, name := range names {
		// A capability newer than this kernel is skipped, as runc does,
		// rather than failing the container (checkCaps refused unknown names).
		if n, ok := known[strings.ToUpper(name)]; ok && n >= 0 {
			s.add(n)
		}
	}
	return s
}

// applyCapsBounding drops from the calling thread's bounding set every
// capability the config doesn't list. It must run before the user switch
// (it needs CAP_SETPCAP).
func applyCapsBounding(caps *specs.LinuxCapabilities) error {
	known, last, err := capNumbers()
	if err != nil {
		return err
	}
	bounding := toCapSet(caps.Bounding, known)
	for n := 0; n <= last; n++ {
		if bounding.has(n) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(n), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("prctl(PR_CAPBSET_DROP, %d): %w", n, err)
		}
	}
	return nil
}

// applyCaps sets the calling thread's effective, permitted, inheritable and
// ambient sets. Capabilities are per thread: the caller runs on the locked
// thread that will execve.
func applyCaps(caps *specs.LinuxCapabilities) error {
	known, _, err := capNumbers()
	if err != nil {
		return err
	}
	eff, perm, inh := toCapSet(caps.Effective, known), toCapSet(caps.Permitted, known), toCapSet(caps.Inheritable, known)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{}
	for i := 0; i < 2; i++ {
		data[i] = unix.CapUserData{Effective: eff[i], Permitted: perm[i], Inheritable: inh[i]}
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("prctl(PR_CAP_AMBIENT_CLEAR_ALL): %w", err)
	}
	for _, name := range caps.Ambient {
		n, ok := known[strings.ToUpper(name)]
		if !ok || n < 0 {
			continue
		}
		// Raising an ambient capability that is not permitted and
		// inheritable fails; runc ignores those, so do we.
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(n), 0, 0); err != nil && err != unix.EPERM {
			return fmt.Errorf("prctl(PR_CAP_AMBIENT_RAISE, %s): %w", name, err)
		}
	}
	return nil
}
