package engine

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/logs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/shim"
	"github.com/berth-dev/berth/internal/shim/spawn"
	"github.com/berth-dev/berth/internal/snapshot"
	"github.com/berth-dev/berth/internal/store"
)

// ErrImageNotFound is returned (wrapped) by CreateContainer for an image
// that is not in the store.
var ErrImageNotFound = errors.New("image not found locally")

// ContainerOptions are the `create`/`run` flags.
type ContainerOptions struct {
	Image string // as typed
	Name  string // "" for a generated one
	container.Config
}

// Container layout on disk: <root>/containers/<id>/ is the OCI bundle
// (config.json, rootfs/ where the shim mounts the snapshot), the json-file
// log <id>-json.log and the shim's lock.
func (e *Engine) containerDir(id string) string {
	return filepath.Join(e.cfg.Root, "containers", id)
}

// LogPath is the json-file log of container id.
func (e *Engine) LogPath(id string) string {
	return filepath.Join(e.containerDir(id), id+"-json.log")
}

func snapshotKey(id string) string { return "container-" + id }

// runtime is berth's OCI runtime with its state where `berth runtime`
// keeps it for this root (BERTH_ROOT/run/runtime), so that
// `BERTH_ROOT=<root> berth runtime list` shows the containers.
func (e *Engine) runtime() *runtime.Runtime {
	return &runtime.Runtime{Root: filepath.Join(e.cfg.Root, "run", "runtime")}
}

