package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/content"
)

// Limits on an archive given to Load, which is untrusted input.
const (
	// maxArchiveBytes bounds the file content of one archive: far above
	// any real set of images, below a full disk.
	maxArchiveBytes int64 = 2 * archive.DefaultMaxBytes
	// maxArchiveEntries bounds its entries (a docker-archive has a few
	// per layer).
	maxArchiveEntries = 1 << 20
	// maxIndexDepth bounds indexes nested in indexes.
	maxIndexDepth = 4
)

// Load reads an image archive and registers the images in it, returning
// the lines `docker load` prints ("Loaded image: busybox:latest", or
// "Loaded image ID: sha256:…" for an image without a name).
//
// It takes what `docker save` (any version), `skopeo copy … docker-archive:`
// and `podman save` write, and OCI image layouts (index.json; names from
// the io.containerd.image.name or org.opencontainers.image.ref.name
// annotations; from a multi-platform index the image for s.Platform),
// plain or gzip-compressed.
//
// The archive is untrusted. Its regular files are copied into a scratch
// directory under numbered names (entry names stay in memory: a name
// climbing out with "..", or an absolute one, is refused; links are only
// resolved inside the archive), within limits on size and entry count.
// Every blob is checked against its digest and every layer against its
// diff ID before anything is stored as an image; a bad archive leaves no
// image, and at most blobs that no image holds, which Cleanup removes.
func (s *Service) Load(ctx context.Context, r io.Reader) ([]string, error) {
	dir, done, err := s.scratch(ctx, "load")
	if err != nil {
		return nil, err
	}
	defer done()
	a, err := readArchive(ctx, r, dir)
	if err != nil {
		return nil, err
	}
	var imgs []*loadImage
	switch {
	case a.entries["manifest.json"] != nil:
		imgs, err = s.planDockerArchive(a)
	case a.entries["index.json"] != nil:
		imgs, err = s.planOCILayout(a)
	default:
		err = fmt.Errorf("load: the archive has neither manifest.json nor index.json: it is not an image archive (from docker save) or an OCI image layout")
	}
	if err != nil {
		return nil, err
	}
	// Unpack every image before registering any, so that a layer that
	// fails leaves no image behind. An image already here keeps its
	// manifest (and layer blobs, as pulled): only its tags change.
	fetch := a.fetcher()
	for _, li := range imgs {
		if img, err := s.Get(ctx, li.rec.config.String()); err == nil {
			li.rec = &record{config: img.ID, manifest: ocispec.Descriptor{Digest: img.Manifest, MediaType: img.MediaType}, tags: li.rec.tags}
			li.existing = true
			continue
		}
		for _, data := range li.blobs {
			if _, err := s.content.Put(data); err != nil {
				return nil, fmt.Errorf("load: %w", err)
			}
		}
		if err := s.unpackLayers(ctx, fetch, li.rec, PullOptions{Progress: NoProgress{}, Concurrency: DefaultConcurrency}); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
	}
	var out []string
	for _, li := range imgs {
		for _, t := range li.rec.tags {
			if old, err := s.Get(ctx, t); err == nil && old.ID != li.rec.config {
				out = append(out, fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string", Familiar(t), old.ID))
			}
		}
		if li.existing {
			err = s.retag(ctx, li.rec)
		} else {
			_, err = s.register(ctx, li.rec)
		}
		if err != nil {
			return out, fmt.Errorf("load: %w", err)
		}
		name := li.rec.config.String()
		if len(li.rec.tags) > 0 {
			name = Familiar(li.rec.tags[0])
		}
		s.event(ctx, "load", li.rec.config.String(), name)
		if len(li.rec.tags) == 0 {
			out = append(out, "Loaded image ID: "+li.rec.config.String())
		}
		for _, t := range li.rec.tags {
			out = append(out, "Loaded image: "+Familiar(t))
		}
	}
	return out, nil
}

// scratch returns a private directory on the store's file system for
// input being checked, and the function that removes it. It is an
// uncommitted snapshot ingest: locked while in use, so a concurrent
// Cleanup leaves it alone, and removed by Cleanup after a crash.
func (s *Service) scratch(ctx context.Context, what string) (string, func(), error) {
	var b [8]byte
	rand.Read(b[:])
	in, err := s.snapshots.NewLayer(ctx, what+"-scratch-"+hex.EncodeToString(b[:]), "")
	if err != nil {
		return "", nil, fmt.Errorf("%s: scratch directory: %w", what, err)
	}
	return in.Dir, in.Abort, nil
}

// loadImage is one image of an archive, checked and ready to store.
type loadImage struct {
	rec      *record
	blobs    map[digest.Digest][]byte // manifest, config, indexes
	existing bool                     // the store has the image already
}

// archiveEntry is a regular file of an archive, copied to file.
type archiveEntry struct {
	file   string
	size   int64
	digest digest.Digest // sha256 of the content
	diffID digest.Digest // of the decompressed content, once computed
}

// loadArchive is an archive's regular files by cleaned name.
type loadArchive struct {
	entries map[string]*archiveEntry
}

// readArchive copies the regular files of the (possibly compressed) tar r
// into dir, hashing each.
func readArchive(ctx context.Context, r io.Reader, dir string) (*loadArchive, error) {
	dr, err := archive.Decompress(r)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer dr.Close()
	a := &loadArchive{entries: map[string]*archiveEntry{}}
	links := map[string]string{}
	tr := tar.NewReader(dr)
	var total int64
	buf := make([]byte, 1<<20)
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			if n == 0 {
				return nil, fmt.Errorf("load: the input is empty: no archive to load")
			}
			break
		}
		if err != nil {
			if n == 0 && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, tar.ErrHeader)) {
				return nil, fmt.Errorf("load: the input is not a tar archive (%v)", err)
			}
			return nil, readErr(err)
		}
		if n >= maxArchiveEntries {
			return nil, fmt.Errorf("load: the archive has more than %d entries", maxArchiveEntries)
		}
		name, err := cleanEntryName(hdr.Name)
		if err != nil {
			return nil, err
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			if name == "" {
				return nil, fmt.Errorf("load: archive entry %q: a file can't be the archive's root", hdr.Name)
			}
			if total += hdr.Size; total > maxArchiveBytes {
				return nil, fmt.Errorf("load: the archive holds more than %d bytes", maxArchiveBytes)
			}
			e, err := copyEntry(tr, filepath.Join(dir, strconv.Itoa(n)), buf)
			if err != nil {
				return nil, err
			}
			a.entries[name] = e
			delete(links, name)
		case tar.TypeSymlink:
			// Old docker saves link a repeated layer.tar to its first
			// copy: keep links that stay inside the archive, as aliases.
			if !path.IsAbs(hdr.Linkname) {
				if target, err := cleanEntryName(path.Join(path.Dir(name), hdr.Linkname)); err == nil {
					links[name] = target
				}
			}
		case tar.TypeLink:
			if target, err := cleanEntryName(hdr.Linkname); err == nil {
				links[name] = target
			}
		}
		// Directories need no copy; devices, fifos and the like are
		// not part of an image archive and are skipped.
	}
	for name, target := range links {
		for hops := 0; hops < 16; hops++ {
			if e := a.entries[target]; e != nil {
				a.entries[name] = e
				break
			}
			next, ok := links[target]
			if !ok {
				break
			}
			target = next
		}
	}
	return a, nil
}

