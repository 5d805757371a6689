// Package image turns names into images and images into snapshots: the
// image records (IDs, tags, repo digests) in the metadata store, unpacking
// layers into snapshots, removal with garbage collection, save/load and
// import. Registry transport is not here (see registry); this package
// takes a Fetcher.
//
// It must not import runtime, network or cli.
package image

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"strings"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/content"
	"github.com/berth-dev/berth/internal/snapshot"
	"github.com/berth-dev/berth/internal/store"
)

// Errors, wrapped with context; the CLI maps them to messages and codes.
var (
	ErrNotFound = errors.New("No such image")
	ErrConflict = errors.New("conflict")
)

// Service is the image store.
type Service struct {
	db        *store.DB
	content   *content.Store
	snapshots snapshot.Snapshotter
	// Platform is the default platform to pull and run.
	Platform ocispec.Platform
}

// New returns the image service over the given stores.
func New(db *store.DB, cs *content.Store, sn snapshot.Snapshotter, platform ocispec.Platform) *Service {
	return &Service{db: db, content: cs, snapshots: sn, Platform: platform}
}

// Content is the blob store the service uses.
func (s *Service) Content() *content.Store { return s.content }

// Snapshotter is the snapshotter the service unpacks into.
func (s *Service) Snapshotter() snapshot.Snapshotter { return s.snapshots }

// Image is one image record.
type Image struct {
	ID          digest.Digest // digest of the config blob
	Manifest    digest.Digest // digest of the manifest blob
	MediaType   string        // of the manifest
	TopLayer    string        // chain ID of the top layer snapshot, "" when none
	Size        int64         // unpacked size of all layers
	Created     time.Time     // from the config
	Added       time.Time
	RepoTags    []string // normalised name:tag references
	RepoDigests []string // normalised name@digest references
}

// Config reads and parses the image's config blob.
func (s *Service) Config(img *Image) (*dockerspec.DockerOCIImage, error) {
	data, err := s.content.ReadAll(img.ID)
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", img.ID.Encoded()[:12], err)
	}
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", img.ID.Encoded()[:12], err)
	}
	return &cfg, nil
}

// List returns every image, newest first.
func (s *Service) List(ctx context.Context) ([]*Image, error) {
	var out []*Image
	err := s.db.View(ctx, func(q store.Querier) error {
		var err error
		out, err = s.query(ctx, q, ``)
		return err
	})
	return out, err
}

func (s *Service) query(ctx context.Context, q store.Querier, where string, args ...any) ([]*Image, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, manifest, media_type, top_layer, size, created, added FROM images `+where+` ORDER BY created DESC, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var out []*Image
	byID := map[digest.Digest]*Image{}
	for rows.Next() {
		var img Image
		var created, added int64
		if err := rows.Scan(&img.ID, &img.Manifest, &img.MediaType, &img.TopLayer, &img.Size, &created, &added); err != nil {
			rows.Close()
			return nil, err
		}
		img.Created, img.Added = time.Unix(0, created), time.Unix(0, added)
		out = append(out, &img)
		byID[img.ID] = &img
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	rows, err = q.QueryContext(ctx, `SELECT ref, image_id FROM tags ORDER BY ref`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var ref string
		var id digest.Digest
		if err := rows.Scan(&ref, &id); err != nil {
			rows.Close()
			return nil, err
		}
		if img := byID[id]; img != nil {
			img.RepoTags = append(img.RepoTags, ref)
		}
	}
	rows.Close()
	rows, err = q.QueryContext(ctx, `SELECT repo, digest, image_id FROM repo_digests ORDER BY repo, digest`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var repo, dg string
		var id digest.Digest
		if err := rows.Scan(&repo, &dg, &id); err != nil {
			return nil, err
		}
		if img := byID[id]; img != nil {
			img.RepoDigests = append(img.RepoDigests, repo+"@"+dg)
		}
	}
	return out, rows.Err()
}

// Get resolves what a user typed (a name, name:tag, name@digest, a full
// or short image ID) to an image.
func (s *Service) Get(ctx context.Context, name string) (*Image, error) {
	var img *Image
	err := s.db.View(ctx, func(q store.Querier) error {
		var err error
		img, err = s.resolve(ctx, q, name)
		return err
	})
	return img, err
}

func (s *Service) resolve(ctx context.Context, q store.Querier, name string) (*Image, error) {
	one := func(where string, args ...any) (*Image, error) {
		imgs, err := s.query(ctx, q, where, args...)
		if err != nil {
			return nil, err
		}
		if len(imgs) == 1 {
			return imgs[0], nil
		}
		if len(imgs) > 1 {
			return nil, fmt.Errorf("%s: ambiguous image ID prefix", name)
		}
		return nil, nil
	}
	if hex, ok := looksLikeID(name); ok {
		if len(hex) == 64 {
			if img, err := one(`WHERE id = ?`, "sha256:"+hex); img != nil || err != nil {
				return img, err
			}
		} else if img, err := one(`WHERE id LIKE ?`, "sha256:"+hex+"%"); img != nil || err != nil {
			return img, err
		}
	}
	ref, err := ParseRef(name)
	if err != nil {
		if _, isID := looksLikeID(name); isID {
			return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
		}
		return nil, err
	}
	if c, ok := ref.(interface{ Digest() digest.Digest }); ok {
		if img, err := one(`WHERE id IN (SELECT image_id FROM repo_digests WHERE repo = ? AND digest = ?)`, ref.Name(), c.Digest().String()); img != nil || err != nil {
			return img, err
		}
	} else if img, err := one(`WHERE id IN (SELECT image_id FROM tags WHERE ref = ?)`, ref.String()); img != nil || err != nil {
		return img, err
	}
	return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
}

// Tag points target (name[:tag]) at the image source resolves to.
func (s *Service) Tag(ctx context.Context, source, target string) error {
	t, err := ParseTagRef(target)
	if err != nil {
		return err
	}
	return s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		img, err := s.resolve(ctx, tx, source)
		if err != nil {
			return err
		}
		if _, err = tx.Exec(`INSERT OR REPLACE INTO tags (ref, image_id) VALUES (?, ?)`, t.String(), img.ID); err != nil {
			return err
		}
		return s.event(ctx, "tag", img.ID.String(), Familiar(t.String()))
	})
}

