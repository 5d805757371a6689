package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/image"
)

// mergeLabels is Docker's merge of image and container labels at create:
// the container's win.
func mergeLabels(img, own map[string]string) map[string]string {
	if len(img) == 0 {
		return own
	}
	out := make(map[string]string, len(img)+len(own))
	for k, v := range img {
		out[k] = v
	}
	for k, v := range own {
		out[k] = v
	}
	return out
}

// DriverName is the storage driver as Docker names it: overlay2 or vfs.
func (e *Engine) DriverName() string {
	if e.SnapshotterName() == "overlay" {
		return "overlay2"
	}
	return "vfs"
}

// dockerTime is a time as Docker's inspect prints it: RFC 3339 in UTC
// with nanoseconds, the zero time as 0001-01-01T00:00:00Z.
func dockerTime(t time.Time) string {
	if t.IsZero() {
		return time.Time{}.Format(time.RFC3339Nano)
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// stateOf is Docker's state name of a container.
func stateOf(c *container.Container) containertypes.ContainerState {
	switch {
	case c.Status == container.Running && c.Paused:
		return containertypes.StatePaused
	case c.Status == container.Running:
		return containertypes.StateRunning
	case c.Status == container.Restarting:
		return containertypes.StateRestarting
	case c.Status == container.Exited:
		return containertypes.StateExited
	}
	return containertypes.StateCreated
}

// statusText is Docker's STATUS column: "Up 3 seconds (Paused)",
// "Up 1 minute (healthy)", "Exited (0) 2 minutes ago", "Created".
func statusText(c *container.Container, now time.Time, health *containertypes.Health) string {
	switch c.Status {
	case container.Running:
		s := "Up " + units.HumanDuration(now.Sub(c.Started))
		switch {
		case c.Paused:
			s += " (Paused)"
		case health == nil:
		case health.Status == containertypes.Starting:
			s += " (health: starting)"
		default:
			s += " (" + string(health.Status) + ")"
		}
		return s
	case container.Exited:
		if c.Finished.IsZero() {
			return ""
		}
		return fmt.Sprintf("Exited (%d) %s ago", c.ExitCode, units.HumanDuration(now.Sub(c.Finished)))
	case container.Restarting:
		return fmt.Sprintf("Restarting (%d) %s ago", c.ExitCode, units.HumanDuration(now.Sub(c.Finished)))
	}
	return "Created"
}

// logDriver is the container's log driver as Docker names it.
func logDriver(c *container.Container) string {
	if c.Config.LogDriver == "" {
		return LogDriverJSONFile
	}
	return c.Config.LogDriver
}

// imageOf returns the image container c was created from and its config,
// or nils when it was removed since (rmi -f).
func (e *Engine) imageOf(ctx context.Context, c *container.Container) (*image.Image, *dockerspec.DockerOCIImage) {
	img, err := e.Images.Get(ctx, c.ImageID)
	if err != nil {
		return nil, nil
	}
	cfg, err := e.Images.Config(img)
	if err != nil {
		return img, nil
	}
	return img, cfg
}

// effectiveConfig is the container's Config as Docker's inspect shows it:
// the run flags over the image's defaults.
func (e *Engine) effectiveConfig(c *container.Container, imgCfg *dockerspec.DockerOCIImage) *containertypes.Config {
	own := c.Config
	out := &containertypes.Config{
		Hostname: own.Hostname, Domainname: own.Domainname, User: own.User, Env: own.Env, Cmd: own.Cmd, Image: c.Image,
		WorkingDir: own.WorkingDir, Entrypoint: own.Entrypoint, Labels: own.Labels,
		Tty: own.Tty, OpenStdin: own.OpenStdin, StdinOnce: own.StdinOnce,
		AttachStdin: own.StdinOnce, AttachStdout: own.StdinOnce, AttachStderr: own.StdinOnce,
		StopSignal: own.StopSignal, StopTimeout: own.StopTimeout,
	}
	if out.Hostname == "" {
		out.Hostname = c.ID[:12]
	}
	if imgCfg != nil {
		ic := imgCfg.Config
		if out.User == "" {
			out.User = ic.User
		}
		out.Env = mergeEnv(ic.Env, own.Env)
		if !own.EntrypointSet {
			out.Entrypoint = ic.Entrypoint
			if len(out.Cmd) == 0 {
				out.Cmd = ic.Cmd
			}
		}
		if out.WorkingDir == "" {
			out.WorkingDir = ic.WorkingDir
		}
		if out.StopSignal == "" {
			out.StopSignal = ic.StopSignal
		}
		out.OnBuild = ic.OnBuild
		out.Volumes = ic.Volumes
		out.Healthcheck = mergeHealthcheck(c, imgCfg)
		if len(ic.ExposedPorts) > 0 {
			out.ExposedPorts = network.PortSet{}
			for p := range ic.ExposedPorts {
				if port, err := network.ParsePort(p); err == nil {
					out.ExposedPorts[port] = struct{}{}
				}
			}
		}
	}
	if len(own.Volumes) > 0 {
		vols := map[string]struct{}{}
		for v := range out.Volumes {
			vols[v] = struct{}{}
		}
		for _, v := range own.Volumes {
			vols[v] = struct{}{}
		}
		out.Volumes = vols
	}
	if ports := exposedPorts(c.Config, imgCfg); len(ports) > 0 {
		out.ExposedPorts = network.PortSet{}
		for _, p := range ports {
			out.ExposedPorts[p] = struct{}{}
		}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	return out
}

// mergeEnv is the image's environment with the -e values over it: KEY=V
// replaces KEY, a bare KEY drops it.
func mergeEnv(img, own []string) []string {
	out := append([]string{}, img...)
	for _, kv := range own {
		k, _, hasValue := strings.Cut(kv, "=")
		replaced := false
		for i := 0; i < len(out); i++ {
			if ok, _, _ := strings.Cut(out[i], "="); ok == k {
				if hasValue && !replaced {
					out[i] = kv
					replaced = true
				} else {
					out = append(out[:i], out[i+1:]...)
					i--
				}
			}
		}
		if hasValue && !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// layerDirs are a container's writable directory and the read-only
// directories under it (top first): with overlay its upper directory
// and the image's layers, with copy its full tree and the image's.
type layerDirs struct {
	overlay    bool
	upper      string
	lowers     []string
	work       string
	imageTree  string // copy: the image's full tree ("" for an image without layers)
	mergedPath string
}

func (e *Engine) layerDirs(ctx context.Context, c *container.Container) (*layerDirs, error) {
	mounts, err := e.Images.Snapshotter().Mounts(ctx, snapshotKey(c.ID))
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID[:12], err)
	}
	if len(mounts) != 1 {
		return nil, fmt.Errorf("container %s: %d mounts, want 1", c.ID[:12], len(mounts))
	}
	m := mounts[0]
	d := &layerDirs{mergedPath: filepath.Join(e.containerDir(c.ID), "rootfs")}
	if m.Type == "overlay" {
		d.overlay = true
		for _, o := range m.Options {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "upperdir":
				d.upper = v
			case "workdir":
				d.work = v
			case "lowerdir":
				d.lowers = strings.Split(v, ":")
			}
		}
		return d, nil
	}
	d.upper = m.Source
	d.overlay = e.SnapshotterName() == "overlay" // an image without layers: one bind, no lowers
	if !d.overlay {
		if img, _ := e.imageOf(ctx, c); img != nil && img.TopLayer != "" {
			im, err := e.Images.Snapshotter().Mounts(ctx, img.TopLayer)
			if err != nil {
				return nil, err
			}
			d.imageTree = im[0].Source
		}
	}
	return d, nil
}

// ContainerSize returns the bytes a container wrote (its own layer) and
// that plus its image's size, as Docker's SizeRw and SizeRootFs.
func (e *Engine) ContainerSize(ctx context.Context, c *container.Container) (rw, rootfs int64, err error) {
	d, err := e.layerDirs(ctx, c)
	if err != nil {
		return 0, 0, err
	}
	if d.overlay {
		rw = regularSize(d.upper)
	} else {
		changes, err := treeChanges(d.upper, d.imageTree)
		if err != nil {
			return 0, 0, err
		}
		rw = changesSize(d.upper, changes)
	}
	if img, _ := e.imageOf(ctx, c); img != nil {
		rootfs = img.Size
	}
	return rw, rootfs + rw, nil
}

// InspectContainer is `docker inspect` of a container: moby's
// InspectResponse, with sizes when size is set.
func (e *Engine) InspectContainer(ctx context.Context, ref string, size bool) (*containertypes.InspectResponse, error) {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return nil, err
	}
	_, imgCfg := e.imageOf(ctx, c)
	st := stateOf(c)
	health := e.health(c, imgCfg)
	r := &containertypes.InspectResponse{
		ID:      c.ID,
		Created: dockerTime(c.Created),
		Args:    []string{},
		State: &containertypes.State{
			Status: st, Running: c.Status == container.Running || c.Status == container.Restarting, Paused: c.Paused,
			Restarting: c.Status == container.Restarting, OOMKilled: c.State.OOMKilled, Health: health,
			Pid: c.Pid, ExitCode: c.ExitCode,
			StartedAt: dockerTime(c.Started), FinishedAt: dockerTime(c.Finished),
		},
		Image:        c.ImageID,
		LogPath:      e.LogPath(c.ID),
		Name:         "/" + c.Name,
		RestartCount: c.State.RestartCount,
		Driver:       e.DriverName(),
		Platform:     "linux",
		ExecIDs:      nil,
		HostConfig: &containertypes.HostConfig{
			LogConfig:     containertypes.LogConfig{Type: logDriver(c), Config: c.Config.LogOpts},
			NetworkMode:   "none",
			RestartPolicy: containertypes.RestartPolicy{Name: containertypes.RestartPolicyMode(c.Config.Restart.Name), MaximumRetryCount: c.Config.Restart.MaximumRetryCount},
			AutoRemove:    c.Config.AutoRemove || c.Config.Rm,
			Binds:         c.Config.Binds,
			Mounts:        c.Config.Mounts,
			Tmpfs:         c.Config.Tmpfs,
			VolumesFrom:   c.Config.VolumesFrom,
			CgroupnsMode:  "private",
			IpcMode:       "private",
			ShmSize:       shmSize(c.Config),
			OomScoreAdj:   c.Config.OomScoreAdj,
			Resources:     hostResources(c.Config),
		},
		GraphDriver:     &storage.DriverData{Name: e.DriverName(), Data: map[string]string{}},
		Mounts:          mountPoints(c),
		Config:          e.effectiveConfig(c, imgCfg),
		NetworkSettings: e.networkSettings(ctx, c, imgCfg),
	}
	setSecurityConfig(r.HostConfig, c.Config)
	setNetworkConfig(r.HostConfig, c.Config)
	r.HostConfig.Links = linksConfig(c)
	if r.HostConfig.LogConfig.Config == nil {
		r.HostConfig.LogConfig.Config = map[string]string{}
	}
	if len(c.Command) > 0 {
		r.Path, r.Args = c.Command[0], append(r.Args, c.Command[1:]...)
	}
	if d, err := e.layerDirs(ctx, c); err == nil {
		if d.overlay && d.work != "" {
			r.GraphDriver.Data = map[string]string{
				"LowerDir": strings.Join(d.lowers, ":"), "UpperDir": d.upper,
				"WorkDir": d.work, "MergedDir": d.mergedPath,
			}
		} else {
			r.GraphDriver.Data = map[string]string{"MergedDir": d.mergedPath, "UpperDir": d.upper}
		}
	}
	if size {
		rw, rootfs, err := e.ContainerSize(ctx, c)
		if err != nil {
			return nil, err
		}
		r.SizeRw, r.SizeRootFs = &rw, &rootfs
	}
	return r, nil
}

// summary is a container as `docker ps` lists it (the Engine API's
// ContainerSummary).
func (e *Engine) summary(ctx context.Context, c *container.Container, now time.Time) containertypes.Summary {
	_, imgCfg := e.imageOf(ctx, c)
	health := e.health(c, imgCfg)
	s := containertypes.Summary{
		ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Image, ImageID: c.ImageID,
		Command: strings.Join(c.Command, " "), Created: c.Created.Unix(),
		Ports: e.portSummaries(ctx, c, imgCfg), Labels: c.Config.Labels,
		State: stateOf(c), Status: statusText(c, now, health),
		NetworkSettings: &containertypes.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{}},
		Mounts:          mountPoints(c),
	}
	if health != nil {
		s.Health = &containertypes.HealthSummary{Status: health.Status, FailingStreak: health.FailingStreak}
	}
	s.HostConfig.NetworkMode = netMode(c.Config)
	for _, a := range attachments(c.Config) {
		s.NetworkSettings.Networks[a.Network] = &network.EndpointSettings{}
	}
	// Docker shows the image ID when the name now means another image.
	if img, err := e.Images.Get(ctx, c.Image); err != nil || img.ID.String() != c.ImageID {
		s.Image = c.ImageID
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	return s
}

// ListOptions are `ps`'s flags.
type ListOptions struct {
	All     bool
	Limit   int // the n most recent, whatever their state; 0 or less for all
	Size    bool
	Filters Filters
}

// ListContainers is `docker ps`: the containers that pass o, newest first.
func (e *Engine) ListContainers(ctx context.Context, o ListOptions) ([]containertypes.Summary, error) {
	f := o.Filters
	if err := f.validate("ancestor", "before", "exited", "health", "id", "label", "name", "network", "since", "status", "volume"); err != nil {
		return nil, err
	}
	// --filter network= is a name, or a network's ID or its prefix.
	networks := map[string]bool{}
	for _, v := range f["network"] {
		networks[v] = true
		if n, err := e.net.Store.Network(ctx, v); err == nil {
			networks[n.Name] = true
		}
	}
	for _, v := range f["health"] {
		if err := containertypes.ValidateHealthStatus(containertypes.HealthStatus(v)); err != nil {
			return nil, fmt.Errorf("invalid filter 'health=%s': %w", v, err)
		}
	}
	var exited []int
	for _, v := range f["exited"] {
		code, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("invalid filter 'exited=%s'", v)
		}
		exited = append(exited, code)
	}
	for _, v := range f["status"] {
		if err := containertypes.ValidateContainerState(containertypes.ContainerState(v)); err != nil {
			return nil, fmt.Errorf("invalid filter 'status=%s': %w", v, err)
		}
		o.All = true
	}
	all, err := e.Containers(ctx)
	if err != nil {
		return nil, err
	}
	find := func(ref string) (*container.Container, error) {
		c, err := e.containers.Get(ctx, ref)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	var before, since *container.Container
	for _, v := range f["before"] {
		if before, err = find(v); err != nil {
			return nil, err
		}
	}
	for _, v := range f["since"] {
		if since, err = find(v); err != nil {
			return nil, err
		}
	}
	images := map[string]bool{}
	for _, v := range f["ancestor"] {
		if img, err := e.Images.Get(ctx, v); err == nil {
			images[img.ID.String()] = true
		}
	}
	now := time.Now()
	out := []containertypes.Summary{}
	for _, c := range all {
		if before != nil {
			if c.ID == before.ID {
				before = nil
			}
			continue
		}
		if since != nil && c.ID == since.ID {
			break
		}
		if c.Status != container.Running && c.Status != container.Restarting && !o.All && o.Limit <= 0 {
			continue
		}
		if !f.match("name", c.Name) && !f.match("name", "/"+c.Name) {
			continue
		}
		if !f.match("id", c.ID) || !f.matchLabels("label", c.Config.Labels) {
			continue
		}
		if o.Limit > 0 && len(out) == o.Limit {
			break
		}
		if len(exited) > 0 {
			ok := false
			for _, code := range exited {
				ok = ok || (c.Status == container.Exited && code == c.ExitCode)
			}
			if !ok {
				continue
			}
		}
		if !f.match("status", string(stateOf(c))) {
			continue
		}
		if len(f["ancestor"]) > 0 && !images[c.ImageID] {
			continue
		}
		if len(networks) > 0 && !slices.ContainsFunc(attachments(c.Config), func(a container.NetworkAttachment) bool { return networks[a.Network] }) {
			continue
		}
		if len(f["volume"]) > 0 && !mountsVolume(c, f["volume"]) {
			continue
		}
		s := e.summary(ctx, c, now)
		if len(f["health"]) > 0 {
			h := string(containertypes.NoHealthcheck)
			if s.Health != nil {
				h = string(s.Health.Status)
			}
			if !f.match("health", h) {
				continue
			}
		}
		if o.Size {
			if s.SizeRw, s.SizeRootFs, err = e.ContainerSize(ctx, c); err != nil {
				return nil, err
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// RenameContainer gives container ref the name newName, with Docker's
// errors for a name that is invalid, the same, or taken.
func (e *Engine) RenameContainer(ctx context.Context, ref, newName string) error {
	if ref == "" || newName == "" {
		return errors.New("Neither old nor new names may be empty")
	}
	c, err := e.containers.Get(ctx, ref)
	if err != nil {
		return err
	}
	if strings.TrimPrefix(newName, "/") == c.Name {
		return errors.New("Renaming a container with the same name as its current name")
	}
	name, err := container.CheckName(newName)
	if err != nil {
		return fmt.Errorf("Error when allocating new name: %w", err)
	}
	if err := e.containers.SetName(ctx, c.ID, name); err != nil {
		return fmt.Errorf("Error when allocating new name: %w", err)
	}
	// The networks' DNS answers to the new name at once, as Docker's.
	return e.net.Renamed(ctx, c.ID)
}

// PruneContainers removes every container that is not running and passes
// the until and label (label!) filters, and returns their IDs and the
// bytes their own layers held.
func (e *Engine) PruneContainers(ctx context.Context, f Filters) ([]string, int64, error) {
	if err := f.validate("label", "label!", "until"); err != nil {
		return nil, 0, err
	}
	var until time.Time
	if u := f["until"]; len(u) > 1 {
		return nil, 0, errors.New("more than one until filter specified")
	} else if len(u) == 1 {
		t, err := ParseTimestamp(u[0], time.Now())
		if err != nil {
			return nil, 0, err
		}
		until = t
	}
	cs, err := e.Containers(ctx)
	if err != nil {
		return nil, 0, err
	}
	var deleted []string
	var reclaimed int64
	for _, c := range cs {
		if c.Status == container.Running {
			continue
		}
		if !until.IsZero() && c.Created.After(until) {
			continue
		}
		if !f.matchLabels("label", c.Config.Labels) {
			continue
		}
		if len(f["label!"]) > 0 && f.matchLabels("label!", c.Config.Labels) {
			continue
		}
		rw, _, _ := e.ContainerSize(ctx, c)
		if err := e.RemoveContainer(ctx, c.ID, false); err != nil {
			continue // started meanwhile, or removed by someone else
		}
		deleted = append(deleted, c.ID)
		reclaimed += rw
	}
	return deleted, reclaimed, nil
}

// regularSize adds up the sizes of the regular files under dir, each
// hard-linked inode once.
func regularSize(dir string) int64 {
	var n int64
	seen := map[uint64]bool{}
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if ino, links := inode(fi); links > 1 {
			if seen[ino] {
				return nil
			}
			seen[ino] = true
		}
		n += fi.Size()
		return nil
	})
	return n
}
