package oci

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setNamespaces keeps the default mount namespace, sets the network, IPC
// and PID ones from NetNS, IpcNS and PidNS, drops the UTS one for UTSHost,
// adds a user namespace with the remapping when there is one, and a
// private cgroup namespace (daemon/oci_linux.go WithNamespaces). Docker's
// default cgroupns mode is private on cgroup v2 and host on v1; berth uses
// private on both, so a container sees only its own cgroup either way.
func setNamespaces(s *specs.Spec, o *Options) error {
	if o.UTSHost && o.Hostname != "" {
		return invalidf("conflicting options: hostname and the UTS mode")
	}
	remapped := len(o.UIDMappings) > 0
	if remapped {
		switch {
		case o.Privileged:
			return invalidf("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode")
		case o.NetNS == NetNSHost:
			return invalidf("cannot share the host's network namespace when user namespaces are enabled")
		case o.PidNS == NetNSHost:
			return invalidf("cannot share the host PID namespace when user namespaces are enabled")
		}
	}
	ns := s.Linux.Namespaces
	for _, set := range []struct {
		typ  specs.LinuxNamespaceType
		mode string
	}{{specs.NetworkNamespace, o.NetNS}, {specs.IPCNamespace, o.IpcNS}, {specs.PIDNamespace, o.PidNS}} {
		switch set.mode {
		case "":
		case NetNSHost:
			ns = slices.DeleteFunc(ns, func(n specs.LinuxNamespace) bool { return n.Type == set.typ })
		default:
			for i := range ns {
				if ns[i].Type == set.typ {
					ns[i].Path = set.mode
				}
			}
		}
	}
	if o.UTSHost {
		ns = slices.DeleteFunc(ns, func(n specs.LinuxNamespace) bool { return n.Type == specs.UTSNamespace })
		s.Hostname = ""
	}
	if remapped {
		ns = append(ns, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = slices.Clone(o.UIDMappings)
		s.Linux.GIDMappings = slices.Clone(o.GIDMappings)
	}
	s.Linux.Namespaces = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	return nil
}
