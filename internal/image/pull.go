package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/content"
	"github.com/berth-dev/berth/internal/reference"
	"github.com/berth-dev/berth/internal/snapshot"
)

// Fetcher reads one repository of a registry (the registry package
// provides it).
type Fetcher interface {
	// Resolve returns the descriptor (media type, digest, size) of the
	// manifest or index the reference names.
	Resolve(ctx context.Context) (ocispec.Descriptor, error)
	// Fetch returns the content of a manifest or blob from byte offset on;
	// start is where the reader really begins (0 when the registry
	// ignores ranges).
	Fetch(ctx context.Context, desc ocispec.Descriptor, offset int64) (rc io.ReadCloser, start int64, err error)
	// Source is where the blobs come from: registry host and repository.
	Source() (registry, repo string)
}

// Progress receives per-layer pull and push events. id is the short
// digest Docker shows (12 hex digits).
type Progress interface {
	Update(id, status string, current, total int64)
}

// NoProgress discards events.
type NoProgress struct{}

func (NoProgress) Update(string, string, int64, int64) {}

// PullOptions tune Pull.
type PullOptions struct {
	// Platform to pick from a multi-platform index; nil means the host's.
	Platform *ocispec.Platform
	Progress Progress
	// Concurrency is how many layers download at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	// NoTag leaves the name's tag as it is: the image is named by its
	// digest only (a build's base image for another platform).
	NoTag bool
	// AnyManifestPlatform takes a single-platform manifest for another
	// platform than Platform as it is, rather than refusing it (a build's
	// base image, as BuildKit's).
	AnyManifestPlatform bool
}

// DefaultConcurrency matches dockerd's max-concurrent-downloads.
const DefaultConcurrency = 3

// maxManifestSize bounds manifests and configs read into memory.
const maxManifestSize = 8 << 20

// PullResult says what Pull did.
type PullResult struct {
	Image    *Image
	Digest   digest.Digest // of the manifest or index the name resolved to
	UpToDate bool          // nothing new was downloaded
}

// ShortID is the 12-digit form of a digest.
func ShortID(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		return e[:12]
	}
	return e
}

