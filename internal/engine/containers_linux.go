package engine

import (
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
	"github.com/berth-dev/berth/internal/snapshot"
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
	c = &container.Container{
		ID: container.NewID(), Name: o.Name, ImageID: img.ID.String(), Image: o.Image,
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
	undo = append(undo, func() { e.containers.Delete(context.Background(), c.ID) })
	dir := e.containerDir(c.ID)
	if err := os.MkdirAll(filepath.Join(dir, "rootfs"), 0o711); err != nil {
		return nil, err
	}
	undo = append(undo, func() { os.RemoveAll(dir) })
	sn := e.Images.Snapshotter()
	mounts, err := sn.Prepare(ctx, snapshotKey(c.ID), img.TopLayer)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { sn.Remove(context.Background(), snapshotKey(c.ID)) })
	spec, err := e.buildSpec(imgCfg, mounts, filepath.Join(dir, "rootfs"), c)
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, "config.json"), data); err != nil {
		return nil, err
	}
	c.Command = spec.Process.Args
	if err := e.containers.SetCommand(ctx, c.ID, c.Command); err != nil {
		return nil, err
	}
	e.emit(ctx, containerEvent(c, "create", nil))
	return c, nil
}

// buildSpec mounts the container's tree at rootfs for as long as oci.Spec
// needs it (it reads /etc/passwd and creates the working directory).
func (e *Engine) buildSpec(img *dockerspec.DockerOCIImage, mounts []snapshot.Mount, rootfs string, c *container.Container) (*specs.Spec, error) {
	unmount, err := snapshot.MountAll(mounts, rootfs)
	if err != nil {
		return nil, err
	}
	defer unmount()
	cfg := c.Config
	return oci.Spec(img, rootfs, oci.Options{
		ContainerID: c.ID, Cmd: cfg.Cmd, Entrypoint: cfg.Entrypoint, EntrypointSet: cfg.EntrypointSet,
		Env: cfg.Env, WorkingDir: cfg.WorkingDir, User: cfg.User, Hostname: cfg.Hostname,
		CgroupParent: cfg.CgroupParent,
	})
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
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
	if c.Status == container.Running {
		return nil
	}
	mounts, err := e.Images.Snapshotter().Mounts(ctx, snapshotKey(c.ID))
	if err != nil {
		return err
	}
	lo, err := logs.ParseOptions(c.Config.LogOpts)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir := e.containerDir(c.ID)
	_, err = shim.Start(self, shim.Config{
		ID: c.ID, Root: e.cfg.Root, Bundle: dir, Mounts: mounts,
		RuntimeRoot: e.runtime().Root, DB: filepath.Join(e.cfg.Root, "meta.db"),
		LogPath: e.LogPath(c.ID), LogMaxSize: lo.MaxSize, LogMaxFile: lo.MaxFile,
		AutoRemove: c.Config.AutoRemove,
	})
	if err == nil {
		e.emit(ctx, containerEvent(c, "start", nil))
	}
	return err
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
	if c.Status != container.Running || shim.Alive(e.containerDir(c.ID)) {
		return c, nil
	}
	if _, err := e.containers.MarkDead(ctx, c.ID, 128+int(unix.SIGKILL), time.Now()); err != nil {
		return nil, err
	}
	e.cleanupRuntime(c.ID)
	return e.containers.Get(ctx, c.ID)
}

// cleanupRuntime removes what a run of the container leaves when its shim
// could not: runtime state, processes and cgroup, and the rootfs mount.
func (e *Engine) cleanupRuntime(id string) {
	if err := e.runtime().Delete(id, true); err != nil && !errors.Is(err, runtime.ErrNotExist) {
		// Processes that would not die: leave the mount for a later try.
		return
	}
	rootfs := filepath.Join(e.containerDir(id), "rootfs")
	for snapshot.IsMountPoint(rootfs) {
		if snapshot.Unmount(rootfs) != nil {
			break
		}
	}
}

// ErrRunning is a running container given to RemoveContainer without force.
var ErrRunning = errors.New("container is running")

// RemoveContainer removes a container: its snapshot, bundle, log and
// record. A running one is refused unless force, which kills it first.
func (e *Engine) RemoveContainer(ctx context.Context, ref string, force bool) error {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return err
	}
	dir := e.containerDir(c.ID)
	if c.Status == container.Running {
		if !force {
			return fmt.Errorf("cannot remove container \"/%s\": %w: stop the container before removing or force remove", c.Name, ErrRunning)
		}
		e.runtime().Kill(c.ID, unix.SIGKILL, true)
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
	e.cleanupRuntime(c.ID)
	err = e.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
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
	return os.RemoveAll(dir)
}

// WaitContainer waits until a running container has exited (its shim
// finished) and returns its exit code.
func (e *Engine) WaitContainer(ctx context.Context, ref string) (int, error) {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return 0, err
	}
	if c.Status == container.Running {
		if err := shim.Wait(ctx, e.containerDir(c.ID)); err != nil {
			return 0, err
		}
		if c, err = e.Container(ctx, c.ID); err != nil {
			return 0, err
		}
	}
	return c.ExitCode, nil
}

// ReadLogs reads container c's log (see logs.Read). With o.Follow and a
// running container, Read ends once the container has exited.
func (e *Engine) ReadLogs(ctx context.Context, c *container.Container, o logs.ReadOptions, out func(logs.Message) error) error {
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

// KillContainer sends sig to the init of a running container.
func (e *Engine) KillContainer(ctx context.Context, ref string, sig unix.Signal) error {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return err
	}
	if c.Status != container.Running {
		return fmt.Errorf("cannot kill container: %s: container %s is not running", ref, c.ID)
	}
	if err := e.runtime().Kill(c.ID, sig, false); err != nil {
		return err
	}
	e.emit(ctx, killEvent(c, sig))
	return nil
}

// StopContainer sends SIGTERM, waits up to timeout for the container to
// exit, then kills all its processes with SIGKILL and waits for its shim.
// A container that isn't running is left as it is.
func (e *Engine) StopContainer(ctx context.Context, ref string, timeout time.Duration) error {
	c, err := e.Container(ctx, ref)
	if err != nil || c.Status != container.Running {
		return err
	}
	dir := e.containerDir(c.ID)
	if timeout > 0 {
		if e.runtime().Kill(c.ID, unix.SIGTERM, false) == nil {
			e.emit(ctx, killEvent(c, unix.SIGTERM))
		}
		tctx, cancel := context.WithTimeout(ctx, timeout)
		err := shim.Wait(tctx, dir)
		cancel()
		if err == nil {
			e.emit(ctx, containerEvent(c, "stop", nil))
			return nil
		}
	}
	if e.runtime().Kill(c.ID, unix.SIGKILL, true) == nil {
		e.emit(ctx, killEvent(c, unix.SIGKILL))
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := shim.Wait(wctx, dir); err != nil {
		return fmt.Errorf("container %s: its shim did not exit: %w", c.ID[:12], err)
	}
	e.emit(ctx, containerEvent(c, "stop", nil))
	return nil
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
