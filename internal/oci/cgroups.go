package oci

import (
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setCgroups places the container at CgroupParent/ID (cgroupfs style),
// /berth/ID by default, and for --privileged allows every device
// (daemon/oci_linux.go withCgroups, WithDevices). Docker appends its
// allow-all rule after the default ones; the one rule alone means the
// same. The host's device nodes for --privileged are the caller's to add
// to Linux.Devices.
func setCgroups(s *specs.Spec, o *Options) {
	s.Linux.CgroupsPath = CgroupsPath(o.CgroupParent, o.ContainerID)
	if o.Privileged {
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}
}

// CgroupsPath is the cgroupsPath of container id with cgroup parent
// parent (DefaultCgroupParent when empty).
func CgroupsPath(parent, id string) string {
	if parent == "" {
		parent = DefaultCgroupParent
	}
	return path.Join(parent, id)
}
