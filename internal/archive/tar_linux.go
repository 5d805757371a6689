package archive

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Tar writes the tree under dir (not dir itself) to w as a tar stream: PAX
// format, in a deterministic order (names sorted bytewise within each
// directory, a directory before its contents), with names relative to dir,
// without a leading "./" or "/", and directories ending in "/".
//
// It keeps modes (with setuid, setgid and sticky bits), numeric owners,
// modification times (to the second, as Docker writes them; no access or
// change times), symlinks, hardlinks (files of dir sharing an inode: the
// first in walk order is the file, the rest link to it), device nodes and
// fifos. Sockets are left out. Of the xattrs it keeps security.capability,
// user.* and trusted.*, but not overlayfs's own (trusted.overlay.*,
// user.overlay.*) nor the host's labels and ACLs (other security.*,
// system.*).
//
// dir may be changing under Tar (a running container's upper directory):
// the walk is by descriptor, never follows a symlink, and opens only
// directories and regular files, so what it writes all comes from inside dir.
// A file that changes size while read is an error.
func Tar(ctx context.Context, dir string, w io.Writer) error {
	return writeTree(ctx, dir, w, false)
}

// DiffOverlay writes the overlayfs upper directory upper as a layer tar:
// overlayfs's whiteouts (0:0 character devices) become .wh.NAME entries and
// opaque directories (trusted.overlay.opaque=y) get a .wh..wh..opq entry
// right after their own; everything else is written as Tar writes it.
//
// The mount must not use redirect_dir or metacopy: a renamed directory or a
// metadata-only copy-up is not in upper, and DiffOverlay fails on one rather
// than write a wrong layer.
func DiffOverlay(ctx context.Context, upper string, w io.Writer) error {
	return writeTree(ctx, upper, w, true)
}

func writeTree(ctx context.Context, dir string, w io.Writer, overlay bool) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("archive: open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	t := newTreeWriter(ctx, w, overlay)
	if t.procFd >= 0 {
		defer unix.Close(t.procFd)
	}
	if overlay {
		// An opaque root hides all of the layers underneath.
		xattrs, err := readXattrs(
			func(b []byte) (int, error) { return unix.Flistxattr(fd, b) },
			func(n string, b []byte) (int, error) { return unix.Fgetxattr(fd, n, b) })
		if err != nil {
			return fmt.Errorf("archive: %s: %w", dir, err)
		}
		if xattrs[overlayOpaque] == "y" {
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				return fmt.Errorf("archive: %s: %w", dir, &os.SyscallError{Syscall: "fstat", Err: err})
			}
			if err := t.tw.WriteHeader(opaqueHeader("", &st)); err != nil {
				return fmt.Errorf("archive: write tar: %w", err)
			}
		}
	}
	if err := t.walk(fd, ""); err != nil {
		return err
	}
	if err := t.tw.Close(); err != nil {
		return fmt.Errorf("archive: write tar: %w", err)
	}
	return nil
}

func newTreeWriter(ctx context.Context, w io.Writer, overlay bool) *treeWriter {
	return &treeWriter{
		ctx:     ctx,
		tw:      tar.NewWriter(w),
		overlay: overlay,
		links:   map[inode]string{},
		procFd:  openProcFd(),
		buf:     make([]byte, 1<<20),
	}
}

type inode struct{ dev, ino uint64 }

type treeWriter struct {
	ctx     context.Context
	tw      *tar.Writer
	overlay bool
	links   map[inode]string // first name of each multiply-linked inode
	procFd  int              // /proc/self/fd, or -1
	buf     []byte
	// headerOnly makes directory write a directory's own entry, not its
	// contents (DiffDirs walks those itself).
	headerOnly bool
}

// walk writes the entries of the directory dfd, whose name in the tar is
// rel ("" for the top).
func (t *treeWriter) walk(dfd int, rel string) error {
	// A descriptor of its own: reading entries moves the offset.
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("archive: %s: %w", rel, &os.SyscallError{Syscall: "openat", Err: err})
	}
	names, err := readDirNames(fd)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("archive: %s: %w", rel, err)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := t.ctx.Err(); err != nil {
			return err
		}
		if err := t.entry(dfd, rel, name); err != nil {
			return fmt.Errorf("archive: %s: %w", rel+name, err)
		}
	}
	return nil
}

