package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/reference"
)

// Annotations an image archive's index.json names images with, as
// Docker 25+ and containerd write them: the OCI one holds only the tag,
// containerd's the whole normalised reference.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = ocispec.AnnotationRefName
)

// Save writes the images names resolve to as one tar that is both a
// docker-archive (manifest.json, repositories) and an OCI image layout
// (oci-layout, index.json, blobs/), the way `docker save` has since
// Docker 25. Every blob is stored once under blobs/sha256/. The layers
// are written uncompressed, each under its diff ID, since docker-archive
// readers check a layer file against the config's diff ID; the OCI side
// gets a new manifest pointing at those uncompressed layers.
//
// A name may be name:tag, an image ID, or a repository without a tag (all
// of its tags, as docker saves them). Every name is resolved before
// anything is written: an unknown one is an error wrapping ErrNotFound.
func (s *Service) Save(ctx context.Context, names []string, w io.Writer) error {
	plan, err := s.planSave(ctx, names)
	if err != nil {
		return err
	}
	sw := &saveWriter{s: s, tw: tar.NewWriter(w), done: map[digest.Digest]bool{}}
	sizes := map[digest.Digest]int64{} // uncompressed, by diff ID
	var (
		index = ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
		dman  = []dockerManifest{}
		repos = map[string]map[string]string{}
	)
	if err := sw.dir("blobs/"); err != nil {
		return err
	}
	if err := sw.dir("blobs/sha256/"); err != nil {
		return err
	}
	for _, it := range plan {
		if err := ctx.Err(); err != nil {
			return err
		}
		exp, err := s.exportImage(ctx, it.img, sizes)
		if err != nil {
			return err
		}
		if err := sw.blob(exp.config, exp.configData); err != nil {
			return err
		}
		entry := dockerManifest{Config: blobName(exp.config), RepoTags: []string{}, Layers: []string{}}
		for _, l := range exp.layers {
			if err := sw.layer(ctx, l); err != nil {
				return err
			}
			entry.Layers = append(entry.Layers, blobName(l.diffID))
		}
		mdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(exp.manifest), Size: int64(len(exp.manifest))}
		if err := sw.blob(mdesc.Digest, exp.manifest); err != nil {
			return err
		}
		if len(it.tags) == 0 {
			index.Manifests = append(index.Manifests, mdesc)
		}
		for _, t := range it.tags {
			ref, err := ParseTagRef(t)
			if err != nil {
				return err
			}
			d := mdesc
			d.Annotations = map[string]string{annotationContainerdName: ref.String(), annotationRefName: ref.Tag()}
			index.Manifests = append(index.Manifests, d)
			entry.RepoTags = append(entry.RepoTags, reference.FamiliarString(ref))
			if len(exp.layers) > 0 {
				repo := reference.FamiliarName(ref)
				if repos[repo] == nil {
					repos[repo] = map[string]string{}
				}
				repos[repo][ref.Tag()] = exp.layers[len(exp.layers)-1].diffID.Encoded()
			}
		}
		dman = append(dman, entry)
	}
	for _, f := range []struct {
		name string
		v    any
	}{
		{"index.json", index},
		{"manifest.json", dman},
		{"oci-layout", ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}},
		{"repositories", repos},
	} {
		if f.name == "repositories" && len(repos) == 0 {
			continue
		}
		data, err := json.Marshal(f.v)
		if err != nil {
			return err
		}
		if err := sw.file(f.name, data); err != nil {
			return err
		}
	}
	if err := sw.tw.Close(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	for _, it := range plan {
		name := it.img.ID.String()
		if len(it.tags) > 0 {
			name = Familiar(it.tags[0])
		}
		s.event(ctx, "save", it.img.ID.String(), name)
	}
	return nil
}

// dockerManifest is one entry of a docker-archive's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// blobName is where an archive holds blob d.
func blobName(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

// saveItem is one image to save and the tags (normalised) to save it as.
type saveItem struct {
	img  *Image
	tags []string
}

// planSave resolves names to images as docker save does, merging names
// of one image into one item.
func (s *Service) planSave(ctx context.Context, names []string) ([]*saveItem, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("save: no image named")
	}
	var plan []*saveItem
	byID := map[digest.Digest]*saveItem{}
	add := func(img *Image, tags ...string) {
		it := byID[img.ID]
		if it == nil {
			it = &saveItem{img: img}
			byID[img.ID] = it
			plan = append(plan, it)
		}
		for _, t := range tags {
			if !slices.Contains(it.tags, t) {
				it.tags = append(it.tags, t)
			}
		}
	}
	for _, name := range names {
		// A repository without a tag means all its tags.
		if named, err := reference.ParseNormalizedNamed(name); err == nil && reference.IsNameOnly(named) {
			if _, isID := looksLikeID(name); !isID {
				imgs, err := s.List(ctx)
				if err != nil {
					return nil, err
				}
				found := false
				for _, img := range imgs {
					for _, t := range img.RepoTags {
						if r, _ := splitFamiliar(t); r == reference.FamiliarName(named) {
							add(img, t)
							found = true
						}
					}
				}
				if found {
					continue
				}
			}
		}
		img, err := s.Get(ctx, name)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
			}
			return nil, err
		}
		if strings.HasPrefix(img.ID.Encoded(), strings.TrimPrefix(name, "sha256:")) {
			add(img, img.RepoTags...)
			continue
		}
		ref, err := ParseRef(name)
		if err != nil {
			return nil, err
		}
		if t, ok := ref.(reference.NamedTagged); ok {
			add(img, t.String())
		} else {
			add(img)
		}
	}
	return plan, nil
}

