package build

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
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

// Record types, BuildKit's names.
const (
	RecordRegular    = "regular"         // a step's layer
	RecordCacheMount = "exec.cachemount" // a RUN --mount=type=cache directory
)

// cacheMountDescription is the file in a cache mount's directory that
// says what it is.
const cacheMountDescription = "description"

// Record is one record of the build cache, as BuildKit's usage info
// (`builder du`).
type Record struct {
	ID          string // a cache entry's key (hex), or a cache mount's id
	Type        string // RecordRegular or RecordCacheMount
	Description string
	// Size is of the layer's compressed blob, or of the mount's files.
	Size int64
	// Shared: an image has the layer too (pruning it frees nothing).
	Shared bool
	// InUse: a running build holds it (a cache mount).
	InUse      bool
	Mutable    bool // a cache mount
	CreatedAt  time.Time
	LastUsedAt time.Time
	UsageCount int
}

// Records lists the build cache: its entries, oldest use first, then its
// cache mounts.
func (b *Builder) Records(ctx context.Context) ([]Record, error) {
	var out []Record
	err := b.cfg.DB.View(ctx, func(q store.Querier) error {
		rows, err := q.QueryContext(ctx, `SELECT key, size, created, last_used, description, usage_count,
			blob != '' AND blob IN (SELECT digest FROM image_blobs) FROM build_cache ORDER BY last_used, key`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Record
			var created, used int64
			if err := rows.Scan(&r.ID, &r.Size, &created, &used, &r.Description, &r.UsageCount, &r.Shared); err != nil {
				return err
			}
			r.ID = strings.TrimPrefix(r.ID, "sha256:")
			r.Type = RecordRegular
			r.CreatedAt, r.LastUsedAt = time.Unix(0, created), time.Unix(0, used)
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	for _, d := range b.cacheMounts() {
		fi, err := os.Stat(d)
		if err != nil {
			continue
		}
		r := Record{ID: filepath.Base(d), Type: RecordCacheMount, Mutable: true, Size: dirSize(filepath.Join(d, "data")),
			LastUsedAt: fi.ModTime(), CreatedAt: fi.ModTime(), UsageCount: 1}
		if fi, err := os.Stat(filepath.Join(d, cacheMountDescription)); err == nil {
			r.CreatedAt = fi.ModTime()
		}
		if data, err := os.ReadFile(filepath.Join(d, cacheMountDescription)); err == nil {
			r.Description = string(data)
		}
		if f, err := os.Open(d); err == nil {
			r.InUse = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil
			f.Close()
		}
		out = append(out, r)
	}
	return out, nil
}

// RecordFilter selects records as BuildKit's prune and du filters do
// (moby passes `--filter id=X` as id~=X, the others as key==value).
type RecordFilter struct {
	ID          *regexp.Regexp // matches part of the ID
	Type        string
	Description string
	// Parent is accepted and matches nothing: records have no parents
	// here (nor, through moby, in BuildKit, whose field is "parents").
	Parent *string
	// InUse, Shared and Private: nil for any; else the record has (true)
	// or lacks (false) the property.
	InUse, Shared, Private *bool
}

// Match reports whether r passes every set field of f.
func (f *RecordFilter) Match(r Record) bool {
	if f == nil {
		return true
	}
	is := func(want *bool, have bool) bool { return want == nil || *want == have }
	return (f.ID == nil || f.ID.MatchString(r.ID)) &&
		(f.Type == "" || f.Type == r.Type) &&
		(f.Description == "" || f.Description == r.Description) &&
		f.Parent == nil &&
		is(f.InUse, r.InUse) && is(f.Shared, r.Shared) && is(f.Private, !r.Shared)
}

// PruneOptions are `builder prune`'s.
type PruneOptions struct {
	// All removes the cache mounts too (-a).
	All bool
	// Before keeps what was used at or after it (--filter until=…);
	// zero for no limit.
	Before time.Time
	// Filter selects the records to remove; nil for all.
	Filter *RecordFilter
	// The space limits, as BuildKit's (bytes; 0 for none). With any set,
	// the least recently used records go one by one until the cache's
	// private size is below the size to keep: MaxUsedSpace, lowered to
	// leave MinFreeSpace free on the disk, never below ReservedSpace
	// (--keep-storage).
	ReservedSpace, MaxUsedSpace, MinFreeSpace int64
}

// Prune removes the build cache's entries, their layers that no image
// uses, the remembered digests of context files, and with All the cache
// mounts that no running build holds; with Before, Filter or a space
// limit, only the records they select (and no remembered digests).
func (b *Builder) Prune(ctx context.Context, o PruneOptions) (PruneResult, error) {
	var res PruneResult
	recs, err := b.Records(ctx)
	if err != nil {
		return res, err
	}
	var cands []Record
	for _, r := range recs {
		if r.InUse || (r.Type == RecordCacheMount && !o.All) {
			continue
		}
		if !o.Before.IsZero() && !r.LastUsedAt.Before(o.Before) {
			continue // used since
		}
		if o.Filter.Match(r) {
			cands = append(cands, r)
		}
	}
	if o.ReservedSpace != 0 || o.MaxUsedSpace != 0 || o.MinFreeSpace != 0 {
		var total int64
		for _, r := range recs {
			if !r.Shared {
				total += r.Size
			}
		}
		var free int64
		if o.MinFreeSpace != 0 {
			var st unix.Statfs_t
			if err := unix.Statfs(b.cfg.StateDir, &st); err != nil {
				return res, &os.SyscallError{Syscall: "statfs", Err: err}
			}
			free = int64(st.Bavail) * st.Bsize
		}
		keep := keepBytes(total, free, o)
		// Least recently used first (entries come sorted; mounts not).
		slices.SortStableFunc(cands, func(a, b Record) int { return a.LastUsedAt.Compare(b.LastUsedAt) })
		n := 0
		for n < len(cands) && total >= keep {
			if !cands[n].Shared {
				total -= cands[n].Size
			}
			n++
		}
		cands = cands[:n]
	}
	var keys []any
	var mounts []string
	for _, r := range cands {
		if r.Type == RecordCacheMount {
			mounts = append(mounts, r.ID)
		} else {
			keys = append(keys, "sha256:"+r.ID)
		}
	}
	var chains []string
	err = b.cfg.DB.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		seen := map[string]bool{}
		for len(keys) > 0 {
			batch := keys[:min(len(keys), 500)]
			keys = keys[len(batch):]
			in := "?" + strings.Repeat(",?", len(batch)-1)
			rows, err := tx.QueryContext(ctx, `SELECT key, chain_id FROM build_cache WHERE key IN (`+in+`)`, batch...)
			if err != nil {
				return err
			}
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
			if _, err := tx.ExecContext(ctx, `DELETE FROM build_cache WHERE key IN (`+in+`)`, batch...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	freed, err := b.cfg.Images.ReleaseChains(ctx, chains)
	res.Reclaimed += freed
	if err != nil {
		return res, err
	}
	if o.Before.IsZero() && o.Filter == nil && o.ReservedSpace == 0 && o.MaxUsedSpace == 0 && o.MinFreeSpace == 0 {
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
	for _, id := range mounts {
		d := filepath.Join(b.cfg.StateDir, cacheMountsDir, id)
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
			res.Deleted = append(res.Deleted, id)
		}
		f.Close()
	}
	return res, nil
}

// keepBytes is BuildKit's calculateKeepBytes: the private size the cache
// may keep, given its total and the disk's free bytes.
func keepBytes(total, free int64, o PruneOptions) int64 {
	keep := o.MaxUsedSpace
	if excess := o.MinFreeSpace - free; o.MinFreeSpace != 0 && excess > 0 {
		if keep == 0 {
			keep = total - excess
		} else {
			keep = min(keep, total-excess)
		}
	} else if o.MinFreeSpace != 0 && keep == 0 {
		keep = total // there is free space enough: nothing to remove
	}
	return max(keep, o.ReservedSpace)
}
