package cli_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBuildAddGitSubmodules: ADD of a git repository checks its
// submodules out, recursively, their relative URLs resolved against the
// repository's (all served over dumb HTTP by the test), without any .git
// unless --keep-git-dir=true; ?submodules=false leaves them out. A git
// context has its submodules too.
func TestBuildAddGitSubmodules(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	b := containerRoot(t)
	work, served := t.TempDir(), t.TempDir()
	gitRun := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "protocol.file.allow=always"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	// repo (vendor/lib → lib.git (deep → deep.git)), each published bare
	// beside the others, the submodules named by relative URLs.
	repo := func(name string, files map[string]string, subs map[string]string) {
		t.Helper()
		dir := filepath.Join(work, name)
		writeFiles(t, dir, files)
		gitRun(work, "init", "-q", "-b", "main", dir)
		for path, sub := range subs {
			gitRun(dir, "submodule", "add", "-q", filepath.Join(served, sub+".git"), path)
			gitRun(dir, "config", "-f", ".gitmodules", "submodule."+path+".url", "../"+sub+".git")
		}
		gitRun(dir, "add", ".")
		gitRun(dir, "commit", "-q", "-m", name)
		gitRun(work, "clone", "-q", "--bare", dir, filepath.Join(served, name+".git"))
		gitRun(filepath.Join(served, name+".git"), "update-server-info")
	}
	repo("deep", map[string]string{"deep.txt": "deep"}, nil)
	repo("lib", map[string]string{"lib.txt": "lib"}, map[string]string{"deep": "deep"})
	repo("main", map[string]string{"main.txt": "main", "Dockerfile": "FROM busybox:test\nCOPY vendor/lib/deep/deep.txt /d\n"}, map[string]string{"vendor/lib": "lib"})
	srv := httptest.NewServer(http.FileServer(http.Dir(served)))
	t.Cleanup(srv.Close)
	url := srv.URL + "/main.git"

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\n" +
		"ADD " + url + " /m/\n" +
		"ADD " + url + "?submodules=false /n/\n" +
		"ADD --keep-git-dir=true " + url + " /k/\n"})
	b.buildOK(dir, "-t", "gitsub")
	script := "cat /m/main.txt /m/vendor/lib/lib.txt /m/vendor/lib/deep/deep.txt; echo; find /m -name .git | wc -l; " +
		"ls -A /n/vendor/lib | wc -l; test -d /k/.git/modules && test -f /k/vendor/lib/.git && cat /k/vendor/lib/deep/deep.txt"
	if got, want := b.ok(runArgs("--rm", "gitsub", "sh", "-c", script)...), "mainlibdeep\n0\n0\ndeep"; got != want {
		t.Errorf("the checkouts:\n%s\nwant:\n%s", got, want)
	}
	// A repository with submodules as the build's context.
	b.buildOK(url, "-t", "gitsubctx")
	if got := b.ok(runArgs("--rm", "gitsubctx", "cat", "/d")...); got != "deep" {
		t.Errorf("a submodule's file from a git context: %q", got)
	}
}