// Pull fetches the image ref names through f, unpacks its layers and
// registers it under ref. Blobs already in the store are not fetched
// again, and a partial download resumes where it stopped.
func (s *Service) Pull(ctx context.Context, ref reference.Named, f Fetcher, opts PullOptions) (*PullResult, error) {
	if opts.Progress == nil {
		opts.Progress = NoProgress{}
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	platform := s.Platform
	if opts.Platform != nil {
		platform = *opts.Platform
	}
	top, err := f.Resolve(ctx)
	if err != nil {
		return nil, err
	}
	var tags []string
	if _, ok := ref.(reference.Tagged); ok && !opts.NoTag {
		tags = []string{ref.String()}
	}
	repoDigest := ref.Name() + "@" + top.Digest.String()
	// Already here: only make sure the tag points at it.
	if img, err := s.Get(ctx, repoDigest); err == nil && img.platformIs(s, platform) {
		rec := &record{config: img.ID, manifest: ocispec.Descriptor{Digest: img.Manifest, MediaType: img.MediaType}, tags: tags, repoDigests: []string{repoDigest}}
		if err := s.retag(ctx, rec); err != nil {
			return nil, err
		}
		img, err = s.Get(ctx, img.ID.String())
		if err == nil {
			s.event(ctx, "pull", reference.FamiliarString(ref), reference.FamiliarName(ref))
		}
		return &PullResult{Image: img, Digest: top.Digest, UpToDate: true}, err
	}
	rec := &record{tags: tags, repoDigests: []string{repoDigest}}
	reg, repo := f.Source()
	rec.source = &source{registry: reg, repo: repo}
	mdesc := top
	switch {
	case IsIndex(top.MediaType):
		data, err := s.fetchSmall(ctx, f, top)
		if err != nil {
			return nil, err
		}
		var idx ocispec.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("index %s: %w", top.Digest, err)
		}
		found := false
		for _, m := range idx.Manifests {
			if IsManifest(m.MediaType) && matchPlatform(m.Platform, platform) {
				mdesc, found = m, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("no matching manifest for %s in the manifest list entries", FormatPlatform(platform))
		}
		rec.extraBlobs = []digest.Digest{top.Digest}
	case IsManifest(top.MediaType):
	case top.MediaType == mediaTypeDockerSchema1 || top.MediaType == mediaTypeDockerSchema1+"+prettyjws" || top.MediaType == mediaTypeDockerSchema1+"+json":
		return nil, fmt.Errorf("%s: Docker Image Format v1 and Docker Image manifest version 2, schema 1 are not supported: the image must be pushed again with a newer client", reference.FamiliarString(ref))
	default:
		return nil, fmt.Errorf("%s: unsupported manifest media type %q", reference.FamiliarString(ref), top.MediaType)
	}
	data, err := s.fetchSmall(ctx, f, mdesc)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", mdesc.Digest, err)
	}
	rec.manifest = mdesc
	cdata, err := s.fetchSmall(ctx, f, m.Config)
	if err != nil {
		return nil, err
	}
	cfg, err := parseConfig(cdata)
	if err != nil {
		return nil, err
	}
	if cfg.OS != "" && (cfg.OS != platform.OS || cfg.Architecture != platform.Architecture) && !IsIndex(top.MediaType) && opts.Platform != nil && !opts.AnyManifestPlatform {
		return nil, fmt.Errorf("image %s is for %s/%s, not the requested %s", reference.FamiliarString(ref), cfg.OS, cfg.Architecture, FormatPlatform(platform))
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("manifest %s: %d layers but the config lists %d", mdesc.Digest, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	rec.config, rec.layers, rec.diffIDs = m.Config.Digest, m.Layers, cfg.RootFS.DiffIDs
	if cfg.Created != nil {
		rec.created = *cfg.Created
	}
	if err := s.unpackLayers(ctx, f, rec, opts); err != nil {
		return nil, err
	}
	img, err := s.register(ctx, rec)
	if err != nil {
		return nil, err
	}
	s.event(ctx, "pull", reference.FamiliarString(ref), reference.FamiliarName(ref))
	return &PullResult{Image: img, Digest: top.Digest}, nil
}

func (img *Image) platformIs(s *Service, p ocispec.Platform) bool {
	cfg, err := s.Config(img)
	if err != nil {
		return false
	}
	return cfg.OS == "" || (cfg.OS == p.OS && cfg.Architecture == p.Architecture)
}

// retag points rec's tags and repo digests at an image already stored.
func (s *Service) retag(ctx context.Context, rec *record) error {
	img, err := s.Get(ctx, rec.config.String())
	if err != nil {
		return err
	}
	rec.created, rec.size, rec.diffIDs = img.Created, img.Size, s.diffIDsOf(ctx, img)
	_, err = s.register(ctx, rec)
	return err
}

// diffIDsOf reads an image's diff IDs from its config.
func (s *Service) diffIDsOf(ctx context.Context, img *Image) []digest.Digest {
	cfg, err := s.Config(img)
	if err != nil {
		return nil
	}
	return cfg.RootFS.DiffIDs
}

// fetchSmall fetches a manifest or config, verifies it and stores it.
func (s *Service) fetchSmall(ctx context.Context, f Fetcher, desc ocispec.Descriptor) ([]byte, error) {
	if data, err := s.content.ReadAll(desc.Digest); err == nil {
		return data, nil
	}
	if desc.Size > maxManifestSize {
		return nil, fmt.Errorf("%s: %d bytes is too large for a manifest or config", desc.Digest, desc.Size)
	}
	rc, _, err := f.Fetch(ctx, desc, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", desc.Digest, err)
	}
	if got := digest.FromBytes(data); got != desc.Digest {
		return nil, fmt.Errorf("fetch %s: content has digest %s: %w", desc.Digest, got, content.ErrDigestMismatch)
	}
	if _, err := s.content.Put(data); err != nil {
		return nil, err
	}
	return data, nil
}

// layerJob is one layer of a pull; done closes when its snapshot is
// committed (or failed), so that its child may commit.
type layerJob struct {
	desc    ocispec.Descriptor
	diffID  digest.Digest
	chainID string
	parent  *layerJob
	done    chan struct{}
	err     error
	// With independent layers, the filled ingest waits here to be
	// committed with the others after one sync.
	ingest *snapshot.Ingest
	size   int64
}

func (j *layerJob) waitParent() error {
	if j.parent == nil {
		return nil
	}
	<-j.parent.done
	if j.parent.err != nil {
		return fmt.Errorf("layer %s: parent failed", ShortID(j.desc.Digest))
	}
	return nil
}

func (s *Service) unpackLayers(ctx context.Context, f Fetcher, rec *record, opts PullOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chain := ChainIDs(rec.diffIDs)
	jobs := make([]*layerJob, len(rec.layers))
	for i, l := range rec.layers {
		jobs[i] = &layerJob{desc: l, diffID: rec.diffIDs[i], chainID: chain[i].String(), done: make(chan struct{})}
		if i > 0 {
			jobs[i].parent = jobs[i-1]
		}
		opts.Progress.Update(ShortID(l.Digest), "Pulling fs layer", 0, l.Size)
	}
	sem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(j.done)
			sem <- struct{}{}
			err := s.pullLayer(ctx, f, j, opts.Progress, sem)
			if err != nil {
				j.err = err
				cancel()
			}
		}()
	}
	wg.Wait()
	var firstErr error
	var pending []*snapshot.Ingest
	for _, j := range jobs {
		if j.err != nil && (firstErr == nil || errors.Is(firstErr, context.Canceled)) {
			firstErr = j.err
		}
		pending = append(pending, j.ingest)
	}
	if firstErr == nil {
		firstErr = snapshot.Sync(pending...)
	}
	for _, j := range jobs {
		if j.ingest == nil {
			continue
		}
		if firstErr != nil {
			j.ingest.Abort()
		} else if err := j.ingest.Commit(ctx, j.size); err != nil {
			firstErr = err
		}
	}
	for _, j := range jobs {
		if info, err := s.snapshots.Stat(ctx, j.chainID); err == nil {
			rec.size += info.Size
		}
	}
	return firstErr
}

