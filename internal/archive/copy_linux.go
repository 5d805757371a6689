package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// This file is the container side of `cp`: finding a path a user typed
// inside a root that is hostile (a container's tree, which its processes
// may change while we look), describing it, and writing it as a tar.
// Every lookup goes through openInRoot, so no symlink in the tree, however
// planted ("/tmp/evil -> /etc", "-> ../../.."), leads outside the root:
// it is followed as if the root were "/".

// maxCopySymlinks bounds the symlinks a -L lookup follows by hand (the
// kernel's own limit applies to the directories on the way).
const maxCopySymlinks = 40

// resolved is a path looked up inside a root: the directory holding it
// (an O_PATH descriptor the caller closes) and its name there, "." when
// the path names the directory itself (a trailing "/" or "/."). cpath is
// the path inside the root that leads there.
type resolved struct {
	dir   int
	base  string
	cpath string
}

// resolveInRoot looks up p, an absolute path inside root as Docker takes a
// cp path (see CleanCopyPath), inside root. The directories on the way are
// resolved by the kernel inside root; the last component is not followed
// unless follow is set, and then by hand, each step again inside root.
func resolveInRoot(root *os.File, p string, follow bool) (*resolved, error) {
	for links := 0; ; links++ {
		dir, base := path.Split(p)
		if base == "" || base == "." || base == ".." {
			// The path names a directory: resolve all of it.
			dir, base = p, "."
		}
		rel := strings.TrimLeft(dir, "/")
		if rel == "" {
			rel = "."
		}
		dfd, err := openInRoot(root, rel, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return nil, err
		}
		r := &resolved{dir: dfd, base: base, cpath: p}
		if !follow || base == "." {
			return r, nil
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
			return r, nil // a missing name is the caller's to report
		}
		target, err := readlinkAt(dfd, base)
		unix.Close(dfd)
		if err != nil {
			return nil, err
		}
		if links >= maxCopySymlinks {
			return nil, &os.PathError{Op: "resolve", Path: p, Err: unix.ELOOP}
		}
		if !strings.HasPrefix(target, "/") {
			// Not cleaned lexically: ".." must climb the directories as
			// the kernel resolves them (a symlinked directory's parent is
			// its target's parent), which openInRoot does.
			target = dir + target
		}
		p = target
	}
}

