package archive

import (
	"errors"
	"os"
	"path"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// cleanName turns a tar entry name (or hardlink target) into a clean path
// relative to the root, "." for the root itself. Absolute names are taken
// relative to the root, as Docker does ("/../x" is "x" there too); a relative
// name whose ".." climbs above the root is refused.
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		p := path.Clean(name)[1:]
		if p == "" {
			return ".", nil
		}
		return p, nil
	}
	p := path.Clean(name)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", ErrBreakout
	}
	return p, nil
}

// forcePurego makes openInRoot take the pathrs-lite path even where openat2
// exists, so that tests cover both.
var forcePurego = false

// openInRoot opens rel (a cleaned relative path) inside root with flags,
// resolving every component inside root: openat2 RESOLVE_IN_ROOT makes the
// kernel treat root as "/" for "..", absolute symlinks and every other step
// of the walk, in one system call. Whether the last component is followed is
// up to flags (O_NOFOLLOW). pathrs-lite, which does the same walk in user
// space, is the fallback where openat2 is missing.
func openInRoot(root *os.File, rel string, flags int) (int, error) {
	if !forcePurego {
		fd, err := openat2InRoot(root, rel, flags)
		if err != unix.ENOSYS {
			if err != nil {
				return -1, &os.PathError{Op: "openat2", Path: rel, Err: err}
			}
			return fd, nil
		}
	}
	if flags&unix.O_NOFOLLOW != 0 {
		// pathrs-lite follows a trailing symlink (inside root); resolve the
		// parent with it and open the last component here, not following.
		dir, base := path.Split(rel)
		dfd, err := openInRoot(root, path.Clean("./"+dir), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return -1, err
		}
		defer unix.Close(dfd)
		fd, err := unix.Openat(dfd, base, flags|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, &os.PathError{Op: "openat", Path: rel, Err: err}
		}
		return fd, nil
	}
	h, err := pathrs.OpenatInRoot(root, rel)
	if err != nil {
		return -1, err
	}
	defer h.Close()
	return reopenDir(int(h.Fd()), rel, flags)
}

func openat2InRoot(root *os.File, rel string, flags int) (int, error) {
	how := &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for try := 0; ; try++ {
		fd, err := unix.Openat2(int(root.Fd()), rel, how)
		// EAGAIN: a rename somewhere on the system raced the walk.
		if err == unix.EINTR || err == unix.EAGAIN && try < 16 {
			continue
		}
		return fd, err
	}
}

// reopenDir turns an O_PATH handle on a directory into a descriptor of the
// same directory opened with flags, without procfs: "." of a directory is the directory itself.
func reopenDir(fd int, name string, flags int) (int, error) {
	nfd, err := unix.Openat(fd, ".", flags|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "openat", Path: name, Err: err}
	}
	return nfd, nil
}

// dirCache hands out a descriptor of the directory that holds the current
// entry. A tar lists a directory's files together and walks depth first, so
// it keeps the descriptors of the last directory and of all its parents:
// the next directory is reached from the deepest one they share, one
// openat(O_NOFOLLOW|O_DIRECTORY) per component, creating what is missing.
// A component that is a symlink (or anything but a directory) sends the
// whole path to openInRoot instead, which follows it inside root; such a
// path is resolved again at every entry, since what it names can change.
//
// Reuse is safe because every descriptor came from a walk inside root and
// Apply never renames anything, so a cached directory is inside root or
// deleted. It is also exact: an entry only changes children of the
// directory it was given, and nothing below that directory is cached. A
// directory reached through a symlink may be anywhere, so handing one out
// drops the chain below root.
type dirCache struct {
	root  *os.File
	names []string // path components of the chain; names[0] is the root's ""
	fds   []int    // fds[i] is names[1:i+1] opened O_RDONLY|O_DIRECTORY

	otherFd int // the last directory resolved through a symlink, or -1
}

