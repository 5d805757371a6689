// Package snapshot keeps the filesystem trees containers run on: one
// committed snapshot per image layer, shared by every image that has it,
// and active (writable) snapshots on top of them for containers.
//
// Vocabulary: a snapshot has a key (a layer's chain ID for committed
// layers, a container's ID for active ones) and a parent key. A
// Snapshotter returns mounts and never mounts anything itself: the caller
// (the runtime, a build step, a test) does.
//
// Lifecycle of a layer, as an image pull does it (a build step instead
// Prepares an active snapshot, changes it and Commits it as the layer):
//
//	in, _ := sn.NewLayer(ctx, chainID, parentChainID)
//	size, err := archive.Apply(ctx, in.Dir, layerTar, archive.Options{Whiteouts: in.Whiteouts})
//	if err != nil { in.Abort(); return err }
//	in.Commit(ctx, size)
//
// With IndependentLayers (overlay), a layer's directory holds only its own
// diff, so NewLayer does not need the parent's content and layers can be
// unpacked in parallel, committed in order afterwards. The copy
// snapshotter starts each layer from a full copy of its parent.
//
// Crash safety: the metadata rows are in the shared store; a directory is
// created before its row and removed after it, and a directory being
// filled is flock'ed by its writer. Cleanup removes every unlocked
// directory without a row, so a kill -9 at any moment leaves nothing that
// `berth system prune` cannot find.
//
// It imports only archive and store of berth.
package snapshot

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/archive"
)

// ErrNotFound and ErrExists classify errors (wrapped).
var (
	ErrNotFound = errors.New("snapshot not found")
	ErrExists   = errors.New("snapshot already exists")
	ErrInUse    = errors.New("snapshot has children")
)

// Mount is one mount a snapshot needs, as mount(8) would take it.
type Mount struct {
	Type    string   // "overlay" or "bind"
	Source  string   // "overlay" or a directory
	Options []string // mount options, e.g. lowerdir=…, or rbind, ro
}

// Kind is a snapshot's state.
type Kind string

const (
	Committed Kind = "committed" // read-only, may be a parent
	Active    Kind = "active"    // writable, for a container
)

// Info describes one snapshot.
type Info struct {
	Key     string
	Parent  string
	Kind    Kind
	Size    int64 // bytes of regular file content in this snapshot's own diff
	Created time.Time
}

// Snapshotter is the interface both implementations satisfy.
type Snapshotter interface {
	// Name is "overlay" or "copy".
	Name() string
	// IndependentLayers reports whether NewLayer ignores the parent's
	// content, so that layers may be unpacked before their parents exist.
	IndependentLayers() bool
	// NewLayer begins committed snapshot key over parent ("" for a base
	// layer). ErrExists when key is already committed.
	NewLayer(ctx context.Context, key, parent string) (*Ingest, error)
	// Prepare makes an active snapshot key over committed parent ("" for
	// an empty tree) and returns the mounts that assemble it.
	Prepare(ctx context.Context, key, parent string) ([]Mount, error)
	// Commit turns active snapshot key, which must not be mounted, into
	// committed snapshot name over the same parent, in place: its
	// directory (with overlay, the upper directory: the changes) becomes
	// the layer's without being copied, and key is gone. size is the
	// bytes of regular file content in the layer's diff. ErrExists when
	// name is committed already; key then stays active, to be removed.
	Commit(ctx context.Context, name, key string, size int64) error
	// Mounts returns the mounts of an existing snapshot; a committed one
	// is mounted read-only.
	Mounts(ctx context.Context, key string) ([]Mount, error)
	// Stat describes snapshot key.
	Stat(ctx context.Context, key string) (Info, error)
	// Remove deletes snapshot key; ErrInUse when it has children.
	Remove(ctx context.Context, key string) error
	// Walk calls fn for every snapshot.
	Walk(ctx context.Context, fn func(Info) error) error
	// Cleanup removes directories that no snapshot owns (left by a
	// crash) and returns the bytes freed.
	Cleanup(ctx context.Context) (int64, error)
}

// Ingest is a layer being unpacked: fill Dir, then Commit or Abort.
type Ingest struct {
	// Dir is the directory to unpack the layer into.
	Dir string
	// Whiteouts says how Dir represents deletions.
	Whiteouts archive.WhiteoutMode

	commit func(ctx context.Context, size int64) error
	abort  func()
	synced bool
}

// Commit registers the filled directory as committed snapshot key. When
// another process committed the same key meanwhile, this ingest is
// discarded and Commit succeeds: the content is the same.
func (in *Ingest) Commit(ctx context.Context, size int64) error { return in.commit(ctx, size) }

// Abort discards the ingest.
func (in *Ingest) Abort() { in.abort() }

// UpperDir is the directory an active snapshot's changes are written to,
// from the mounts Prepare or Mounts returned: an overlay's upper
// directory, or the directory a snapshot without a parent bind-mounts.
// "" when the mounts have neither.
func UpperDir(mounts []Mount) string {
	if len(mounts) != 1 {
		return ""
	}
	m := mounts[0]
	if m.Type == "bind" {
		return m.Source
	}
	for _, o := range m.Options {
		if d, ok := strings.CutPrefix(o, "upperdir="); ok {
			return d
		}
	}
	return ""
}

// LayerDirs are the directories of the layers a committed overlay
// snapshot's mounts stack, top first (one for a base layer), from the
// mounts Mounts returned; nil for other mounts.
func LayerDirs(mounts []Mount) []string {
	if len(mounts) != 1 {
		return nil
	}
	m := mounts[0]
	if m.Type == "bind" {
		return []string{m.Source}
	}
	for _, o := range m.Options {
		if strings.HasPrefix(o, "upperdir=") {
			return nil
		}
	}
	for _, o := range m.Options {
		if d, ok := strings.CutPrefix(o, "lowerdir="); ok {
			return strings.Split(d, ":")
		}
	}
	return nil
}