// cleanEntryName checks an archive entry's name: relative, without "..".
// The archive's root itself gives "".
func cleanEntryName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("load: archive entry %q: absolute names are not allowed in an image archive", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("load: archive entry %q: a name with \"..\" would leave the archive", name)
		}
	}
	c := path.Clean(name)
	if c == "." {
		return "", nil
	}
	return c, nil
}

func copyEntry(r io.Reader, file string, buf []byte) (*archiveEntry, error) {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer f.Close()
	h := digest.SHA256.Digester()
	n, err := io.CopyBuffer(io.MultiWriter(f, h.Hash()), r, buf)
	if err != nil {
		return nil, readErr(err)
	}
	return &archiveEntry{file: file, size: n, digest: h.Digest()}, nil
}

func readErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("load: the archive is truncated (it ends in the middle of an entry)")
	}
	return fmt.Errorf("load: reading the archive: %w", err)
}

// entry returns the file an archive's metadata names, checking the name
// and, for blobs/<algorithm>/<hex>, that the content has that digest.
func (a *loadArchive) entry(name string) (*archiveEntry, error) {
	c, err := cleanEntryName(name)
	if err != nil {
		return nil, err
	}
	e := a.entries[c]
	if e == nil {
		return nil, fmt.Errorf("load: the archive lacks %s, which its metadata names (truncated archive?)", name)
	}
	if rest, ok := strings.CutPrefix(c, "blobs/"); ok {
		alg, enc, _ := strings.Cut(rest, "/")
		if want := digest.NewDigestFromEncoded(digest.Algorithm(alg), enc); want != e.digest {
			return nil, fmt.Errorf("load: %s: the content has digest %s: %w", c, e.digest, content.ErrDigestMismatch)
		}
	}
	return e, nil
}

