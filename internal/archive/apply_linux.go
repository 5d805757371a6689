package archive

import (
	"archive/tar"
	"bufio"
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

// Whiteout names, as the OCI image spec and Docker write them.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."     // AUFS bookkeeping (.wh..wh.plnk, ...): never content
	whiteoutOpaque = ".wh..wh..opq" // "hide everything below from the layers underneath"
)

// The xattr overlayfs reads to make a directory opaque.
const overlayOpaque = "trusted.overlay.opaque"

// Apply unpacks the uncompressed tar stream r into the directory root, which
// must exist, and returns the number of bytes of regular file content
// written. r is read to its end, past the tar trailer, so that a caller
// hashing it sees the whole stream.
//
// Every entry lands inside root whatever its name: absolute names are taken
// relative to root, names and hardlink targets whose ".." climbs above root
// are refused with an error wrapping ErrBreakout, and parent directories
// are resolved inside root, so a symlink in the layer (even to "/etc" or
// "../../..") is followed as if root were "/". The last component of a name
// is never followed: an entry replaces whatever is there (a directory
// recursively), except that a directory entry over an existing directory only
// updates its metadata. A hardlink to a symlink links the symlink itself.
// Symlinks are stored with any target. Missing parent directories are
// created with mode 0755.
//
// Owners are set with lchown unless opts.IgnoreChown, then modes (so the
// setuid and setgid bits survive), then the xattrs of SCHILY.xattr PAX
// records, then times. xattrs the file system or the caller's privileges
// refuse (ENOTSUP, EPERM, as for trusted.* without CAP_SYS_ADMIN or user.*
// on a symlink) are skipped, any other failure is an error; the private
// xattrs of overlayfs (trusted.overlay.*, user.overlay.*) are never taken
// from a layer, since only whiteout entries may steer overlayfs. Directory
// times are set at the end, since creating children changes them. Entries
// for the root itself ("." or "/") are skipped, as Docker does, and so are
// pax global headers and AUFS bookkeeping (.wh..wh.*), unless opts.Whiteouts
// is WhiteoutNone, where .wh. names are ordinary files. File data is not
// synced: the caller syncs the file system if it needs durability.
//
// On error the tree is left half-written: the caller deletes root.
func Apply(ctx context.Context, root string, r io.Reader, opts Options) (int64, error) {
	if opts.Whiteouts != WhiteoutOverlay && opts.Whiteouts != WhiteoutApply && opts.Whiteouts != WhiteoutNone {
		return 0, fmt.Errorf("archive: unknown whiteout mode %v", opts.Whiteouts)
	}
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("archive: open layer root: %w", &os.PathError{Op: "open", Path: root, Err: err})
	}
	a := &applier{
		ctx:        ctx,
		opts:       opts,
		root:       os.NewFile(uintptr(rfd), root),
		maxBytes:   opts.MaxBytes,
		maxEntries: opts.MaxEntries,
		buf:        make([]byte, 1<<20),
		dirTimes:   map[string]int{},
	}
	if a.maxBytes <= 0 {
		a.maxBytes = DefaultMaxBytes
	}
	if a.maxEntries <= 0 {
		a.maxEntries = DefaultMaxEntries
	}
	if opts.Whiteouts == WhiteoutApply {
		a.fromLayer = map[string]struct{}{".": {}}
	}
	defer a.root.Close()
	if a.dirs, err = newDirCache(a.root); err != nil {
		return 0, fmt.Errorf("archive: open layer root: %w", err)
	}
	defer a.dirs.close()

	// Headers and small files come 512 bytes at a time: read ahead, as tar
	// does. Reads larger than the buffer still go straight to r.
	br := bufio.NewReaderSize(r, 256<<10)
	tr := tar.NewReader(br)
	for entries := 1; ; entries++ {
		if err := ctx.Err(); err != nil {
			return a.written, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return a.written, fmt.Errorf("archive: read tar: %w", err)
		}
		if entries > a.maxEntries {
			return a.written, fmt.Errorf("archive: entry %q: more than %d entries: %w", hdr.Name, a.maxEntries, ErrLimit)
		}
		if err := a.entry(hdr, tr); err != nil {
			return a.written, err
		}
	}
	a.dirs.close()
	if err := a.restoreDirTimes(); err != nil {
		return a.written, err
	}
	if _, err := io.CopyBuffer(io.Discard, ctxReader{ctx, br}, a.buf); err != nil {
		return a.written, fmt.Errorf("archive: read past the tar trailer: %w", err)
	}
	return a.written, nil
}

