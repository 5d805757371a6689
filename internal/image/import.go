package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/gzip"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/archive"
)

// ImportOptions are `import`'s flags.
type ImportOptions struct {
	// Ref is the name:tag to give the image; "" leaves it unnamed.
	Ref string
	// Changes are Dockerfile instructions applied to the config (CMD,
	// ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME,
	// WORKDIR), each may hold several lines.
	Changes []string
	// Message is the history comment; "" means Docker's "Imported from -".
	Message string
	// Platform is the os/arch the config declares; nil means s.Platform.
	Platform *ocispec.Platform
}

// Import makes a one-layer image of the root filesystem tarball r (plain
// or compressed), as `docker import` does. The layer is stored
// gzip-compressed, so that a push sends an ordinary layer, and is unpacked
// through the pull path: archive.Apply refuses the entries that would
// leave the snapshot, and the diff ID is checked as it unpacks.
func (s *Service) Import(ctx context.Context, r io.Reader, opts ImportOptions) (*Image, error) {
	var tags []string
	if opts.Ref != "" {
		ref, err := ParseTagRef(opts.Ref)
		if err != nil {
			return nil, err
		}
		tags = []string{ref.String()}
	}
	var conf dockerspec.DockerOCIImageConfig
	if err := applyChanges(&conf, opts.Changes); err != nil {
		return nil, err
	}
	platform := s.Platform
	if opts.Platform != nil {
		platform = *opts.Platform
	}
	dir, done, err := s.scratch(ctx, "import")
	if err != nil {
		return nil, err
	}
	defer done()
	file := filepath.Join(dir, "layer.tar.gz")
	c, err := compressLayer(ctx, r, file)
	if err != nil {
		return nil, err
	}
	layer, diffID := c.blob, c.diffID
	now := time.Now().UTC()
	comment := opts.Message
	if comment == "" {
		comment = "Imported from -"
	}
	cfg := dockerspec.DockerOCIImage{
		Image: ocispec.Image{
			Created:  &now,
			Platform: ocispec.Platform{OS: platform.OS, Architecture: platform.Architecture, Variant: platform.Variant},
			RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
			History:  []ocispec.History{{Created: &now, Comment: comment}},
		},
		Config: conf,
	}
	cdata, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	man := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cdata), Size: int64(len(cdata))},
		Layers:    []ocispec.Descriptor{layer},
	}
	mdata, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	for _, b := range [][]byte{cdata, mdata} {
		if _, err := s.content.Put(b); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
	}
	rec := &record{
		config:   man.Config.Digest,
		manifest: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mdata), Size: int64(len(mdata))},
		layers:   man.Layers,
		diffIDs:  cfg.RootFS.DiffIDs,
		created:  now,
		tags:     tags,
	}
	if err := s.unpackLayers(ctx, fileFetcher{layer.Digest: file}, rec, PullOptions{Progress: NoProgress{}, Concurrency: 1}); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	img, err := s.register(ctx, rec)
	if err == nil {
		s.event(ctx, "import", img.ID.String(), img.ID.String())
	}
	return img, err
}

// compressLayer reads the tar stream r (decompressing it when it is
// compressed) to its end, checking that it is a tar, and writes it
// gzip-compressed to file (klauspost/compress's gzip at the default
// level: as compact as the standard library's, an order of magnitude
// faster, and it stores incompressible data, such as a layer of binaries,
// at close to copy speed). It returns the descriptor of the compressed
// blob, the diff ID (the digest of the uncompressed stream), the number
// of entries the tar holds and the bytes of its regular files.
func compressLayer(ctx context.Context, r io.Reader, file string) (compressed, error) {
	fail := func(format string, args ...any) (compressed, error) {
		return compressed{}, fmt.Errorf(format, args...)
	}
	dr, err := archive.Decompress(r)
	if err != nil {
		return fail("import: %w", err)
	}
	defer dr.Close()
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fail("import: %w", err)
	}
	defer f.Close()
	blob := digest.SHA256.Digester()
	out := &countWriter{}
	zw := gzip.NewWriter(io.MultiWriter(f, blob.Hash(), out))
	diff := digest.SHA256.Digester()
	in := &countWriter{}
	stream := io.TeeReader(dr, io.MultiWriter(zw, diff.Hash(), in))
	tr := tar.NewReader(stream)
	n := 0
	var size int64
	for ; ; n++ {
		if err := ctx.Err(); err != nil {
			return fail("%w", err)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if n == 0 {
				return fail("import: the input is not a tar archive (%v)", err)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fail("import: the tar archive is truncated")
			}
			return fail("import: reading the tar archive: %w", err)
		}
		if hdr.Typeflag == tar.TypeReg {
			size += hdr.Size
		}
	}
	if in.n == 0 {
		return fail("import: the input is empty: no tar archive to import")
	}
	// The diff ID covers the whole stream, past the tar trailer, as the
	// unpack will hash it.
	if _, err := io.Copy(io.Discard, stream); err != nil {
		return fail("import: reading the tar archive: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fail("import: %w", err)
	}
	return compressed{
		blob:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: blob.Digest(), Size: out.n},
		diffID:  diff.Digest(),
		entries: n,
		size:    size,
	}, nil
}

// compressed is what compressLayer made of a layer tar.
type compressed struct {
	blob    ocispec.Descriptor // the gzip blob
	diffID  digest.Digest      // of the uncompressed tar
	entries int                // tar entries
	size    int64              // bytes of regular file content
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
