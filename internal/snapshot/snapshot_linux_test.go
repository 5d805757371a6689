package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testutil"
)

// layerTar builds a layer: files maps names to content ("" = whiteout
// when the name starts with .wh.).
func layerTar(t *testing.T, files ...string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[i+1]))
	}
	tw.Close()
	return buf.Bytes()
}

// newSnapshotter makes a snapshotter with its own store in a temp dir,
// and returns it with that dir.
func newSnapshotter(t *testing.T, mk func(root string, db *store.DB) (Snapshotter, error)) (Snapshotter, string) {
	testutil.RequireRoot(t, "overlay mounts and whiteout device nodes")
	root := t.TempDir()
	db, err := store.Open(filepath.Join(root, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sn, err := mk(filepath.Join(root, "snapshots"), db)
	if err != nil {
		t.Fatal(err)
	}
	return sn, root
}

// suite runs the same checks against both snapshotters.
func suite(t *testing.T, mk func(root string, db *store.DB) (Snapshotter, error)) {
	ctx := context.Background()
	sn, root := newSnapshotter(t, mk)
	addLayer := func(key, parent string, data []byte) {
		t.Helper()
		in, err := sn.NewLayer(ctx, key, parent)
		if err != nil {
			t.Fatal(err)
		}
		n, err := archive.Apply(ctx, in.Dir, bytes.NewReader(data), archive.Options{Whiteouts: in.Whiteouts})
		if err != nil {
			in.Abort()
			t.Fatal(err)
		}
		if err := in.Commit(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	addLayer("l1", "", layerTar(t, "a", "1", "b", "2"))
	addLayer("l2", "l1", layerTar(t, ".wh.a", "", "c", "3"))
	if _, err := sn.NewLayer(ctx, "l1", ""); !errors.Is(err, ErrExists) {
		t.Errorf("NewLayer of an existing key: %v", err)
	}
	info, err := sn.Stat(ctx, "l2")
	if err != nil || info.Parent != "l1" || info.Kind != Committed || info.Size != 1 {
		t.Errorf("Stat(l2) = %+v, %v", info, err)
	}

	// An active snapshot over l2 sees b and c, not a, and takes writes.
	mounts, err := sn.Prepare(ctx, "ctr", "l2")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	umount, err := MountAll(mounts, dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"a": false, "b": true, "c": true} {
		_, err := os.Stat(filepath.Join(dir, name))
		if (err == nil) != want {
			t.Errorf("%s present = %v, want %v", name, err == nil, want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "new"), []byte("x"), 0o644); err != nil {
		t.Errorf("write in an active snapshot: %v", err)
	}
	umount()
	if _, err := sn.Prepare(ctx, "ctr", "l2"); !errors.Is(err, ErrExists) {
		t.Errorf("Prepare of an existing key: %v", err)
	}

	// A committed snapshot mounts read-only.
	mounts, _ = sn.Mounts(ctx, "l2")
	ro := t.TempDir()
	umount, err = MountAll(mounts, ro)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ro, "x"), nil, 0o644); err == nil {
		t.Error("a committed snapshot is writable")
	}
	umount()

	// A build step's way: an active snapshot, changed (a file added, one
	// deleted) and committed in place as the next layer.
	mounts, err = sn.Prepare(ctx, "step", "l2")
	if err != nil {
		t.Fatal(err)
	}
	step := t.TempDir()
	if umount, err = MountAll(mounts, step); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(step, "d"), []byte("4444"), 0o644)
	os.Remove(filepath.Join(step, "b"))
	umount()
	if err := sn.Commit(ctx, "l3", "step", 4); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if info, err := sn.Stat(ctx, "l3"); err != nil || info.Parent != "l2" || info.Kind != Committed || info.Size != 4 {
		t.Errorf("Stat(l3) = %+v, %v", info, err)
	}
	if _, err := sn.Stat(ctx, "step"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the active snapshot is still there after its commit: %v", err)
	}
	mounts, _ = sn.Mounts(ctx, "l3")
	if umount, err = MountAll(mounts, ro); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"b": "", "c": "3", "d": "4444"} {
		if data, _ := os.ReadFile(filepath.Join(ro, name)); string(data) != want {
			t.Errorf("l3: %s = %q, want %q", name, data, want)
		}
	}
	umount()
	if _, err := sn.Prepare(ctx, "again", "l2"); err != nil {
		t.Fatal(err)
	}
	if err := sn.Commit(ctx, "l3", "again", 0); !errors.Is(err, ErrExists) {
		t.Errorf("Commit onto an existing layer: %v", err)
	}
	if err := sn.Commit(ctx, "l4", "l3", 0); err == nil {
		t.Error("Commit of a committed snapshot succeeded")
	}

	if err := sn.Remove(ctx, "l2"); !errors.Is(err, ErrInUse) {
		t.Errorf("Remove of a parent: %v", err)
	}
	for _, k := range []string{"ctr", "again", "l3", "l2", "l1"} {
		if err := sn.Remove(ctx, k); err != nil {
			t.Errorf("Remove(%s): %v", k, err)
		}
	}

	// Crash leftovers: an orphan directory is cleaned up, a directory
	// that is being filled (locked) is not.
	os.MkdirAll(filepath.Join(root, "snapshots", "orphan", "fs"), 0o700)
	os.WriteFile(filepath.Join(root, "snapshots", "orphan", "fs", "f"), []byte("12345"), 0o644)
	in, err := sn.NewLayer(ctx, "busy", "")
	if err != nil {
		t.Fatal(err)
	}
	freed, err := sn.Cleanup(ctx)
	if err != nil || freed != 5 {
		t.Errorf("Cleanup freed %d, %v; want 5", freed, err)
	}
	if _, err := os.Stat(in.Dir); err != nil {
		t.Errorf("Cleanup removed a directory being filled: %v", err)
	}
	if err := in.Commit(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "snapshots"))
	if len(ents) != 1 {
		t.Errorf("%d snapshot directories, want 1", len(ents))
	}

	// Two ingests of one key: both commit, one directory stays.
	a, _ := sn.NewLayer(ctx, "twice", "")
	b, _ := sn.NewLayer(ctx, "twice", "")
	if a == nil || b == nil {
		t.Fatal("NewLayer refused a second concurrent ingest")
	}
	if err := a.Commit(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx, 0); err != nil {
		t.Fatalf("the losing ingest of a race: %v", err)
	}
	ents, _ = os.ReadDir(filepath.Join(root, "snapshots"))
	if len(ents) != 2 {
		t.Errorf("%d snapshot directories after a commit race, want 2", len(ents))
	}
}

