package build

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/dfgitutil"
	"github.com/opencontainers/go-digest"
)

// ADD of an http(s) URL, as BuildKit's HTTP source does it: the file is
// named after the URL's path (not Content-Disposition, as the Dockerfile
// front end names it), mode 0600, its mtime the Last-Modified header's
// (else the epoch), never unpacked unless --unpack. Without --checksum
// it is downloaded to compute the step's cache key (its content); with
// one, the checksum is the key and the download happens on a miss, and
// must match.

// isHTTPSource reports an ADD source that is an http(s) URL (and not a
// git repository).
func isHTTPSource(src string) bool {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		return false
	}
	return !isGitSource(src)
}

// isGitSource reports a source that names a git repository, by
// BuildKit's rules.
func isGitSource(src string) bool {
	ref, isGit, _ := dfgitutil.ParseGitRef(src)
	return ref != nil && isGit
}

// urlFilename is the name a downloaded file gets.
func urlFilename(src string) string {
	if u, err := url.Parse(src); err == nil {
		if base := path.Base(u.Path); base != "." && base != "/" {
			return base
		}
	}
	return "__unnamed__"
}

// download is one fetched URL.
type download struct {
	url, name string
	file      string // where it is on the host
	digest    digest.Digest
	modTime   time.Time
}

// fetchURL downloads src into dir (as its filename) and checks it
// against checksum when given.
func fetchURL(ctx context.Context, src, dir string, checksum digest.Digest) (*download, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return nil, fmt.Errorf("invalid response status %d", resp.StatusCode)
	}
	d := &download{url: src, name: urlFilename(src), modTime: time.Unix(0, 0)}
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil {
			d.modTime = t
		}
	}
	sub, err := os.MkdirTemp(dir, "url-")
	if err != nil {
		return nil, err
	}
	d.file = filepath.Join(sub, d.name)
	f, err := os.OpenFile(d.file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	d.digest = digest.NewDigest(digest.SHA256, h)
	if checksum != "" && d.digest != checksum {
		return nil, &mismatchError{fmt.Sprintf("digest mismatch for %s: %s (expected: %s)", src, d.digest, checksum)}
	}
	if err := os.Chtimes(d.file, d.modTime, d.modTime); err != nil {
		return nil, err
	}
	return d, nil
}

// mismatchError is a download that is not what --checksum says.
type mismatchError struct{ msg string }

func (e *mismatchError) Error() string { return e.msg }

// fetchForAdd is fetchURL for ADD, its failures in BuildKit's words.
func fetchForAdd(ctx context.Context, src, dir string, checksum digest.Digest) (*download, error) {
	d, err := fetchURL(ctx, src, dir, checksum)
	var me *mismatchError
	if err != nil && !errors.As(err, &me) {
		err = fmt.Errorf("failed to load cache key: %w", err)
	}
	return d, err
}

// checkRemoteSources checks an ADD's URL and git sources and --checksum
// as BuildKit's front end does, and returns the checksum: a digest for a
// URL, a commit (or its prefix) for a git repository.
func checkRemoteSources(add bool, srcs []string, checksum string) (string, error) {
	remote := 0
	for _, s := range srcs {
		switch {
		case isGitSource(s):
			if !add {
				return "", errors.New("source can't be a git ref for COPY")
			}
			remote++
		case isHTTPSource(s):
			if !add {
				return "", errors.New("source can't be a URL for COPY")
			}
			remote++
		}
	}
	if checksum == "" {
		return "", nil
	}
	if len(srcs) != 1 {
		return "", errors.New("checksum can't be specified for multiple sources")
	}
	if remote == 0 {
		return "", errors.New("checksum requires HTTP(S) or Git sources")
	}
	if isGitSource(srcs[0]) {
		return checksum, nil
	}
	d, err := digest.Parse(checksum)
	return string(d), err
}

// remoteContext fetches a build context given as a URL, as docker build
// does: a git repository (its ref's tree, or subdirectory, without
// .git), or an http(s) URL of a tar of the context (plain or
// compressed) or of a Dockerfile alone (returned, with an empty
// context). It returns the context's directory, which the build's
// cleanups remove.
func (r *run) remoteContext(ctx context.Context, src string) (string, []byte, error) {
	w, err := r.b.newWorkdir()
	if err != nil {
		return "", nil, err
	}
	r.cleanups = append(r.cleanups, w.release)
	dir := filepath.Join(w.dir, "context")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", nil, err
	}
	switch {
	case isGitSource(src):
		g, err := resolveGit(ctx, src, nil, "")
		if err != nil {
			return "", nil, err
		}
		if err := g.checkout(ctx, dir); err != nil {
			return "", nil, err
		}
		sub, err := securejoin.SecureJoin(dir, g.subdir)
		if err != nil {
			return "", nil, err
		}
		if fi, err := os.Stat(sub); err != nil || !fi.IsDir() {
			return "", nil, fmt.Errorf("%s: %s is not a directory of the repository", src, g.subdir)
		}
		return sub, nil, nil
	case isHTTPSource(src):
		d, err := fetchURL(ctx, src, w.dir, "")
		if err != nil {
			return "", nil, fmt.Errorf("unable to download remote context %s: %w", src, err)
		}
		f, err := os.Open(d.file)
		if err != nil {
			return "", nil, err
		}
		defer f.Close()
		df, err := readStdin(ctx, f, dir)
		return dir, df, err
	}
	return "", nil, fmt.Errorf("remote context %s: not a git repository or an http(s) URL", src)
}
