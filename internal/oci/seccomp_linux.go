package oci

import (
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setSeccomp applies Docker's default profile, none (seccomp=unconfined,
// or --privileged without a profile), or the profile given as JSON
// (daemon/seccomp_linux.go WithSeccomp). The profile's capability- and
// kernel-dependent rules are resolved here, so it runs after
// setCapabilities.
func setSeccomp(s *specs.Spec, o *Options, sec securityOpts) error {
	var err error
	switch sec.seccomp {
	case seccompUnconfined:
	case "":
		if !o.Privileged {
			s.Linux.Seccomp, err = seccomp.GetDefaultProfile(s)
		}
	case seccompBuiltin:
		// Docker fails here with --privileged (it parses "builtin" as
		// JSON); asking for the default profile gets it.
		s.Linux.Seccomp, err = seccomp.GetDefaultProfile(s)
	default:
		if s.Linux.Seccomp, err = seccomp.LoadProfile(sec.seccomp, s); err != nil {
			return invalid{err}
		}
	}
	return err
}