// entry writes one name of the directory dfd, and all under it.
func (t *treeWriter) entry(dfd int, rel, name string) error {
	return t.entryAs(dfd, name, rel, name)
}

// entryAs writes name of the directory dfd (or, for ".", dfd itself), and
// all under it, as tarDir+tarBase in the tar.
func (t *treeWriter) entryAs(dfd int, name, tarDir, tarBase string) error {
	// An O_PATH handle pins the inode without opening it (no device open,
	// no blocking on a fifo), and O_NOFOLLOW makes a symlink itself.
	pfd, err := unix.Openat(dfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT { // removed while we walk
		return nil
	}
	if err != nil {
		return &os.SyscallError{Syscall: "openat", Err: err}
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return &os.SyscallError{Syscall: "fstat", Err: err}
	}
	hdr := &tar.Header{
		Name:    tarDir + tarBase,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0),
		Format:  tar.FormatPAX,
	}
	typ := st.Mode & unix.S_IFMT

	if t.overlay && typ == unix.S_IFCHR && st.Rdev == 0 {
		// Before the hardlink check: overlayfs makes every whiteout a link
		// of one inode.
		return t.tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg,
			Name:     tarDir + whiteoutPrefix + tarBase,
			Mode:     0o600,
			ModTime:  hdr.ModTime,
			Format:   tar.FormatPAX,
		})
	}
	if typ != unix.S_IFDIR && st.Nlink > 1 {
		key := inode{uint64(st.Dev), st.Ino}
		if first, ok := t.links[key]; ok {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			return t.tw.WriteHeader(hdr)
		}
		t.links[key] = hdr.Name
	}

	// xattrs of what is not opened below: by name in the directory,
	// not following it.
	lxattrs := func() (map[string]string, error) {
		p := "/proc/self/fd/" + strconv.Itoa(dfd) + "/" + name
		return readXattrs(
			func(b []byte) (int, error) { return unix.Llistxattr(p, b) },
			func(n string, b []byte) (int, error) { return unix.Lgetxattr(p, n, b) })
	}
	switch typ {
	case unix.S_IFDIR:
		return t.directory(pfd, hdr)
	case unix.S_IFREG:
		return t.regular(pfd, dfd, name, hdr, &st)
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		target, err := readlink(pfd)
		if err != nil {
			return err
		}
		hdr.Linkname = target
		if err := t.setXattrs(hdr, lxattrs); err != nil {
			return err
		}
		return t.tw.WriteHeader(hdr)
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		switch typ {
		case unix.S_IFCHR:
			hdr.Typeflag = tar.TypeChar
		case unix.S_IFBLK:
			hdr.Typeflag = tar.TypeBlock
		default:
			hdr.Typeflag = tar.TypeFifo
		}
		if typ != unix.S_IFIFO {
			hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		}
		if err := t.setXattrs(hdr, lxattrs); err != nil {
			return err
		}
		return t.tw.WriteHeader(hdr)
	}
	return nil // a socket: a tar has no place for one
}

func (t *treeWriter) directory(pfd int, hdr *tar.Header) error {
	fd, err := reopenDir(pfd, hdr.Name, unix.O_RDONLY)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	hdr.Typeflag = tar.TypeDir
	hdr.Name += "/"
	var opaque bool
	if err := t.setXattrs(hdr, func() (map[string]string, error) {
		x, err := readXattrs(
			func(b []byte) (int, error) { return unix.Flistxattr(fd, b) },
			func(n string, b []byte) (int, error) { return unix.Fgetxattr(fd, n, b) })
		opaque = x[overlayOpaque] == "y"
		return x, err
	}); err != nil {
		return err
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if opaque && t.overlay {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return &os.SyscallError{Syscall: "fstat", Err: err}
		}
		if err := t.tw.WriteHeader(opaqueHeader(hdr.Name, &st)); err != nil {
			return err
		}
	}
	if t.headerOnly {
		return nil
	}
	return t.walk(fd, hdr.Name)
}

