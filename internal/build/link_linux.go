package build

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/snapshot"
)

// A COPY's regular files are made hard links to identical files of
// committed layers, instead of new files, when such a file exists: the
// file of a --from tree's layer that the tree shows, or, for a COPY from
// the context, the file the same COPY made in an earlier build when its
// content, mode, owner and times are what the copy would give. Creating
// an inode is most of a small file's copy (ext4's allocator), and a
// link copies no content.
//
// This is safe because a committed layer's directory is never written
// again: with the overlay snapshotter it is only ever a lower directory
// (read-only; a container's or a step's write copies the file up into
// its own upper directory, a new inode), and a layer is only removed
// (unlinking drops one link). Linking is therefore done only with the
// overlay snapshotter, whose layers are these directories; the copy
// snapshotter's trees are copies written in place.
//
// The link can't be made through the overlay mount (a lower file is on
// another mount), so the COPY runs as before through the mount for
// everything but the linked files, which are left out of its tar streams
// and recorded; then, with the overlay unmounted, they are linked into
// the upper directory, their parent directories copied up by hand where
// the overlay had not (mode, owner and times, as overlayfs does) and the
// directory times the copy set put back. What overlayfs would make of a
// path that is not plain (a symlink on the way, a directory to replace)
// is not imitated: those files are written through the mount instead.
//
// Observable differences: a linked file's link count (st_nlink) counts
// the layers that share it, and its access and change times are the
// shared inode's. A layer's tar stays whole: the tar writer only makes
// hardlink entries for links within the tree it walks.

// copyLastDir (under the state directory) keeps, per COPY from the
// context, the chain ID of the tree the last build of it made: where to
// look for files to link.
const copyLastDir = "copy-last"

// linker collects the files of one COPY step to link.
type linker struct {
	upper string // the step's upper directory

	// A --from tree: where it is mounted, and its layers, top first.
	srcRoot string
	layers  []string
	// A context COPY: the layer the same COPY made before.
	prev string

	mu      sync.Mutex
	dirs    map[string]int // open layer directories (O_PATH)
	off     bool
	pending map[string]*pendingLink // by name in the image (absolute)
	order   []*pendingLink

	// Directory times, to put back after linking: those of the tar pass
	// going on, and each directory's final one after the passes so far
	// (absent: the time its last change set).
	passDirs  map[string]time.Time
	passChild map[string]bool
	dirTimes  map[string]time.Time

	// Set by plan: directories to copy up, and the parents of what is
	// linked.
	copyUps []copyUp
	touched map[string]bool
}

// pendingLink is a file to link.
type pendingLink struct {
	name  string      // absolute in the image
	hdr   *tar.Header // the entry the copy would write
	src   string      // the source file, copied when the link fails
	layer string      // the layer directory with the file to link
	rel   string      // its path there
	ino   uint64
}

type copyUp struct {
	rel string
	st  unix.Stat_t
}

// newLinker returns a linker writing into upper ("" when the snapshotter
// is not overlay: nil, nothing is linked).
func newLinker(upper string) *linker {
	if upper == "" {
		return nil
	}
	return &linker{upper: upper, pending: map[string]*pendingLink{}, dirTimes: map[string]time.Time{}, dirs: map[string]int{}}
}

// dirFd is an O_PATH descriptor of the layer directory dir, kept open
// until close.
func (l *linker) dirFd(dir string) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if fd, ok := l.dirs[dir]; ok {
		return fd, nil
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	l.dirs[dir] = fd
	return fd, nil
}

// close closes the layer directories.
func (l *linker) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, fd := range l.dirs {
		unix.Close(fd)
	}
	l.dirs = map[string]int{}
}

// stat stats rel in the layer directory dir, following no symlink.
func (l *linker) stat(dir, rel string) (unix.Stat_t, error) {
	var st unix.Stat_t
	dfd, err := l.dirFd(dir)
	if err != nil {
		return st, err
	}
	fd, err := openBeneath(dfd, rel, 0)
	if err != nil {
		return st, err
	}
	defer unix.Close(fd)
	return st, unix.Fstat(fd, &st)
}