// newDirCache starts a cache at root, which it does not own.
func newDirCache(root *os.File) (*dirCache, error) {
	fd, err := reopenDir(int(root.Fd()), ".", unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	return &dirCache{root: root, names: []string{""}, fds: []int{fd}, otherFd: -1}, nil
}

// dir returns a descriptor (O_RDONLY|O_DIRECTORY) of rel, a cleaned
// relative path, creating rel and its missing parents (mode 0755) when
// create is set. The descriptor belongs to the cache: it is valid until the
// next call.
func (c *dirCache) dir(rel string, create bool) (int, error) {
	c.closeOther()
	var comps []string
	if rel != "." {
		comps = strings.Split(rel, "/")
	}
	k := 0 // components shared with the chain
	for k < len(comps) && k+1 < len(c.names) && c.names[k+1] == comps[k] {
		k++
	}
	c.truncate(k + 1)
	for _, comp := range comps[k:] {
		top := c.fds[len(c.fds)-1]
		fd, err := unix.Openat(top, comp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT && create {
			if err = unix.Mkdirat(top, comp, 0o755); err == nil || err == unix.EEXIST {
				fd, err = unix.Openat(top, comp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			}
		}
		switch err {
		case nil:
			c.names, c.fds = append(c.names, comp), append(c.fds, fd)
			continue
		case unix.ELOOP, unix.ENOTDIR:
			return c.resolve(rel, create)
		}
		return -1, &os.PathError{Op: "openat", Path: rel, Err: err}
	}
	return c.fds[len(c.fds)-1], nil
}

// resolve opens rel, which goes through a symlink, from root. The entry may
// change anything through it, so the chain is dropped below root.
func (c *dirCache) resolve(rel string, create bool) (int, error) {
	c.truncate(1)
	fd, err := openInRoot(c.root, rel, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil && create && errors.Is(err, unix.ENOENT) {
		fd, err = mkdirAllInRoot(c.root, rel)
	}
	if err != nil {
		return -1, err
	}
	c.otherFd = fd
	return fd, nil
}

// truncate keeps the first n directories of the chain.
func (c *dirCache) truncate(n int) {
	for len(c.fds) > n {
		unix.Close(c.fds[len(c.fds)-1])
		c.names, c.fds = c.names[:len(c.fds)-1], c.fds[:len(c.fds)-1]
	}
}

func (c *dirCache) closeOther() {
	if c.otherFd >= 0 {
		unix.Close(c.otherFd)
		c.otherFd = -1
	}
}

func (c *dirCache) close() {
	c.closeOther()
	c.truncate(0)
}

// maxSymlinks bounds the symlinks one walk follows, as the kernel's 40.
const maxSymlinks = 40

// mkdirAllInRoot creates the directory rel and whatever it is missing,
// resolving rel inside root as openat2 RESOLVE_IN_ROOT does, and returns
// it opened O_RDONLY|O_DIRECTORY.
//
// It walks one component at a time from root, holding a descriptor of each
// directory passed: ".." pops one (never above root), a missing name is made
// with mkdirat, and a symlink is read and its target walked in its place
// (from root when absolute). Unlike pathrs-lite's MkdirAllHandle it creates
// through a dangling symlink, as Docker and containerd do when a layer holds
// "a -> /missing/dir" and then "a/file": the directories appear at
// root/missing/dir. Whatever the names, every step is a *at call on a
// directory reached from root without following anything but the symlinks
// it reads itself, so nothing outside root is created or opened.
func mkdirAllInRoot(root *os.File, rel string) (int, error) {
	rootFd, err := unix.Openat(int(root.Fd()), ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "openat", Path: ".", Err: err}
	}
	stack := []int{rootFd}
	defer func() {
		for _, fd := range stack {
			unix.Close(fd)
		}
	}()
	todo := strings.Split(rel, "/")
	for links := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				unix.Close(stack[len(stack)-1])
				stack = stack[:len(stack)-1]
			}
			continue
		}
		top := stack[len(stack)-1]
		fd, err := unix.Openat(top, c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT {
			if err := unix.Mkdirat(top, c, 0o755); err != nil && err != unix.EEXIST {
				return -1, &os.PathError{Op: "mkdirat", Path: rel, Err: err}
			}
			fd, err = unix.Openat(top, c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		if err != nil {
			return -1, &os.PathError{Op: "openat", Path: rel, Err: err}
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, &os.PathError{Op: "fstat", Path: rel, Err: err}
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			stack = append(stack, fd)
			continue
		case unix.S_IFLNK:
		default:
			unix.Close(fd)
			return -1, &os.PathError{Op: "mkdir", Path: rel, Err: unix.ENOTDIR}
		}
		target, err := readlink(fd)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		if links++; links > maxSymlinks {
			return -1, &os.PathError{Op: "mkdir", Path: rel, Err: unix.ELOOP}
		}
		if strings.HasPrefix(target, "/") {
			for _, fd := range stack[1:] {
				unix.Close(fd)
			}
			stack = stack[:1]
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return reopenDir(stack[len(stack)-1], rel, unix.O_RDONLY)
}

// readDirNames lists the directory fd (without "." and ".."), reading from
// its current offset; callers pass a freshly opened descriptor.
func readDirNames(fd int) ([]string, error) {
	buf := make([]byte, 32<<10)
	var names []string
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.SyscallError{Syscall: "getdents64", Err: err}
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// removeAllAt removes name in the directory dirfd and, if it is a directory,
// everything under it, never following a symlink: a symlink is removed, not
// what it points to. A missing name is not an error.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	switch err {
	case nil, unix.ENOENT:
		return nil
	case unix.EISDIR:
	default:
		return &os.PathError{Op: "unlinkat", Path: name, Err: err}
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return &os.PathError{Op: "openat", Path: name, Err: err}
	}
	// Read every name before removing any: getdents over a directory that
	// changes under it may skip entries.
	names, err := readDirNames(fd)
	for _, n := range names {
		if err != nil {
			break
		}
		err = removeAllAt(fd, n)
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return &os.PathError{Op: "unlinkat", Path: name, Err: err}
	}
	return nil
}
