// Package content is berth's content-addressed blob store: manifests,
// configs and compressed layers, each stored once under its sha256 digest.
//
// A blob becomes visible only through Commit, which follows containerd's
// order: ingest to a private file, fsync, verify size and digest, rename
// into blobs/, fsync the directory. A kill -9 at any moment leaves either
// no blob or a complete one; partial ingests stay under ingest/ so that an
// interrupted download can resume, and Prune removes them.
//
// It imports nothing else of berth.
package content

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
)

// ErrNotFound is returned (wrapped) for a blob the store does not hold.
var ErrNotFound = errors.New("not found")

// ErrExists is returned (wrapped) by Writer when the blob was committed
// meanwhile (by another writer): the caller has nothing to write.
var ErrExists = errors.New("already exists")

// Store is a directory of blobs: <root>/blobs/sha256/<hex> and
// <root>/ingest/<hex>.
type Store struct {
	root string
}

// New opens (creating when needed) the store in root.
func New(root string) (*Store, error) {
	for _, d := range []string{"blobs/sha256", "ingest"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("content store: %w", err)
		}
	}
	return &Store{root: root}, nil
}

func (s *Store) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %w", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("digest %q: only sha256 is supported", d)
	}
	return filepath.Join(s.root, "blobs", "sha256", d.Encoded()), nil
}

// Path returns the file holding blob d, for callers that need a file
// (ranged reads, sendfile); the file must not be written.
func (s *Store) Path(d digest.Digest) (string, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("blob %s: %w", d, ErrNotFound)
		}
		return "", err
	}
	return p, nil
}

// Open returns a reader of blob d.
func (s *Store) Open(d digest.Digest) (*os.File, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	return f, err
}

// ReadAll returns the content of a small blob (manifests, configs).
func (s *Store) ReadAll(d digest.Digest) ([]byte, error) {
	f, err := s.Open(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	if digest.FromBytes(data) != d {
		return nil, fmt.Errorf("blob %s: content does not match its digest", d)
	}
	return data, nil
}

// Size returns the size of blob d.
func (s *Store) Size(d digest.Digest) (int64, error) {
	p, err := s.Path(d)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Has reports whether blob d is committed.
func (s *Store) Has(d digest.Digest) bool {
	_, err := s.Path(d)
	return err == nil
}

// Put stores data as a blob and returns its digest.
func (s *Store) Put(data []byte) (digest.Digest, error) {
	d := digest.FromBytes(data)
	if s.Has(d) {
		return d, nil
	}
	w, err := s.Writer(d, int64(len(data)))
	if errors.Is(err, ErrExists) {
		return d, nil
	}
	if err != nil {
		return "", err
	}
	defer w.Close()
	if w.Offset() != 0 {
		if err := w.Truncate(); err != nil {
			return "", err
		}
	}
	if _, err := w.Write(data); err != nil {
		return "", err
	}
	return d, w.Commit()
}

// CommitFile makes file blob d without copying it: the caller wrote file
// (on the store's filesystem) and hashed its content to d as it did, as
// CommitVerified's caller does. It is synced and renamed into blobs/; on
// another filesystem it is copied in and verified. file is gone
// afterwards, also when the blob existed already.
func (s *Store) CommitFile(file string, d digest.Digest) error {
	defer os.Remove(file)
	dst, err := s.blobPath(d)
	if err != nil {
		return err
	}
	if s.Has(d) {
		return nil
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("commit blob %s: %w", d, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("commit blob %s: fsync: %w", d, err)
	}
	if err := os.Rename(file, dst); err == nil {
		return syncDir(filepath.Dir(dst))
	} else if !errors.Is(err, syscall.EXDEV) {
		return fmt.Errorf("commit blob %s: %w", d, err)
	}
	w, err := s.Writer(d, -1)
	if errors.Is(err, ErrExists) {
		return nil
	}
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Truncate(); err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		return err
	}
	return w.Commit()
}

// Delete removes blob d; a missing blob is not an error.
func (s *Store) Delete(d digest.Digest) error {
	p, err := s.blobPath(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// Walk calls fn for every committed blob.
func (s *Store) Walk(fn func(d digest.Digest, size int64) error) error {
	ents, err := os.ReadDir(filepath.Join(s.root, "blobs", "sha256"))
	if err != nil {
		return err
	}
	for _, e := range ents {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if err := fn(d, info.Size()); err != nil {
			return err
		}
	}
	return nil
}

// PruneIngests removes partial ingests older than age, and returns the
// bytes freed.
func (s *Store) PruneIngests(age time.Duration) (int64, error) {
	dir := filepath.Join(s.root, "ingest")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var freed int64
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < age {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			freed += info.Size()
		}
	}
	return freed, nil
}

// Writer ingests blob d of the given size (size < 0: unknown). An earlier
// partial ingest of the same digest is kept: Offset says how much of it
// there is, so that a download can resume from there. Several writers of
// one digest at once are safe: the file is locked, and the second waits.
type Writer struct {
	s      *Store
	d      digest.Digest
	size   int64
	f      *os.File
	offset int64
	done   bool
}

// Writer opens (or resumes) the ingest of blob d. Close releases it.
func (s *Store) Writer(d digest.Digest, size int64) (*Writer, error) {
	if _, err := s.blobPath(d); err != nil {
		return nil, err
	}
	p := filepath.Join(s.root, "ingest", d.Encoded())
	var f *os.File
	for {
		var err error
		if f, err = os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
			return nil, fmt.Errorf("ingest %s: %w", d, err)
		}
		if err := lock(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("ingest %s: lock: %w", d, err)
		}
		// The writer we waited for may have committed (renamed) the
		// file we opened: then the blob exists, or we must reopen.
		if s.Has(d) {
			// Remove the empty ingest file our open may have created.
			if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
				if pi, err := os.Stat(p); err == nil && os.SameFile(fi, pi) {
					os.Remove(p)
				}
			}
			f.Close()
			return nil, fmt.Errorf("blob %s: %w", d, ErrExists)
		}
		fi, err1 := f.Stat()
		pi, err2 := os.Stat(p)
		if err1 == nil && err2 == nil && os.SameFile(fi, pi) {
			break
		}
		f.Close()
	}
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ingest %s: %w", d, err)
	}
	if size >= 0 && off > size {
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, err
		}
		off, _ = f.Seek(0, io.SeekStart)
	}
	return &Writer{s: s, d: d, size: size, f: f, offset: off}, nil
}

