package content

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestPutOpenAndDelete(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Put([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if d != digest.FromString("hello") || !s.Has(d) {
		t.Fatalf("Put returned %s", d)
	}
	if data, err := s.ReadAll(d); err != nil || string(data) != "hello" {
		t.Fatalf("ReadAll: %q %v", data, err)
	}
	if err := s.Delete(d); err != nil || s.Has(d) {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Open(d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after delete: %v", err)
	}
	if _, err := s.Open("sha256:../../etc/passwd"); err == nil {
		t.Fatal("an invalid digest was accepted")
	}
}

func TestCommitRefusesWrongContent(t *testing.T) {
	s, _ := New(t.TempDir())
	want := digest.FromString("right")
	w, err := s.Writer(want, 5)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("wrong"))
	if err := w.Commit(); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("Commit of wrong content: %v", err)
	}
	w.Close()
	if s.Has(want) {
		t.Fatal("a mismatching blob was committed")
	}
	// Short content is refused too.
	w, _ = s.Writer(want, 5)
	w.Write([]byte("rig"))
	if err := w.Commit(); err == nil {
		t.Fatal("short content committed")
	}
	w.Close()
}

func TestPartialIngestResumes(t *testing.T) {
	s, _ := New(t.TempDir())
	data := bytes.Repeat([]byte("0123456789"), 1000)
	d := digest.FromBytes(data)
	w, _ := s.Writer(d, int64(len(data)))
	w.Write(data[:4000])
	w.Close() // interrupted

	w, err := s.Writer(d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Offset() != 4000 {
		t.Fatalf("Offset = %d, want 4000", w.Offset())
	}
	prefix, _ := io.ReadAll(w.Prefix())
	if !bytes.Equal(prefix, data[:4000]) {
		t.Fatal("Prefix differs from what was written")
	}
	w.Write(data[4000:])
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ReadAll(d); !bytes.Equal(got, data) {
		t.Fatal("resumed blob differs")
	}
}

func TestConcurrentWritersOfOneBlob(t *testing.T) {
	s, _ := New(t.TempDir())
	data := bytes.Repeat([]byte("x"), 1<<20)
	d := digest.FromBytes(data)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Put(data)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got, err := s.ReadAll(d); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("blob after concurrent writes: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(s.root, "ingest"))
	for _, e := range ents {
		t.Errorf("ingest left behind: %s", e.Name())
	}
}

// TestCommitFile: a file written and hashed by the caller becomes the
// blob by a rename (the file is gone), and once more is a no-op.
func TestCommitFile(t *testing.T) {
	root := t.TempDir()
	s, _ := New(root)
	write := func() string {
		f := filepath.Join(root, "layer.tmp")
		if err := os.WriteFile(f, []byte("layer"), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	d := digest.FromString("layer")
	f := write()
	if err := s.CommitFile(f, d); err != nil {
		t.Fatal(err)
	}
	if data, err := s.ReadAll(d); err != nil || string(data) != "layer" {
		t.Fatalf("ReadAll: %q %v", data, err)
	}
	if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the file is still there: %v", err)
	}
	f = write()
	if err := s.CommitFile(f, d); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the file of a blob that existed is still there: %v", err)
	}
}
