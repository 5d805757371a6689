package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	containertypes "github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/snapshot"
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
	j, err := e.donorPaths(ctx, cfg)
	if err != nil {
		return err
	}
	o.IpcNS, o.ShmSource, o.PidNS = j.ipcNS, j.shm, j.pidNS
	switch ipc := containertypes.IpcMode(cfg.IpcMode); {
	case ipc.IsHost():
		o.IpcNS = oci.NetNSHost
	case ipc.IsNone():
		o.NoShm = true
	case ipc.IsShareable():
		o.ShmSource = e.shmPath(o.ContainerID)
	}
	if containertypes.PidMode(cfg.PidMode).IsHost() {
		o.PidNS = oci.NetNSHost
	}
	o.UTSHost = containertypes.UTSMode(cfg.UTSMode).IsHost()
	if r := cfg.UsernsRemap; r != nil {
		o.UIDMappings, o.GIDMappings = specMappings(r.UIDMaps), specMappings(r.GIDMaps)
	}
	return nil
}

// joined is where a container joins other containers' namespaces, from
// the donors' current processes: their IPC namespace (and a shareable
// donor's /dev/shm), their PID namespace ("" for none).
type joined struct{ ipcNS, shm, pidNS string }

// donorPaths finds the running donors of cfg's --ipc and --pid
// container:, with Docker's errors when one doesn't run.
func (e *Engine) donorPaths(ctx context.Context, cfg container.Config) (joined, error) {
	var j joined
	if m := containertypes.IpcMode(cfg.IpcMode); m.IsContainer() {
		donor, err := e.namespaceDonor(ctx, m.Container(), "IPC")
		if err != nil {
			return j, err
		}
		j.ipcNS = fmt.Sprintf("/proc/%d/ns/ipc", donor.Pid)
		switch m := containertypes.IpcMode(donor.Config.IpcMode); {
		case m.IsShareable():
			j.shm = e.shmPath(donor.ID)
		case m.IsHost():
			j.shm = "/dev/shm"
		}
	}
	if m := containertypes.PidMode(cfg.PidMode); m.IsContainer() {
		donor, err := e.namespaceDonor(ctx, m.Container(), "PID")
		if err != nil {
			return j, err
		}
		j.pidNS = fmt.Sprintf("/proc/%d/ns/pid", donor.Pid)
	}
	return j, nil
}

func specMappings(rs []container.IDRange) []specs.LinuxIDMapping {
	out := make([]specs.LinuxIDMapping, len(rs))
	for i, r := range rs {
		out[i] = specs.LinuxIDMapping{ContainerID: r.ContainerID, HostID: r.HostID, Size: r.Size}
	}
	return out
}

// joinNamespaces points a container's joined IPC and PID namespaces at
// the donors' current processes before a start,
// as Docker builds the spec at each start: a donor that restarted since
// has another pid. A donor that no longer runs fails the start with
// Docker's error.
func (e *Engine) joinNamespaces(ctx context.Context, c *container.Container) error {
	if !containertypes.IpcMode(c.Config.IpcMode).IsContainer() && !containertypes.PidMode(c.Config.PidMode).IsContainer() {
		return nil
	}
	j, err := e.donorPaths(ctx, c.Config)
	if err != nil {
		return err
	}
	paths := map[specs.LinuxNamespaceType]string{specs.IPCNamespace: j.ipcNS, specs.PIDNamespace: j.pidNS}
	return e.editSpec(c.ID, func(s *specs.Spec) error {
		for i, ns := range s.Linux.Namespaces {
			if p := paths[ns.Type]; p != "" {
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

// shmPath is where a shareable container's /dev/shm is mounted on the
// host while it runs, so that the containers joining its IPC namespace
// bind the same one (Docker's containers/<id>/mounts/shm).
func (e *Engine) shmPath(id string) string { return filepath.Join(e.containerDir(id), "shm") }

// mountShm mounts a --ipc shareable container's /dev/shm at shmPath
// before it starts (the shim unmounts it when the run ends): a tmpfs of
// --shm-size, as Docker's.
func (e *Engine) mountShm(c *container.Container) error {
	if !containertypes.IpcMode(c.Config.IpcMode).IsShareable() {
		return nil
	}
	dir := e.shmPath(c.ID)
	if snapshot.IsMountPoint(dir) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	size := c.Config.ShmSize
	if size <= 0 {
		size = oci.DefaultShmSize
	}
	if err := unix.Mount("shm", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size="+strconv.FormatInt(size, 10)); err != nil {
		return fmt.Errorf("mount /dev/shm of container %s: %w", c.ID[:12], &os.PathError{Op: "mount", Path: dir, Err: err})
	}
	return nil
}
