// Package reference parses image references ("busybox",
// "example.com:5000/team/app:1.2@sha256:…") with Docker's grammar and
// normalisation, and gives back what github.com/distribution/reference
// gives: the same interfaces (Named, Tagged, NamedTagged, Digested,
// Canonical), the same dynamic types, the same familiar forms and the
// same error texts. Its tests check that, input by input, against that
// package.
//
// Why not import it: distribution/reference builds its grammar from
// regular expressions compiled when the binary starts. Every berth
// process pays for that — about 1.1 ms and 414 KB of heap — including
// each container's long-lived shim, whose memory is a benchmark figure,
// and the three Go processes every `berth run` starts. The grammar is
// small enough to scan by hand.
package reference

import (
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// RepositoryNameTotalLengthMax is the longest path a name may have.
const RepositoryNameTotalLengthMax = 255

// Errors with distribution/reference's texts.
var (
	ErrReferenceInvalidFormat = errors.New("invalid reference format")
	ErrTagInvalidFormat       = errors.New("invalid tag format")
	ErrNameContainsUppercase  = errors.New("repository name must be lowercase")
	ErrNameEmpty              = errors.New("repository name must have at least one component")
	ErrNameTooLong            = fmt.Errorf("repository name must not be more than %v characters", RepositoryNameTotalLengthMax)
)

const (
	legacyDefaultDomain = "index.docker.io"
	defaultDomain       = "docker.io"
	officialRepoPrefix  = "library/"
	defaultTag          = "latest"
)

// Reference is any reference.
type Reference interface {
	String() string
}

// Named is a reference with a name.
type Named interface {
	Reference
	Name() string
}

// Tagged is a reference with a tag.
type Tagged interface {
	Reference
	Tag() string
}

// NamedTagged is a name with a tag.
type NamedTagged interface {
	Named
	Tag() string
}

// Digested is a reference with a digest.
type Digested interface {
	Reference
	Digest() digest.Digest
}

// Canonical is a name with a digest.
type Canonical interface {
	Named
	Digest() digest.Digest
}

// ParseNormalizedNamed parses s as Docker does for a user's image name:
// "busybox" is docker.io/library/busybox, "team/app" docker.io/team/app.
func ParseNormalizedNamed(s string) (Named, error) {
	if isIdentifier(s) {
		return nil, fmt.Errorf("invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s)
	}
	domain, remainder := splitDockerDomain(s)
	remote, _, _ := strings.Cut(remainder, ":")
	if strings.ToLower(remote) != remote {
		return nil, fmt.Errorf("invalid reference format: repository name (%s) must be lowercase", remote)
	}
	return parse(domain + "/" + remainder)
}

// splitDockerDomain splits name into a registry and the rest, filling in
// Docker Hub and its library/ prefix.
func splitDockerDomain(name string) (domain, remote string) {
	maybeDomain, maybeRemote, ok := strings.Cut(name, "/")
	switch {
	case !ok:
		return defaultDomain, officialRepoPrefix + name
	case maybeDomain == legacyDefaultDomain:
		domain, remote = defaultDomain, maybeRemote
	case maybeDomain == "localhost", strings.ContainsAny(maybeDomain, ".:"), strings.ToLower(maybeDomain) != maybeDomain:
		domain, remote = maybeDomain, maybeRemote
	default:
		domain, remote = defaultDomain, name
	}
	if domain == defaultDomain && !strings.ContainsRune(remote, '/') {
		remote = officialRepoPrefix + remote
	}
	return domain, remote
}

// parse parses a full reference: name[:tag][@digest].
func parse(s string) (Named, error) {
	r, ok := scan(s)
	if !ok {
		if s == "" {
			return nil, ErrNameEmpty
		}
		if _, ok := scan(strings.ToLower(s)); ok {
			return nil, ErrNameContainsUppercase
		}
		return nil, ErrReferenceInvalidFormat
	}
	if len(r.path) > RepositoryNameTotalLengthMax {
		return nil, ErrNameTooLong
	}
	if r.digest != "" {
		if _, err := digest.Parse(string(r.digest)); err != nil {
			return nil, err
		}
	}
	return r.best(), nil
}

// scan splits s by the grammar; ok is false when s doesn't match it.
func scan(s string) (r reference, ok bool) {
	name, dgst, hasDigest := strings.Cut(s, "@")
	if hasDigest {
		if !isDigest(dgst) {
			return r, false
		}
		r.digest = digest.Digest(dgst)
	}
	// A colon with no slash after it starts the tag: a port is always
	// followed by the path.
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.Contains(name[i:], "/") {
		if !isTag(name[i+1:]) {
			return r, false
		}
		name, r.tag = name[:i], name[i+1:]
	}
	r.repository, ok = splitName(name)
	return r, ok
}

// splitName splits a name into its domain and path: the first component
// is the domain when it can be one and the rest is a path.
func splitName(name string) (repository, bool) {
	if d, p, ok := strings.Cut(name, "/"); ok && isDomain(d) && isPath(p) {
		return repository{domain: d, path: p}, true
	}
	if isPath(name) {
		return repository{path: name}, true
	}
	return repository{}, false
}

func isAlnumLower(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func isAlnum(c byte) bool { return isAlnumLower(c) || c >= 'A' && c <= 'Z' }

func isWord(c byte) bool { return isAlnum(c) || c == '_' }

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// isPath: components of [a-z0-9]+ joined by one "." or "_", "__", or
// any number of "-", separated by "/".
func isPath(p string) bool {
	for _, comp := range strings.Split(p, "/") {
		if !isPathComponent(comp) {
			return false
		}
	}
	return true
}

func isPathComponent(c string) bool {
	i := 0
	for {
		start := i
		for i < len(c) && isAlnumLower(c[i]) {
			i++
		}
		if i == start {
			return false
		}
		if i == len(c) {
			return true
		}
		switch {
		case c[i] == '.':
			i++
		case c[i] == '_':
			i++
			if i < len(c) && c[i] == '_' {
				i++
			}
		case c[i] == '-':
			for i < len(c) && c[i] == '-' {
				i++
			}
		default:
			return false
		}
	}
}

// isDomain: a host name or a bracketed IPv6 address, and an optional
// :port.
func isDomain(d string) bool {
	host := d
	if i := strings.LastIndexByte(d, ':'); i >= 0 && !strings.Contains(d[i:], "]") {
		host = d[:i]
		port := d[i+1:]
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return false
		}
	}
	if strings.HasPrefix(host, "[") {
		inner, ok := strings.CutSuffix(host[1:], "]")
		return ok && inner != "" && strings.Trim(inner, "0123456789abcdefABCDEF:") == ""
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || !isAlnum(label[0]) || !isAlnum(label[len(label)-1]) {
			return false
		}
		for i := 0; i < len(label); i++ {
			if !isAlnum(label[i]) && label[i] != '-' {
				return false
			}
		}
	}
	return true
}

// isTag: [\w][\w.-]{0,127}.
func isTag(t string) bool {
	if t == "" || len(t) > 128 || !isWord(t[0]) {
		return false
	}
	for i := 1; i < len(t); i++ {
		if !isWord(t[i]) && t[i] != '.' && t[i] != '-' {
			return false
		}
	}
	return true
}

// isDigest: an algorithm ([A-Za-z][A-Za-z0-9]* parts joined by one of
// "-_+."), a colon and at least 32 hex digits.
func isDigest(d string) bool {
	alg, enc, ok := strings.Cut(d, ":")
	if !ok || len(enc) < 32 {
		return false
	}
	for i := 0; i < len(enc); i++ {
		if !isHex(enc[i]) {
			return false
		}
	}
	needLetter := true
	for i := 0; i < len(alg); i++ {
		c := alg[i]
		switch {
		case needLetter:
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return false
			}
			needLetter = false
		case strings.IndexByte("-_+.", c) >= 0:
			needLetter = true
		case !isAlnum(c):
			return false
		}
	}
	return !needLetter
}

// isIdentifier: 64 lowercase hex digits (an image ID).
func isIdentifier(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// TagNameOnly adds the default tag "latest" to a name with neither tag
// nor digest.
func TagNameOnly(ref Named) Named {
	if !IsNameOnly(ref) {
		return ref
	}
	r := reference{repository: repositoryOf(ref), tag: defaultTag}
	return r.best()
}

// IsNameOnly reports whether ref has neither tag nor digest.
func IsNameOnly(ref Named) bool {
	if _, ok := ref.(NamedTagged); ok {
		return false
	}
	_, ok := ref.(Canonical)
	return !ok
}

// Domain is the registry part of a name ("docker.io").
func Domain(named Named) string { return repositoryOf(named).domain }

// Path is the repository part of a name ("library/busybox").
func Path(named Named) string { return repositoryOf(named).path }

// FamiliarName is the short name users see: "busybox", "team/app",
// "example.com/app".
func FamiliarName(ref Named) string { return familiar(ref).Name() }

// FamiliarString is the short form of a whole reference:
// "busybox:latest", "example.com/app@sha256:…".
func FamiliarString(ref Reference) string {
	if n, ok := ref.(Named); ok {
		return familiar(n).String()
	}
	return ref.String()
}

// familiar drops docker.io and its library/ prefix from ref's name.
func familiar(ref Named) Named {
	repo := repositoryOf(ref)
	if repo.domain == defaultDomain {
		repo.domain = ""
		if rest, ok := strings.CutPrefix(repo.path, officialRepoPrefix); ok && !strings.ContainsRune(rest, '/') {
			repo.path = rest
		}
	}
	r := reference{repository: repo}
	if t, ok := ref.(Tagged); ok {
		r.tag = t.Tag()
	}
	if d, ok := ref.(Digested); ok {
		r.digest = d.Digest()
	}
	return r.best()
}

// repositoryOf is the domain and path of any Named.
func repositoryOf(n Named) repository {
	type withRepo interface{ repo() repository }
	if r, ok := n.(withRepo); ok {
		return r.repo()
	}
	r, _ := splitName(n.Name())
	if r.path == "" {
		r.path = n.Name()
	}
	return r
}

// The dynamic types, as distribution/reference has them: a repository
// alone, with a tag, with a digest, or with both.

type repository struct{ domain, path string }

func (r repository) repo() repository { return r }
func (r repository) String() string   { return r.Name() }
func (r repository) Name() string {
	if r.domain == "" {
		return r.path
	}
	return r.domain + "/" + r.path
}

type reference struct {
	repository
	tag    string
	digest digest.Digest
}

func (r reference) String() string        { return r.Name() + ":" + r.tag + "@" + r.digest.String() }
func (r reference) Tag() string           { return r.tag }
func (r reference) Digest() digest.Digest { return r.digest }

// best is r as the narrowest type its parts allow.
func (r reference) best() Named {
	switch {
	case r.tag == "" && r.digest == "":
		return r.repository
	case r.digest == "":
		return taggedReference{r.repository, r.tag}
	case r.tag == "":
		return canonicalReference{r.repository, r.digest}
	}
	return r
}

type taggedReference struct {
	repository
	tag string
}

func (t taggedReference) String() string { return t.Name() + ":" + t.tag }
func (t taggedReference) Tag() string    { return t.tag }

type canonicalReference struct {
	repository
	digest digest.Digest
}

func (c canonicalReference) String() string        { return c.Name() + "@" + c.digest.String() }
func (c canonicalReference) Digest() digest.Digest { return c.digest }
