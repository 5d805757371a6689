package build

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/store"
)

// The cache maps a step's inputs to the layer it made, in meta.db's
// build_cache table. A key is the digest of everything the step's result
// depends on: the tree it ran on (the parent's chain ID, which is a
// digest of the content), the instruction after expansion, and what the
// instruction reads (the environment and user of a RUN; the content,
// names and modes of exactly the files a COPY selects). The entry holds
// the layer and when it was made, which becomes the history's time, so a
// rebuild from the cache makes the same image.

// cacheVersion changes the keys when what a step does changes.
const cacheVersion = "berth.build.v1"

// cacheKey is the digest of a step's inputs.
func cacheKey(kind string, parts ...any) digest.Digest {
	data, _ := json.Marshal(append([]any{cacheVersion, kind}, parts...))
	return digest.FromBytes(data)
}

// cacheEntry is what a step made.
type cacheEntry struct {
	layer   image.Layer // zero when the step changed nothing
	created time.Time
	// description is the step, as `builder du --verbose` shows it (put
	// records it; get leaves it empty).
	description string
}

func (e cacheEntry) empty() bool { return e.layer.DiffID == "" }

type cache struct {
	db      *store.DB
	content interface{ Has(digest.Digest) bool }
}

// get returns the entry of key; an entry whose blob has gone is a miss.
// The caller touches the entries it used.
func (c *cache) get(ctx context.Context, key digest.Digest) (cacheEntry, bool) {
	var blob, mt, diffID string
	var size, created int64
	err := c.db.View(ctx, func(q store.Querier) error {
		return q.QueryRowContext(ctx, `SELECT blob, media_type, size, diff_id, created FROM build_cache WHERE key = ?`, key.String()).
			Scan(&blob, &mt, &size, &diffID, &created)
	})
	if err != nil {
		return cacheEntry{}, false
	}
	e := cacheEntry{created: time.Unix(0, created).UTC()}
	if blob != "" {
		d := digest.Digest(blob)
		if !c.content.Has(d) {
			return cacheEntry{}, false
		}
		e.layer = image.Layer{Blob: ocispec.Descriptor{MediaType: mt, Digest: d, Size: size}, DiffID: digest.Digest(diffID)}
	}
	return e, true
}

// touch marks the entries of keys used now, in one transaction (a
// build's hits, at its end, in the order they were used).
func (c *cache) touch(ctx context.Context, keys []digest.Digest) error {
	if len(keys) == 0 {
		return nil
	}
	now := time.Now().UnixNano()
	return c.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for i, k := range keys {
			// A nanosecond apart, in the order of use: prune's least
			// recently used order.
			if _, err := tx.ExecContext(ctx, `UPDATE build_cache SET last_used = ?, usage_count = usage_count + 1 WHERE key = ?`, now+int64(i), k.String()); err != nil {
				return err
			}
		}
		return nil
	})
}

// put records what the step of key made over the tree whose top is
// chainID after it ("" for an empty tree).
func (c *cache) put(ctx context.Context, key digest.Digest, e cacheEntry, chainID string) error {
	if key == "" {
		return errors.New("build cache: empty key")
	}
	now := time.Now().UnixNano()
	return c.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO build_cache (key, blob, media_type, size, diff_id, chain_id, created, last_used, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			key.String(), string(e.layer.Blob.Digest), e.layer.Blob.MediaType, e.layer.Blob.Size, string(e.layer.DiffID), chainID, e.created.UnixNano(), now, e.description)
		return err
	})
}
