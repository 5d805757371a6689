package archive

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// DiffDirs writes the changes that turn the tree lower into the tree upper
// as a layer tar: what is new or changed in upper as Tar writes it, and a
// .wh.NAME entry for each name of lower that upper lacks. It is the layer
// of a container on the copy snapshotter, whose tree is a full copy of its
// image's (lower).
//
// A file counts as changed when its type, mode, owner, size, modification
// time (to the second: copies keep only seconds), device number or
// symlink target differ; a directory's own entry is written when its
// metadata changed, and its contents are compared name by name. As for
// Tar, upper may be changing (a running container): nothing is followed.
func DiffDirs(ctx context.Context, lower, upper string, w io.Writer) error {
	lfd, err := unix.Open(lower, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("archive: open %s: %w", lower, err)
	}
	defer unix.Close(lfd)
	ufd, err := unix.Open(upper, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("archive: open %s: %w", upper, err)
	}
	defer unix.Close(ufd)
	t := newTreeWriter(ctx, w, false)
	if t.procFd >= 0 {
		defer unix.Close(t.procFd)
	}
	if err := t.diff(lfd, ufd, ""); err != nil {
		return err
	}
	if err := t.tw.Close(); err != nil {
		return fmt.Errorf("archive: write tar: %w", err)
	}
	return nil
}

func dirNames(dfd int) ([]string, error) {
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.SyscallError{Syscall: "openat", Err: err}
	}
	defer unix.Close(fd)
	names, err := readDirNames(fd)
	slices.Sort(names)
	return names, err
}

// diff writes the changes from the directory lfd to the directory ufd,
// named rel ("" for the top, else ending in "/") in the tar.
func (t *treeWriter) diff(lfd, ufd int, rel string) error {
	lnames, err := dirNames(lfd)
	if err != nil {
		return fmt.Errorf("archive: %s: %w", rel, err)
	}
	unames, err := dirNames(ufd)
	if err != nil {
		return fmt.Errorf("archive: %s: %w", rel, err)
	}
	for _, n := range lnames {
		if _, found := slices.BinarySearch(unames, n); !found {
			if err := t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel + whiteoutPrefix + n,
				Mode: 0o600, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
				return fmt.Errorf("archive: write tar: %w", err)
			}
		}
	}
	for _, n := range unames {
		if err := t.ctx.Err(); err != nil {
			return err
		}
		var ust, lst unix.Stat_t
		if err := unix.Fstatat(ufd, n, &ust, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if err == unix.ENOENT {
				continue
			}
			return fmt.Errorf("archive: %s: %w", rel+n, &os.SyscallError{Syscall: "fstatat", Err: err})
		}
		lerr := unix.Fstatat(lfd, n, &lst, unix.AT_SYMLINK_NOFOLLOW)
		bothDirs := lerr == nil && ust.Mode&unix.S_IFMT == unix.S_IFDIR && lst.Mode&unix.S_IFMT == unix.S_IFDIR
		if !bothDirs {
			if lerr == nil && !changed(lfd, ufd, n, &lst, &ust) {
				continue
			}
			if err := t.entry(ufd, rel, n); err != nil {
				return fmt.Errorf("archive: %s: %w", rel+n, err)
			}
			continue
		}
		if changed(lfd, ufd, n, &lst, &ust) {
			t.headerOnly = true
			err := t.entry(ufd, rel, n)
			t.headerOnly = false
			if err != nil {
				return fmt.Errorf("archive: %s: %w", rel+n, err)
			}
		}
		if err := t.diffSub(lfd, ufd, n, rel+n+"/"); err != nil {
			return err
		}
	}
	return nil
}

func (t *treeWriter) diffSub(lfd, ufd int, name, rel string) error {
	l, err := unix.Openat(lfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("archive: %s: %w", rel, &os.SyscallError{Syscall: "openat", Err: err})
	}
	defer unix.Close(l)
	u, err := unix.Openat(ufd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT || err == unix.ENOTDIR || err == unix.ELOOP {
		return nil // replaced while we walk
	}
	if err != nil {
		return fmt.Errorf("archive: %s: %w", rel, &os.SyscallError{Syscall: "openat", Err: err})
	}
	defer unix.Close(u)
	return t.diff(l, u, rel)
}

// changed compares the name n in two directories by its stat (and target).
func changed(lfd, ufd int, n string, l, u *unix.Stat_t) bool {
	if l.Mode != u.Mode || l.Uid != u.Uid || l.Gid != u.Gid || l.Rdev != u.Rdev || l.Mtim.Sec != u.Mtim.Sec {
		return true
	}
	switch u.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return false
	case unix.S_IFLNK:
		a, err1 := readlinkAt(lfd, n)
		b, err2 := readlinkAt(ufd, n)
		return err1 != nil || err2 != nil || a != b
	}
	return l.Size != u.Size
}
