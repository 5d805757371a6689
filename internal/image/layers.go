package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/snapshot"
)

// Layer is one layer of an image made on this host (commit, build): its
// compressed blob in the content store and its diff ID (the digest of the
// uncompressed tar).
type Layer struct {
	Blob   ocispec.Descriptor
	DiffID digest.Digest
}

// ImageLayers returns the layers of img, bottom first.
func (s *Service) ImageLayers(img *Image) ([]Layer, error) {
	cfg, err := s.Config(img)
	if err != nil {
		return nil, err
	}
	var blobs []ocispec.Descriptor
	if img.Manifest != "" {
		m, err := s.Manifest(img)
		if err != nil {
			return nil, err
		}
		blobs = m.Layers
	}
	if len(blobs) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("image %s has %d layers and %d diff IDs", ShortID(img.ID), len(blobs), len(cfg.RootFS.DiffIDs))
	}
	out := make([]Layer, len(blobs))
	for i, b := range blobs {
		out[i] = Layer{Blob: b, DiffID: cfg.RootFS.DiffIDs[i]}
	}
	return out, nil
}

// StoreLayer makes a new layer over below (bottom first, their snapshots
// unpacked): the uncompressed layer tar write produces is stored
// gzip-compressed in the content store and unpacked through the pull path
// as the committed snapshot of its chain ID. A tar without entries is not
// stored: empty is true and l is the zero Layer. The blob is held by
// nothing until an image (or the build cache) names it.
func (s *Service) StoreLayer(ctx context.Context, below []Layer, write func(ctx context.Context, w io.Writer) error) (l Layer, empty bool, err error) {
	c, file, done, err := s.compressScratch(ctx, write)
	if err != nil {
		return Layer{}, false, err
	}
	defer done()
	if c.entries == 0 {
		return Layer{}, true, nil
	}
	l = Layer{Blob: c.blob, DiffID: c.diffID}
	rec := layersRecord(append(append([]Layer{}, below...), l))
	if err := s.unpackLayers(ctx, fileFetcher{c.blob.Digest: file}, rec, PullOptions{Progress: NoProgress{}, Concurrency: 1}); err != nil {
		return Layer{}, false, err
	}
	return l, false, nil
}

// CommitSnapshot makes the changes of active snapshot key (over the top
// of below, bottom first; not mounted) a new layer, as a build step does:
// their tar is stored gzip-compressed in the content store (the file
// renamed in, not copied) and key itself becomes the committed snapshot
// of the layer's chain ID, its directory kept as it is rather than
// unpacked again from the blob. When that snapshot exists already, or
// the changes are empty (empty is true, l the zero Layer), key is left
// for the caller to remove.
func (s *Service) CommitSnapshot(ctx context.Context, below []Layer, key string) (l Layer, empty bool, err error) {
	c, file, done, err := s.compressScratch(ctx, func(ctx context.Context, w io.Writer) error {
		return snapshot.Diff(ctx, s.snapshots, key, w)
	})
	if err != nil {
		return Layer{}, false, err
	}
	defer done()
	if c.entries == 0 {
		return Layer{}, true, nil
	}
	l = Layer{Blob: c.blob, DiffID: c.diffID}
	if err := s.content.CommitFile(file, c.blob.Digest); err != nil {
		return Layer{}, false, err
	}
	chain := ChainIDs(layersRecord(append(append([]Layer{}, below...), l)).diffIDs)
	if err := s.snapshots.Commit(ctx, chain[len(chain)-1].String(), key, c.size); err != nil && !errors.Is(err, snapshot.ErrExists) {
		return Layer{}, false, err
	}
	return l, false, nil
}

// compressScratch runs write into compressLayer, whose file is in a
// scratch directory that done removes.
func (s *Service) compressScratch(ctx context.Context, write func(ctx context.Context, w io.Writer) error) (compressed, string, func(), error) {
	dir, done, err := s.scratch(ctx, "layer")
	if err != nil {
		return compressed{}, "", nil, err
	}
	file := filepath.Join(dir, "layer.tar.gz")
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(ctx, pw)) }()
	c, err := compressLayer(ctx, pr, file)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		done()
		return compressed{}, "", nil, err
	}
	return c, file, done, nil
}

// EnsureLayers unpacks again, from their blobs in the content store, the
// snapshots of layers (bottom first) that are missing: a build cache
// entry outlives the images whose removal took its snapshots.
func (s *Service) EnsureLayers(ctx context.Context, layers []Layer) error {
	if len(layers) == 0 {
		return nil
	}
	chain := ChainIDs(layersRecord(layers).diffIDs)
	if _, err := s.snapshots.Stat(ctx, chain[len(chain)-1].String()); err == nil {
		return nil
	}
	return s.unpackLayers(ctx, fileFetcher{}, layersRecord(layers), PullOptions{Progress: NoProgress{}, Concurrency: 1})
}

func layersRecord(layers []Layer) *record {
	rec := &record{}
	for _, l := range layers {
		if mt, ok := dockerLayerTypes[l.Blob.MediaType]; ok {
			l.Blob.MediaType = mt
		}
		rec.layers = append(rec.layers, l.Blob)
		rec.diffIDs = append(rec.diffIDs, l.DiffID)
	}
	return rec
}

// NewImage registers an image made on this host: the config blob cdata
// (its rootfs must list the layers' diff IDs) over layers (bottom first,
// their snapshots unpacked, blobs stored), with an OCI manifest, tagged
// tags (normalised name:tag references) in one transaction. An image
// that exists already gets the tags.
func (s *Service) NewImage(ctx context.Context, cdata []byte, layers []Layer, tags []string) (*Image, error) {
	var cfg struct {
		Created *time.Time `json:"created,omitempty"`
	}
	if err := json.Unmarshal(cdata, &cfg); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	rec := layersRecord(layers)
	man := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cdata), Size: int64(len(cdata))},
		Layers:    rec.layers,
	}
	if man.Layers == nil {
		man.Layers = []ocispec.Descriptor{}
	}
	mdata, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	for _, b := range [][]byte{cdata, mdata} {
		if _, err := s.content.Put(b); err != nil {
			return nil, err
		}
	}
	rec.config = man.Config.Digest
	rec.manifest = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mdata), Size: int64(len(mdata))}
	rec.tags = tags
	rec.created = time.Now().UTC()
	if cfg.Created != nil {
		rec.created = *cfg.Created
	}
	for _, c := range ChainIDs(rec.diffIDs) {
		if info, err := s.snapshots.Stat(ctx, c.String()); err == nil {
			rec.size += info.Size
		}
	}
	return s.register(ctx, rec)
}
