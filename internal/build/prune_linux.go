package build

import (
	"context"
	"database/sql"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/store"
)

// CacheUsage is the build cache as `system df` counts it: its entries
// and cache mounts, and the bytes they alone hold.
type CacheUsage struct {
	Count int
	Size  int64
}

// PruneResult is what Prune removed.
type PruneResult struct {
	Deleted   []string // the entries' keys and the cache mounts' ids
	Reclaimed int64
}

// Usage counts the build cache.
func (b *Builder) Usage(ctx context.Context) (CacheUsage, error) {
	var u CacheUsage
	err := b.cfg.DB.View(ctx, func(q store.Querier) error {
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM build_cache`).Scan(&u.Count); err != nil {
			return err
		}
		// The layers only the cache holds.
		return q.QueryRowContext(ctx, `SELECT coalesce(sum(size), 0) FROM (SELECT DISTINCT blob, size FROM build_cache WHERE blob != '' AND blob NOT IN (SELECT digest FROM image_blobs))`).Scan(&u.Size)
	})
	if err != nil {
		return u, err
	}
	for _, d := range b.cacheMounts() {
		u.Count++
		u.Size += dirSize(d)
	}
	return u, nil
}

// cacheMounts are the directories of the cache mounts.
func (b *Builder) cacheMounts() []string {
	ents, _ := os.ReadDir(filepath.Join(b.cfg.StateDir, cacheMountsDir))
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, filepath.Join(b.cfg.StateDir, cacheMountsDir, e.Name()))
		}
	}
	return out
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// PruneOptions are `builder prune`'s.
type PruneOptions struct {
	// All removes the cache mounts too (-a).
	All bool
	// Before keeps what was used at or after it (--filter until=…);
	// zero for no limit.
	Before time.Time
}

// Prune removes the build cache's entries, their layers that no image
// uses, the remembered digests of context files, and with All the cache
// mounts that no running build holds; with Before, only the entries and
// cache mounts last used before it (and no remembered digests).
func (b *Builder) Prune(ctx context.Context, o PruneOptions) (PruneResult, error) {
	var res PruneResult
	var chains []string
	cutoff := int64(math.MaxInt64)
	if !o.Before.IsZero() {
		cutoff = o.Before.UnixNano()
	}
	err := b.cfg.DB.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT key, chain_id FROM build_cache WHERE last_used < ?`, cutoff)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for rows.Next() {
			var key, chain string
			if err := rows.Scan(&key, &chain); err != nil {
				rows.Close()
				return err
			}
			res.Deleted = append(res.Deleted, key)
			if chain != "" && !seen[chain] {
				seen[chain] = true
				chains = append(chains, chain)
			}
		}
		rows.Close()
		_, err = tx.ExecContext(ctx, `DELETE FROM build_cache WHERE last_used < ?`, cutoff)
		return err
	})
	if err != nil {
		return res, err
	}
	freed, err := b.cfg.Images.ReleaseChains(ctx, chains)
	res.Reclaimed += freed
	if err != nil {
		return res, err
	}
	if o.Before.IsZero() {
		// The contexts' remembered file digests go with the cache.
		// So do the records of which layer a COPY made last.
		for _, d := range []string{fileHashesDir, copyLastDir} {
			d = filepath.Join(b.cfg.StateDir, d)
			size := dirSize(d)
			if os.RemoveAll(d) == nil {
				res.Reclaimed += size
			}
		}
	}
	if o.All {
		for _, d := range b.cacheMounts() {
			if fi, err := os.Stat(d); err != nil || (!o.Before.IsZero() && !fi.ModTime().Before(o.Before)) {
				continue // used since (a mount's use touches it)
			}
			f, err := os.Open(d)
			if err != nil {
				continue
			}
			// A locked or private mount in use by a build stays.
			if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
				f.Close()
				continue
			}
			size := dirSize(d)
			if os.RemoveAll(d) == nil {
				res.Reclaimed += size
				res.Deleted = append(res.Deleted, filepath.Base(d))
			}
			f.Close()
		}
	}
	return res, nil
}
