package image

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/reference"
)

// ParseRef normalises a user's image reference the way Docker does:
// "busybox" is docker.io/library/busybox:latest; a reference with a digest
// keeps it and gets no default tag.
func ParseRef(s string) (reference.Named, error) {
	if s == "" {
		return nil, fmt.Errorf("invalid reference format: empty image name")
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, fmt.Errorf("invalid reference format: %q: %v", s, unwrapRefErr(err))
	}
	return reference.TagNameOnly(named), nil
}

// ParseTagRef parses the target of a tag: a name with an optional tag, no
// digest.
func ParseTagRef(s string) (reference.NamedTagged, error) {
	r, err := ParseRef(s)
	if err != nil {
		return nil, err
	}
	t, ok := r.(reference.NamedTagged)
	if !ok {
		return nil, fmt.Errorf("invalid reference format: %q: a tag target can't have a digest", s)
	}
	if _, isDigested := r.(reference.Canonical); isDigested {
		return nil, fmt.Errorf("invalid reference format: %q: a tag target can't have a digest", s)
	}
	return t, nil
}

func unwrapRefErr(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "repository name must be lowercase") {
		return "repository name must be lowercase"
	}
	return msg
}

// Familiar returns the short form users see: "busybox:latest",
// "example.com/x/y:1".
func Familiar(ref string) string {
	r, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.FamiliarString(r)
}

// splitFamiliar splits a stored name:tag reference into the REPOSITORY and
// TAG columns of `images`.
func splitFamiliar(ref string) (repo, tag string) {
	r, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref, ""
	}
	repo = reference.FamiliarName(r)
	if t, ok := r.(reference.Tagged); ok {
		tag = t.Tag()
	}
	return repo, tag
}

// looksLikeID reports whether s may be an image ID or a prefix of one.
func looksLikeID(s string) (string, bool) {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) < 1 || len(s) > 64 {
		return "", false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	return s, true
}

// ChainIDs returns the chain ID of every prefix of a layer stack, from the
// diff IDs (digests of the uncompressed layers), as the image spec defines.
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromString(out[i-1].String() + " " + d.String())
	}
	return out
}
