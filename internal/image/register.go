package image

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/store"
)

// Media types berth reads besides the OCI ones.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerSchema1      = "application/vnd.docker.distribution.manifest.v1"
)

// IsIndex reports whether a media type is a manifest list or OCI index.
func IsIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// IsManifest reports whether a media type is an image manifest.
func IsManifest(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == MediaTypeDockerManifest
}

// record is an image ready to be registered: its blobs are in the content
// store and its layers committed as snapshots.
type record struct {
	config      digest.Digest
	manifest    ocispec.Descriptor
	extraBlobs  []digest.Digest // an index it came through
	layers      []ocispec.Descriptor
	diffIDs     []digest.Digest
	created     time.Time
	size        int64
	tags        []string // normalised name:tag
	repoDigests []string // normalised name@digest
	source      *source  // where the layers came from (registry pulls)
}

type source struct{ registry, repo string }

// register makes the image visible in one transaction: either the whole
// image (record, tags, blobs held) is there or none of it.
func (s *Service) register(ctx context.Context, r *record) (*Image, error) {
	chain := ChainIDs(r.diffIDs)
	top := ""
	if len(chain) > 0 {
		top = chain[len(chain)-1].String()
	}
	err := s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		blobs := append([]digest.Digest{r.config, r.manifest.Digest}, r.extraBlobs...)
		for _, l := range r.layers {
			blobs = append(blobs, l.Digest)
		}
		for _, b := range blobs {
			if b != "" && !s.content.Has(b) {
				return fmt.Errorf("register image: blob %s vanished (removed meanwhile); try again", b)
			}
		}
		for _, c := range chain {
			if _, err := s.snapshots.Stat(ctx, c.String()); err != nil {
				return fmt.Errorf("register image: layer %s vanished (removed meanwhile); try again", c)
			}
		}
		now := time.Now().UnixNano()
		if _, err := tx.Exec(`INSERT INTO images (id, manifest, media_type, top_layer, size, created, added) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET manifest = excluded.manifest, media_type = excluded.media_type`,
			r.config, r.manifest.Digest, r.manifest.MediaType, top, r.size, r.created.UnixNano(), now); err != nil {
			return fmt.Errorf("register image: %w", err)
		}
		for _, b := range blobs {
			if b != "" {
				tx.Exec(`INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?, ?)`, r.config, b)
			}
		}
		for i, l := range r.layers {
			tx.Exec(`INSERT OR IGNORE INTO layers (chain_id, blob, diff_id) VALUES (?, ?, ?)`, chain[i], l.Digest, r.diffIDs[i])
			if r.source != nil {
				tx.Exec(`INSERT OR IGNORE INTO blob_sources (digest, registry, repo) VALUES (?, ?, ?)`, l.Digest, r.source.registry, r.source.repo)
			}
		}
		for _, t := range r.tags {
			if _, err := tx.Exec(`INSERT OR REPLACE INTO tags (ref, image_id) VALUES (?, ?)`, t, r.config); err != nil {
				return err
			}
		}
		for _, rd := range r.repoDigests {
			repo, dg, _ := strings.Cut(rd, "@")
			if _, err := tx.Exec(`INSERT OR REPLACE INTO repo_digests (repo, digest, image_id) VALUES (?, ?, ?)`, repo, dg, r.config); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, r.config.String())
}

// parseConfig checks an image config blob and returns its diff IDs and
// creation time.
func parseConfig(data []byte) (*ocispec.Image, error) {
	var cfg ocispec.Image
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	if cfg.RootFS.Type != "" && cfg.RootFS.Type != "layers" {
		return nil, fmt.Errorf("image config: rootfs type %q is not supported", cfg.RootFS.Type)
	}
	return &cfg, nil
}

// Sources returns the repositories (registry, repo) blob d is known to
// come from, for cross-repository mounts on push.
func (s *Service) Sources(ctx context.Context, d digest.Digest) [][2]string {
	var out [][2]string
	s.db.View(ctx, func(q store.Querier) error {
		rows, err := q.QueryContext(ctx, `SELECT registry, repo FROM blob_sources WHERE digest = ?`, d)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r [2]string
			if rows.Scan(&r[0], &r[1]) == nil {
				out = append(out, r)
			}
		}
		return nil
	})
	return out
}

// AddSource records that blob d exists in registry/repo (after a push).
func (s *Service) AddSource(ctx context.Context, d digest.Digest, registry, repo string) {
	s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT OR IGNORE INTO blob_sources (digest, registry, repo) VALUES (?, ?, ?)`, d, registry, repo)
		return err
	})
}

// AddRepoDigest records name@digest for an image (after a push).
func (s *Service) AddRepoDigest(ctx context.Context, id digest.Digest, repo string, d digest.Digest) error {
	return s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT OR REPLACE INTO repo_digests (repo, digest, image_id) VALUES (?, ?, ?)`, repo, d, id)
		return err
	})
}
