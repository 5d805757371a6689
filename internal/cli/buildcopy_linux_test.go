package cli_test

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBuildAddURL: ADD of an http URL downloads the file (named after
// the URL, mode 0600, owned by root, its mtime the Last-Modified time,
// not unpacked), --chown/--chmod apply, --checksum is checked; the
// cache is keyed by the content; a failing URL or a wrong checksum fails
// the build with BuildKit's message and tags nothing. A URL of a tar or a
// Dockerfile is a build context.
func TestBuildAddURL(t *testing.T) {
	b := containerRoot(t)
	var mu sync.Mutex
	body := "hello from http\n"
	lastMod := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	archive := string(tarOf(t, map[string]string{"inside": "x"}))
	ctxTar := string(tarOf(t, map[string]string{"Dockerfile": "FROM busybox:test\nCOPY f /f\n", "f": "from-tar-context\n"}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/files/hello.txt":
			w.Header().Set("Last-Modified", lastMod.Format(http.TimeFormat))
			fmt.Fprint(w, body)
		case "/files/a.tar":
			fmt.Fprint(w, archive)
		case "/ctx.tar":
			fmt.Fprint(w, ctxTar)
		case "/Dockerfile":
			fmt.Fprint(w, "FROM busybox:test\nRUN echo dockerfile-only > /df\n")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	u := srv.URL + "/files/hello.txt"
	sum := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(body)))

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\n" +
		"ADD " + u + " /dl/\n" +
		"ADD --chown=5:6 --chmod=644 " + u + " /named\n" +
		"ADD " + srv.URL + "/files/a.tar /tars/\n" +
		"ADD --checksum=" + sum + " " + u + " /checked\n" +
		"RUN cat /dl/hello.txt > /seen\n"})
	b.buildOK(dir, "-t", "addurl")
	got := b.ok(runArgs("--rm", "addurl", "sh", "-c", `stat -c "%n %u:%g %a %Y" /dl/hello.txt /named /checked; ls /tars; cat /seen`)...)
	want := fmt.Sprintf("/dl/hello.txt 0:0 600 %[1]d\n/named 5:6 644 %[1]d\n/checked 0:0 600 %[1]d\na.tar\nhello from http\n", lastMod.Unix())
	if got != want {
		t.Errorf("the downloads:\n%s\nwant:\n%s", got, want)
	}
	if errs := b.buildOK(dir, "-t", "addurl"); strings.Count(errs, "CACHED") != 5 {
		t.Errorf("a rebuild with the same content:\n%s", errs)
	}
	mu.Lock()
	body = "changed\n"
	mu.Unlock()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nADD " + u + " /dl/\nRUN cat /dl/hello.txt > /seen\n"})
	b.buildOK(dir, "-t", "addurl")
	if got := b.ok(runArgs("--rm", "addurl", "cat", "/seen")...); got != "changed\n" {
		t.Errorf("after the content changed: %q", got)
	}

	// A URL as the build's context: a tar of it, or a Dockerfile alone.
	b.buildOK(srv.URL+"/ctx.tar", "-t", "urlctx")
	b.buildOK(srv.URL+"/Dockerfile", "-t", "urldf")
	if got := b.ok(runArgs("--rm", "urlctx", "cat", "/f")...) + b.ok(runArgs("--rm", "urldf", "cat", "/df")...); got != "from-tar-context\ndockerfile-only\n" {
		t.Errorf("built from URL contexts: %q", got)
	}
	if errs := b.fails(1, buildArgs("-q", srv.URL+"/nothing.tar")...); !strings.Contains(errs, "Error: unable to prepare context: unable to download remote context "+srv.URL+"/nothing.tar: invalid response status 404\n") {
		t.Errorf("a missing URL context: %q", errs)
	}

	for _, c := range []struct{ dockerfile, want string }{
		{"FROM busybox:test\nADD " + srv.URL + "/missing /x\n", "Error: failed to solve: failed to load cache key: invalid response status 404\n"},
		{"FROM busybox:test\nADD --checksum=" + sum + " " + u + " /x\n",
			fmt.Sprintf("Error: failed to solve: digest mismatch for %s: sha256:%x (expected: %s)\n", u, sha256.Sum256([]byte("changed\n")), sum)},
		{"FROM busybox:test\nCOPY " + u + " /x\n", "Error: failed to solve: source can't be a URL for COPY\n"},
		{"FROM busybox:test\nADD --checksum=sha256:00 " + u + " /x\n", "Error: failed to solve: invalid checksum digest length\n"},
	} {
		writeFiles(t, dir, map[string]string{"Dockerfile": c.dockerfile})
		if errs := b.fails(1, buildArgs("-q", "-t", "bad-url", dir)...); !strings.HasSuffix(errs, c.want) {
			t.Errorf("%q: stderr %q, want it to end with %q", c.dockerfile, errs, c.want)
		}
	}
	b.untagged("bad-url")
}

