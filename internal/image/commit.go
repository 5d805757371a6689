package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
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
	below, err := s.ImageLayers(parent)
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	layer, empty, err := s.StoreLayer(ctx, below, o.Layer)
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	if empty {
		// Docker commits a container without changes as an empty layer.
		if layer, err = s.emptyLayer(ctx, below); err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
	}

	now := time.Now().UTC()
	cfg := *pcfg
	cfg.Created = &now
	cfg.Author = o.Author
	cfg.Config = conf
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: append(append([]digest.Digest{}, pcfg.RootFS.DiffIDs...), layer.DiffID)}
	cfg.History = append(append([]ocispec.History{}, pcfg.History...), ocispec.History{
		Created: &now, Author: o.Author, Comment: o.Comment, CreatedBy: o.CreatedBy,
	})
	cdata, err := configJSON(&cfg, o.Hostname)
	if err != nil {
		return nil, err
	}
	img, err := s.NewImage(ctx, cdata, append(below, layer), tags)
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return img, nil
}

// emptyLayer stores a layer with no entries (a tar of its trailer alone)
// over below.
func (s *Service) emptyLayer(ctx context.Context, below []Layer) (Layer, error) {
	dir, done, err := s.scratch(ctx, "layer")
	if err != nil {
		return Layer{}, err
	}
	defer done()
	file := filepath.Join(dir, "layer.tar.gz")
	var buf bytes.Buffer
	tar.NewWriter(&buf).Close()
	c, err := compressLayer(ctx, &buf, file)
	if err != nil {
		return Layer{}, err
	}
	l := Layer{Blob: c.blob, DiffID: c.diffID}
	rec := layersRecord(append(append([]Layer{}, below...), l))
	return l, s.unpackLayers(ctx, fileFetcher{c.blob.Digest: file}, rec, PullOptions{Progress: NoProgress{}, Concurrency: 1})
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
