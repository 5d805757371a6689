package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CommitOptions say what Commit makes of a container.
type CommitOptions struct {
	// Ref is the name:tag to give the image; "" leaves it unnamed.
	Ref string
	// Config is the container's configuration (its image's, overridden by
	// its run options), before Changes.
	Config dockerspec.DockerOCIImageConfig
	// Hostname is recorded in the config, as Docker does.
	Hostname string
	// Changes are Dockerfile instructions, as import's.
	Changes []string
	// Author, Comment and CreatedBy go into the new history entry.
	Author, Comment, CreatedBy string
	// Layer writes the container's changes as an uncompressed layer tar.
	Layer func(ctx context.Context, w io.Writer) error
}

// dockerLayerTypes maps Docker's layer media types to the OCI ones, so a
// committed image's manifest (an OCI one) names every layer one way.
var dockerLayerTypes = map[string]string{
	"application/vnd.docker.image.rootfs.diff.tar.gzip": ocispec.MediaTypeImageLayerGzip,
	"application/vnd.docker.image.rootfs.diff.tar":      ocispec.MediaTypeImageLayer,
}

// Commit makes a new image of parent plus one layer, the container's
// changes that o.Layer writes, as `docker commit`: the parent's layers and
// history, o.Config with o.Changes applied, a history entry for the new
// layer. The layer is stored gzip-compressed and unpacked through the pull
// path (like Import's), and the image is registered in one transaction.
func (s *Service) Commit(ctx context.Context, parent *Image, o CommitOptions) (*Image, error) {
	var tags []string
	if o.Ref != "" {
		ref, err := ParseTagRef(o.Ref)
		if err != nil {
			return nil, err
		}
		tags = []string{ref.String()}
	}
	conf := o.Config
	if err := applyChanges(&conf, o.Changes); err != nil {
		return nil, err
	}
	pcfg, err := s.Config(parent)
	if err != nil {
		return nil, err
	}
	var players []ocispec.Descriptor
	if parent.Manifest != "" {
		m, err := s.Manifest(parent)
		if err != nil {
			return nil, err
		}
		players = m.Layers
	}
	if len(players) != len(pcfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("commit: image %s has %d layers and %d diff IDs", ShortID(parent.ID), len(players), len(pcfg.RootFS.DiffIDs))
	}
	dir, done, err := s.scratch(ctx, "commit")
	if err != nil {
		return nil, err
	}
	defer done()
	file := filepath.Join(dir, "layer.tar.gz")
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(o.Layer(ctx, pw)) }()
	layer, diffID, err := compressLayer(ctx, pr, file)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}

	now := time.Now().UTC()
	cfg := *pcfg
	cfg.Created = &now
	cfg.Author = o.Author
	cfg.Config = conf
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: append(append([]digest.Digest{}, pcfg.RootFS.DiffIDs...), diffID)}
	cfg.History = append(append([]ocispec.History{}, pcfg.History...), ocispec.History{
		Created: &now, Author: o.Author, Comment: o.Comment, CreatedBy: o.CreatedBy,
	})
	cdata, err := configJSON(&cfg, o.Hostname)
	if err != nil {
		return nil, err
	}
	layers := make([]ocispec.Descriptor, 0, len(players)+1)
	for _, l := range players {
		if mt, ok := dockerLayerTypes[l.MediaType]; ok {
			l.MediaType = mt
		}
		layers = append(layers, l)
	}
	layers = append(layers, layer)
	man := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cdata), Size: int64(len(cdata))},
		Layers:    layers,
	}
	mdata, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	for _, b := range [][]byte{cdata, mdata} {
		if _, err := s.content.Put(b); err != nil {
			return nil, fmt.Errorf("commit: %w", err)
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
		return nil, fmt.Errorf("commit: %w", err)
	}
	return s.register(ctx, rec)
}

// configJSON is the config blob: cfg, with config.Hostname when hostname
// is set (Docker's config has the field, the OCI one does not).
func configJSON(cfg *dockerspec.DockerOCIImage, hostname string) ([]byte, error) {
	data, err := json.Marshal(cfg)
	if err != nil || hostname == "" {
		return data, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	var c map[string]json.RawMessage
	if raw, ok := m["config"]; ok {
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, err
		}
	}
	if c == nil {
		c = map[string]json.RawMessage{}
	}
	c["Hostname"], _ = json.Marshal(hostname)
	if m["config"], err = json.Marshal(c); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}