type applier struct {
	ctx        context.Context
	opts       Options
	root       *os.File // O_PATH
	dirs       *dirCache
	maxBytes   int64
	maxEntries int
	written    int64
	buf        []byte

	// dirTimes holds the times of every directory entry, set at the end.
	// Indexed by path into dirTimeList, so a later entry for the same
	// directory wins.
	dirTimes    map[string]int
	dirTimeList []dirTime

	// fromLayer holds the paths this layer wrote and their parents
	// (WhiteoutApply only): an opaque whiteout keeps them.
	fromLayer map[string]struct{}
}

type dirTime struct {
	name string
	ts   [2]unix.Timespec
}

// entry unpacks one tar entry. Errors name it.
func (a *applier) entry(hdr *tar.Header, tr *tar.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return entryErr(hdr, err)
	}
	if name == "." {
		return nil
	}
	layer := a.opts.Whiteouts != WhiteoutNone
	if layer && strings.HasPrefix(name, whiteoutMeta) && name != whiteoutOpaque {
		return nil
	}
	if hdr.Uid < 0 || hdr.Uid >= 1<<32-1 || hdr.Gid < 0 || hdr.Gid >= 1<<32-1 {
		return entryErr(hdr, fmt.Errorf("owner %d:%d out of range", hdr.Uid, hdr.Gid))
	}
	parent, base := path.Dir(name), path.Base(name)
	if layer && strings.HasPrefix(base, whiteoutPrefix) {
		if err := a.whiteout(parent, base); err != nil {
			return entryErr(hdr, err)
		}
		return nil
	}

	var create func(pfd int) error
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeCont:
		if hdr.Size > a.maxBytes-a.written {
			return entryErr(hdr, fmt.Errorf("regular files over %d bytes: %w", a.maxBytes, ErrLimit))
		}
		create = func(pfd int) error { return a.regular(pfd, base, hdr, tr) }
	case tar.TypeDir:
		create = func(pfd int) error { return a.directory(pfd, name, base, hdr) }
	case tar.TypeSymlink:
		create = func(pfd int) error {
			if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
				return &os.LinkError{Op: "symlinkat", Old: hdr.Linkname, New: name, Err: err}
			}
			return a.metadataAt(pfd, base, hdr, false)
		}
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return entryErr(hdr, fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err))
		}
		create = func(pfd int) error { return a.hardlink(pfd, name, base, target) }
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if !a.opts.AllowDevices {
			return nil
		}
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		create = func(pfd int) error {
			if err := unix.Mknodat(pfd, base, mode, dev); err != nil {
				return &os.PathError{Op: "mknodat", Path: name, Err: err}
			}
			return a.metadataAt(pfd, base, hdr, true)
		}
	default:
		return entryErr(hdr, fmt.Errorf("unsupported entry type %q", hdr.Typeflag))
	}

	pfd, err := a.dirs.dir(parent, true)
	if err != nil {
		return entryErr(hdr, fmt.Errorf("parent directory: %w", err))
	}
	// Create first and look only on EEXIST: the usual target is an empty
	// directory, where this saves a stat per entry.
	err = create(pfd)
	if errors.Is(err, unix.EEXIST) {
		if err = a.replace(pfd, base, hdr.Typeflag == tar.TypeDir); err == nil {
			err = create(pfd)
		}
	}
	if err != nil {
		return entryErr(hdr, err)
	}
	if a.fromLayer != nil {
		for p := name; ; p = path.Dir(p) {
			if _, ok := a.fromLayer[p]; ok {
				break
			}
			a.fromLayer[p] = struct{}{}
		}
	}
	return nil
}

func entryErr(hdr *tar.Header, err error) error {
	return fmt.Errorf("archive: entry %q: %w", hdr.Name, err)
}

// replace clears the way for an entry whose name exists: it is removed
// (recursively for a directory), except that a directory stays for a
// directory entry, which then only updates its metadata.
func (a *applier) replace(pfd int, base string, isDir bool) error {
	if isDir || a.opts.NoOverwriteDirNonDir {
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "fstatat", Path: base, Err: err}
		}
		wasDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		switch {
		case isDir && wasDir:
			return nil
		case a.opts.NoOverwriteDirNonDir && wasDir:
			return fmt.Errorf("cannot overwrite directory %q with non-directory", base)
		case a.opts.NoOverwriteDirNonDir && isDir:
			return fmt.Errorf("cannot overwrite non-directory %q with directory", base)
		}
	}
	return removeAllAt(pfd, base)
}