// pullLayer gets one layer's blob and snapshot. The semaphore slot taken
// before the call is released once the download is over.
func (s *Service) pullLayer(ctx context.Context, f Fetcher, j *layerJob, p Progress, sem chan struct{}) error {
	released := false
	release := func() {
		if !released {
			released = true
			<-sem
		}
	}
	defer release()
	id := ShortID(j.desc.Digest)
	_, snapErr := s.snapshots.Stat(ctx, j.chainID)
	haveSnap := snapErr == nil
	if haveSnap && s.content.Has(j.desc.Digest) {
		p.Update(id, "Already exists", 0, 0)
		return nil
	}
	var in *snapshot.Ingest
	var size int64
	if !s.content.Has(j.desc.Digest) {
		if !haveSnap && s.snapshots.IndependentLayers() {
			// Unpack while it downloads.
			var err error
			if in, err = s.snapshots.NewLayer(ctx, j.chainID, parentKey(j)); err != nil {
				if !errors.Is(err, snapshot.ErrExists) {
					return err
				}
				haveSnap = true
			}
		}
		n, err := s.download(ctx, f, j, in, p)
		if err != nil {
			if in != nil {
				in.Abort()
			}
			return err
		}
		size = n
	}
	release()
	if !haveSnap && in == nil {
		// The blob was here already (or the snapshotter needs the
		// parent's tree, then after the parent): unpack from the store.
		if !s.snapshots.IndependentLayers() {
			if err := j.waitParent(); err != nil {
				return err
			}
		}
		var err error
		in, err = s.snapshots.NewLayer(ctx, j.chainID, parentKey(j))
		if errors.Is(err, snapshot.ErrExists) {
			p.Update(id, "Pull complete", 0, 0)
			return nil
		}
		if err != nil {
			return err
		}
		p.Update(id, "Extracting", 0, j.desc.Size)
		if size, err = s.unpackBlob(ctx, j, in); err != nil {
			in.Abort()
			return err
		}
	}
	if in != nil && s.snapshots.IndependentLayers() {
		// Committed with the others once all are unpacked.
		j.ingest, j.size = in, size
	} else if in != nil {
		if err := j.waitParent(); err != nil {
			in.Abort()
			return err
		}
		if err := in.Commit(ctx, size); err != nil {
			return err
		}
	}
	p.Update(id, "Pull complete", 0, 0)
	return nil
}