// opaqueHeader is the .wh..wh..opq entry of the directory dir ("" for the
// top, else ending in "/"): an empty file with the directory's owner.
func opaqueHeader(dir string, st *unix.Stat_t) *tar.Header {
	return &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     dir + whiteoutOpaque,
		Mode:     int64(st.Mode & 0o777),
		Uid:      int(st.Uid),
		Gid:      int(st.Gid),
		ModTime:  time.Unix(st.Mtim.Sec, 0),
		Format:   tar.FormatPAX,
	}
}

func (t *treeWriter) regular(pfd, dfd int, name string, hdr *tar.Header, st *unix.Stat_t) error {
	fd, err := t.openRegular(pfd, dfd, name, st)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), hdr.Name)
	defer f.Close()
	hdr.Typeflag = tar.TypeReg
	hdr.Size = st.Size
	if err := t.setXattrs(hdr, func() (map[string]string, error) {
		return readXattrs(
			func(b []byte) (int, error) { return unix.Flistxattr(fd, b) },
			func(n string, b []byte) (int, error) { return unix.Fgetxattr(fd, n, b) })
	}); err != nil {
		return err
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.CopyBuffer(t.tw, io.LimitReader(ctxReader{t.ctx, f}, st.Size), t.buf)
	if err != nil {
		return err
	}
	if n != st.Size {
		return fmt.Errorf("file shrank from %d to %d bytes while read", st.Size, n)
	}
	return nil
}

// openRegular opens for reading the regular file pinned by the O_PATH
// handle pfd: through /proc/self/fd, which reopens that very inode, so a
// name swapped for a device node meanwhile is never opened. Without procfs
// it opens the name non-blocking and checks it is still the same inode.
func (t *treeWriter) openRegular(pfd, dfd int, name string, st *unix.Stat_t) (int, error) {
	if t.procFd >= 0 {
		fd, err := unix.Openat(t.procFd, strconv.Itoa(pfd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, &os.SyscallError{Syscall: "openat /proc/self/fd", Err: err}
		}
		return fd, nil
	}
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.SyscallError{Syscall: "openat", Err: err}
	}
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil || now.Dev != st.Dev || now.Ino != st.Ino {
		unix.Close(fd)
		return -1, fmt.Errorf("replaced while read")
	}
	return fd, nil
}

// openProcFd opens /proc/self/fd if it is procfs, else returns -1.
func openProcFd() int {
	fd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil || fs.Type != unix.PROC_SUPER_MAGIC {
		unix.Close(fd)
		return -1
	}
	return fd
}

// setXattrs records in hdr the xattrs read() returns that a layer carries.
// In overlay mode it refuses the xattrs that mean upper does not hold the
// whole file or directory.
func (t *treeWriter) setXattrs(hdr *tar.Header, read func() (map[string]string, error)) error {
	xattrs, err := read()
	if err != nil {
		return err
	}
	for k, v := range xattrs {
		if t.overlay && overlayPrivate(k) {
			switch k[strings.LastIndexByte(k, '.')+1:] {
			case "redirect", "metacopy":
				return fmt.Errorf("%s is set: the overlay uses redirect_dir or metacopy, so upper is not a whole layer", k)
			}
		}
		if !layerXattr(k) {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[paxXattr+k] = v
	}
	return nil
}

// layerXattr says whether a layer keeps an xattr: file capabilities, user
// and trusted data, but not overlayfs's state nor the host's labels (SELinux,
// IMA, ...) and ACLs.
func layerXattr(name string) bool {
	switch {
	case overlayPrivate(name):
		return false
	case name == "security.capability":
		return true
	case strings.HasPrefix(name, "user."), strings.HasPrefix(name, "trusted."):
		return true
	}
	return false
}

// readlink reads the symlink pinned by the O_PATH handle fd.
func readlink(fd int) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return "", &os.SyscallError{Syscall: "readlinkat", Err: err}
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