// regular writes a regular file's content and metadata. The file is created
// anew (O_EXCL), never opened where it is: an existing file may be a
// hardlink into a lower layer or a symlink.
func (a *applier) regular(pfd int, base string, hdr *tar.Header, tr *tar.Reader) error {
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "openat", Path: hdr.Name, Err: err}
	}
	n, err := copyToFd(fd, ctxReader{a.ctx, tr}, a.buf)
	a.written += n
	if err != nil {
		err = fmt.Errorf("write content: %w", err)
	} else if err = a.metadataFd(fd, hdr); err == nil {
		err = futimens(fd, tarTimes(hdr))
	}
	// close reports write errors on some file systems (NFS).
	if cerr := unix.Close(fd); cerr != nil && err == nil {
		err = &os.PathError{Op: "close", Path: hdr.Name, Err: cerr}
	}
	return err
}

// copyToFd copies r to the file fd through buf. Plain write(2) calls: an
// *os.File would cost an fcntl and a finalizer per file.
func copyToFd(fd int, r io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		n, rerr := r.Read(buf)
		for off := 0; off < n; {
			w, err := unix.Write(fd, buf[off:n])
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return total, &os.SyscallError{Syscall: "write", Err: err}
			}
			off += w
			total += int64(w)
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// directory creates a directory or updates an existing one; its times wait
// for restoreDirTimes.
func (a *applier) directory(pfd int, name, base string, hdr *tar.Header) error {
	if err := unix.Mkdirat(pfd, base, 0o700); err != nil && err != unix.EEXIST {
		return &os.PathError{Op: "mkdirat", Path: name, Err: err}
	}
	// O_NOFOLLOW|O_DIRECTORY: if base is not a directory (EEXIST above),
	// this fails and the caller replaces it.
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOTDIR || err == unix.ELOOP {
		return &os.PathError{Op: "openat", Path: name, Err: unix.EEXIST}
	}
	if err != nil {
		return &os.PathError{Op: "openat", Path: name, Err: err}
	}
	defer unix.Close(fd)
	if err := a.metadataFd(fd, hdr); err != nil {
		return err
	}
	dt := dirTime{name: name, ts: tarTimes(hdr)}
	if i, ok := a.dirTimes[name]; ok {
		a.dirTimeList[i] = dt
	} else {
		a.dirTimes[name] = len(a.dirTimeList)
		a.dirTimeList = append(a.dirTimeList, dt)
	}
	return nil
}

// hardlink links name to target, both inside root. linkat without
// AT_SYMLINK_FOLLOW never follows target's last component, so a hardlink
// to a symlink (to "/etc/passwd", say) is a second name for the symlink,
// never for what it points at; the parents of target are resolved inside
// root like any entry's.
func (a *applier) hardlink(pfd int, name, base, target string) error {
	if target == "." {
		return fmt.Errorf("hardlink to the layer root")
	}
	tdir, tbase := path.Dir(target), path.Base(target)
	tfd, err := openInRoot(a.root, tdir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", target, err)
	}
	defer unix.Close(tfd)
	if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
		return &os.LinkError{Op: "linkat", Old: target, New: name, Err: err}
	}
	return nil
}

// metadataFd sets owner, mode and xattrs of an open file or directory, in
// that order: chown clears setuid, setgid and security.capability.
func (a *applier) metadataFd(fd int, hdr *tar.Header) error {
	if !a.opts.IgnoreChown {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return &os.PathError{Op: "fchown", Path: hdr.Name, Err: err}
		}
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return &os.PathError{Op: "fchmod", Path: hdr.Name, Err: err}
	}
	return setXattrs(hdr, func(k string, v []byte) error { return unix.Fsetxattr(fd, k, v, 0) })
}

