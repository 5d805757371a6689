package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/reference"
)

// Blobs is where a pushed image's blobs come from (the content store).
type Blobs interface {
	Open(d digest.Digest) (*os.File, error)
	ReadAll(d digest.Digest) ([]byte, error)
}

// PushProgress receives per-layer events, with Docker's words.
type PushProgress interface {
	Update(id, status string, current, total int64)
}

// PushOptions say what to push.
type PushOptions struct {
	// Manifest is the image manifest to push (its bytes are in Blobs and
	// are pushed unchanged, so the digest is kept).
	Manifest ocispec.Descriptor
	// Sources returns repositories (registry, repo) known to hold blob d:
	// when one is on the target registry, the blob is mounted from it
	// instead of uploaded.
	Sources  func(d digest.Digest) [][2]string
	Progress PushProgress
}

// Push uploads the image to ref and returns the manifest's digest and
// size.
func Push(ctx context.Context, ref reference.Named, blobs Blobs, po PushOptions, o Options) (digest.Digest, int64, error) {
	repo, err := o.repository(ref)
	if err != nil {
		return "", 0, err
	}
	tag := "latest"
	if t, ok := ref.(reference.Tagged); ok {
		tag = t.Tag()
	}
	target := repo.Tag(tag)
	raw, err := blobs.ReadAll(po.Manifest.Digest)
	if err != nil {
		return "", 0, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", 0, fmt.Errorf("manifest %s: %w", po.Manifest.Digest, err)
	}
	core := &storeImage{blobs: blobs, raw: raw, manifest: m, mediaType: po.Manifest.MediaType, counts: map[digest.Digest]*atomic.Int64{}}
	for _, l := range m.Layers {
		core.counts[l.Digest] = &atomic.Int64{}
		core.layers = append(core.layers, l)
	}
	core.progress = po.Progress
	core.mounts = map[digest.Digest]name.Reference{}
	if po.Sources != nil {
		for _, l := range m.Layers {
			for _, src := range po.Sources(l.Digest) {
				if src[0] != repo.RegistryStr() || src[1] == repo.RepositoryStr() {
					continue
				}
				if r, err := name.ParseReference(src[0]+"/"+src[1]+"@"+l.Digest.String(), name.Insecure); err == nil {
					core.mounts[l.Digest] = r
					break
				}
			}
		}
	}
	base, err := partial.CompressedToImage(core)
	if err != nil {
		return "", 0, err
	}
	img := &mountingImage{Image: base, core: core}
	existed := map[digest.Digest]bool{}
	if po.Progress != nil {
		for _, l := range m.Layers {
			po.Progress.Update(shortID(l.Digest), "Preparing", 0, l.Size)
		}
		// Which layers the registry has already, for Docker's words.
		if c, err := o.client(ctx, repo, repo.Scope(transport.PushScope)); err == nil {
			for _, l := range m.Layers {
				existed[l.Digest] = blobExists(ctx, c, repo, l.Digest)
			}
		}
	}
	err = remote.Write(target, img,
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(o.keychain()),
		remote.WithTransport(o.base()),
		remote.WithJobs(3))
	if err != nil {
		return "", 0, describe(err)
	}
	if po.Progress != nil {
		for _, l := range m.Layers {
			switch {
			case core.counts[l.Digest].Load() > 0:
				po.Progress.Update(shortID(l.Digest), "Pushed", l.Size, l.Size)
			case existed[l.Digest]:
				po.Progress.Update(shortID(l.Digest), "Layer already exists", 0, 0)
			case core.mounts[l.Digest] != nil:
				po.Progress.Update(shortID(l.Digest), "Mounted from "+core.mounts[l.Digest].Context().RepositoryStr(), 0, 0)
			default:
				po.Progress.Update(shortID(l.Digest), "Layer already exists", 0, 0)
			}
		}
	}
	return po.Manifest.Digest, int64(len(raw)), nil
}