// Offset is the number of bytes already ingested.
func (w *Writer) Offset() int64 { return w.offset }

// Truncate discards what was ingested so far.
func (w *Writer) Truncate() error {
	if err := w.f.Truncate(0); err != nil {
		return err
	}
	_, err := w.f.Seek(0, io.SeekStart)
	w.offset = 0
	return err
}

// Write appends p to the ingest.
func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.offset += int64(n)
	if err != nil {
		return n, fmt.Errorf("ingest %s: %w", w.d, err)
	}
	if w.size >= 0 && w.offset > w.size {
		return n, fmt.Errorf("blob %s: more than the expected %d bytes", w.d, w.size)
	}
	return n, nil
}

// ErrDigestMismatch is returned (wrapped) by Commit when the content does
// not hash to the expected digest; the ingest is discarded.
var ErrDigestMismatch = errors.New("digest mismatch")

// Commit verifies the ingested content and makes it blob d.
func (w *Writer) Commit() error {
	if w.size >= 0 && w.offset != w.size {
		return fmt.Errorf("blob %s: got %d bytes, expected %d", w.d, w.offset, w.size)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("ingest %s: fsync: %w", w.d, err)
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	v := w.d.Algorithm().Digester()
	if _, err := io.Copy(v.Hash(), w.f); err != nil {
		return fmt.Errorf("ingest %s: %w", w.d, err)
	}
	if got := v.Digest(); got != w.d {
		w.Truncate()
		return fmt.Errorf("blob %s: content has digest %s: %w", w.d, got, ErrDigestMismatch)
	}
	return w.commitVerified()
}

// CommitVerified makes the content blob d without hashing it again: the
// caller has hashed the bytes as they were written (a download that hashes
// while it streams) and passes the digest it computed.
func (w *Writer) CommitVerified(computed digest.Digest) error {
	if computed != w.d {
		w.Truncate()
		return fmt.Errorf("blob %s: content has digest %s: %w", w.d, computed, ErrDigestMismatch)
	}
	if w.size >= 0 && w.offset != w.size {
		return fmt.Errorf("blob %s: got %d bytes, expected %d", w.d, w.offset, w.size)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("ingest %s: fsync: %w", w.d, err)
	}
	return w.commitVerified()
}

func (w *Writer) commitVerified() error {
	dst, _ := w.s.blobPath(w.d)
	if err := os.Rename(w.f.Name(), dst); err != nil {
		return fmt.Errorf("commit blob %s: %w", w.d, err)
	}
	w.done = true
	return syncDir(filepath.Dir(dst))
}

// Close releases the ingest; uncommitted content stays for a later resume.
func (w *Writer) Close() error {
	return w.f.Close()
}

// Prefix returns the partial content ingested so far (for resuming a
// download that must hash the prefix again).
func (w *Writer) Prefix() io.Reader {
	return io.NewSectionReader(w.f, 0, w.offset)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !strings.Contains(err.Error(), "invalid argument") {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