// read returns the content of a small file (metadata, configs).
func (a *loadArchive) read(e *archiveEntry) ([]byte, error) {
	if e.size > maxManifestSize {
		return nil, fmt.Errorf("load: %d bytes is too large for an image's metadata", e.size)
	}
	return os.ReadFile(e.file)
}

// blob returns the entry of an OCI layout's blob, checking its size too.
func (a *loadArchive) blob(desc ocispec.Descriptor) (*archiveEntry, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("load: descriptor digest %q: %v", desc.Digest, err)
	}
	if desc.Digest.Algorithm() != digest.SHA256 {
		return nil, fmt.Errorf("load: blob %s: only sha256 digests are supported", desc.Digest)
	}
	e, err := a.entry(blobName(desc.Digest))
	if err != nil {
		return nil, err
	}
	if e.size != desc.Size {
		return nil, fmt.Errorf("load: blob %s: %d bytes, its descriptor says %d", desc.Digest, e.size, desc.Size)
	}
	return e, nil
}

// blobData returns the content of a small blob (manifest, index, config).
func (a *loadArchive) blobData(desc ocispec.Descriptor) ([]byte, error) {
	e, err := a.blob(desc)
	if err != nil {
		return nil, err
	}
	return a.read(e)
}

// layerDiffID returns the digest of a layer file's uncompressed content.
func (a *loadArchive) layerDiffID(e *archiveEntry) (digest.Digest, error) {
	if e.diffID != "" {
		return e.diffID, nil
	}
	f, err := os.Open(e.file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	dr, err := archive.Decompress(f)
	if err != nil {
		return "", err
	}
	defer dr.Close()
	h := digest.SHA256.Digester()
	if _, err := io.Copy(h.Hash(), dr); err != nil {
		return "", err
	}
	e.diffID = h.Digest()
	return e.diffID, nil
}

// isGzip reports whether a file starts as gzip does.
func isGzip(file string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	head, _ := bufio.NewReader(f).Peek(2)
	return bytes.Equal(head, []byte{0x1f, 0x8b})
}

// fetcher serves the archive's files as blobs, by content digest.
func (a *loadArchive) fetcher() fileFetcher {
	f := fileFetcher{}
	for _, e := range a.entries {
		f[e.digest] = e.file
	}
	return f
}

// planDockerArchive reads a docker-archive's manifest.json. Its layers
// are stored as they are, with an OCI manifest made up for them: an
// uncompressed layer as application/vnd.oci.image.layer.v1.tar.
func (s *Service) planDockerArchive(a *loadArchive) ([]*loadImage, error) {
	me, err := a.entry("manifest.json")
	if err != nil {
		return nil, err
	}
	data, err := a.read(me)
	if err != nil {
		return nil, err
	}
	var entries []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("load: manifest.json: %v", err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("load: manifest.json lists no image")
	}
	var out []*loadImage
	for _, m := range entries {
		ce, err := a.entry(m.Config)
		if err != nil {
			return nil, err
		}
		cdata, err := a.read(ce)
		if err != nil {
			return nil, err
		}
		cfg, err := parseConfig(cdata)
		if err != nil {
			return nil, fmt.Errorf("load: %s: %w", m.Config, err)
		}
		if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
			return nil, fmt.Errorf("load: manifest.json: %d layers but the config %s lists %d", len(m.Layers), m.Config, len(cfg.RootFS.DiffIDs))
		}
		rec := &record{config: ce.digest, diffIDs: cfg.RootFS.DiffIDs}
		if cfg.Created != nil {
			rec.created = *cfg.Created
		}
		man := ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: ce.digest, Size: ce.size},
			Layers:    []ocispec.Descriptor{},
		}
		for i, name := range m.Layers {
			le, err := a.entry(name)
			if err != nil {
				return nil, err
			}
			want := cfg.RootFS.DiffIDs[i]
			if le.digest != want {
				got, err := a.layerDiffID(le)
				if err != nil {
					return nil, fmt.Errorf("load: layer %s: %w", name, err)
				}
				if got != want {
					return nil, fmt.Errorf("load: layer %s: its uncompressed content has digest %s, the image's config says %s: %w", name, got, want, content.ErrDigestMismatch)
				}
			}
			mt := ocispec.MediaTypeImageLayer
			if isGzip(le.file) {
				mt = ocispec.MediaTypeImageLayerGzip
			}
			man.Layers = append(man.Layers, ocispec.Descriptor{MediaType: mt, Digest: le.digest, Size: le.size})
		}
		rec.layers = man.Layers
		mdata, err := json.Marshal(man)
		if err != nil {
			return nil, err
		}
		rec.manifest = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mdata), Size: int64(len(mdata))}
		for _, t := range m.RepoTags {
			ref, err := ParseTagRef(t)
			if err != nil {
				return nil, fmt.Errorf("load: manifest.json: %w", err)
			}
			if !slices.Contains(rec.tags, ref.String()) {
				rec.tags = append(rec.tags, ref.String())
			}
		}
		out = append(out, &loadImage{rec: rec, blobs: map[digest.Digest][]byte{ce.digest: cdata, rec.manifest.Digest: mdata}})
	}
	return out, nil
}