func parentKey(j *layerJob) string {
	if j.parent == nil {
		return ""
	}
	return j.parent.chainID
}

// download streams the layer blob into the content store, resuming a
// partial ingest, and unpacks it into in on the way when in is not nil.
// It returns the unpacked size.
func (s *Service) download(ctx context.Context, f Fetcher, j *layerJob, in *snapshot.Ingest, p Progress) (int64, error) {
	id := ShortID(j.desc.Digest)
	w, err := s.content.Writer(j.desc.Digest, j.desc.Size)
	if errors.Is(err, content.ErrExists) {
		if in == nil {
			return 0, nil
		}
		return s.unpackBlob(ctx, j, in)
	}
	if err != nil {
		return 0, err
	}
	defer w.Close()
	h := digest.SHA256.Digester()
	offset := w.Offset()
	if offset > 0 {
		if _, err := io.Copy(h.Hash(), w.Prefix()); err != nil {
			return 0, err
		}
	}
	rc, start, err := f.Fetch(ctx, j.desc, offset)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if start != offset {
		// The registry ignored the range: start over.
		if err := w.Truncate(); err != nil {
			return 0, err
		}
		h.Hash().Reset()
		offset = 0
	}
	body := io.TeeReader(rc, io.MultiWriter(w, h.Hash(), &counter{p: p, id: id, n: offset, total: j.desc.Size}))
	var size int64
	if in != nil {
		full := body
		if offset > 0 {
			full = io.MultiReader(w.Prefix(), body)
		}
		size, err = s.applyLayer(ctx, j, in, full)
	} else {
		_, err = io.Copy(io.Discard, body)
	}
	if err != nil {
		// A layer that fails to unpack may be one whose bytes don't
		// match its digest: say so rather than report a tar error.
		if _, derr := io.Copy(io.Discard, body); derr == nil {
			if cerr := w.CommitVerified(h.Digest()); errors.Is(cerr, content.ErrDigestMismatch) {
				return 0, fmt.Errorf("layer %s: %w", id, cerr)
			}
		}
		return 0, fmt.Errorf("layer %s: %w", id, err)
	}
	if err := w.CommitVerified(h.Digest()); err != nil {
		return 0, fmt.Errorf("layer %s: %w", id, err)
	}
	return size, nil
}

// unpackBlob unpacks a stored layer blob into in.
func (s *Service) unpackBlob(ctx context.Context, j *layerJob, in *snapshot.Ingest) (int64, error) {
	f, err := s.content.Open(j.desc.Digest)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h := digest.SHA256.Digester()
	size, err := s.applyLayer(ctx, j, in, io.TeeReader(f, h.Hash()))
	if err == nil && h.Digest() != j.desc.Digest {
		err = fmt.Errorf("blob %s: content has digest %s: %w", j.desc.Digest, h.Digest(), content.ErrDigestMismatch)
	}
	return size, err
}

// applyLayer decompresses r into in, checks the diff ID, and reads r to
// its end (so a caller hashing r sees every byte).
func (s *Service) applyLayer(ctx context.Context, j *layerJob, in *snapshot.Ingest, r io.Reader) (int64, error) {
	dr, err := archive.Decompress(r)
	if err != nil {
		return 0, err
	}
	defer dr.Close()
	dh := digest.SHA256.Digester()
	size, err := archive.Apply(ctx, in.Dir, io.TeeReader(dr, dh.Hash()), archive.Options{Whiteouts: in.Whiteouts, AllowDevices: true})
	if err != nil {
		return 0, err
	}
	if _, err := io.Copy(dh.Hash(), dr); err != nil {
		return 0, err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return 0, err
	}
	if got := dh.Digest(); j.diffID != "" && got != j.diffID {
		return 0, fmt.Errorf("layer %s: uncompressed content has digest %s, the config says %s: %w", ShortID(j.desc.Digest), got, j.diffID, content.ErrDigestMismatch)
	}
	return size, nil
}

// counter reports download progress.
type counter struct {
	p        Progress
	id       string
	n, total int64
}

func (c *counter) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	c.p.Update(c.id, "Downloading", c.n, c.total)
	return len(b), nil
}