// CreateContainer records a container and prepares its bundle: a
// writable snapshot over the image and config.json. A failure undoes it all.
func (e *Engine) CreateContainer(ctx context.Context, o ContainerOptions) (c *container.Container, err error) {
	if o.Name != "" {
		if o.Name, err = container.CheckName(o.Name); err != nil {
			return nil, err
		}
	}
	img, err := e.Images.Get(ctx, o.Image)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrImageNotFound, o.Image)
	}
	imgCfg, err := e.Images.Config(img)
	if err != nil {
		return nil, err
	}
	if err := checkConfig(&o.Config, imgCfg); err != nil {
		return nil, err
	}
	if err := e.checkSecurity(ctx, &o.Config); err != nil {
		return nil, err
	}
	if err := e.planMounts(ctx, &o.Config, imgCfg); err != nil {
		return nil, err
	}
	if err := e.checkNetwork(ctx, &o.Config); err != nil {
		return nil, err
	}
	if err := e.checkLinks(ctx, &o.Config); err != nil {
		return nil, err
	}
	o.Config.Labels = mergeLabels(imgCfg.Config.Labels, o.Config.Labels)
	c = &container.Container{
		ID: e.newID(), Name: o.Name, ImageID: img.ID.String(), Image: o.Image,
		Created: time.Now(), Config: o.Config,
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	// The record first: a taken name fails before any work.
	if err := e.containers.Insert(ctx, c); err != nil {
		return nil, err
	}
	id := c.ID // the undos run after a failed return has set c to nil
	undo = append(undo, func() { e.containers.Delete(context.Background(), id) })
	undoVolumes, err := e.createVolumes(ctx, c)
	if err != nil {
		return nil, err
	}
	undo = append(undo, undoVolumes)
	dir := e.containerDir(id)
	if err := os.MkdirAll(filepath.Join(dir, "rootfs"), 0o711); err != nil {
		return nil, err
	}
	undo = append(undo, func() { os.RemoveAll(dir) })
	sn := e.Images.Snapshotter()
	mounts, err := sn.Prepare(ctx, snapshotKey(c.ID), img.TopLayer)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { sn.Remove(context.Background(), snapshotKey(id)) })
	spec, err := e.buildSpec(ctx, imgCfg, mounts, filepath.Join(dir, "rootfs"), c)
	if err != nil {
		return nil, err
	}
	data, err := runtime.MarshalSpec(spec)
	if err != nil {
		return nil, err
	}
	// A --rm container's config need not survive a crash: neither does
	// its rootfs (see snapshot.Volatile).
	if err := writeFileAtomic(filepath.Join(dir, "config.json"), data, !c.Config.AutoRemove); err != nil {
		return nil, err
	}
	c.Command = spec.Process.Args
	err = e.db.Update(ctx, func(ctx context.Context, _ *sql.Tx) error {
		if err := e.containers.SetCommand(ctx, c.ID, c.Command); err != nil {
			return err
		}
		e.emit(ctx, containerEvent(c, "create", nil))
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.created = &created{id: c.ID, imgCfg: imgCfg, mounts: mounts}
	return c, nil
}

// created is what CreateContainer resolved for container id: its image's
// config and its rootfs mounts. A start that follows in the same process
// (run) takes them rather than reading them again.
type created struct {
	id     string
	imgCfg *dockerspec.DockerOCIImage
	mounts []snapshot.Mount
}

// takeCreated returns what CreateContainer resolved for container id,
// when it was the last one created, and forgets it.
func (e *Engine) takeCreated(id string) *created {
	cr := e.created
	e.created = nil
	if cr == nil || cr.id != id {
		return nil
	}
	return cr
}

// buildSpec mounts the container's tree at rootfs for as long as oci.Spec
// needs it (it reads /etc/passwd and creates the working directory) and
// new volumes are seeded from it: read-only until something must be
// written (see snapshot.ReadOnly).
func (e *Engine) buildSpec(ctx context.Context, img *dockerspec.DockerOCIImage, mounts []snapshot.Mount, rootfs string, c *container.Container) (*specs.Spec, error) {
	mounts, writable := snapshot.ReadOnly(mounts, rootfs)
	unmount, err := snapshot.MountAll(mounts, rootfs)
	if err != nil {
		return nil, err
	}
	defer unmount()
	cfg := c.Config
	o := oci.Options{
		MakeWritable: writable,
		ContainerID:  c.ID, Cmd: cfg.Cmd, Entrypoint: cfg.Entrypoint, EntrypointSet: cfg.EntrypointSet,
		Env: cfg.Env, WorkingDir: cfg.WorkingDir, User: cfg.User, Hostname: cfg.Hostname, Domainname: cfg.Domainname,
		CgroupParent: cfg.CgroupParent, Tty: cfg.Tty, GroupAdd: cfg.GroupAdd, ReadOnly: cfg.ReadOnly,
		Init: cfg.Init, ShmSize: cfg.ShmSize, OomScoreAdj: cfg.OomScoreAdj, Resources: cfg.Resources,
	}
	if err := e.securityOptions(ctx, cfg, &o); err != nil {
		return nil, err
	}
	e.networkOptions(c, &o)
	if cfg.Init {
		// The init is berth itself (see internal/pid1), read-only.
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.Mounts = append(o.Mounts, specs.Mount{Destination: oci.DefaultInitPath, Type: "bind", Source: self,
			Options: []string{"bind", "ro", "nosuid", "nodev"}})
	}
	rootPropagation, err := e.volumeSpecMounts(ctx, c, rootfs, &o)
	if err != nil {
		return nil, err
	}
	spec, err := oci.Spec(img, rootfs, o)
	if err != nil {
		return nil, err
	}
	if rootPropagation != "" {
		spec.Linux.RootfsPropagation = rootPropagation
	}
	if cfg.UsernsRemap == nil {
		return spec, nil
	}
	// Last, after Spec made the working directory (see userns_linux.go).
	if err := writable(); err != nil {
		return nil, err
	}
	return spec, remapTree(rootfs, cfg.UsernsRemap)
}

// Log drivers: json-file (the default) and none.
const (
	LogDriverJSONFile = "json-file"
	LogDriverNone     = "none"
)

// ErrLogsNotSupported is `logs` of a container whose log driver keeps
// none; the message is Docker's.
var ErrLogsNotSupported = errors.New("configured logging driver does not support reading")

// checkConfig refuses what Docker refuses at create (exit 125) and fills
// what comes from the image: its STOPSIGNAL unless --stop-signal.
func checkConfig(cfg *container.Config, img *dockerspec.DockerOCIImage) error {
	switch cfg.LogDriver {
	case "", LogDriverJSONFile:
		if _, err := logs.ParseOptions(cfg.LogOpts); err != nil {
			return err
		}
	case LogDriverNone:
	default:
		return fmt.Errorf("logger: no log driver named '%s' is registered", cfg.LogDriver)
	}
	// The CLI has shown the warnings; an API client gets the same checks.
	if _, err := oci.PrepareResources(&cfg.Resources, false); err != nil {
		return err
	}
	if cfg.StopSignal == "" && img != nil {
		cfg.StopSignal = img.Config.StopSignal
	}
	if cfg.StopSignal != "" {
		if _, err := ParseSignal(cfg.StopSignal); err != nil {
			return err
		}
	}
	return nil
}

// ParseSignal reads a signal as Docker does: a number, or a name with or
// without SIG, in any case.
func ParseSignal(s string) (unix.Signal, error) {
	sig, err := runtime.ParseSignal(s)
	if err != nil {
		return 0, fmt.Errorf("Invalid signal: %s", s)
	}
	return sig, nil
}

// editSpec changes container id's config.json with edit, atomically.
func (e *Engine) editSpec(id string, edit func(*specs.Spec) error) error {
	path := filepath.Join(e.containerDir(id), "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	if err := edit(&s); err != nil {
		return err
	}
	if data, err = runtime.MarshalSpec(&s); err != nil {
		return err
	}
	return writeFileAtomic(path, data, true)
}

// writeFileAtomic replaces path with data, synced to disk first with sync.
func writeFileAtomic(path string, data []byte, sync bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// StartContainer starts a created (or exited) container under a new shim
// and returns once it runs. A container that can't start is left as it
// was, and the error is a *shim.StartError with Docker's exit code.
func (e *Engine) StartContainer(ctx context.Context, c *container.Container) error {
	if c.Status == container.Running || c.Status == container.Restarting {
		return nil
	}
	_, err := e.startShim(ctx, c, nil)
	return err
}

// StartAttached starts container c and attaches to it before it runs, so
// that the client sees all of its output (`run` without -d, `start -a`).
func (e *Engine) StartAttached(ctx context.Context, c *container.Container, req shim.AttachRequest) (*shim.Attachment, error) {
	if c.Status == container.Running || c.Status == container.Restarting {
		return e.Attach(ctx, c, req)
	}
	p, err := e.startShim(ctx, c, &req)
	if err != nil {
		return nil, err
	}
	// With AutoRemove, the shim reports the exit code (WaitExit): the
	// container's record is gone by then.
	return p.Attachment(c.Config.Tty)
}

// Attach attaches to running container c (`attach`).
func (e *Engine) Attach(ctx context.Context, c *container.Container, req shim.AttachRequest) (*shim.Attachment, error) {
	if c.Status != container.Running {
		return nil, fmt.Errorf("You cannot attach to a stopped container, start it first")
	}
	return shim.Attach(e.containerDir(c.ID), req, c.Config.Tty)
}

// startShim starts c under a new shim, attached to client when not nil.
func (e *Engine) startShim(ctx context.Context, c *container.Container, client *shim.AttachRequest) (p *shim.Process, err error) {
	cr := e.takeCreated(c.ID)
	var mounts []snapshot.Mount
	if cr != nil {
		mounts = cr.mounts
	} else if mounts, err = e.Images.Snapshotter().Mounts(ctx, snapshotKey(c.ID)); err != nil {
		return nil, err
	}
	if c.Config.AutoRemove {
		mounts = snapshot.Volatile(mounts)
	}
	// The network is set up for this start and torn down if it fails;
	// the start lock keeps it from being taken for a stopped
	// container's until the shim runs (see releaseNetwork).
	unlock, _ := e.lockStart(c.ID, true)
	defer unlock()
	// A shim that recorded the exit may still be cleaning up (network,
	// mounts): the next start waits for it.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = shim.Wait(wctx, e.containerDir(c.ID))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("container %s is already running", c.ID[:12])
	}
	var imgCfg *dockerspec.DockerOCIImage
	if cr != nil {
		imgCfg = cr.imgCfg
	} else {
		_, imgCfg = e.imageOf(ctx, c)
	}
	defer func() {
		if err != nil {
			e.net.Teardown(context.Background(), c.ID)
			// What this start mounted for the shim (the shim unmounts its rootfs).
			snapshot.UnmountAll(e.shmPath(c.ID))
			snapshot.UnmountBelow(filepath.Join(e.containerDir(c.ID), "subpaths"))
		}
	}()
	logPath := e.LogPath(c.ID)
	var lo logs.Options
	if c.Config.LogDriver == LogDriverNone {
		logPath = "" // the shim keeps no log
	} else if lo, err = logs.ParseOptions(c.Config.LogOpts); err != nil {
		return nil, err
	}
	if err := e.joinNamespaces(ctx, c); err != nil {
		return nil, err
	}
	held, err := e.mountVolumes(ctx, c)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			releaseHolds(held)
		} else {
			closeHolds(held) // the shim holds them now
		}
	}()
	if err := e.mountShm(c); err != nil {
		return nil, err
	}
	p = e.nextShim
	e.nextShim = nil
	if p != nil && p.Attaching() != (client != nil) {
		p.Close()
		p = nil
	}
	if p == nil {
		if p, err = spawnShim(client != nil, c.ID, c.Config.CgroupParent); err != nil {
			return nil, err
		}
	}
	cfg := c.Config
	// The shim records the start, with Docker's connect events before it.
	_, err = p.Start(shim.Config{
		ID: c.ID, Root: e.cfg.Root, Bundle: e.containerDir(c.ID), Mounts: mounts,
		RuntimeRoot: e.runtime().Root, DB: filepath.Join(e.cfg.Root, "meta.db"),
		LogPath: logPath, LogMaxSize: lo.MaxSize, LogMaxFile: lo.MaxFile,
		AutoRemove: cfg.AutoRemove, Restart: cfg.Restart,
		Tty: cfg.Tty, OpenStdin: cfg.OpenStdin, StdinOnce: cfg.StdinOnce, Client: client,
		Health: activeHealthcheck(c, imgCfg), Volumes: holdNames(held),
		ReportExit: client != nil && cfg.AutoRemove,
	}, func() error {
		// While the shim sets up what needs no network.
		return e.setupNetwork(ctx, c, imgCfg)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Shim is a shim started ahead for the container an engine creates and
// starts next (`run`), so that its start, and its container init's,
// overlap the container's creation (see UseShim).
type Shim struct {
	p  *shim.Process
	id string // the container's, chosen now: the shim starts its init, in its cgroup, before it knows more (see runtime.Spare)
}

// SpawnShim starts a Shim; attach is for StartAttached, cgroupParent the
// container's. It needs no engine, so that `run` starts it first. The
// shim package spawn started for this `run` from its init (see
// spawn.Early) is taken instead when it was started for the same.
func SpawnShim(attach bool, cgroupParent string) (*Shim, error) {
	if s, id, cgroupsPath := spawn.Early(); s != nil {
		p := shim.Started(s, cgroupsPath)
		if attach && cgroupsPath == oci.CgroupsPath(cgroupParent, id) {
			return &Shim{p: p, id: id}, nil
		}
		p.Close()
	}
	id := container.NewID()
	p, err := spawnShim(attach, id, cgroupParent)
	if err != nil {
		return nil, err
	}
	return &Shim{p: p, id: id}, nil
}

// DiscardEarlyShim ends the shim package spawn started for this `run`
// when SpawnShim did not take it (the command failed before).
func DiscardEarlyShim() {
	if s, _, cgroupsPath := spawn.Early(); s != nil {
		shim.Started(s, cgroupsPath).Close()
	}
}

// Close ends s, when no container took it.
func (s *Shim) Close() { s.p.Close() }

// UseShim gives e the shim of the next container it creates and starts;
// Close ends it when none did.
func (e *Engine) UseShim(s *Shim) {
	if e.nextShim != nil {
		e.nextShim.Close()
	}
	e.nextShim, e.nextID = s.p, s.id
}

// newID is the ID of the container CreateContainer creates next.
func (e *Engine) newID() string {
	id := cmp.Or(e.nextID, container.NewID())
	e.nextID = ""
	return id
}

// spawnShim starts the shim of container id, whose cgroup parent is
// cgroupParent.
func spawnShim(attach bool, id, cgroupParent string) (*shim.Process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return shim.Spawn(self, attach, oci.CgroupsPath(cgroupParent, id))
}

// Container resolves ref (ID, name or unique ID prefix) and returns its
// record as it truly is (see reconcile).
func (e *Engine) Container(ctx context.Context, ref string) (*container.Container, error) {
	c, err := e.containers.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	return e.reconcile(ctx, c)
}

// Containers lists every container, newest first, as they truly are.
func (e *Engine) Containers(ctx context.Context) ([]*container.Container, error) {
	cs, err := e.containers.List(ctx)
	if err != nil {
		return nil, err
	}
	for i, c := range cs {
		if cs[i], err = e.reconcile(ctx, c); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// reconcile repairs the record of a container said to be running whose
// shim is gone (killed, or the machine rebooted): nothing supervises it,
// logs or records it any more, so whatever is left of it is killed and
// cleaned up, and it is recorded as exited with 137, as containerd
// reports the task of a dead shim.
func (e *Engine) reconcile(ctx context.Context, c *container.Container) (*container.Container, error) {
	if (c.Status != container.Running && c.Status != container.Restarting) || shim.Alive(e.containerDir(c.ID)) {
		e.releaseNetwork(ctx, c)
		return c, nil
	}
	if _, err := e.containers.MarkDead(ctx, c.ID, 128+int(unix.SIGKILL), time.Now()); err != nil {
		return nil, err
	}
	e.cleanupRuntime(c.ID)
	c, err := e.containers.Get(ctx, c.ID)
	if err == nil {
		e.releaseNetwork(ctx, c)
		e.releaseVolumes(ctx, c, false) // its dead shim's holds are gone
	}
	return c, err
}

// cleanupRuntime removes what a run of the container leaves when its shim
// could not: runtime state, processes and cgroup, and the rootfs mount.
func (e *Engine) cleanupRuntime(id string) {
	e.runtime().Resume(id) // a frozen process can't die (cgroup v1); an error is "not paused"
	if err := e.runtime().Delete(id, true); err != nil && !errors.Is(err, runtime.ErrNotExist) {
		// Processes that would not die: leave the mount for a later try.
		return
	}
	snapshot.UnmountBelow(e.containerDir(id))
}

// ErrRunning is a running container given to RemoveContainer without force.
var ErrRunning = errors.New("container is running")

// RemoveOptions are rm's flags.
type RemoveOptions struct {
	Force   bool // -f: a running container is killed first
	Volumes bool // -v: its anonymous volumes go too (as with --rm)
}

// RemoveContainer removes a container: its snapshot, bundle, log and
// record. A running one is refused unless force, which kills it first.
func (e *Engine) RemoveContainer(ctx context.Context, ref string, force bool) error {
	return e.RemoveContainerWith(ctx, ref, RemoveOptions{Force: force})
}

// RemoveExited is the shim's shim.RemoveFunc: `rm` of its AutoRemove
// container, which has exited and been cleaned up, on the shim's store.
// The bundle's files are deleted by empty, which the shim calls once it
// has reported the exit: until then the bundle waits in <root>/trash,
// which empty clears of what earlier removals may have left there.
func RemoveExited(db *store.DB, root, id string) (empty func(), err error) {
	ctx := context.Background()
	e, err := open(Config{Root: root}, db)
	if err != nil {
		return nil, err
	}
	e.trash = filepath.Join(root, "trash")
	if err := os.MkdirAll(e.trash, 0o700); err != nil {
		return nil, err
	}
	ctx = snapshot.WithTrash(ctx, e.trash)
	empty = func() {
		if entries, err := os.ReadDir(e.trash); err == nil {
			for _, d := range entries {
				os.RemoveAll(filepath.Join(e.trash, d.Name()))
			}
		}
	}
	c, err := e.containers.Get(ctx, id)
	if err != nil {
		return empty, err
	}
	return empty, e.removeStopped(ctx, c, c.Config.Rm, false)
}

// RemoveContainerWith is RemoveContainer with rm's flags; a container
// created with --rm loses its anonymous volumes whatever o.Volumes says.
func (e *Engine) RemoveContainerWith(ctx context.Context, ref string, o RemoveOptions) error {
	force := o.Force
	c, err := e.Container(ctx, ref)
	if err != nil {
		return err
	}
	dir := e.containerDir(c.ID)
	if c.Status == container.Running || c.Status == container.Restarting {
		if !force {
			return fmt.Errorf("cannot remove container \"/%s\": %w: stop the container before removing or force remove", c.Name, ErrRunning)
		}
		e.stopping(ctx, c)
		e.runtime().Kill(c.ID, unix.SIGKILL, true)
		e.thaw(ctx, c)
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := shim.Wait(wctx, dir)
		cancel()
		if err != nil {
			return fmt.Errorf("container %s: its shim did not exit: %w", c.ID[:12], err)
		}
		if _, err := e.reconcile(ctx, c); err != nil {
			return err
		}
	}
	return e.removeStopped(ctx, c, o.Volumes || c.Config.Rm, true)
}

// removeStopped removes stopped container c, and its anonymous volumes
// with volumes; with cleanup, first what its run may have left (runtime
// state, mounts, network), which its shim cleans up when it can.
func (e *Engine) removeStopped(ctx context.Context, c *container.Container, volumes, cleanup bool) error {
	if cleanup {
		e.cleanupRuntime(c.ID)
		if err := e.net.Teardown(ctx, c.ID); err != nil {
			return err
		}
	}
	err := e.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := e.Images.Snapshotter().Remove(ctx, snapshotKey(c.ID)); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
			return err
		}
		if err := e.containers.Delete(ctx, c.ID); err != nil {
			return err
		}
		e.emit(ctx, containerEvent(c, "destroy", nil))
		return nil
	})
	if err != nil {
		return err
	}
	e.releaseVolumes(ctx, c, volumes)
	dir := e.containerDir(c.ID)
	if e.trash != "" && os.Rename(dir, filepath.Join(e.trash, c.ID)) == nil {
		return nil
	}
	return os.RemoveAll(dir)
}

// WaitContainer waits until a running container exits (its next exit,
// when its restart policy restarts it) and returns its exit code.
func (e *Engine) WaitContainer(ctx context.Context, ref string) (int, error) {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return 0, err
	}
	if c.Status != container.Running {
		return c.ExitCode, nil
	}
	dir := e.containerDir(c.ID)
	if c.Config.Restart.IsNone() {
		// The shim exits with the container: wait on its lock alone.
		if err := shim.Wait(ctx, dir); err != nil {
			return 0, err
		}
		if c, err = e.Container(ctx, c.ID); err != nil {
			return 0, err
		}
		return c.ExitCode, nil
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
		now, err := e.Container(ctx, c.ID)
		if err != nil {
			return 0, err
		}
		if now.Status != container.Running || now.Pid != c.Pid {
			return now.ExitCode, nil
		}
	}
}

