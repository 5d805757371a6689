package engine

import (
	"context"
	"fmt"

	containertypes "github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/oci"
)

// checkSecurity completes the security and namespace settings at create,
// as Docker's daemon does: container:NAME becomes container:<full ID> (so
// a rename keeps the link), the container to join must exist and run
// (Docker checks that at start; berth writes the spec at create, so
// creating such a container checks it then too, and every start again),
// and the user-namespace remapping berth runs with (--userns-remap) is
// resolved unless --userns host.
func (e *Engine) checkSecurity(ctx context.Context, cfg *container.Config) error {
	if m := containertypes.IpcMode(cfg.IpcMode); m.IsContainer() {
		donor, err := e.namespaceDonor(ctx, m.Container(), "IPC")
		if err != nil {
			return err
		}
		cfg.IpcMode = "container:" + donor.ID
	}
	if m := containertypes.PidMode(cfg.PidMode); m.IsContainer() {
		donor, err := e.namespaceDonor(ctx, m.Container(), "PID")
		if err != nil {
			return err
		}
		cfg.PidMode = "container:" + donor.ID
	}
	if cfg.UsernsMode == "" && e.cfg.UsernsRemap != "" {
		remap, err := resolveRemap(e.cfg.UsernsRemap)
		if err != nil {
			return err
		}
		cfg.UsernsRemap = remap
		if remap != nil {
			if err := checkRemapAccess(e.containerDir(""), remap); err != nil {
				return err
			}
		}
	}
	return nil
}

// namespaceDonor is the running container whose IPC or PID namespace
// ("IPC", "PID") another joins, with Docker's errors (getIPCContainer,
// getPIDContainer): it must exist, run and not be restarting, and an IPC
// donor must be shareable (--ipc shareable, or host).
func (e *Engine) namespaceDonor(ctx context.Context, ref, kind string) (*container.Container, error) {
	fail := func(err error) error { return fmt.Errorf("failed to join %s namespace: %w", kind, err) }
	c, err := e.Container(ctx, ref)
	if err != nil {
		return nil, fail(err)
	}
	switch {
	case c.Status == container.Restarting:
		return nil, fail(fmt.Errorf("Container %s is restarting, wait until the container is running", ref))
	case c.Status != container.Running || c.Pid == 0:
		return nil, fail(fmt.Errorf("container %s is not running", ref))
	}
	if kind == "IPC" {
		if m := containertypes.IpcMode(c.Config.IpcMode); !m.IsShareable() && !m.IsHost() {
			return nil, fail(fmt.Errorf("container %s: non-shareable IPC (hint: use IpcMode:shareable for the donor container)", ref))
		}
	}
	return c, nil
}

// securityOptions puts the container's security and namespace settings
// into o. The namespaces of other containers are joined by path, from
// their current pid.
func (e *Engine) securityOptions(ctx context.Context, cfg container.Config, o *oci.Options) error {
	o.Privileged, o.CapAdd, o.CapDrop = cfg.Privileged, cfg.CapAdd, cfg.CapDrop
	o.SecurityOpt, o.Sysctls, o.DeviceCgroupRules = cfg.SecurityOpt, cfg.Sysctls, cfg.DeviceCgroupRules
	for _, d := range cfg.Devices {
		o.Devices = append(o.Devices, oci.DeviceMapping(d))
	}
	ipc := containertypes.IpcMode(cfg.IpcMode)
	switch {
	case ipc.IsHost():
		o.IpcNS = oci.NetNSHost
	case ipc.IsNone():
		o.NoShm = true
	case ipc.IsContainer():
		path, err := e.namespacePath(ctx, ipc.Container(), "IPC")
		if err != nil {
			return err
		}
		o.IpcNS = path
	}
	pid := containertypes.PidMode(cfg.PidMode)
	switch {
	case pid.IsHost():
		o.PidNS = oci.NetNSHost
	case pid.IsContainer():
		path, err := e.namespacePath(ctx, pid.Container(), "PID")
		if err != nil {
			return err
		}
		o.PidNS = path
	}
	o.UTSHost = containertypes.UTSMode(cfg.UTSMode).IsHost()
	if r := cfg.UsernsRemap; r != nil {
		o.UIDMappings, o.GIDMappings = specMappings(r.UIDMaps), specMappings(r.GIDMaps)
	}
	return nil
}

// namespacePath is /proc/<pid>/ns/ipc or …/pid of the running donor.
func (e *Engine) namespacePath(ctx context.Context, ref, kind string) (string, error) {
	donor, err := e.namespaceDonor(ctx, ref, kind)
	if err != nil {
		return "", err
	}
	name := map[string]string{"IPC": "ipc", "PID": "pid"}[kind]
	return fmt.Sprintf("/proc/%d/ns/%s", donor.Pid, name), nil
}

func specMappings(rs []container.IDRange) []specs.LinuxIDMapping {
	out := make([]specs.LinuxIDMapping, len(rs))
	for i, r := range rs {
		out[i] = specs.LinuxIDMapping{ContainerID: r.ContainerID, HostID: r.HostID, Size: r.Size}
	}
	return out
}

// joinNamespaces points a container's joined IPC and PID namespaces at
// the donors' current processes before a start, as Docker builds the spec
// at each start: a donor that restarted since has another pid. A donor
// that no longer runs fails the start with Docker's error.
func (e *Engine) joinNamespaces(ctx context.Context, c *container.Container) error {
	ipc, pid := containertypes.IpcMode(c.Config.IpcMode), containertypes.PidMode(c.Config.PidMode)
	if !ipc.IsContainer() && !pid.IsContainer() {
		return nil
	}
	paths := map[specs.LinuxNamespaceType]string{}
	if ipc.IsContainer() {
		p, err := e.namespacePath(ctx, ipc.Container(), "IPC")
		if err != nil {
			return err
		}
		paths[specs.IPCNamespace] = p
	}
	if pid.IsContainer() {
		p, err := e.namespacePath(ctx, pid.Container(), "PID")
		if err != nil {
			return err
		}
		paths[specs.PIDNamespace] = p
	}
	return e.editSpec(c.ID, func(s *specs.Spec) error {
		for i, ns := range s.Linux.Namespaces {
			if p, ok := paths[ns.Type]; ok {
				s.Linux.Namespaces[i].Path = p
			}
		}
		return nil
	})
}

// setSecurityConfig shows the security and namespace flags in inspect's
// HostConfig under Docker's names: IpcMode "private" by default, Devices
// [] for none, the rest null or "" when unset.
func setSecurityConfig(hc *containertypes.HostConfig, cfg container.Config) {
	hc.Privileged, hc.CapAdd, hc.CapDrop, hc.SecurityOpt = cfg.Privileged, cfg.CapAdd, cfg.CapDrop, cfg.SecurityOpt
	hc.Devices = []containertypes.DeviceMapping{}
	for _, d := range cfg.Devices {
		hc.Devices = append(hc.Devices, containertypes.DeviceMapping(d))
	}
	hc.DeviceCgroupRules, hc.Sysctls = cfg.DeviceCgroupRules, cfg.Sysctls
	hc.IpcMode = containertypes.IpcMode(cfg.IpcMode)
	if hc.IpcMode == "" {
		hc.IpcMode = containertypes.IPCModePrivate
	}
	hc.PidMode, hc.UTSMode = containertypes.PidMode(cfg.PidMode), containertypes.UTSMode(cfg.UTSMode)
	hc.UsernsMode = containertypes.UsernsMode(cfg.UsernsMode)
}