// openBeneath opens rel inside the directory dir (O_PATH), following no
// symlink.
func openBeneath(dirfd int, rel string, flags uint64) (int, error) {
	if rel == "" {
		rel = "."
	}
	return unix.Openat2(dirfd, rel, &unix.OpenHow{
		Flags:   flags | unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
}

// sameMeta reports whether st is a regular file the entry hdr would make.
func sameMeta(st *unix.Stat_t, hdr *tar.Header) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFREG && int64(st.Mode&0o7777) == hdr.Mode&0o7777 &&
		int(st.Uid) == hdr.Uid && int(st.Gid) == hdr.Gid && st.Size == hdr.Size &&
		st.Mtim.Sec == hdr.ModTime.Unix() && st.Mtim.Nsec == int64(hdr.ModTime.Nanosecond())
}

// hasXattrs reports whether the file p has extended attributes (which a
// COPY doesn't carry over); true when that can't be told.
func hasXattrs(p string) bool {
	n, err := unix.Listxattr(p, nil)
	if errors.Is(err, unix.ENOTSUP) {
		return false
	}
	return err != nil || n > 0
}

// offer takes the regular file entry hdr (name absolute in the image, e
// its source) to link, if an identical file is there to link; the caller
// then leaves it out of the tar.
func (l *linker) offer(name string, hdr *tar.Header, e fileEntry) bool {
	if l == nil || hdr.Typeflag != tar.TypeReg {
		return false
	}
	l.mu.Lock()
	off := l.off
	l.mu.Unlock()
	if off {
		return false
	}
	p := &pendingLink{name: name, hdr: hdr, src: e.host}
	if l.prev != "" {
		p.layer, p.rel = l.prev, strings.TrimPrefix(name, "/")
		st, err := l.stat(p.layer, p.rel)
		if err != nil || !sameMeta(&st, hdr) || hasXattrs(filepath.Join(p.layer, p.rel)) {
			return false
		}
		if same, err := sameContent(filepath.Join(p.layer, p.rel), e.host, hdr.Size); err != nil || !same {
			return false
		}
		p.ino = st.Ino
	} else {
		rel, ok := strings.CutPrefix(e.host, l.srcRoot+"/")
		sys, isStat := e.fi.Sys().(*syscall.Stat_t)
		if !ok || !isStat || len(l.layers) == 0 {
			return false
		}
		// The topmost layer that has the path decides; the file there is
		// the tree's exactly when it is the inode the tree shows (overlay
		// reports a lower file's own inode number when all layers are on
		// one filesystem).
		for _, d := range l.layers {
			st, err := l.stat(d, rel)
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
				continue
			}
			if err != nil || st.Ino != sys.Ino || !sameMeta(&st, hdr) || hasXattrs(filepath.Join(d, rel)) {
				return false
			}
			p.layer, p.rel, p.ino = d, rel, st.Ino
			break
		}
		if p.layer == "" {
			return false
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending[name] = p
	l.order = append(l.order, p)
	l.childIn(name)
	return true
}

// sameContent compares the first size bytes of the files a and b (each
// of that size, the caller has seen), reading both with plain syscalls.
func sameContent(a, b string, size int64) (bool, error) {
	fa, err := unix.Open(a, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fa)
	fb, err := unix.Open(b, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fb)
	bufA, bufB := make([]byte, min(size+1, 64<<10)), make([]byte, min(size+1, 64<<10))
	for {
		na, err := readFull(fa, bufA)
		if err != nil {
			return false, err
		}
		nb, err := readFull(fb, bufB)
		if err != nil {
			return false, err
		}
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		size -= int64(na)
		if na < len(bufA) {
			return size == 0, nil // both at their ends
		}
	}
}

// readFull reads fd into buf until it is full or the file ends.
func readFull(fd int, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, &os.SyscallError{Syscall: "read", Err: err}
		}
		if k == 0 {
			break
		}
		n += k
	}
	return n, nil
}

// written notes an entry the tar pass writes: it replaces a file to link
// of the same name, and a directory's time is set at the pass's end.
func (l *linker) written(name string, hdr *tar.Header) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	name = path.Clean(name)
	delete(l.pending, name)
	if hdr.Typeflag == tar.TypeDir && l.passDirs != nil {
		l.passDirs[name] = hdr.ModTime
	}
	l.childIn(name)
}

// childIn notes that the pass makes an entry in name's directory (with
// l.mu held).
func (l *linker) childIn(name string) {
	if l.passChild != nil {
		l.passChild[path.Dir(name)] = true
	}
}

// beginPass and endPass bracket one tar pass of the copy (archive.Apply
// sets the times of the directories it has entries for at its end).
func (l *linker) beginPass() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.passDirs, l.passChild = map[string]time.Time{}, map[string]bool{}
	l.mu.Unlock()
}

func (l *linker) endPass() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for d := range l.passChild {
		delete(l.dirTimes, d)
	}
	for d, t := range l.passDirs {
		l.dirTimes[d] = t
	}
	l.passDirs, l.passChild = nil, nil
}