// event records Docker's image event: action on the image actor, with its
// name (a reference, or the ID) as the attribute.
func (s *Service) event(ctx context.Context, action, actor, name string) error {
	return s.db.AddEvent(ctx, store.Event{Type: "image", Action: action, Actor: actor, Attributes: map[string]string{"name": name}})
}

// RemoveOptions are rmi's flags.
type RemoveOptions struct {
	Force bool
	// NoPrune keeps untagged parent images; berth's images have no
	// parent images until builds make them, so it changes nothing yet.
	NoPrune bool
	// InUse reports whether containers use the image (refused without
	// Force); nil until containers exist.
	InUse func(id digest.Digest) (bool, error)
}

// Removed lists what Remove did, in Docker's words.
type Removed struct {
	Untagged []string
	Deleted  []string
}

// Remove untags or deletes an image the way `docker rmi` does: a name
// removes that tag, and the image goes when nothing names it any more; an
// ID deletes the image, which needs Force when several repositories name it.
func (s *Service) Remove(ctx context.Context, name string, opts RemoveOptions) (*Removed, error) {
	res := &Removed{}
	var removed digest.Digest
	err := s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		img, err := s.resolve(ctx, tx, name)
		if err != nil {
			return err
		}
		removed = img.ID
		byID := strings.HasPrefix(img.ID.Encoded(), strings.TrimPrefix(name, "sha256:"))
		if opts.InUse != nil {
			used, err := opts.InUse(img.ID)
			if err != nil {
				return err
			}
			if used && !opts.Force {
				return fmt.Errorf("unable to remove image %s (must be forced) - image is being used by a container: %w", name, ErrConflict)
			}
		}
		if !byID {
			ref, _ := ParseRef(name)
			if _, isDigest := ref.(interface{ Digest() digest.Digest }); isDigest {
				repo, dg, _ := strings.Cut(ref.String(), "@")
				tx.Exec(`DELETE FROM repo_digests WHERE repo = ? AND digest = ?`, repo, dg)
			} else {
				tx.Exec(`DELETE FROM tags WHERE ref = ?`, ref.String())
			}
			res.Untagged = append(res.Untagged, Familiar(ref.String()))
			var left int
			tx.QueryRow(`SELECT count(*) FROM tags WHERE image_id = ?`, img.ID).Scan(&left)
			if left > 0 {
				return nil
			}
			// The last tag went; the repo digests go with the image.
			for _, rd := range img.RepoDigests {
				if rd != ref.String() {
					res.Untagged = append(res.Untagged, Familiar(rd))
				}
			}
		} else {
			repos := map[string]bool{}
			for _, t := range img.RepoTags {
				r, _ := splitFamiliar(t)
				repos[r] = true
			}
			if len(repos) > 1 && !opts.Force {
				return fmt.Errorf("unable to delete %s (must be forced) - image is referenced in multiple repositories: %w", name, ErrConflict)
			}
			for _, r := range append(append([]string{}, img.RepoTags...), img.RepoDigests...) {
				res.Untagged = append(res.Untagged, Familiar(r))
			}
		}
		if err := s.deleteImage(ctx, tx, img.ID); err != nil {
			return err
		}
		res.Deleted = append(res.Deleted, img.ID.String())
		return s.collect(ctx, img)
	})
	if err != nil {
		return nil, err
	}
	// The events once the removal is committed, as dockerd logs them.
	for range res.Untagged {
		s.event(ctx, "untag", removed.String(), removed.String())
	}
	for _, d := range res.Deleted {
		s.event(ctx, "delete", d, d)
	}
	return res, nil
}

