package cdi

import (
	"fmt"
	"os"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Inject applies the container edits of devices (qualified names, as Find
// returns) to s: each spec's common edits once, then each device's.
func (r *Registry) Inject(s *specs.Spec, devices ...string) error {
	seen := map[*Spec]bool{}
	for _, d := range devices {
		e := r.devices[d]
		if e == nil {
			return fmt.Errorf("CDI device %q is not registered", d)
		}
		if !seen[e.spec] {
			seen[e.spec] = true
			if err := e.spec.ContainerEdits.apply(s); err != nil {
				return fmt.Errorf("CDI spec of %s: %w", d, err)
			}
		}
		if err := e.dev.ContainerEdits.apply(s); err != nil {
			return fmt.Errorf("CDI device %s: %w", d, err)
		}
	}
	return nil
}

// apply makes the edits in s, as the CDI library's ContainerEdits.Apply.
func (ce *ContainerEdits) apply(s *specs.Spec) error {
	if s.Process == nil {
		s.Process = &specs.Process{}
	}
	s.Process.Env = append(s.Process.Env, ce.Env...)
	s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, ce.AdditionalGIDs...)
	for _, n := range ce.DeviceNodes {
		dev, err := n.resolve()
		if err != nil {
			return err
		}
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		s.Linux.Devices = slices.DeleteFunc(s.Linux.Devices, func(d specs.LinuxDevice) bool { return d.Path == dev.Path })
		s.Linux.Devices = append(s.Linux.Devices, dev)
		if dev.Type == "p" {
			continue // a fifo is not a device of the cgroup
		}
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		access := n.Permissions
		if access == "" {
			access = "rwm"
		}
		major, minor := dev.Major, dev.Minor
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{
			Allow: true, Type: dev.Type, Major: &major, Minor: &minor, Access: access,
		})
	}
	for _, m := range ce.Mounts {
		typ, opts := m.Type, slices.Clone(m.Options)
		if typ == "" {
			typ = "bind"
		}
		if typ == "bind" && !slices.Contains(opts, "bind") && !slices.Contains(opts, "rbind") {
			opts = append(opts, "rbind")
		}
		s.Mounts = slices.DeleteFunc(s.Mounts, func(o specs.Mount) bool { return o.Destination == m.ContainerPath })
		s.Mounts = append(s.Mounts, specs.Mount{Destination: m.ContainerPath, Source: m.HostPath, Type: typ, Options: opts})
	}
	for _, h := range ce.Hooks {
		if s.Hooks == nil {
			s.Hooks = &specs.Hooks{}
		}
		oh := specs.Hook{Path: h.Path, Args: h.Args, Env: h.Env, Timeout: h.Timeout}
		switch h.HookName {
		case "prestart":
			s.Hooks.Prestart = append(s.Hooks.Prestart, oh) //nolint:staticcheck // CDI still names it
		case "createRuntime":
			s.Hooks.CreateRuntime = append(s.Hooks.CreateRuntime, oh)
		case "createContainer":
			s.Hooks.CreateContainer = append(s.Hooks.CreateContainer, oh)
		case "startContainer":
			s.Hooks.StartContainer = append(s.Hooks.StartContainer, oh)
		case "poststart":
			s.Hooks.Poststart = append(s.Hooks.Poststart, oh)
		case "poststop":
			s.Hooks.Poststop = append(s.Hooks.Poststop, oh)
		default:
			return fmt.Errorf("invalid hook name %q", h.HookName)
		}
	}
	return nil
}

// resolve fills what the node leaves unset from the host's node.
func (n *DeviceNode) resolve() (specs.LinuxDevice, error) {
	d := specs.LinuxDevice{Path: n.Path, Type: n.Type, Major: n.Major, Minor: n.Minor, FileMode: n.FileMode, UID: n.UID, GID: n.GID}
	if n.Path == "" || n.Path[0] != '/' {
		return d, fmt.Errorf("device node path %q is not absolute", n.Path)
	}
	host := n.HostPath
	if host == "" {
		host = n.Path
	}
	if d.Type == "p" || (d.Type != "" && d.Major != 0) {
		return d, nil // complete (the CDI library's fillMissingInfo)
	}
	var st unix.Stat_t
	if err := unix.Stat(host, &st); err != nil {
		return d, fmt.Errorf("device node %s: %w", host, &os.SyscallError{Syscall: "stat", Err: err})
	}
	typ := ""
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	case unix.S_IFIFO:
		typ = "p"
	default:
		return d, fmt.Errorf("%s is not a device node", host)
	}
	if d.Type != "" && d.Type != typ {
		return d, fmt.Errorf("device node %s: type %q, but the host's is %q", n.Path, d.Type, typ)
	}
	d.Type = typ
	d.Major, d.Minor = int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
	if d.FileMode == nil {
		m := os.FileMode(st.Mode & 0o777)
		d.FileMode = &m
	}
	return d, nil
}