// ReadLogs reads container c's log (see logs.Read). With o.Follow and a
// running container, Read ends once the container has exited.
func (e *Engine) ReadLogs(ctx context.Context, c *container.Container, o logs.ReadOptions, out func(logs.Message) error) error {
	if c.Config.LogDriver == LogDriverNone {
		return ErrLogsNotSupported
	}
	if o.Follow && o.Done == nil {
		done := make(chan struct{})
		o.Done = done
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			if shim.Wait(wctx, e.containerDir(c.ID)) == nil {
				close(done)
			}
		}()
	}
	return logs.Read(ctx, e.LogPath(c.ID), o, out)
}

// ImageInUse is image.RemoveOptions.InUse: whether containers were
// created from the image.
func (e *Engine) ImageInUse(ctx context.Context) func(digest.Digest) (bool, error) {
	return func(id digest.Digest) (bool, error) { return e.containers.UsesImage(ctx, id.String()) }
}

// stopping records that a user stops or kills container c, so that its
// restart policy leaves it stopped, and tells its shim (which may be
// waiting out a restart's back-off).
func (e *Engine) stopping(ctx context.Context, c *container.Container) {
	if c.Config.Restart.IsNone() {
		return
	}
	e.containers.SetManuallyStopped(ctx, c.ID)
	shim.RequestStop(e.containerDir(c.ID))
}