// metadataAt sets owner, mode (if chmod: not for symlinks), xattrs and times
// of base in pfd, which is not opened: a symlink, device or fifo.
func (a *applier) metadataAt(pfd int, base string, hdr *tar.Header, chmod bool) error {
	if !a.opts.IgnoreChown {
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "fchownat", Path: hdr.Name, Err: err}
		}
	}
	if chmod {
		// fchmodat follows a symlink, but base is the node just made.
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode&0o7777), 0); err != nil {
			return &os.PathError{Op: "fchmodat", Path: hdr.Name, Err: err}
		}
	}
	if err := setXattrs(hdr, func(k string, v []byte) error {
		// /proc/self/fd/N/base: the directory by descriptor, base not followed.
		return unix.Lsetxattr(fmt.Sprintf("/proc/self/fd/%d/%s", pfd, base), k, v, 0)
	}); err != nil {
		return err
	}
	ts := tarTimes(hdr)
	if err := unix.UtimesNanoAt(pfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: hdr.Name, Err: err}
	}
	return nil
}

// setXattrs applies the SCHILY.xattr PAX records of hdr with set.
func setXattrs(hdr *tar.Header, set func(string, []byte) error) error {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, paxXattr)
		if !ok || overlayPrivate(name) {
			continue
		}
		if err := set(name, []byte(v)); err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("setxattr %s: %w", name, err)
		}
	}
	return nil
}

const paxXattr = "SCHILY.xattr."

// overlayPrivate says whether an xattr is overlayfs's own state (opaque,
// redirect, origin, metacopy, ...), in either namespace it may use.
func overlayPrivate(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")
}

// whiteout carries out .wh.NAME or .wh..wh..opq in the directory parent.
func (a *applier) whiteout(parent, base string) error {
	overlay := a.opts.Whiteouts == WhiteoutOverlay
	// In overlay mode the whiteout must be stored, so its directory is
	// created; in apply mode a missing directory has nothing to remove.
	pfd, err := a.dirs.dir(parent, overlay)
	if err != nil {
		if !overlay && errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("parent directory: %w", err)
	}
	if base == whiteoutOpaque {
		if overlay {
			if err := unix.Fsetxattr(pfd, overlayOpaque, []byte("y"), 0); err != nil {
				return &os.PathError{Op: "setxattr " + overlayOpaque, Path: parent, Err: err}
			}
			return nil
		}
		return a.emptyExcept(pfd, parent)
	}
	victim := strings.TrimPrefix(base, whiteoutPrefix)
	if victim == "" || victim == "." || victim == ".." {
		return fmt.Errorf("invalid whiteout")
	}
	if err := removeAllAt(pfd, victim); err != nil {
		return err
	}
	if !overlay {
		return nil
	}
	// overlayfs's whiteout: a character device 0:0.
	if err := unix.Mknodat(pfd, victim, unix.S_IFCHR, 0); err != nil {
		return &os.PathError{Op: "mknodat", Path: path.Join(parent, victim), Err: err}
	}
	return nil
}

// emptyExcept removes from the directory dfd (at dir) everything this layer
// did not write, descending into the directories it did.
func (a *applier) emptyExcept(dfd int, dir string) error {
	// A descriptor of its own: readDirNames moves the offset.
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "openat", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	names, err := readDirNames(fd)
	if err != nil {
		return err
	}
	for _, n := range names {
		p := path.Join(dir, n)
		if _, ok := a.fromLayer[p]; !ok {
			if err := removeAllAt(fd, n); err != nil {
				return err
			}
			continue
		}
		sub, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.ENOTDIR || err == unix.ELOOP {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "openat", Path: p, Err: err}
		}
		err = a.emptyExcept(sub, p)
		unix.Close(sub)
		if err != nil {
			return err
		}
	}
	return nil
}

// restoreDirTimes sets the times of the directory entries, now that nothing
// more is created in them. A directory replaced by something else since is
// skipped.
func (a *applier) restoreDirTimes() error {
	for i := len(a.dirTimeList) - 1; i >= 0; i-- {
		dt := &a.dirTimeList[i]
		fd, err := openInRoot(a.root, dt.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			continue
		}
		if err != nil {
			return fmt.Errorf("archive: entry %q: %w", dt.name, err)
		}
		err = futimens(fd, dt.ts)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("archive: entry %q: %w", dt.name, err)
		}
	}
	return nil
}

// tarTimes gives an entry's access and modification times; a tar without
// an access time gets its modification time for both.
func tarTimes(hdr *tar.Header) [2]unix.Timespec {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	return [2]unix.Timespec{timespec(atime), timespec(hdr.ModTime)}
}

func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// ctxReader stops a long copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
