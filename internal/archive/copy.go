package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// This file is the local side of `cp`, Docker's copy rules: what a path
// that ends in "/" or "/." asserts, where an archive of a source is
// extracted for a destination that exists or not, and under which name.

// PathStat describes a path for cp, as Docker's container path stat does.
type PathStat struct {
	Name  string // the base name of the path as typed
	Size  int64
	Mode  os.FileMode
	Mtime time.Time
	// LinkTarget is, for a symlink, the path inside the root it leads to
	// (followed inside the root).
	LinkTarget string
}

// CleanCopyPath turns a path typed for cp into the absolute path Docker
// looks up: cleaned, relative paths taken from "/", and a trailing "/" or
// "/." kept, since it says "a directory" (and "/." its contents).
func CleanCopyPath(p string) string {
	return PreserveTrailingDotOrSeparator(path.Join("/", p), p)
}

// copyName is the name entries of p are written under: its base name,
// "." for the root or a trailing "/.".
func copyName(p string) string {
	if specifiesCurrentDir(p) || path.Clean(p) == "/" {
		return "."
	}
	return path.Base(p)
}

// Rewrite returns the tar stream r with each header passed through fn
// first: fn may change it, or return false to drop the entry (and its
// content). The stream is rewritten in PAX format.
func Rewrite(r io.Reader, fn func(*tar.Header) (bool, error)) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		tr := tar.NewReader(r)
		tw := tar.NewWriter(pw)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				pw.CloseWithError(tw.Close())
				return
			}
			if err != nil {
				pw.CloseWithError(fmt.Errorf("archive: read tar: %w", err))
				return
			}
			keep, err := fn(hdr)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if !keep {
				continue
			}
			hdr.Format = tar.FormatPAX
			if err := tw.WriteHeader(hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, tr); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}

// Rebase renames the entries of the tar stream r named oldBase or below it
// to newBase (hardlink targets too), as Docker's RebaseArchiveEntries.
func Rebase(r io.Reader, oldBase, newBase string) io.ReadCloser {
	re := func(name string) string {
		trail := strings.HasSuffix(name, "/")
		n := strings.TrimSuffix(name, "/")
		switch {
		case oldBase == "/" || oldBase == "":
			n = path.Join(newBase, n)
		case n == oldBase:
			n = newBase
		case strings.HasPrefix(n, oldBase+"/"):
			n = newBase + n[len(oldBase):]
		default:
			return name
		}
		if trail {
			n += "/"
		}
		return n
	}
	return Rewrite(r, func(h *tar.Header) (bool, error) {
		h.Name = re(h.Name)
		if h.Typeflag == tar.TypeLink {
			h.Linkname = re(h.Linkname)
		}
		return true, nil
	})
}

// Errors of Docker's copy rules; the messages are Docker's.
var (
	ErrNotDirectory  = errors.New("not a directory")
	ErrDirNotExists  = errors.New("no such directory")
	ErrCannotCopyDir = errors.New("cannot copy directory")
)

// PreserveTrailingDotOrSeparator appends to cleaned the trailing "/." or
// "/" that original ends with, if cleaned lacks it.
func PreserveTrailingDotOrSeparator(cleaned, original string) string {
	if specifiesCurrentDir(original) && !specifiesCurrentDir(cleaned) {
		if !strings.HasSuffix(cleaned, "/") {
			cleaned += "/"
		}
		cleaned += "."
	}
	if strings.HasSuffix(original, "/") && !strings.HasSuffix(cleaned, "/") {
		cleaned += "/"
	}
	return cleaned
}

// specifiesCurrentDir: the path ends in "." ("/." or is ".").
func specifiesCurrentDir(p string) bool { return path.Base(p) == "." }

// assertsDirectory: the path ends in "/" or "/.", so it must be a directory.
func assertsDirectory(p string) bool {
	return strings.HasSuffix(p, "/") || specifiesCurrentDir(p)
}

// SplitPathDirEntry splits p into its directory and base name, cleaned but
// keeping a trailing "." (so "/a/b/." is "/a/b" and ".").
func SplitPathDirEntry(p string) (dir, base string) {
	cleaned := filepath.Clean(p)
	if specifiesCurrentDir(p) {
		cleaned += "/."
	}
	return filepath.Dir(cleaned), filepath.Base(cleaned)
}

// CopyInfo says what a copy source or destination is.
type CopyInfo struct {
	Path   string
	Exists bool
	IsDir  bool
}

// CopyInfoSourcePath describes the local copy source p (absolute, a
// trailing "/" or "/." kept); with follow a symlink at its end counts as
// what it leads to. The source must exist.
func CopyInfoSourcePath(p string, follow bool) (CopyInfo, error) {
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	fi, err := stat(p)
	if err != nil {
		return CopyInfo{}, err
	}
	if assertsDirectory(p) && !fi.IsDir() {
		return CopyInfo{}, fmt.Errorf("%s: %w", p, ErrNotDirectory)
	}
	return CopyInfo{Path: p, Exists: true, IsDir: fi.IsDir()}, nil
}

// CopyInfoDestinationPath describes the local copy destination p: a
// symlink at its end is followed (the copy goes where it points, which
// need not exist), and a destination that does not exist needs an
// existing parent directory.
func CopyInfoDestinationPath(p string) (CopyInfo, error) {
	orig := p
	fi, err := os.Lstat(p)
	for n := 0; err == nil && fi.Mode()&os.ModeSymlink != 0; n++ {
		if n > 10 {
			return CopyInfo{}, errors.New("too many symlinks in " + orig)
		}
		target, err := os.Readlink(p)
		if err != nil {
			return CopyInfo{}, err
		}
		if !filepath.IsAbs(target) {
			dir, _ := SplitPathDirEntry(p)
			target = filepath.Join(dir, target)
		}
		p = target
		fi, err = os.Lstat(p)
		if err != nil {
			break
		}
	}
	if err == nil {
		return CopyInfo{Path: p, Exists: true, IsDir: fi.IsDir()}, nil
	}
	if !os.IsNotExist(err) {
		return CopyInfo{}, err
	}
	dir, _ := SplitPathDirEntry(p)
	pfi, err := os.Stat(dir)
	if err != nil {
		return CopyInfo{}, err
	}
	if !pfi.IsDir() {
		return CopyInfo{}, fmt.Errorf("%s: %w", dir, ErrNotDirectory)
	}
	return CopyInfo{Path: p}, nil
}

// PrepareArchiveCopy decides, as Docker does, where the archive content of
// src (entries named after its base name) is extracted for the destination
// dst, and renames its entries when the copy takes the destination's name:
// into an existing directory as is; onto an existing file, or to a path
// that does not exist, renamed to the destination's base name in its
// parent. A directory cannot replace a file (ErrCannotCopyDir) and a file
// cannot make a directory a trailing "/" asked for (ErrDirNotExists).
func PrepareArchiveCopy(content io.Reader, src, dst CopyInfo) (dstDir string, _ io.ReadCloser, _ error) {
	dstDir, dstBase := SplitPathDirEntry(dst.Path)
	_, srcBase := SplitPathDirEntry(src.Path)
	if srcBase == "/" {
		srcBase = "."
	}
	switch {
	case dst.Exists && dst.IsDir:
		return dst.Path, io.NopCloser(content), nil
	case dst.Exists && src.IsDir:
		return "", nil, ErrCannotCopyDir
	case !dst.Exists && !src.IsDir && assertsDirectory(dst.Path):
		return "", nil, ErrDirNotExists
	}
	return dstDir, Rebase(content, srcBase, dstBase), nil
}
