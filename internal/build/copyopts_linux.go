package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/patternmatcher"
	chmod "github.com/tonistiigi/dchapes-mode"
)

// COPY --parents and --exclude, as BuildKit's Dockerfile front end has
// them (no longer behind the labs syntax in its parser), and the copy of
// an ADD's git checkout.

// placed is a selected source and the directory or file it is copied to.
type placed struct {
	s     selected
	dest  string
	multi bool // dest is a directory the source goes into
}

func selectedOf(ps []placed) []selected {
	out := make([]selected, len(ps))
	for i, p := range ps {
		out[i] = p.s
	}
	return out
}

// placeSources selects srcs in t and places them at dest. With parents,
// each keeps its path below dest: the whole path, or the part after a
// "/./" pivot ("a/./b/c" goes to dest/b/c).
func placeSources(t tree, srcs []string, dest string, parents bool) ([]placed, error) {
	var out []placed
	for _, src := range srcs {
		sel, err := selectSources(t, []string{src})
		if err != nil {
			return nil, err
		}
		pivot := ""
		if parents {
			if before, _, ok := strings.Cut(src, "/./"); ok {
				pivot = strings.TrimPrefix(path.Clean("/"+before), "/")
			}
		}
		for _, s := range sel {
			p := placed{s: s, dest: dest}
			if parents {
				kept := s.rel
				if pivot != "" {
					kept = strings.TrimPrefix(kept, pivot+"/")
				}
				if s.fi.IsDir() {
					p.dest = path.Join(dest, kept)
				} else {
					p.dest, p.multi = path.Join(dest, path.Dir(kept)), true
				}
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// excludeMatcher is --exclude's patterns (.dockerignore's syntax),
// matched against the paths below each source; nil for none.
func excludeMatcher(patterns []string) (*patternmatcher.PatternMatcher, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("--exclude: %w", err)
	}
	return pm, nil
}

// excluded reports whether rel (below a source directory, or a source
// file's name) is excluded by --exclude.
func (c *copier) excluded(rel string) bool {
	if c.exclude == nil || rel == "" {
		return false
	}
	m, err := c.exclude.MatchesOrParentMatches(rel)
	return err == nil && m
}

// copyGit checks g out in the step's workdir w and copies its tree (or
// subdirectory) into dest with c.
func copyGit(ctx context.Context, w *workdir, i int, g *gitSource, c *copier, dest string) error {
	dir := filepath.Join(w.dir, "git-"+strconv.Itoa(i))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	if err := g.checkout(ctx, dir); err != nil {
		return err
	}
	root, err := securejoin.SecureJoin(dir, g.subdir)
	if err != nil {
		return err
	}
	fi, err := os.Stat(root)
	if err != nil || !fi.IsDir() {
		return fmt.Errorf("ADD %s: %s is not a directory of the repository", g.src, g.subdir)
	}
	return c.copySource(ctx, tree{root: dir}, selected{rel: strings.TrimPrefix(path.Clean("/"+g.subdir), "/"), host: root, fi: fi}, dest, false)
}

// numericChown reports a --chown of numbers only (uid[:gid]), which
// needs no /etc/passwd.
func numericChown(spec string) bool {
	for _, part := range strings.SplitN(spec, ":", 2) {
		if _, err := strconv.Atoi(part); err != nil {
			return false
		}
	}
	return true
}

// parseChmod reads --chmod as BuildKit does: octal (up to 07777), or
// symbolic (u+x,g-w), which changes each file's own mode.
func parseChmod(s string) (int, *chmod.Set, error) {
	if s == "" {
		return -1, nil, nil
	}
	bad := fmt.Errorf("invalid chmod parameter: '%v'. it should be octal string and between 0 and 07777", s)
	if m, err := strconv.ParseUint(s, 8, 32); err == nil {
		if m > 0o7777 {
			return 0, nil, bad
		}
		return int(m), nil, nil
	}
	set, err := chmod.Parse(s)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			return 0, nil, bad // it looked numeric
		}
		return 0, nil, err
	}
	return -1, &set, nil
}

// applyChmod applies a symbolic --chmod to a tar header's mode.
func applyChmod(set *chmod.Set, m int64, dir bool) int64 {
	fm := os.FileMode(m & 0o777)
	for bit, flag := range map[int64]os.FileMode{0o4000: os.ModeSetuid, 0o2000: os.ModeSetgid, 0o1000: os.ModeSticky} {
		if m&bit != 0 {
			fm |= flag
		}
	}
	if dir {
		fm |= os.ModeDir
	}
	fm = set.Apply(fm)
	out := int64(fm.Perm())
	for bit, flag := range map[int64]os.FileMode{0o4000: os.ModeSetuid, 0o2000: os.ModeSetgid, 0o1000: os.ModeSticky} {
		if fm&flag != 0 {
			out |= bit
		}
	}
	return out
}
