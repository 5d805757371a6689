// Package registry speaks the OCI distribution (Docker registry v2)
// protocol for berth: resolving and fetching manifests and blobs for a
// pull (with byte ranges, so interrupted downloads resume), pushing an
// image from the content store (with cross-repository mounts), and the
// credentials in the Docker config file (~/.docker/config.json, with
// credential helpers). Transport and auth (token, basic, anonymous) come
// from go-containerregistry.
//
// Registries on loopback (127.0.0.0/8, ::1, localhost) are reached over
// plain HTTP, as Docker does; others only over HTTPS unless the caller
// lists them as insecure.
//
// It imports content of berth, and nothing that knows about containers.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/reference"
)

// Options configure registry access.
type Options struct {
	// Insecure lists registries (host[:port]) reached over plain HTTP
	// besides loopback.
	Insecure []string
	// Keychain resolves credentials; nil means DockerConfig.
	Keychain authn.Keychain
	// Transport is the base HTTP transport; nil means http.DefaultTransport.
	Transport http.RoundTripper
}

// manifestAccept is every manifest type berth reads.
var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageIndex,
	ocispec.MediaTypeImageManifest,
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.v1+prettyjws",
}, ", ")

func (o Options) keychain() authn.Keychain {
	if o.Keychain != nil {
		return o.Keychain
	}
	return DockerConfig{}
}

func (o Options) base() http.RoundTripper {
	if o.Transport != nil {
		return o.Transport
	}
	return http.DefaultTransport
}

// repository parses a reference into ggcr's repository, insecure when
// configured so.
func (o Options) repository(ref reference.Named) (name.Repository, error) {
	var nopts []name.Option
	host := reference.Domain(ref)
	for _, h := range o.Insecure {
		if h == host {
			nopts = append(nopts, name.Insecure)
		}
	}
	repo, err := name.NewRepository(ref.Name(), nopts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("invalid reference format: %q: %w", ref.String(), err)
	}
	return repo, nil
}

// client returns an HTTP client authenticated for repo with the scopes
// asked for.
func (o Options) client(ctx context.Context, repo name.Repository, scopes ...string) (*http.Client, error) {
	auth, err := authn.Resolve(ctx, o.keychain(), repo.Registry)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo.RegistryStr(), err)
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, o.base(), scopes)
	if err != nil {
		return nil, describe(err)
	}
	return &http.Client{Transport: rt}, nil
}

// Fetcher reads one repository; it is what image.Service.Pull takes.
type Fetcher struct {
	ref    reference.Named
	repo   name.Repository
	client *http.Client
}

// NewFetcher connects to the registry of ref with pull access.
func NewFetcher(ctx context.Context, ref reference.Named, o Options) (*Fetcher, error) {
	repo, err := o.repository(ref)
	if err != nil {
		return nil, err
	}
	c, err := o.client(ctx, repo, repo.Scope(transport.PullScope))
	if err != nil {
		return nil, err
	}
	return &Fetcher{ref: ref, repo: repo, client: c}, nil
}

// Source returns the registry host and repository path.
func (f *Fetcher) Source() (string, string) { return f.repo.RegistryStr(), f.repo.RepositoryStr() }

func (f *Fetcher) url(kind, ref string) string {
	return fmt.Sprintf("%s://%s/v2/%s/%s/%s", f.repo.Scheme(), f.repo.RegistryStr(), f.repo.RepositoryStr(), kind, ref)
}