func readlinkAt(dfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dfd, name, buf)
		if err != nil {
			return "", &os.PathError{Op: "readlinkat", Path: name, Err: err}
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// StatPath describes the path p (as CleanCopyPath returns it) inside the
// directory root, not following a symlink at its end. A missing path is an
// error wrapping os.ErrNotExist.
func StatPath(root, p string) (*PathStat, error) {
	rf, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	defer rf.Close()
	r, err := resolveInRoot(rf, p, false)
	if err != nil {
		return nil, err
	}
	defer unix.Close(r.dir)
	var st unix.Stat_t
	if err := unix.Fstatat(r.dir, r.base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	ps := &PathStat{Name: copyName(p), Size: st.Size, Mode: fileMode(st.Mode), Mtime: time.Unix(st.Mtim.Unix())}
	if ps.Mode&os.ModeSymlink != 0 {
		t, err := resolveInRoot(rf, p, true)
		if err != nil {
			return nil, err
		}
		unix.Close(t.dir)
		ps.LinkTarget = path.Clean(t.cpath)
	}
	return ps, nil
}

// TarPath writes the file, symlink or directory p (as CleanCopyPath
// returns it) inside root to w as a tar, as Docker's container archive
// does: entries are named from the base name of p as typed (a directory's
// contents below it, "." for a trailing "/." or the root), whatever the
// path resolved to. With follow, a symlink at the end of p is followed
// (inside root) and what it leads to is written under the symlink's name.
// What is written comes from inside root only (see Tar).
func TarPath(ctx context.Context, root, p string, follow bool, w io.Writer) error {
	rf, err := openRoot(root)
	if err != nil {
		return err
	}
	defer rf.Close()
	r, err := resolveInRoot(rf, p, follow)
	if err != nil {
		return err
	}
	defer unix.Close(r.dir)
	var st unix.Stat_t
	if err := unix.Fstatat(r.dir, r.base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	if assertsDirectory(p) && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return &os.PathError{Op: "lstat", Path: p, Err: unix.ENOTDIR}
	}
	t := newTreeWriter(ctx, w, false)
	if t.procFd >= 0 {
		defer unix.Close(t.procFd)
	}
	if err := t.entryAs(r.dir, r.base, "", copyName(p)); err != nil {
		return fmt.Errorf("archive: %s: %w", p, err)
	}
	if err := t.tw.Close(); err != nil {
		return fmt.Errorf("archive: write tar: %w", err)
	}
	return nil
}

func openRoot(root string) (*os.File, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	return os.NewFile(uintptr(fd), root), nil
}

// fileMode converts a stat mode to an os.FileMode.
func fileMode(m uint32) os.FileMode {
	fm := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		fm |= os.ModeDir
	case unix.S_IFLNK:
		fm |= os.ModeSymlink
	case unix.S_IFCHR:
		fm |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		fm |= os.ModeDevice
	case unix.S_IFIFO:
		fm |= os.ModeNamedPipe
	case unix.S_IFSOCK:
		fm |= os.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		fm |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		fm |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

// CopyOptions tune CopyTo and ExtractToDir.
type CopyOptions struct {
	// KeepOwners sets the owners the tar records (cp -a); otherwise files
	// belong to the caller (root for a copy into a container, whose
	// root is berth's).
	KeepOwners bool
	// AllowDevices creates device nodes (see Options).
	AllowDevices bool
}

func (o CopyOptions) apply() Options {
	return Options{Whiteouts: WhiteoutNone, NoOverwriteDirNonDir: true, IgnoreChown: !o.KeepOwners, AllowDevices: o.AllowDevices}
}

// CopyTo extracts content, an archive of the source src, to the local
// destination dstPath with Docker's copy rules (PrepareArchiveCopy). The
// content may be hostile (from a container): it is unpacked with Apply
// into the destination directory, so nothing lands outside it, and it
// never replaces a directory by another kind of file or the reverse.
func CopyTo(ctx context.Context, content io.Reader, src CopyInfo, dstPath string, o CopyOptions) error {
	dst, err := CopyInfoDestinationPath(dstPath)
	if err != nil {
		return err
	}
	dir, r, err := PrepareArchiveCopy(content, src, dst)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = Apply(ctx, dir, r, o.apply())
	return err
}

// ExtractToDir unpacks the tar stream r (untrusted: a user's, for a copy
// into a container) into the directory dir (as CleanCopyPath returns it)
// inside root. dir is resolved inside root and must be a directory;
// entries are placed under it, and one whose name climbs above it is
// refused (ErrBreakout). Like Docker's extraction into a container, the
// tree is resolved as if root were "/", so a symlink under dir to "/etc"
// leads to root's etc.
func ExtractToDir(ctx context.Context, root, dir string, r io.Reader, o CopyOptions) error {
	rf, err := openRoot(root)
	if err != nil {
		return err
	}
	rel := strings.TrimLeft(path.Clean(dir), "/")
	if rel == "" {
		rel = "."
	}
	fd, err := openInRoot(rf, rel, unix.O_PATH|unix.O_DIRECTORY)
	rf.Close()
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return fmt.Errorf("extraction point is not a directory")
		}
		return err
	}
	unix.Close(fd)
	prefix := func(name string) (string, error) {
		n := path.Clean("/" + name) // absolute names are taken under dir
		if !strings.HasPrefix(name, "/") {
			if n = path.Clean(name); n == ".." || strings.HasPrefix(n, "../") {
				return "", fmt.Errorf("archive: entry %q: %w", name, ErrBreakout)
			}
		}
		return path.Join(rel, n), nil
	}
	rr := Rewrite(r, func(h *tar.Header) (bool, error) {
		if h.Typeflag == tar.TypeXGlobalHeader {
			return true, nil
		}
		if path.Clean("/"+h.Name) == "/" && !strings.HasPrefix(path.Clean(h.Name), "..") {
			return false, nil // the directory itself: left as it is
		}
		var err error
		if h.Name, err = prefix(h.Name); err != nil {
			return false, err
		}
		if h.Typeflag == tar.TypeLink {
			if h.Linkname, err = prefix(h.Linkname); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	defer rr.Close()
	_, err = Apply(ctx, root, rr, o.apply())
	return err
}
