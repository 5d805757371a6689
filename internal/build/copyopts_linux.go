package build

import (
	"fmt"
	"path"
	"strings"

	"github.com/moby/patternmatcher"
)

// COPY --parents and --exclude, as BuildKit's Dockerfile front end has
// them (no longer behind the labs syntax in its parser).

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