func (s *Service) deleteImage(ctx context.Context, tx *sql.Tx, id digest.Digest) error {
	for _, q := range []string{
		`DELETE FROM tags WHERE image_id = ?`,
		`DELETE FROM repo_digests WHERE image_id = ?`,
		`DELETE FROM image_blobs WHERE image_id = ?`,
		`DELETE FROM images WHERE id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return fmt.Errorf("delete image %s: %w", id, err)
		}
	}
	return nil
}

// collect removes the layer snapshots and blobs of a deleted image that no
// other image (nor the build cache) uses. It runs in the write transaction that deleted the
// image, so that a concurrent registration, which checks its blobs and
// snapshots in its own write transaction, sees either all of them or
// fails cleanly.
func (s *Service) collect(ctx context.Context, img *Image) error {
	return s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.releaseChain(ctx, tx, img.TopLayer); err != nil {
			return err
		}
		return s.collectBlobs(ctx, tx)
	})
}

// ReleaseChains removes, as collect does for an image's, the layer
// snapshots of the trees tops that no image nor build cache entry uses
// any more (after the build cache dropped them), then the blobs no one
// holds, and returns the bytes freed.
func (s *Service) ReleaseChains(ctx context.Context, tops []string) (int64, error) {
	before := s.diskBytes(ctx)
	err := s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, top := range tops {
			if err := s.releaseChain(ctx, tx, top); err != nil {
				return err
			}
		}
		return s.collectBlobs(ctx, tx)
	})
	return max(0, before-s.diskBytes(ctx)), err
}

// releaseChain removes the layer snapshots from top down while nothing
// else uses them.
func (s *Service) releaseChain(ctx context.Context, tx *sql.Tx, top string) error {
	for key := top; key != ""; {
		info, err := s.snapshots.Stat(ctx, key)
		if err != nil {
			break
		}
		var users int
		tx.QueryRow(`SELECT (SELECT count(*) FROM images WHERE top_layer = ?) + (SELECT count(*) FROM build_cache WHERE chain_id = ?)`, key, key).Scan(&users)
		if users > 0 {
			break
		}
		if err := s.snapshots.Remove(ctx, key); err != nil {
			if errors.Is(err, snapshot.ErrInUse) {
				break
			}
			return err
		}
		tx.Exec(`DELETE FROM layers WHERE chain_id = ?`, key)
		key = info.Parent
	}
	return nil
}

// collectBlobs deletes the blobs no image holds.
func (s *Service) collectBlobs(ctx context.Context, tx *sql.Tx) error {
	held := map[digest.Digest]bool{}
	// The build cache's layers are held as images' are.
	rows, err := tx.QueryContext(ctx, `SELECT digest FROM image_blobs UNION SELECT blob FROM build_cache WHERE blob != ''`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var d digest.Digest
		rows.Scan(&d)
		held[d] = true
	}
	rows.Close()
	var drop []digest.Digest
	s.content.Walk(func(d digest.Digest, _ int64) error {
		if !held[d] {
			drop = append(drop, d)
		}
		return nil
	})
	for _, d := range drop {
		if err := s.content.Delete(d); err != nil {
			return err
		}
		tx.Exec(`DELETE FROM blob_sources WHERE digest = ?`, d)
		tx.Exec(`DELETE FROM layers WHERE blob = ?`, d)
	}
	return nil
}

// PruneOptions are `image prune`'s.
type PruneOptions struct {
	All   bool // every image without containers, not only dangling ones
	InUse func(id digest.Digest) (bool, error)
}

// Prune removes dangling images (or all unused with All) and returns the
// IDs deleted and the bytes reclaimed.
func (s *Service) Prune(ctx context.Context, opts PruneOptions) ([]string, int64, error) {
	imgs, err := s.List(ctx)
	if err != nil {
		return nil, 0, err
	}
	before := s.diskBytes(ctx)
	var deleted []string
	for _, img := range imgs {
		if len(img.RepoTags) > 0 && !opts.All {
			continue
		}
		if opts.InUse != nil {
			if used, err := opts.InUse(img.ID); err != nil || used {
				continue
			}
		}
		res, err := s.Remove(ctx, img.ID.String(), RemoveOptions{Force: true})
		if err != nil {
			return deleted, 0, err
		}
		deleted = append(deleted, res.Untagged...)
		deleted = append(deleted, res.Deleted...)
	}
	return deleted, max(0, before-s.diskBytes(ctx)), nil
}

func (s *Service) diskBytes(ctx context.Context) int64 {
	var n int64
	s.content.Walk(func(_ digest.Digest, size int64) error { n += size; return nil })
	s.snapshots.Walk(ctx, func(i snapshot.Info) error { n += i.Size; return nil })
	return n
}

// Cleanup removes what crashes left: unlocked snapshot directories without
// a record, partial ingests older than a day, and blobs no image holds.
func (s *Service) Cleanup(ctx context.Context) (int64, error) {
	freed, err := s.snapshots.Cleanup(ctx)
	if err != nil {
		return freed, err
	}
	n, err := s.content.PruneIngests(24 * time.Hour)
	freed += n
	if err != nil {
		return freed, err
	}
	before := s.diskBytes(ctx)
	err = s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.collectBlobs(ctx, tx) })
	return freed + max(0, before-s.diskBytes(ctx)), err
}

// History is one row of `history`.
type History struct {
	ID        string // the image ID on the top row, "<missing>" below
	Created   time.Time
	CreatedBy string
	Size      int64
	Comment   string
	Tags      []string
}

// History returns the image's history, newest first, as `docker history`.
func (s *Service) History(ctx context.Context, img *Image) ([]History, error) {
	cfg, err := s.Config(img)
	if err != nil {
		return nil, err
	}
	layers, err := s.Layers(ctx, img)
	if err != nil {
		return nil, err
	}
	var sizes []int64
	for _, l := range layers {
		sizes = append(sizes, l.Size)
	}
	var out []History
	layer := 0
	for _, h := range cfg.History {
		row := History{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment}
		if h.Created != nil {
			row.Created = *h.Created
		}
		if !h.EmptyLayer && layer < len(sizes) {
			row.Size = sizes[layer]
			layer++
		}
		out = append(out, row)
	}
	if len(cfg.History) == 0 {
		for _, sz := range sizes {
			out = append(out, History{ID: "<missing>", Created: img.Created, Size: sz})
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if len(out) > 0 {
		out[0].ID = img.ID.String()
		for _, t := range img.RepoTags {
			out[0].Tags = append(out[0].Tags, Familiar(t))
		}
	}
	return out, nil
}

// ManifestFor returns the descriptor of the image's manifest.
func (s *Service) ManifestFor(ctx context.Context, img *Image) (ocispec.Descriptor, error) {
	size, err := s.content.Size(img.Manifest)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("image %s: manifest: %w", ShortID(img.ID), err)
	}
	return ocispec.Descriptor{MediaType: img.MediaType, Digest: img.Manifest, Size: size}, nil
}

// Manifest reads and parses the image's manifest.
func (s *Service) Manifest(img *Image) (*ocispec.Manifest, error) {
	data, err := s.content.ReadAll(img.Manifest)
	if err != nil {
		return nil, fmt.Errorf("image %s: manifest: %w", ShortID(img.ID), err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("image %s: manifest: %w", ShortID(img.ID), err)
	}
	return &m, nil
}

// LayerBlobs returns the digests of the image's layer blobs, bottom first.
func (s *Service) LayerBlobs(ctx context.Context, img *Image) []digest.Digest {
	m, err := s.Manifest(img)
	if err != nil {
		return nil
	}
	var out []digest.Digest
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// Layers returns the image's layer snapshots, bottom first.
func (s *Service) Layers(ctx context.Context, img *Image) ([]snapshot.Info, error) {
	var out []snapshot.Info
	for key := img.TopLayer; key != ""; {
		info, err := s.snapshots.Stat(ctx, key)
		if err != nil {
			return nil, err
		}
		out = append([]snapshot.Info{info}, out...)
		key = info.Parent
	}
	return out, nil
}