// KillContainer sends sig to the init of a running container.
func (e *Engine) KillContainer(ctx context.Context, ref string, sig unix.Signal) error {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return err
	}
	switch c.Status {
	case container.Running:
	case container.Restarting:
		return fmt.Errorf("cannot kill container: %s: Container %s is restarting, wait until the container is running", ref, c.ID)
	default:
		return fmt.Errorf("cannot kill container: %s: container %s is not running", ref, c.ID)
	}
	e.stopping(ctx, c)
	if err := e.runtime().Kill(c.ID, sig, false); err != nil {
		return err
	}
	e.emit(ctx, killEvent(c, sig))
	e.thaw(ctx, c) // as Docker does for a container without a STOPSIGNAL of its own
	return nil
}

// DefaultStopTimeout is how long stop waits for a container that has no
// --stop-timeout, as Docker's.
const DefaultStopTimeout = 10 * time.Second

// StopOptions are `stop`'s and `restart`'s flags.
type StopOptions struct {
	// Signal is -s ("" for the container's stop signal, else SIGTERM).
	Signal string
	// Timeout is -t; nil for the container's --stop-timeout (else
	// DefaultStopTimeout). Negative waits for ever; 0 kills at once.
	Timeout *time.Duration
}

// StopContainer stops ref as `stop -t timeout` does (see Stop).
func (e *Engine) StopContainer(ctx context.Context, ref string, timeout time.Duration) error {
	return e.Stop(ctx, ref, StopOptions{Timeout: &timeout})
}