// Resolve returns the descriptor of the manifest or index the reference
// names: a HEAD request, or a GET when the registry gives no digest.
func (f *Fetcher) Resolve(ctx context.Context) (ocispec.Descriptor, error) {
	tagOrDigest := "latest"
	if t, ok := f.ref.(reference.Tagged); ok {
		tagOrDigest = t.Tag()
	}
	if c, ok := f.ref.(reference.Digested); ok {
		tagOrDigest = c.Digest().String()
	}
	for _, method := range []string{http.MethodHead, http.MethodGet} {
		req, err := http.NewRequestWithContext(ctx, method, f.url("manifests", tagOrDigest), nil)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		req.Header.Set("Accept", manifestAccept)
		resp, err := f.client.Do(req)
		if err != nil {
			return ocispec.Descriptor{}, describe(err)
		}
		var body []byte
		if method == http.MethodGet && resp.StatusCode == http.StatusOK {
			body, err = io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return ocispec.Descriptor{}, fmt.Errorf("manifest for %s not found: manifest unknown: %w", reference.FamiliarString(f.ref), ErrNotFound)
		}
		if err := transport.CheckError(resp, http.StatusOK); err != nil {
			return ocispec.Descriptor{}, describe(err)
		}
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		desc := ocispec.Descriptor{MediaType: strings.TrimSpace(strings.Split(resp.Header.Get("Content-Type"), ";")[0])}
		desc.Digest = digest.Digest(resp.Header.Get("Docker-Content-Digest"))
		desc.Size = resp.ContentLength
		if body != nil {
			desc.Size = int64(len(body))
			got := digest.FromBytes(body)
			if desc.Digest != "" && desc.Digest != got {
				return ocispec.Descriptor{}, fmt.Errorf("manifest for %s: registry says digest %s, content has %s", reference.FamiliarString(f.ref), desc.Digest, got)
			}
			desc.Digest = got
		}
		if c, ok := f.ref.(reference.Digested); ok && desc.Digest != "" && desc.Digest != c.Digest() {
			return ocispec.Descriptor{}, fmt.Errorf("manifest for %s: registry returned digest %s", reference.FamiliarString(f.ref), desc.Digest)
		}
		if desc.Digest.Validate() == nil && desc.Size > 0 && desc.MediaType != "" {
			return desc, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("manifest for %s: the registry gave no usable digest", reference.FamiliarString(f.ref))
}

// Fetch GETs a manifest or blob from offset on.
func (f *Fetcher) Fetch(ctx context.Context, desc ocispec.Descriptor, offset int64) (io.ReadCloser, int64, error) {
	kind := "blobs"
	if isManifestType(desc.MediaType) {
		kind = "manifests"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url(kind, desc.Digest.String()), nil)
	if err != nil {
		return nil, 0, err
	}
	if kind == "manifests" {
		req.Header.Set("Accept", manifestAccept)
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, 0, describe(err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, 0, nil
	case http.StatusPartialContent:
		var start int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-", &start); err != nil || start != offset {
			resp.Body.Close()
			return f.Fetch(ctx, desc, 0)
		}
		return resp.Body, start, nil
	case http.StatusRequestedRangeNotSatisfiable:
		resp.Body.Close()
		return f.Fetch(ctx, desc, 0)
	case http.StatusNotFound:
		resp.Body.Close()
		return nil, 0, fmt.Errorf("%s %s of %s not found: %w", strings.TrimSuffix(kind, "s"), desc.Digest, reference.FamiliarName(f.ref), ErrNotFound)
	}
	defer resp.Body.Close()
	return nil, 0, describe(transport.CheckError(resp, http.StatusOK))
}

func isManifestType(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest,
		"application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.docker.distribution.manifest.v2+json":
		return true
	}
	return false
}

// ErrNotFound classifies a missing manifest or blob (wrapped).
var ErrNotFound = errors.New("not found")

// ErrUnauthorized classifies refused credentials (wrapped).
var ErrUnauthorized = errors.New("unauthorized")

// describe turns transport errors into one line users understand.
func describe(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		if te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden {
			return fmt.Errorf("%s: %w", strings.TrimSpace(te.Error()), ErrUnauthorized)
		}
	}
	return err
}

// Tags lists the tags of ref's repository.
func Tags(ctx context.Context, ref reference.Named, o Options) ([]string, error) {
	repo, err := o.repository(ref)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(repo, remote.WithContext(ctx), remote.WithAuthFromKeychain(o.keychain()), remote.WithTransport(o.base()))
	if err != nil {
		return nil, describe(err)
	}
	return tags, nil
}