// planOCILayout reads an OCI image layout's index.json: each manifest it
// lists (or the one for s.Platform from an index it lists) is an image.
func (s *Service) planOCILayout(a *loadArchive) ([]*loadImage, error) {
	if le := a.entries["oci-layout"]; le != nil {
		data, err := a.read(le)
		if err != nil {
			return nil, err
		}
		var l ocispec.ImageLayout
		if err := json.Unmarshal(data, &l); err != nil {
			return nil, fmt.Errorf("load: oci-layout: %v", err)
		}
		if l.Version != ocispec.ImageLayoutVersion {
			return nil, fmt.Errorf("load: oci-layout: image layout version %q is not supported", l.Version)
		}
	}
	ie, err := a.entry("index.json")
	if err != nil {
		return nil, err
	}
	data, err := a.read(ie)
	if err != nil {
		return nil, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("load: index.json: %v", err)
	}
	var out []*loadImage
	byManifest := map[digest.Digest]*loadImage{}
	for _, d := range idx.Manifests {
		if IsManifest(d.MediaType) && d.Platform != nil && !matchPlatform(d.Platform, s.Platform) {
			continue
		}
		li := byManifest[d.Digest]
		if li == nil {
			if li, err = s.planOCI(a, d, 0); err != nil {
				return nil, err
			}
			byManifest[d.Digest] = li
			out = append(out, li)
		}
		if name := ociName(d.Annotations); name != "" && !slices.Contains(li.rec.tags, name) {
			li.rec.tags = append(li.rec.tags, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("load: index.json lists no image for %s", FormatPlatform(s.Platform))
	}
	return out, nil
}

// planOCI follows descriptor d (a manifest, or an index to pick the
// manifest for s.Platform from) to an image.
func (s *Service) planOCI(a *loadArchive, d ocispec.Descriptor, depth int) (*loadImage, error) {
	data, err := a.blobData(d)
	if err != nil {
		return nil, err
	}
	switch {
	case IsIndex(d.MediaType):
		if depth >= maxIndexDepth {
			return nil, fmt.Errorf("load: index %s: indexes nested more than %d deep", ShortID(d.Digest), maxIndexDepth)
		}
		var idx ocispec.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("load: index %s: %v", ShortID(d.Digest), err)
		}
		for _, m := range idx.Manifests {
			if (IsManifest(m.MediaType) || IsIndex(m.MediaType)) && matchPlatform(m.Platform, s.Platform) {
				li, err := s.planOCI(a, m, depth+1)
				if err != nil {
					return nil, err
				}
				li.rec.extraBlobs = append(li.rec.extraBlobs, d.Digest)
				li.blobs[d.Digest] = data
				return li, nil
			}
		}
		return nil, fmt.Errorf("load: no matching manifest for %s in index %s", FormatPlatform(s.Platform), ShortID(d.Digest))
	case IsManifest(d.MediaType):
	default:
		return nil, fmt.Errorf("load: %s: unsupported manifest media type %q", ShortID(d.Digest), d.MediaType)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("load: manifest %s: %v", ShortID(d.Digest), err)
	}
	cdata, err := a.blobData(m.Config)
	if err != nil {
		return nil, err
	}
	cfg, err := parseConfig(cdata)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("load: manifest %s: %d layers but the config lists %d", ShortID(d.Digest), len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	for _, l := range m.Layers {
		if strings.Contains(l.MediaType, "zstd") {
			return nil, fmt.Errorf("load: layer %s: zstd-compressed layers are not supported", ShortID(l.Digest))
		}
		if _, err := a.blob(l); err != nil {
			return nil, err
		}
	}
	rec := &record{
		config:   m.Config.Digest,
		manifest: ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size},
		layers:   m.Layers,
		diffIDs:  cfg.RootFS.DiffIDs,
	}
	if cfg.Created != nil {
		rec.created = *cfg.Created
	}
	return &loadImage{rec: rec, blobs: map[digest.Digest][]byte{d.Digest: data, m.Config.Digest: cdata}}, nil
}

// ociName returns the normalised name:tag an index.json entry gives its
// image, or "". containerd's annotation has the whole name (Docker 25+
// writes it, with only the tag in the OCI one); without it the OCI
// annotation is taken as a name, as skopeo's oci:DIR:NAME writes it.
func ociName(annotations map[string]string) string {
	for _, k := range []string{annotationContainerdName, annotationRefName} {
		if n := annotations[k]; n != "" {
			if ref, err := ParseTagRef(n); err == nil {
				return ref.String()
			}
		}
	}
	return ""
}

// fileFetcher serves blobs from files on disk (an archive's entries, an
// import's compressed layer) by digest, so that load and import unpack
// through the pull path: the download verifies the digest, the unpack
// the diff ID.
type fileFetcher map[digest.Digest]string

func (f fileFetcher) Resolve(context.Context) (ocispec.Descriptor, error) {
	return ocispec.Descriptor{}, errors.ErrUnsupported
}

func (f fileFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor, offset int64) (io.ReadCloser, int64, error) {
	p, ok := f[desc.Digest]
	if !ok {
		return nil, 0, fmt.Errorf("blob %s: %w", desc.Digest, content.ErrNotFound)
	}
	file, err := os.Open(p)
	if err != nil {
		return nil, 0, err
	}
	if _, err := file.Seek(offset, io.SeekStart); err != nil {
		file.Close()
		return nil, 0, err
	}
	return file, offset, nil
}

func (f fileFetcher) Source() (string, string) { return "", "" }
