package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestFileHashes: a digest is remembered between builds and used while
// the file's stat is unchanged; a rewrite with the same size and the old
// mtime is still seen (ctime), so is a file replaced by another (inode);
// a file changed just before its hash was taken is not remembered, nor
// are files on a filesystem without fine ctimes.
func TestFileHashes(t *testing.T) {
	state, dir := t.TempDir(), t.TempDir()
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	// sum loads the memory as a build does, hashes name and saves.
	sum := func(name string) string {
		t.Helper()
		h := loadFileHashes(state, dir)
		p := filepath.Join(dir, name)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		sums, err := h.hashFiles([]fileEntry{{host: p, fi: fi}}, []string{name})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.save(); err != nil {
			t.Fatal(err)
		}
		return sums[0]
	}
	memory := func() map[string]fileStamp {
		m := map[string]fileStamp{}
		h := loadFileHashes(state, dir)
		if data, err := os.ReadFile(h.file); err == nil {
			json.Unmarshal(data, &m)
		}
		return m
	}

	write("a", "aaaa")
	write("b", "bbbb")
	// Just written: racy, not remembered.
	if got := sum("a"); got != sha("aaaa") {
		t.Fatalf("a = %s", got)
	}
	if _, ok := memory()["a"]; ok {
		t.Fatal("a file changed a moment ago was remembered")
	}

	defer func(w time.Duration) { racyWindow = w }(racyWindow)
	racyWindow = -time.Hour // everything written so far counts as old
	sum("a")
	sum("b")
	m := memory()
	if m["a"].Sum != sha("aaaa") || m["b"].Sum != sha("bbbb") {
		t.Fatalf("memory: %+v", m)
	}
	// An unchanged stat takes the digest from memory, without reading
	// the file: a digest planted in the memory comes back.
	planted := m["b"]
	planted.Sum = sha("planted")
	m["b"] = planted
	data, _ := json.Marshal(m)
	if err := os.WriteFile(loadFileHashes(state, dir).file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := sum("b"); got != sha("planted") {
		t.Errorf("an unchanged file was read again: %s", got)
	}

	// The same size, the mtime set back: the ctime moved.
	write("a", "AAAA")
	if got := sum("a"); got != sha("AAAA") {
		t.Errorf("a rewrite with the same size and mtime was missed: %s", got)
	}
	// Replaced by another file (a rename over it): another inode.
	p := filepath.Join(dir, "b.new")
	os.WriteFile(p, []byte("BBBB"), 0o644)
	os.Chtimes(p, old, old)
	if err := os.Rename(p, filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if got := sum("b"); got != sha("BBBB") {
		t.Errorf("a replaced file was missed: %s", got)
	}

	// Another context directory has its own memory; a context from stdin
	// none.
	if loadFileHashes(state, t.TempDir()).file == loadFileHashes(state, dir).file {
		t.Error("two contexts share a memory")
	}
	if h := loadFileHashes("", dir); h.file != "" || h.save() != nil {
		t.Error("a context with no state directory is remembered")
	}
	// Nor one on a filesystem whose times can't vouch for the content.
	if h := loadFileHashes(state, "/proc"); h.file != "" {
		t.Error("a context on procfs is remembered")
	}
}