func TestOverlaySnapshotter(t *testing.T) { suite(t, NewOverlay) }
func TestCopySnapshotter(t *testing.T)    { suite(t, NewCopy) }

// TestDeepOverlayChain: 120 layers give a lowerdir list longer than the
// one page mount(2) takes; the mount still works.
func TestDeepOverlayChain(t *testing.T) {
	ctx := context.Background()
	sn, _ := newSnapshotter(t, NewOverlay)
	parent := ""
	for i := 0; i < 120; i++ {
		key := fmt.Sprintf("layer-%d", i)
		in, err := sn.NewLayer(ctx, key, parent)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(in.Dir, key), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := in.Commit(ctx, 1); err != nil {
			t.Fatal(err)
		}
		parent = key
	}
	mounts, err := sn.Prepare(ctx, "ctr", parent)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Join(mounts[0].Options, ",")); n <= maxMountData {
		t.Fatalf("the options are only %d bytes; the test needs more than a page", n)
	}
	dir := t.TempDir()
	umount, err := MountAll(mounts, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer umount()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 120 {
		t.Errorf("%d files in the merged tree, want 120", len(ents))
	}
	if err := os.WriteFile(filepath.Join(dir, "new"), nil, 0o644); err != nil {
		t.Errorf("the merged tree is not writable: %v", err)
	}
}

// TestTopDir: the snapshots directory is marked as the top of directory
// trees (chattr +T), where the filesystem takes the flag (ext4).
func TestTopDir(t *testing.T) {
	_, root := newSnapshotter(t, NewOverlay)
	probe := filepath.Join(t.TempDir(), "probe")
	if err := os.Mkdir(probe, 0o700); err != nil {
		t.Fatal(err)
	}
	markTopDir(probe)
	if !topDir(t, probe) {
		t.Skip("the filesystem of the temp dir does not take FS_TOPDIR_FL")
	}
	if !topDir(t, filepath.Join(root, "snapshots")) {
		t.Error("the snapshots directory is not marked +T")
	}
}

func topDir(t *testing.T, dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.IoctlGetInt(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	return err == nil && flags&fsTopDirFlag != 0
}

// TestMountDirs: the upper and layer directories read from mounts.
func TestMountDirs(t *testing.T) {
	active := []Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/l1:/l2", "upperdir=/u", "workdir=/w"}}}
	committed := []Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/l1:/l2"}}}
	bind := []Mount{{Type: "bind", Source: "/b", Options: []string{"rbind", "ro"}}}
	if got := UpperDir(active); got != "/u" {
		t.Errorf("UpperDir(active) = %q", got)
	}
	if got := UpperDir(bind); got != "/b" {
		t.Errorf("UpperDir(bind) = %q", got)
	}
	if got := UpperDir(committed); got != "" {
		t.Errorf("UpperDir(committed) = %q", got)
	}
	if got := LayerDirs(committed); strings.Join(got, ",") != "/l1,/l2" {
		t.Errorf("LayerDirs(committed) = %q", got)
	}
	if got := LayerDirs(bind); strings.Join(got, ",") != "/b" {
		t.Errorf("LayerDirs(bind) = %q", got)
	}
	if got := LayerDirs(active); got != nil {
		t.Errorf("LayerDirs(active) = %q", got)
	}
}

// TestReadOnlyThenWritable: ReadOnly mounts a container's overlay
// read-only, and its writable remounts it read-write in place; a
// snapshot without an upper directory is left as it is.
func TestReadOnlyThenWritable(t *testing.T) {
	ctx := context.Background()
	sn, _ := newSnapshotter(t, NewOverlay)
	in, err := sn.NewLayer(ctx, "base", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in.Dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := in.Commit(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mounts, err := sn.Prepare(ctx, "ctr", "base")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ro, writable := ReadOnly(mounts, dir)
	umount, err := MountAll(ro, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer umount()
	if err := os.Mkdir(filepath.Join(dir, "made"), 0o755); !errors.Is(err, unix.EROFS) {
		t.Fatalf("mkdir in the read-only view: %v, want EROFS", err)
	}
	if err := writable(); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "made"), 0o755); err != nil {
		t.Fatalf("mkdir after writable: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "x" {
		t.Errorf("the layer's file reads %q", got)
	}
	view, err := sn.Mounts(ctx, "base") // committed: the layers alone
	if err != nil {
		t.Fatal(err)
	}
	if same, _ := ReadOnly(view, dir); !slices.EqualFunc(same, view, func(a, b Mount) bool { return slices.Equal(a.Options, b.Options) }) {
		t.Errorf("ReadOnly changed a view without an upper directory: %v", same)
	}
}
