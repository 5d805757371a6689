package build

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/dfgitutil"
)

// ADD of a git repository, as BuildKit's git source: the URL (BuildKit's
// forms, "https://host/repo.git#ref:subdir", "git@host:repo.git", …)
// names a ref (a branch, a tag or a commit; HEAD when none) that `git
// ls-remote` resolves to a commit, which is the step's cache key; on a
// miss the commit is fetched with the host's git, its submodules checked
// out recursively (unless the URL says ?submodules=false), and its tree
// (or the subdirectory) copied to the destination, without .git (the
// repository's and its submodules') unless --keep-git-dir=true.

// gitSource is an ADD source naming a git repository, resolved.
type gitSource struct {
	src    string
	remote string
	ref    string // as named; "" for HEAD
	subdir string
	keep   bool // keep .git
	// noSubmodules leaves the submodules out (?submodules=false).
	noSubmodules bool
	commit       string // resolved
}

var commitRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// resolveGit parses src and resolves its ref with git ls-remote.
func resolveGit(ctx context.Context, src string, keepGitDir *bool, checksum string) (*gitSource, error) {
	ref, _, err := dfgitutil.ParseGitRef(src)
	if err != nil {
		return nil, fmt.Errorf("ADD %s: %w", src, err)
	}
	g := &gitSource{src: src, remote: ref.Remote, ref: ref.Ref, subdir: ref.SubDir}
	if ref.KeepGitDir != nil {
		g.keep = *ref.KeepGitDir
	}
	if keepGitDir != nil {
		g.keep = *keepGitDir
	}
	g.noSubmodules = ref.Submodules != nil && !*ref.Submodules
	if checksum == "" {
		checksum = ref.Checksum
	}
	if commitRE.MatchString(g.ref) {
		g.commit = g.ref
	} else {
		name := g.ref
		if name == "" {
			name = "HEAD"
		}
		out, err := git(ctx, "", "ls-remote", "--", g.remote, name)
		if err != nil {
			return nil, fmt.Errorf("failed to load cache key: failed to fetch remote %s: %w", g.remote, err)
		}
		// As git's rev-parse: a tag (its commit, ^{}) before a branch.
		prio := map[string]int{"refs/tags/" + name + "^{}": 4, "refs/tags/" + name: 3, "refs/heads/" + name: 2, name: 1}
		best := 0
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && prio[f[1]] > best {
				g.commit, best = f[0], prio[f[1]]
			}
		}
		if g.commit == "" {
			return nil, fmt.Errorf("failed to load cache key: repository does not contain ref %s", name)
		}
	}
	if checksum != "" && !strings.HasPrefix(g.commit, checksum) {
		return nil, fmt.Errorf("expected checksum to match %s, got %s", checksum, g.commit)
	}
	return g, nil
}

// checkout fetches g's commit into dir (a new directory) and checks it
// out.
func (g *gitSource) checkout(ctx context.Context, dir string) error {
	steps := [][]string{{"init", "-q", "."}, {"remote", "add", "origin", g.remote}}
	for _, s := range steps {
		if _, err := git(ctx, dir, s...); err != nil {
			return err
		}
	}
	// A server may refuse a fetch by commit (a dumb HTTP one does):
	// then everything is fetched.
	if _, err := git(ctx, dir, "fetch", "-q", "--depth=1", "origin", g.commit); err != nil {
		if _, err := git(ctx, dir, "fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*"); err != nil {
			return fmt.Errorf("failed to fetch remote %s: %w", g.remote, err)
		}
	}
	if _, err := git(ctx, dir, "-c", "advice.detachedHead=false", "checkout", "-q", "--detach", g.commit); err != nil {
		return fmt.Errorf("failed to check out %s of %s: %w", g.commit, g.remote, err)
	}
	if !g.noSubmodules {
		if err := g.submodules(ctx, dir); err != nil {
			return err
		}
	}
	if !g.keep {
		return removeGitDirs(dir)
	}
	return nil
}

// submodules checks out the submodules of the checkout in dir,
// recursively, as BuildKit's git source (its relative URLs resolve
// against the remote). A server that can't serve a shallow fetch (a dumb
// HTTP one), or a submodule commit no branch tip names, gets a full one.
func (g *gitSource) submodules(ctx context.Context, dir string) error {
	if _, err := os.Lstat(filepath.Join(dir, ".gitmodules")); err != nil {
		return nil
	}
	if _, err := git(ctx, dir, "submodule", "update", "--init", "--recursive", "--depth=1"); err != nil {
		if _, err := git(ctx, dir, "submodule", "update", "--init", "--recursive"); err != nil {
			return fmt.Errorf("failed to update submodules for %s: %w", g.remote, err)
		}
	}
	return nil
}

// removeGitDirs removes the repository's .git and the .git files its
// submodules' checkouts have (they point into the former).
func removeGitDirs(dir string) error {
	if err := os.RemoveAll(filepath.Join(dir, ".git")); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" && p != filepath.Join(dir, ".git") {
			if d.IsDir() {
				if err := os.RemoveAll(p); err != nil {
					return err
				}
				return fs.SkipDir
			}
			return os.Remove(p)
		}
		return nil
	})
}

// git runs git in dir ("" for anywhere) with no prompt and no user or
// system configuration, and returns its output; an error carries the
// last line git wrote to stderr.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_ASKPASS=true")
	if os.Getenv("GIT_SSH_COMMAND") == "" {
		// ssh must not ask either (a host key, a passphrase).
		cmd.Env = append(cmd.Env, "GIT_SSH_COMMAND=ssh -o BatchMode=yes")
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg == "" {
			msg = err.Error()
		}
		if _, lerr := exec.LookPath("git"); lerr != nil {
			msg = "git is not installed"
		}
		return "", fmt.Errorf("git %s: %s", args[0], msg)
	}
	return stdout.String(), nil
}