// TestBuildCopyOptions: COPY --link makes a layer that doesn't depend on
// what is below it (a change of an earlier step leaves it cached; a
// --chown by name still finds the user below it; a symbolic --chmod
// changes the file's own mode);
// --parents keeps the sources' directories (below a "/./" pivot);
// --exclude leaves out what its patterns match.
func TestBuildCopyOptions(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.txt": "A", "src/one/x.txt": "X", "src/two/y.txt": "Y",
		"docs/keep.txt": "k", "docs/drop.md": "d", "docs/sub/skip": "s", "docs/sub/keep.md": "m",
	})
	df := func(v string) string {
		return "FROM busybox:test\nRUN echo " + v + " > /v\nCOPY --link a.txt /linked/\nCOPY --link --chown=nobody --chmod=u+x,g-r a.txt /owned\n" +
			"COPY --parents src/one/x.txt src/two/./y.txt /p/\n" +
			"COPY --exclude=*.md --exclude=sub/skip docs /docs/\n"
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": df("1")})
	b.buildOK(dir, "-t", "copyopts")
	got := b.ok(runArgs("--rm", "copyopts", "sh", "-c", "cat /v /linked/a.txt; echo; stat -c \"%u:%g %a\" /owned; find /p /docs | sort")...)
	if want := "1\nA\n65534:65534 704\n/docs\n/docs/keep.txt\n/docs/sub\n/docs/sub/keep.md\n/p\n/p/src\n/p/src/one\n/p/src/one/x.txt\n/p/y.txt\n"; got != want {
		t.Errorf("the image's tree:\n%s\nwant:\n%s", got, want)
	}
	if hist := b.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}", "copyopts"); !strings.Contains(hist, "COPY a.txt /linked/ # buildkit\n") {
		t.Errorf("history:\n%s", hist)
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": df("2")})
	errs := b.buildOK(dir, "-t", "copyopts")
	if !stepCached(errs, "COPY --link a.txt /linked/") || stepCached(errs, "RUN echo 2 > /v") {
		t.Errorf("COPY --link ran again after the step below it changed:\n%s", errs)
	}
	if got := b.ok(runArgs("--rm", "copyopts", "cat", "/v", "/linked/a.txt")...); got != "2\nA" {
		t.Errorf("after the rebuild: %q", got)
	}
}

// stepCached reports whether the progress shows the step named name
// (after its "[i/n] " prefix) as CACHED.
func stepCached(progress, name string) bool {
	m := regexp.MustCompile(`(?m)^#(\d+) \[[^]]*\] ` + regexp.QuoteMeta(name) + `$`).FindStringSubmatch(progress)
	return m != nil && strings.Contains(progress, "\n#"+m[1]+" CACHED\n")
}

// TestBuildAddGit: ADD of a git repository (served over HTTP by the
// test) copies the tree of the ref it names (HEAD, a tag, a branch with
// a subdirectory) without .git unless --keep-git-dir=true; the commit is
// the cache key, so a new commit on the branch runs the step again; a
// ref the repository lacks fails the build. A repository is a build
// context.
func TestBuildAddGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	b := containerRoot(t)
	work, served := t.TempDir(), t.TempDir()
	repo := filepath.Join(work, "repo")
	gitRun := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	writeFiles(t, repo, map[string]string{"a.txt": "v1", "sub/b.txt": "b", "sub/Dockerfile": "FROM busybox:test\nCOPY b.txt /ctx-b\n"})
	gitRun(work, "init", "-q", "-b", "main", repo)
	gitRun(repo, "add", ".")
	gitRun(repo, "commit", "-q", "-m", "one")
	gitRun(repo, "tag", "-a", "-m", "v1", "v1")
	writeFiles(t, repo, map[string]string{"a.txt": "v2"})
	gitRun(repo, "commit", "-q", "-am", "two")
	publish := func() {
		t.Helper()
		os.RemoveAll(filepath.Join(served, "repo.git"))
		gitRun(work, "clone", "-q", "--bare", repo, filepath.Join(served, "repo.git"))
		gitRun(filepath.Join(served, "repo.git"), "update-server-info")
	}
	publish()
	srv := httptest.NewServer(http.FileServer(http.Dir(served)))
	t.Cleanup(srv.Close)
	url := srv.URL + "/repo.git"

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\n" +
		"ADD " + url + "#v1 /v1/\n" +
		"ADD --keep-git-dir=true " + url + "#v1 /kept/\n" +
		"ADD " + url + " /head/\n" +
		"ADD " + url + "#main:sub /sub/\n"})
	b.buildOK(dir, "-t", "gitadd")
	script := "cat /head/a.txt /v1/a.txt /sub/b.txt; echo; ls -A /head; ls -A /sub; test -d /kept/.git && echo kept"
	if got, want := b.ok(runArgs("--rm", "gitadd", "sh", "-c", script)...), "v2v1b\na.txt\nsub\nDockerfile\nb.txt\nkept\n"; got != want {
		t.Errorf("the checkouts:\n%s\nwant:\n%s", got, want)
	}
	if errs := b.buildOK(dir, "-t", "gitadd"); strings.Count(errs, "CACHED") != 4 {
		t.Errorf("a rebuild with the same commits:\n%s", errs)
	}
	writeFiles(t, repo, map[string]string{"a.txt": "v3"})
	gitRun(repo, "commit", "-q", "-am", "three")
	publish()
	errs := b.buildOK(dir, "-t", "gitadd")
	if stepCached(errs, "ADD "+url+" /head/") || !stepCached(errs, "ADD --keep-git-dir=true "+url+"#v1 /kept/") {
		t.Errorf("after a new commit on main:\n%s", errs)
	}
	if got := b.ok(runArgs("--rm", "gitadd", "cat", "/head/a.txt")...); got != "v3" {
		t.Errorf("after a new commit: %q", got)
	}
	// A repository (its subdirectory) as the build's context.
	b.buildOK(url+"#v1:sub", "-t", "gitctx")
	if got := b.ok(runArgs("--rm", "gitctx", "cat", "/ctx-b")...); got != "b" {
		t.Errorf("built from a git context: %q", got)
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nADD " + url + "#nope /x/\n"})
	if errs := b.fails(1, buildArgs("-q", dir)...); !strings.Contains(errs, "Error: failed to solve: failed to load cache key: repository does not contain ref nope\n") {
		t.Errorf("a missing ref: %q", errs)
	}
}
