package build

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/snapshot"
)

// workdir is a step's private directory under the state directory: the
// bundle of a RUN, the mount points of the trees a step works on. It is
// flock'ed while in use; one left by a crashed build is unlocked, and the
// next build's sweep removes it with its container, mounts and snapshot.
type workdir struct {
	id   string
	dir  string
	lock *os.File
	undo []func()
	// upper is where the step's changes go on the host, when they may be
	// written there directly once the tree is unmounted (overlay: the
	// upper directory); "" otherwise.
	upper string
	// finish runs after the tree is unmounted, before its changes are
	// committed.
	finish []func(ctx context.Context) error
}

// snapshotKey is the active snapshot of a step, named after its workdir.
func snapshotKey(id string) string { return "build-" + id }

// containerID is the runtime's name of a RUN's container.
func containerID(id string) string { return "build-" + id }

func (b *Builder) newWorkdir() (*workdir, error) {
	var r [8]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	dir := filepath.Join(b.cfg.StateDir, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.Open(dir)
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		os.Remove(dir)
		return nil, &os.SyscallError{Syscall: "flock", Err: err}
	}
	return &workdir{id: id, dir: dir, lock: f}, nil
}

// onRelease adds an undo, run newest first by release.
func (w *workdir) onRelease(f func()) { w.undo = append(w.undo, f) }

// release undoes what the step set up and removes the directory.
func (w *workdir) release() {
	for i := len(w.undo) - 1; i >= 0; i-- {
		w.undo[i]()
	}
	detachMountsUnder(w.dir)
	os.RemoveAll(w.dir)
	w.lock.Close()
}

// sweep removes the workdirs of builds that died (unlocked ones): their
// containers, mounts and active snapshots.
func (b *Builder) sweep(ctx context.Context) {
	ents, err := os.ReadDir(b.cfg.StateDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.Name() == cacheMountsDir || e.Name() == fileHashesDir || e.Name() == copyLastDir {
			continue
		}
		dir := filepath.Join(b.cfg.StateDir, e.Name())
		f, err := os.Open(dir)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			f.Close()
			continue // a running build's
		}
		b.cfg.Runner.Delete(containerID(e.Name()))
		detachMountsUnder(dir)
		b.cfg.Images.Snapshotter().Remove(ctx, snapshotKey(e.Name()))
		os.RemoveAll(dir)
		f.Close()
	}
}

// detachMountsUnder unmounts everything mounted at or below dir.
func detachMountsUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mounts []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			mounts = append(mounts, f[4])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		unix.Unmount(mounts[i], unix.MNT_DETACH)
	}
}

// execute runs a step that changes the tree: an active snapshot over
// st's layers, mounted for do at <workdir>/rootfs, whose changes (the
// overlay's upper directory) become the step's layer, the snapshot
// committed in place.
func (b *Builder) execute(ctx context.Context, st *state, do func(ctx context.Context, rootfs string, w *workdir) error) (cacheEntry, error) {
	images := b.cfg.Images
	sn := images.Snapshotter()
	if err := images.EnsureLayers(ctx, st.layers); err != nil {
		return cacheEntry{}, err
	}
	w, err := b.newWorkdir()
	if err != nil {
		return cacheEntry{}, err
	}
	defer w.release()
	key := snapshotKey(w.id)
	mounts, err := sn.Prepare(ctx, key, st.chainID())
	if err != nil {
		return cacheEntry{}, err
	}
	w.onRelease(func() { sn.Remove(context.Background(), key) })
	if sn.Name() == "overlay" {
		w.upper = snapshot.UpperDir(mounts)
	}
	rootfs := filepath.Join(w.dir, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return cacheEntry{}, err
	}
	unmount, err := snapshot.MountAll(mounts, rootfs)
	if err != nil {
		return cacheEntry{}, err
	}
	err = do(ctx, rootfs, w)
	if uerr := unmount(); err == nil && uerr != nil {
		err = uerr
	}
	for _, f := range w.finish {
		if err != nil {
			break
		}
		err = f(ctx)
	}
	if err != nil {
		return cacheEntry{}, err
	}
	layer, empty, err := images.CommitSnapshot(ctx, st.layers, key)
	if err != nil {
		return cacheEntry{}, err
	}
	e := cacheEntry{created: time.Now().UTC()}
	if !empty {
		e.layer = layer
	}
	return e, nil
}

// mountTree mounts the committed tree chainID read-only under w (an empty
// directory for "") and returns where.
func (b *Builder) mountTree(ctx context.Context, w *workdir, name, chainID string) (string, error) {
	dir := filepath.Join(w.dir, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	if chainID == "" {
		return dir, nil
	}
	mounts, err := b.cfg.Images.Snapshotter().Mounts(ctx, chainID)
	if err != nil {
		return "", err
	}
	unmount, err := snapshot.MountAll(mounts, dir)
	if err != nil {
		return "", err
	}
	w.onRelease(func() { unmount() })
	return dir, nil
}