// Stop sends the stop signal, waits up to the timeout for the container
// to exit, then kills all its processes with SIGKILL and waits for its
// shim. A container that isn't running is left as it is.
func (e *Engine) Stop(ctx context.Context, ref string, o StopOptions) error {
	c, err := e.Container(ctx, ref)
	if err != nil || (c.Status != container.Running && c.Status != container.Restarting) {
		return err
	}
	sigName := o.Signal
	if sigName == "" {
		sigName = c.Config.StopSignal
	}
	sig := unix.SIGTERM
	if sigName != "" {
		if sig, err = ParseSignal(sigName); err != nil {
			return err
		}
	}
	timeout := DefaultStopTimeout
	switch {
	case o.Timeout != nil:
		timeout = *o.Timeout
	case c.Config.StopTimeout != nil:
		timeout = time.Duration(*c.Config.StopTimeout) * time.Second
	}
	dir := e.containerDir(c.ID)
	e.stopping(ctx, c)
	if timeout != 0 && c.Status == container.Running {
		if e.runtime().Kill(c.ID, sig, false) == nil {
			e.emit(ctx, killEvent(c, sig))
		}
		e.thaw(ctx, c)
		tctx, cancel := ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			tctx, cancel = context.WithTimeout(ctx, timeout)
		}
		err := shim.Wait(tctx, dir)
		cancel()
		if err == nil {
			e.stopped(ctx, c)
			return nil
		}
	}
	if e.runtime().Kill(c.ID, unix.SIGKILL, true) == nil {
		e.emit(ctx, killEvent(c, unix.SIGKILL))
	}
	e.thaw(ctx, c)
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := shim.Wait(wctx, dir); err != nil {
		return fmt.Errorf("container %s: its shim did not exit: %w", c.ID[:12], err)
	}
	e.stopped(ctx, c)
	return nil
}

