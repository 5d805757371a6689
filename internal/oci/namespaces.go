package oci

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setNamespaces keeps the default mount, UTS, PID and IPC namespaces, sets
// the network one from NetNS, and adds a private cgroup namespace
// (daemon/oci_linux.go WithNamespaces). Docker's default cgroupns mode is
// private on cgroup v2 and host on v1; berth uses private on both, so a
// container sees only its own cgroup either way.
func setNamespaces(s *specs.Spec, o *Options) {
	ns := s.Linux.Namespaces
	switch o.NetNS {
	case "":
	case NetNSHost:
		ns = slices.DeleteFunc(ns, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace })
	default:
		for i := range ns {
			if ns[i].Type == specs.NetworkNamespace {
				ns[i].Path = o.NetNS
			}
		}
	}
	s.Linux.Namespaces = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
}
