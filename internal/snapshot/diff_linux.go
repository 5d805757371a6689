package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/berth-dev/berth/internal/archive"
)

// Diff writes the changes of active snapshot key over its parent to w as
// a layer tar: overlay's upper directory as it is (nothing else is read),
// or, with the copy snapshotter, the difference between the parent's tree
// and key's (the whole tree over no parent).
func Diff(ctx context.Context, sn Snapshotter, key string, w io.Writer) error {
	mounts, err := sn.Mounts(ctx, key)
	if err != nil {
		return err
	}
	if len(mounts) != 1 {
		return fmt.Errorf("diff %q: %d mounts, want 1", key, len(mounts))
	}
	m := mounts[0]
	if m.Type == "overlay" {
		for _, opt := range m.Options {
			if upper, ok := strings.CutPrefix(opt, "upperdir="); ok {
				return archive.DiffOverlay(ctx, upper, w)
			}
		}
		return errors.New("diff " + key + ": the overlay has no upper directory")
	}
	info, err := sn.Stat(ctx, key)
	if err != nil {
		return err
	}
	if info.Parent == "" {
		if sn.IndependentLayers() {
			// An overlay snapshot over nothing is its upper directory,
			// bind-mounted.
			return archive.DiffOverlay(ctx, m.Source, w)
		}
		return archive.Tar(ctx, m.Source, w)
	}
	lower, err := sn.Mounts(ctx, info.Parent)
	if err != nil {
		return err
	}
	if len(lower) != 1 || lower[0].Type != "bind" {
		return fmt.Errorf("diff %q: the parent's layers are not one directory", key)
	}
	return archive.DiffDirs(ctx, lower[0].Source, m.Source, w)
}