// stopped follows a stop whose shim has exited: the container's network
// goes (if its shim left it) and the stop event is recorded.
func (e *Engine) stopped(ctx context.Context, c *container.Container) {
	if now, err := e.containers.Get(ctx, c.ID); err == nil {
		e.releaseNetwork(ctx, now)
	}
	e.emit(ctx, containerEvent(c, "stop", nil))
}

// RestartContainer stops ref (see Stop) and starts it again.
func (e *Engine) RestartContainer(ctx context.Context, ref string, o StopOptions) error {
	if err := e.Stop(ctx, ref, o); err != nil {
		return err
	}
	c, err := e.Container(ctx, ref)
	if err != nil {
		return err
	}
	return e.StartContainer(ctx, c)
}

// ExportContainer writes the container's filesystem (its image's layers
// plus its own changes, as the container sees its root) to w as a tar,
// as `docker export` does. A running container's tree is read live.
func (e *Engine) ExportContainer(ctx context.Context, ref string, w io.Writer) error {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return err
	}
	dir, done, err := e.containerTree(ctx, c, false)
	if err != nil {
		return fmt.Errorf("export %s: %w", ref, err)
	}
	defer done()
	if err := archive.Tar(ctx, dir, w); err != nil {
		return fmt.Errorf("export %s: %w", ref, err)
	}
	e.emit(ctx, containerEvent(c, "export", nil))
	return nil
}