// exportedImage is an image as an archive holds it.
type exportedImage struct {
	config     digest.Digest
	configData []byte
	layers     []exportLayer
	manifest   []byte // an OCI manifest of the uncompressed layers
}

// exportLayer is one layer to write uncompressed.
type exportLayer struct {
	blob   ocispec.Descriptor // the stored (usually compressed) blob
	diffID digest.Digest      // digest of the uncompressed tar
	size   int64              // of the uncompressed tar
}

// exportImage reads what saving img needs and measures its uncompressed
// layers (which also checks each against its diff ID); sizes caches the
// measures across images.
func (s *Service) exportImage(ctx context.Context, img *Image, sizes map[digest.Digest]int64) (*exportedImage, error) {
	cdata, err := s.content.ReadAll(img.ID)
	if err != nil {
		return nil, fmt.Errorf("save %s: config: %w", ShortID(img.ID), err)
	}
	cfg, err := parseConfig(cdata)
	if err != nil {
		return nil, fmt.Errorf("save %s: %w", ShortID(img.ID), err)
	}
	m, err := s.Manifest(img)
	if err != nil {
		return nil, fmt.Errorf("save: %w", err)
	}
	if len(m.Layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("save %s: %d layers but the config lists %d", ShortID(img.ID), len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	exp := &exportedImage{config: img.ID, configData: cdata}
	out := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: img.ID, Size: int64(len(cdata))},
		Layers:    []ocispec.Descriptor{},
	}
	for i, l := range m.Layers {
		el := exportLayer{blob: l, diffID: cfg.RootFS.DiffIDs[i]}
		size, ok := sizes[el.diffID]
		if !ok {
			if size, err = s.uncompressedSize(ctx, el); err != nil {
				return nil, fmt.Errorf("save %s: %w", ShortID(img.ID), err)
			}
			sizes[el.diffID] = size
		}
		el.size = size
		exp.layers = append(exp.layers, el)
		out.Layers = append(out.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: el.diffID, Size: el.size})
	}
	if exp.manifest, err = json.Marshal(out); err != nil {
		return nil, err
	}
	return exp, nil
}

// uncompressedSize returns the size of layer l's tar, reading it through
// once to check it against the diff ID. A blob stored uncompressed is its
// own diff ID, and its size is known.
func (s *Service) uncompressedSize(ctx context.Context, l exportLayer) (int64, error) {
	if l.blob.Digest == l.diffID {
		return s.content.Size(l.blob.Digest)
	}
	rc, err := s.openLayer(ctx, l)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(io.Discard, rc)
}

// openLayer returns the uncompressed tar of layer l; reading it to the end
// fails when the content does not hash to the diff ID.
func (s *Service) openLayer(ctx context.Context, l exportLayer) (io.ReadCloser, error) {
	f, err := s.content.Open(l.blob.Digest)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", ShortID(l.blob.Digest), err)
	}
	dr, err := archive.Decompress(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("layer %s: %w", ShortID(l.blob.Digest), err)
	}
	return &verifyingReader{ctx: ctx, r: dr, h: digest.SHA256.Digester(), want: l.diffID, closers: []io.Closer{dr, f}}, nil
}

// verifyingReader hashes what it reads and turns the EOF into an error
// when the hash is not want.
type verifyingReader struct {
	ctx     context.Context
	r       io.Reader
	h       digest.Digester
	want    digest.Digest
	closers []io.Closer
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if err := v.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := v.r.Read(p)
	v.h.Hash().Write(p[:n])
	if err == io.EOF {
		if got := v.h.Digest(); got != v.want {
			return n, fmt.Errorf("layer %s: the stored layer has diff ID %s, its config says %s: the store is damaged; pull the image again", ShortID(v.want), got, v.want)
		}
	} else if err != nil {
		err = fmt.Errorf("layer %s: %w", ShortID(v.want), err)
	}
	return n, err
}

func (v *verifyingReader) Close() error {
	for _, c := range v.closers {
		c.Close()
	}
	return nil
}

// saveWriter writes an archive's entries, each blob once.
type saveWriter struct {
	s    *Service
	tw   *tar.Writer
	done map[digest.Digest]bool
}

// archiveTime is every entry's mtime, so that saving an image twice gives
// the same bytes.
var archiveTime = time.Unix(0, 0)

func (w *saveWriter) dir(name string) error {
	return w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: archiveTime})
}

func (w *saveWriter) file(name string, data []byte) error {
	if err := w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: archiveTime}); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if _, err := w.tw.Write(data); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

func (w *saveWriter) blob(d digest.Digest, data []byte) error {
	if w.done[d] {
		return nil
	}
	w.done[d] = true
	return w.file(blobName(d), data)
}

// layer writes layer l uncompressed under its diff ID.
func (w *saveWriter) layer(ctx context.Context, l exportLayer) error {
	if w.done[l.diffID] {
		return nil
	}
	w.done[l.diffID] = true
	rc, err := w.s.openLayer(ctx, l)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: blobName(l.diffID), Mode: 0o644, Size: l.size, ModTime: archiveTime}); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	n, err := io.Copy(w.tw, rc)
	if errors.Is(err, tar.ErrWriteTooLong) || err == nil && n != l.size {
		return fmt.Errorf("layer %s: changed while it was saved", ShortID(l.diffID))
	}
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}
