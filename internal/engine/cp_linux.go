package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/mount"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/snapshot"
)

// containerTree returns the directory where container c's tree (its image
// plus its changes, as the container sees "/") is on the host, and a
// function to call when done with it. A running container's tree is the
// shim's mount of its rootfs; a stopped one's snapshot is mounted there
// for the caller, read-only unless rw. (overlayfs won't take the same
// upper directory twice, so a mounted rootfs is never mounted again.)
func (e *Engine) containerTree(ctx context.Context, c *container.Container, rw bool) (string, func(), error) {
	dir := filepath.Join(e.containerDir(c.ID), "rootfs")
	if snapshot.IsMountPoint(dir) {
		return dir, func() {}, nil
	}
	mounts, err := e.Images.Snapshotter().Mounts(ctx, snapshotKey(c.ID))
	if err != nil {
		return "", nil, err
	}
	if len(mounts) == 1 && !rw {
		mounts[0].Options = append(mounts[0].Options, "ro")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	unmount, err := snapshot.MountAll(mounts, dir)
	if err != nil {
		return "", nil, err
	}
	return dir, func() { unmount() }, nil
}

// copyRoot is where path p of container c is on the host for cp, as the
// directory to resolve rel in: for a running container its root as its
// processes see it (/proc/PID/root, its volumes, binds and tmpfs mounted
// there); for a stopped one the source of the volume or bind mounted over
// p, if any, else its tree (see containerTree). done releases it.
func (e *Engine) copyRoot(ctx context.Context, c *container.Container, p string, rw bool) (root, rel string, done func(), err error) {
	rel = archive.CleanCopyPath(p)
	if c.Status == container.Running && c.Pid > 0 {
		return fmt.Sprintf("/proc/%d/root", c.Pid), rel, func() {}, nil
	}
	var over *container.MountPoint
	for i, mp := range c.Config.MountPoints {
		dest := path.Clean("/" + mp.Destination)
		if mp.Source == "" || (mp.Type != mount.TypeBind && mp.Type != mount.TypeVolume) {
			continue
		}
		if (rel == dest || strings.HasPrefix(rel, strings.TrimSuffix(dest, "/")+"/")) && (over == nil || len(dest) > len(path.Clean("/"+over.Destination))) {
			over = &c.Config.MountPoints[i]
		}
	}
	if over != nil {
		if rw && !over.RW {
			return "", "", nil, fmt.Errorf("mounted volume is marked read-only")
		}
		dest := path.Clean("/" + over.Destination)
		sub := strings.TrimPrefix(rel, dest)
		if sub == "" {
			sub = "/"
		}
		return over.Source, path.Clean(sub), func() {}, nil
	}
	root, done, err = e.containerTree(ctx, c, rw)
	return root, rel, done, err
}

// ErrPathNotFound classifies a cp path missing in a container (wrapped in
// Docker's message).
var ErrPathNotFound = errors.New("no such file in the container")

func notFoundIn(err error, p, ref string) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("Could not find the file %s in container %s: %w", p, ref, ErrPathNotFound)
	}
	return err
}

// ContainerStatPath describes path p inside container ref, not following
// a symlink at its end (its LinkTarget says where it leads, inside the
// container), as Docker's HEAD /containers/{id}/archive.
func (e *Engine) ContainerStatPath(ctx context.Context, ref, p string) (*archive.PathStat, error) {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return nil, err
	}
	root, rel, done, err := e.copyRoot(ctx, c, p, false)
	if err != nil {
		return nil, err
	}
	defer done()
	st, err := archive.StatPath(root, rel)
	if err != nil {
		return nil, notFoundIn(err, p, ref)
	}
	return st, nil
}

// CopyFromContainer gives fn a tar stream of path p inside container ref
// (see archive.TarPath) and its description (of what a followed symlink
// leads to, under the symlink's name). Every lookup stays inside the
// container's tree, whatever symlinks its processes planted.
func (e *Engine) CopyFromContainer(ctx context.Context, ref, p string, follow bool, fn func(*archive.PathStat, io.Reader) error) error {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return err
	}
	root, cp, done, err := e.copyRoot(ctx, c, p, false)
	if err != nil {
		return err
	}
	defer done()
	st, err := archive.StatPath(root, cp)
	if err != nil {
		return notFoundIn(err, p, ref)
	}
	if follow && st.Mode&os.ModeSymlink != 0 {
		t, err := archive.StatPath(root, st.LinkTarget)
		if err != nil {
			return notFoundIn(err, p, ref)
		}
		t.Name = st.Name
		st = t
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.TarPath(ctx, root, cp, follow, pw)) }()
	err = fn(st, pr)
	pr.CloseWithError(errors.New("copy ended"))
	if err != nil {
		return notFoundIn(err, p, ref)
	}
	e.emit(ctx, containerEvent(c, "archive-path", nil))
	return nil
}

// CopyToContainer unpacks the tar stream r (the user's) into directory dir
// of container ref, as Docker's PUT /containers/{id}/archive: entries land
// under dir, resolved inside the container's tree; files belong to the
// container's root unless o.KeepOwners.
func (e *Engine) CopyToContainer(ctx context.Context, ref, dir string, r io.Reader, o archive.CopyOptions) error {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return err
	}
	root, rel, done, err := e.copyRoot(ctx, c, dir, true)
	if err != nil {
		return err
	}
	defer done()
	o.AllowDevices = true
	if err := archive.ExtractToDir(ctx, root, rel, r, o); err != nil {
		return notFoundIn(err, dir, ref)
	}
	e.emit(ctx, containerEvent(c, "extract-to-dir", nil))
	return nil
}