// plan checks, with the step's tree still mounted at rootfs and the rest
// of the copy done, where each file to link goes: its directories must
// be directories (not symlinks) in the tree and the name not one. What
// fails that is written now through the mount, as the copy would have;
// the directories the overlay has not copied up are noted for finish.
func (l *linker) plan(ctx context.Context, rootfs string, c *copier) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	l.off = true
	l.mu.Unlock()
	rfd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	defer unix.Close(rfd)
	ufd, err := unix.Open(l.upper, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: l.upper, Err: err}
	}
	defer unix.Close(ufd)
	l.touched = map[string]bool{}
	noted := map[string]bool{}
	var late, keep []*pendingLink
	for _, p := range l.order {
		if l.pending[p.name] != p {
			continue // written again after
		}
		ups, ok := l.check(rfd, ufd, rootfs, p.name, noted)
		if !ok {
			late = append(late, p)
			continue
		}
		l.touched[path.Dir(p.name)] = true
		for _, u := range ups {
			noted[u.rel] = true
		}
		l.copyUps = append(l.copyUps, ups...)
		keep = append(keep, p)
	}
	l.order = keep
	if len(late) == 0 {
		return nil
	}
	late1 := *c
	late1.link = nil // not a pass of the copy's: leaves the times alone
	err = late1.write(ctx, "/", func(tw *tar.Writer) error {
		for _, p := range late {
			if err := tw.WriteHeader(p.hdr); err != nil {
				return err
			}
			if err := copyFileTo(tw, p.src, p.hdr.Size); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Their directories' times as the copy's passes left them: set
	// through the mount, where a symlink on their way leads.
	for _, p := range late {
		d := path.Dir(p.name)
		t, ok := l.dirTimes[d]
		if !ok {
			continue
		}
		host, err := securejoin.SecureJoin(rootfs, d)
		if err != nil {
			return err
		}
		if err := os.Chtimes(host, t, t); err != nil {
			return err
		}
	}
	return nil
}

// check looks at name (absolute) in the tree (rfd) and the upper
// directory (ufd) and returns the directories on its way to copy up.
func (l *linker) check(rfd, ufd int, rootfs, name string, noted map[string]bool) ([]copyUp, bool) {
	rel := strings.TrimPrefix(name, "/")
	var ups []copyUp
	var st unix.Stat_t
	dir := ""
	for _, comp := range strings.Split(path.Dir(rel), "/") {
		if comp == "." || comp == "" {
			break
		}
		dir = path.Join(dir, comp)
		// The directories above were checked to be directories, so
		// this walk follows no symlink.
		if unix.Fstatat(rfd, dir, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return nil, false
		}
		var ust unix.Stat_t
		err := unix.Fstatat(ufd, dir, &ust, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == nil && ust.Mode&unix.S_IFMT == unix.S_IFDIR:
		case errors.Is(err, unix.ENOENT) && !noted[dir]:
			if hasXattrs(filepath.Join(rootfs, dir)) {
				return nil, false
			}
			ups = append(ups, copyUp{rel: dir, st: st})
		case errors.Is(err, unix.ENOENT):
		default:
			return nil, false
		}
	}
	if err := unix.Fstatat(rfd, rel, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return nil, false // the copy's error is the copy's to give
		}
	} else if !errors.Is(err, unix.ENOENT) {
		return nil, false
	}
	return ups, true
}

// copyFileTo writes size bytes of the file src to w.
func copyFileTo(w io.Writer, src string, size int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, io.LimitReader(f, size))
	if err == nil && n != size {
		err = fmt.Errorf("%s changed size while it was copied", src)
	}
	return err
}

// finish makes the links in the upper directory, the overlay unmounted:
// the directories to copy up first, then each file (a copy of it when
// the link fails: the layer gone meanwhile, or EMLINK), then the
// directory times as the copy through the overlay would have left them.
func (l *linker) finish(ctx context.Context) error {
	if l == nil || (len(l.order) == 0 && len(l.touched) == 0) {
		return nil
	}
	ufd, err := unix.Open(l.upper, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: l.upper, Err: err}
	}
	defer unix.Close(ufd)
	made := map[string]bool{}
	for _, u := range l.copyUps {
		var st unix.Stat_t
		if unix.Fstatat(ufd, u.rel, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			continue // copied up by the overlay since, for a file written late
		}
		made[u.rel] = true
		if err := unix.Mkdirat(ufd, u.rel, 0o700); err != nil {
			return fmt.Errorf("copy up %s: %w", u.rel, &os.SyscallError{Syscall: "mkdirat", Err: err})
		}
		if err := unix.Fchownat(ufd, u.rel, int(u.st.Uid), int(u.st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("copy up %s: %w", u.rel, &os.SyscallError{Syscall: "fchownat", Err: err})
		}
		if err := unix.Fchmodat(ufd, u.rel, u.st.Mode&0o7777, 0); err != nil {
			return fmt.Errorf("copy up %s: %w", u.rel, &os.SyscallError{Syscall: "fchmodat", Err: err})
		}
	}
	for _, p := range l.order {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.place(ufd, p); err != nil {
			return fmt.Errorf("copy %s: %w", p.name, err)
		}
	}
	// Overlayfs keeps the times of a directory it copies up; one the
	// copy made an entry in has the time of that change.
	for _, u := range l.copyUps {
		if !made[u.rel] || l.touched["/"+u.rel] {
			continue
		}
		ts := []unix.Timespec{u.st.Atim, u.st.Mtim}
		if err := unix.UtimesNanoAt(ufd, u.rel, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("copy up %s: %w", u.rel, &os.SyscallError{Syscall: "utimensat", Err: err})
		}
	}
	for d := range l.touched {
		t, ok := l.dirTimes[d]
		if !ok {
			continue
		}
		// (check saw d a directory all the way, in the upper directory
		// after finish's copy-ups.)
		rel := strings.TrimPrefix(d, "/")
		if rel == "" {
			rel = "."
		}
		ts := []unix.Timespec{timespecOf(t), timespecOf(t)}
		if err := unix.UtimesNanoAt(ufd, rel, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("directory %s: %w", d, &os.SyscallError{Syscall: "utimensat", Err: err})
		}
	}
	return nil
}

