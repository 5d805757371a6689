package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fileHashesDir (under the state directory) keeps, per context
// directory, the content digests of its files from earlier builds.
const fileHashesDir = "file-hashes"

// racyWindow: a file changed this close to (or after) the moment its
// hash was taken may change again within the same timestamp tick (the
// kernel's file times are as coarse as a scheduler tick) and look
// unchanged; its digest is not kept (git's "racily clean" rule).
var racyWindow = time.Second

// maxFileHashes bounds what is kept per context beyond the files the
// last build read.
const maxFileHashes = 200_000

// fileStamp is what a file's digest is trusted by: when any of these
// changes, the content may have. ctime and the inode cannot be set back
// by a user, so a rewrite that keeps the size and restores the mtime is
// still seen.
type fileStamp struct {
	Dev   uint64 `json:"d"`
	Ino   uint64 `json:"i"`
	Size  int64  `json:"s"`
	Mode  uint32 `json:"m"`
	Mtime int64  `json:"t"` // ns
	Ctime int64  `json:"c"` // ns
	Sum   string `json:"h"` // hex sha256 of the content
}

func stampOf(fi fs.FileInfo) (fileStamp, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStamp{}, false
	}
	return fileStamp{
		Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size, Mode: st.Mode,
		Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(),
	}, true
}

// same reports whether s and o describe the same file content.
func (s fileStamp) same(o fileStamp) bool {
	s.Sum, o.Sum = "", ""
	return s == o
}

// fileHashes is the digest memory of one context directory: a no-op
// rebuild reads no file of the context, only their stats.
type fileHashes struct {
	file  string // where it is kept; "" for a context that is not kept
	limit int64  // ctime (ns) from which a digest is racy, not kept
	mu    sync.Mutex
	old   map[string]fileStamp // from the last build
	used  map[string]fileStamp // looked up or hashed by this build
	dirty bool
}

// loadFileHashes reads what earlier builds of the context dir kept; with
// stateDir "" nothing is kept.
func loadFileHashes(stateDir, dir string) *fileHashes {
	h := &fileHashes{old: map[string]fileStamp{}, used: map[string]fileStamp{},
		limit: time.Now().Add(-racyWindow).UnixNano()}
	if stateDir == "" {
		return h
	}
	abs, err := filepath.Abs(dir)
	if err != nil || !fineTimes(abs) {
		return h
	}
	sum := sha256.Sum256([]byte(abs))
	h.file = filepath.Join(stateDir, fileHashesDir, hex.EncodeToString(sum[:16])+".json")
	if data, err := os.ReadFile(h.file); err == nil {
		json.Unmarshal(data, &h.old) // a damaged file is an empty memory
	}
	return h
}

// fineTimes reports whether dir is on a filesystem whose ctime has
// nanoseconds and moves on every change (those Linux keeps on local disks
// and in memory), so that a stamp can vouch for a file's content. FAT's
// two-second times, or a network filesystem's, cannot.
func fineTimes(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return false
	}
	switch uint32(st.Type) {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.TMPFS_MAGIC,
		unix.OVERLAYFS_SUPER_MAGIC, unix.F2FS_SUPER_MAGIC, zfsSuperMagic:
		return true
	}
	return false
}

const zfsSuperMagic = 0x2fc12fc1

// sum returns the hex sha256 of the regular file at host (rel in the
// context), from memory when its stamp is unchanged.
func (h *fileHashes) sum(rel, host string, fi fs.FileInfo, buf []byte) (string, error) {
	stamp, ok := stampOf(fi)
	if ok {
		h.mu.Lock()
		old, found := h.old[rel]
		h.mu.Unlock()
		if found && old.same(stamp) {
			h.keep(rel, old, false)
			return old.Sum, nil
		}
	}
	f, err := os.Open(host)
	if err != nil {
		return "", err
	}
	defer f.Close()
	d := sha256.New()
	if _, err := io.CopyBuffer(d, f, buf); err != nil {
		return "", err
	}
	stamp.Sum = hex.EncodeToString(d.Sum(nil))
	if ok && stamp.Ctime < h.limit && stamp.Mtime < h.limit {
		h.keep(rel, stamp, true)
	}
	return stamp.Sum, nil
}

func (h *fileHashes) keep(rel string, s fileStamp, changed bool) {
	h.mu.Lock()
	h.used[rel] = s
	h.dirty = h.dirty || changed
	h.mu.Unlock()
}

// save writes the memory back when this build hashed something new: the
// digests it used, and those of the last build it did not look at.
func (h *fileHashes) save() error {
	if h.file == "" || !h.dirty {
		return nil
	}
	out := h.used
	if len(h.old)+len(h.used) <= maxFileHashes {
		for k, v := range h.old {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return err
	}
	// A memory lost in a crash costs a re-read, nothing else.
	return replaceUnsynced(h.file, data)
}

// replaceUnsynced replaces the file path (making its directory) with
// data through a temporary file and a rename, without syncing: for this
// package's hints, whose loss in a crash costs only work.
func replaceUnsynced(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// hashFiles calls sum for each of files in parallel and returns the
// digests in order.
func (h *fileHashes) hashFiles(files []fileEntry, rels []string) ([]string, error) {
	sums := make([]string, len(files))
	errs := make([]error, len(files))
	workers := min(runtime.GOMAXPROCS(0), 8, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			for i := range next {
				sums[i], errs[i] = h.sum(rels[i], files[i].host, files[i].fi, buf)
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return sums, nil
}