// blobExists asks the registry whether repo has blob d.
func blobExists(ctx context.Context, c *http.Client, repo name.Repository, d digest.Digest) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, fmt.Sprintf("%s://%s/v2/%s/blobs/%s", repo.Scheme(), repo.RegistryStr(), repo.RepositoryStr(), d), nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func shortID(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		return e[:12]
	}
	return e
}

// storeImage is a go-containerregistry image over berth's content store:
// the manifest and blobs are served byte for byte as stored.
type storeImage struct {
	blobs     Blobs
	raw       []byte
	manifest  ocispec.Manifest
	mediaType string
	layers    []ocispec.Descriptor
	counts    map[digest.Digest]*atomic.Int64
	mounts    map[digest.Digest]name.Reference
	progress  PushProgress
	mu        sync.Mutex
}

func (s *storeImage) RawConfigFile() ([]byte, error) {
	return s.blobs.ReadAll(s.manifest.Config.Digest)
}
func (s *storeImage) MediaType() (types.MediaType, error) {
	return types.MediaType(s.mediaType), nil
}
func (s *storeImage) RawManifest() ([]byte, error) { return s.raw, nil }

func (s *storeImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range s.layers {
		if l.Digest.String() == h.String() {
			var layer partial.CompressedLayer = &storeLayer{img: s, desc: l}
			if ref, ok := s.mounts[l.Digest]; ok {
				full, err := partial.CompressedToLayer(layer)
				if err != nil {
					return nil, err
				}
				return &remote.MountableLayer{Layer: full, Reference: ref}, nil
			}
			return layer, nil
		}
	}
	if h.String() == s.manifest.Config.Digest.String() {
		return &storeLayer{img: s, desc: s.manifest.Config}, nil
	}
	return nil, fmt.Errorf("blob %s is not part of the image", h)
}

// mountingImage hands remote.Write the MountableLayers LayerByDigest makes
// (partial's image wrapper would hide them behind its own layer type).
type mountingImage struct {
	v1.Image
	core *storeImage
}

func (m *mountingImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := m.core.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	if full, ok := l.(v1.Layer); ok {
		return full, nil
	}
	return partial.CompressedToLayer(l)
}

func (m *mountingImage) Layers() ([]v1.Layer, error) {
	var out []v1.Layer
	for _, d := range m.core.layers {
		h, err := v1.NewHash(d.Digest.String())
		if err != nil {
			return nil, err
		}
		l, err := m.LayerByDigest(h)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

type storeLayer struct {
	img  *storeImage
	desc ocispec.Descriptor
}

func (l *storeLayer) Digest() (v1.Hash, error) { return v1.NewHash(l.desc.Digest.String()) }
func (l *storeLayer) Size() (int64, error)     { return l.desc.Size, nil }
func (l *storeLayer) MediaType() (types.MediaType, error) {
	return types.MediaType(l.desc.MediaType), nil
}

func (l *storeLayer) Compressed() (io.ReadCloser, error) {
	f, err := l.img.blobs.Open(l.desc.Digest)
	if err != nil {
		return nil, err
	}
	c := l.img.counts[l.desc.Digest]
	if c == nil || l.img.progress == nil {
		return f, nil
	}
	return &pushCounter{f: f, n: c, p: l.img.progress, id: shortID(l.desc.Digest), total: l.desc.Size}, nil
}

// pushCounter counts the bytes read. It must not embed *os.File: its
// WriteTo would let io.Copy bypass Read.
type pushCounter struct {
	f     *os.File
	n     *atomic.Int64
	p     PushProgress
	id    string
	total int64
}

func (c *pushCounter) Close() error { return c.f.Close() }

func (c *pushCounter) Read(b []byte) (int, error) {
	n, err := c.f.Read(b)
	c.p.Update(c.id, "Pushing", c.n.Add(int64(n)), c.total)
	return n, err
}
