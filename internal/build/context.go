package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/berth-dev/berth/internal/archive"
)

// buildContext is the directory COPY and ADD read from, with the
// .dockerignore rules that hide files from them.
type buildContext struct {
	dir    string
	ignore *patternmatcher.PatternMatcher // nil: nothing ignored
	hashes *fileHashes                    // its files' digests
}

// ignored reports whether rel (slash-separated, relative to the context
// root) is hidden by .dockerignore.
func (c *buildContext) ignored(rel string) bool {
	if c.ignore == nil || rel == "" || rel == "." {
		return false
	}
	m, err := c.ignore.MatchesOrParentMatches(rel)
	return err == nil && m
}

// loadIgnore reads Docker's ignore file for a build: FILE.dockerignore
// beside the Dockerfile when there is one, else .dockerignore at the
// context's root.
func loadIgnore(dir, dockerfilePath string) (*patternmatcher.PatternMatcher, string, error) {
	candidates := []string{filepath.Join(dir, ".dockerignore")}
	if dockerfilePath != "" {
		candidates = append([]string{dockerfilePath + ".dockerignore"}, candidates...)
	}
	for _, p := range candidates {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		defer f.Close()
		patterns, err := ignorefile.ReadAll(f)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", p, err)
		}
		if len(patterns) == 0 {
			return nil, p, nil
		}
		pm, err := patternmatcher.New(patterns)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", p, err)
		}
		return pm, p, nil
	}
	return nil, "", nil
}

// readStdin reads `build -`'s standard input: a tar of the context
// (plain or compressed), unpacked into dir, or else a Dockerfile alone
// (returned) with an empty context.
func readStdin(ctx context.Context, r io.Reader, dir string) ([]byte, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(1024)
	if looksLikeArchive(head) {
		dr, err := archive.Decompress(br)
		if err != nil {
			return nil, fmt.Errorf("unable to prepare context: %w", err)
		}
		defer dr.Close()
		if _, err := archive.Apply(ctx, dir, dr, archive.Options{Whiteouts: archive.WhiteoutNone}); err != nil {
			return nil, fmt.Errorf("unable to prepare context: %w", err)
		}
		return nil, nil
	}
	data, err := io.ReadAll(br)
	if err != nil {
		return nil, err
	}
	return data, nil
}

// looksLikeArchive reports whether head begins a tar (or a compressed
// stream, which a Dockerfile never is).
func looksLikeArchive(head []byte) bool {
	for _, magic := range [][]byte{{0x1f, 0x8b}, {0x28, 0xb5, 0x2f, 0xfd}, []byte("BZh"), {0xfd, '7', 'z', 'X', 'Z', 0x00}} {
		if bytes.HasPrefix(head, magic) {
			return true
		}
	}
	_, err := tar.NewReader(bytes.NewReader(head)).Next()
	return err == nil && len(head) >= 512
}

// isRemote reports a context or ADD source that names a URL or a git
// repository, which this builder does not fetch.
func isRemote(s string) bool {
	for _, p := range []string{"http://", "https://", "git://", "git@", "github.com/"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