func timespecOf(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// place links (or copies) p into the upper directory ufd, replacing what
// the copy wrote there before under that name.
func (l *linker) place(ufd int, p *pendingLink) error {
	dir, base := path.Split(strings.TrimPrefix(p.name, "/"))
	pfd, err := openBeneath(ufd, strings.TrimSuffix(dir, "/"), unix.O_DIRECTORY)
	if err != nil {
		return &os.SyscallError{Syscall: "openat2", Err: err}
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return fmt.Errorf("cannot overwrite directory %q with non-directory", p.name)
		}
		if err := unix.Unlinkat(pfd, base, 0); err != nil {
			return &os.SyscallError{Syscall: "unlinkat", Err: err}
		}
	}
	if l.link(pfd, base, p) == nil {
		return nil
	}
	return copyInto(pfd, base, p)
}

// link makes base in pfd a link of p's file, after checking it is the
// inode offer saw.
func (l *linker) link(pfd int, base string, p *pendingLink) error {
	dfd, err := l.dirFd(p.layer)
	if err != nil {
		return err
	}
	fd, err := openBeneath(dfd, p.rel, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Ino != p.ino || !sameMeta(&st, p.hdr) {
		return errors.New("changed")
	}
	return unix.Linkat(fd, "", pfd, base, unix.AT_EMPTY_PATH)
}

// copyInto writes p's source as a new file base in pfd, with the entry's
// metadata, as archive.Apply would.
func copyInto(pfd int, base string, p *pendingLink) error {
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.SyscallError{Syscall: "openat", Err: err}
	}
	f := os.NewFile(uintptr(fd), base)
	defer f.Close()
	if err := copyFileTo(f, p.src, p.hdr.Size); err != nil {
		return err
	}
	if err := unix.Fchown(fd, p.hdr.Uid, p.hdr.Gid); err != nil {
		return &os.SyscallError{Syscall: "fchown", Err: err}
	}
	if err := unix.Fchmod(fd, uint32(p.hdr.Mode&0o7777)); err != nil {
		return &os.SyscallError{Syscall: "fchmod", Err: err}
	}
	t := timespecOf(p.hdr.ModTime)
	if err := unix.UtimesNanoAt(pfd, base, []unix.Timespec{t, t}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.SyscallError{Syscall: "utimensat", Err: err}
	}
	return f.Close()
}

// treeLayers are the layer directories of the committed tree chainID, top
// first, when the snapshotter is overlay (nil otherwise).
func (b *Builder) treeLayers(ctx context.Context, chainID string) []string {
	sn := b.cfg.Images.Snapshotter()
	if chainID == "" || sn.Name() != "overlay" {
		return nil
	}
	mounts, err := sn.Mounts(ctx, chainID)
	if err != nil {
		return nil
	}
	return snapshot.LayerDirs(mounts)
}

// lastCopy is the directory of the layer the COPY of key made last time,
// "" when unknown or gone.
func (b *Builder) lastCopy(ctx context.Context, key string) string {
	data, err := os.ReadFile(filepath.Join(b.cfg.StateDir, copyLastDir, key))
	if err != nil {
		return ""
	}
	dirs := b.treeLayers(ctx, strings.TrimSpace(string(data)))
	if len(dirs) == 0 {
		return ""
	}
	return dirs[0]
}

// rememberCopy records chainID as what the COPY of key made last.
func (b *Builder) rememberCopy(key, chainID string) error {
	// A record lost in a crash costs a copy, nothing else.
	return replaceUnsynced(filepath.Join(b.cfg.StateDir, copyLastDir, key), []byte(chainID))
}
