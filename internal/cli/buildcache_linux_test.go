package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestBuildCacheRemembersFiles: the digests of the context's files are
// remembered between builds (a rebuild takes them from their stats); a
// file rewritten with the same size and its mtime set back is still seen
// as changed, and so is one replaced by a rename; COPY runs again and
// the image has the new content. builder prune forgets the digests.
func TestBuildCacheRemembersFiles(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"src/a.txt": "a1", "src/b.txt": "b1",
		"Dockerfile": "FROM busybox:test\nCOPY src/ /src/\n",
	})
	a := filepath.Join(dir, "src", "a.txt")
	fi, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	mtime := fi.ModTime()
	// A file changed within the last second is not remembered (its
	// timestamps may not move on the next change): let them age.
	time.Sleep(1100 * time.Millisecond)
	copyRan := regexp.MustCompile(`(?m)^#\d+ \[2/2\] COPY src/ /src/\n#\d+ DONE`)
	build := func() string {
		t.Helper()
		out, errs, code := b.run("", buildArgs("-t", "remembered", dir)...)
		if code != 0 {
			t.Fatalf("build: exit %d\n%s%s", code, out, errs)
		}
		return errs
	}
	if p := build(); !copyRan.MatchString(p) {
		t.Fatalf("the first build did not run COPY:\n%s", p)
	}
	if _, err := os.Stat(filepath.Join(b.root, "build", "file-hashes")); err != nil {
		t.Errorf("no file digests kept: %v", err)
	}
	if p := build(); copyRan.MatchString(p) {
		t.Fatalf("a rebuild ran COPY again:\n%s", p)
	}

	if err := os.WriteFile(a, []byte("a2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(a, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if p := build(); !copyRan.MatchString(p) {
		t.Errorf("a rewrite with the same size and mtime was not seen:\n%s", p)
	}
	if got := b.ok(runArgs("--rm", "remembered", "cat", "/src/a.txt")...); got != "a2" {
		t.Errorf("/src/a.txt = %q, want a2", got)
	}

	time.Sleep(1100 * time.Millisecond)
	build() // remembers a.txt as it is now
	tmp := filepath.Join(dir, "b.new")
	if err := os.WriteFile(tmp, []byte("b2"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(tmp, mtime, mtime)
	if err := os.Rename(tmp, filepath.Join(dir, "src", "b.txt")); err != nil {
		t.Fatal(err)
	}
	if p := build(); !copyRan.MatchString(p) {
		t.Errorf("a file replaced with the same size and mtime was not seen:\n%s", p)
	}
	if got := b.ok(runArgs("--rm", "remembered", "cat", "/src/b.txt")...); got != "b2" {
		t.Errorf("/src/b.txt = %q, want b2", got)
	}
	// builder prune forgets them with the cache.
	b.ok("builder", "prune", "-f")
	if _, err := os.Stat(filepath.Join(b.root, "build", "file-hashes")); !os.IsNotExist(err) {
		t.Errorf("file digests kept after builder prune: %v", err)
	}
}
