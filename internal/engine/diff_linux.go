package engine

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"syscall"

	containertypes "github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// Change is one line of `docker diff`: a path (absolute, as the container
// sees it) added, changed or deleted.
type Change = containertypes.FilesystemChange

// ContainerChanges is `docker diff`: what the container changed in its
// image's tree, in Docker's order (depth first, names sorted).
func (e *Engine) ContainerChanges(ctx context.Context, ref string) ([]Change, error) {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return nil, err
	}
	d, err := e.layerDirs(ctx, c)
	if err != nil {
		return nil, err
	}
	var changes []Change
	if d.overlay {
		changes, err = overlayChanges(d.upper, d.lowers)
	} else {
		changes, err = treeChanges(d.upper, d.imageTree)
	}
	return hideMountTargets(changes), err
}

// mountTargets are the files the runtime creates in a container's tree
// (when its image has none) as the targets of the hosts, hostname and
// resolv.conf bind mounts. Docker creates them in an init layer under the
// container's, so they are never its changes; berth has no init layer
// and leaves them out here, with the change to their directory that only
// they caused.
var mountTargets = map[string]bool{"/etc/hosts": true, "/etc/hostname": true, "/etc/resolv.conf": true}

func hideMountTargets(changes []Change) []Change {
	hid := false
	out := changes[:0]
	for _, c := range changes {
		if mountTargets[c.Path] && c.Kind == containertypes.ChangeAdd {
			hid = true
			continue
		}
		out = append(out, c)
	}
	if !hid {
		return out
	}
	for i, c := range out {
		if c.Path != "/etc" || c.Kind != containertypes.ChangeModify {
			continue
		}
		if !slices.ContainsFunc(out, func(o Change) bool { return path.Dir(o.Path) == "/etc" }) {
			return slices.Delete(out, i, i+1)
		}
	}
	return out
}

// overlayChanges reads the changes from an overlayfs upper directory over
// lowers (top first), as Docker's overlay2 driver does: a whiteout (a 0:0
// character device) or an opaque directory is a deletion, anything else
// is a change when a lower layer has the path and an addition when none
// does. A directory unchanged in mode, size and time is skipped, and the
// parent of an addition or deletion is reported changed.
func overlayChanges(upper string, lowers []string) ([]Change, error) {
	var out []Change
	reported := map[string]bool{}
	err := walkSorted(upper, func(rel string, fi fs.FileInfo) error {
		ch := Change{Path: rel, Kind: containertypes.ChangeAdd}
		switch {
		case isWhiteout(fi):
			ch.Kind = containertypes.ChangeDelete
		case fi.IsDir() && isOpaque(filepath.Join(upper, rel)):
			ch.Kind = containertypes.ChangeDelete
		default:
			for _, l := range lowers {
				lfi, err := os.Stat(filepath.Join(l, rel))
				if err != nil {
					continue
				}
				if lfi.IsDir() && fi.IsDir() && lfi.Size() == fi.Size() && lfi.Mode() == fi.Mode() && sameTime(lfi.ModTime(), fi.ModTime()) {
					return nil
				}
				ch.Kind = containertypes.ChangeModify
				break
			}
		}
		if fi.IsDir() {
			reported[rel] = true
		}
		if ch.Kind != containertypes.ChangeModify {
			if p := path.Dir(rel); p != "/" && !reported[p] {
				out = append(out, Change{Path: p, Kind: containertypes.ChangeModify})
				reported[p] = true
			}
		}
		out = append(out, ch)
		return nil
	})
	return out, err
}

// treeChanges compares a container's full tree with its image's (the
// copy driver), as Docker's ChangesDirs: a path only in the new tree is
// added (with everything under it), one only in the old deleted (alone),
// one in both changed when its mode, owner, device or (not for
// directories) size or time differ; a directory with changes inside is
// reported changed.
func treeChanges(newDir, oldDir string) ([]Change, error) {
	var out []Change
	var walk func(rel string, added bool) (bool, error)
	walk = func(rel string, added bool) (bool, error) {
		newNames, err := readNames(filepath.Join(newDir, rel))
		if err != nil {
			return false, err
		}
		var oldNames []string
		if !added && oldDir != "" {
			if oldNames, err = readNames(filepath.Join(oldDir, rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return false, err
			}
		}
		any := false
		for _, name := range mergeNames(newNames, oldNames) {
			p := path.Join(rel, name)
			nfi, nerr := os.Lstat(filepath.Join(newDir, p))
			var ofi fs.FileInfo
			oerr := fs.ErrNotExist
			if !added && oldDir != "" && slices.Contains(oldNames, name) {
				ofi, oerr = os.Lstat(filepath.Join(oldDir, p))
			}
			switch {
			case nerr != nil && oerr != nil:
				continue
			case nerr != nil:
				out = append(out, Change{Path: p, Kind: containertypes.ChangeDelete})
				any = true
				continue
			case oerr != nil:
				out = append(out, Change{Path: p, Kind: containertypes.ChangeAdd})
				any = true
				if nfi.IsDir() {
					if _, err := walk(p, true); err != nil {
						return false, err
					}
				}
				continue
			}
			mark := len(out)
			changed := statDifferent(ofi, nfi)
			if changed {
				out = append(out, Change{Path: p, Kind: containertypes.ChangeModify})
				any = true
			}
			if nfi.IsDir() && ofi.IsDir() {
				inner, err := walk(p, false)
				if err != nil {
					return false, err
				}
				if inner && !changed {
					out = slices.Insert(out, mark, Change{Path: p, Kind: containertypes.ChangeModify})
				}
				any = any || inner
			}
		}
		return any, nil
	}
	_, err := walk("/", false)
	return out, err
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	slices.Sort(names)
	return names, err
}

// mergeNames is the sorted union of two sorted lists.
func mergeNames(a, b []string) []string {
	out := append(append([]string{}, a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// walkSorted calls fn for everything under root (not root itself), depth
// first with names sorted, with paths as the container sees them ("/etc").
func walkSorted(root string, fn func(rel string, fi fs.FileInfo) error) error {
	return filepath.Walk(root, func(p string, fi fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		return fn("/"+filepath.ToSlash(rel), fi)
	})
}

func isWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && unix.Major(st.Rdev) == 0 && unix.Minor(st.Rdev) == 0
}

func isOpaque(dir string) bool {
	buf := make([]byte, 2)
	n, err := unix.Lgetxattr(dir, "trusted.overlay.opaque", buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

func sameTime(a, b interface{ UnixNano() int64 }) bool {
	an, bn := a.UnixNano(), b.UnixNano()
	return an == bn || (an/1e9 == bn/1e9 && (an%1e9 == 0 || bn%1e9 == 0))
}

// statDifferent is Docker's test of a changed path: mode, owner or device
// differ, or, for anything but a directory, the time or size.
func statDifferent(old, cur fs.FileInfo) bool {
	os, ok1 := old.Sys().(*syscall.Stat_t)
	ns, ok2 := cur.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 {
		return true
	}
	return old.Mode() != cur.Mode() || os.Uid != ns.Uid || os.Gid != ns.Gid || os.Rdev != ns.Rdev ||
		(!old.IsDir() && (!sameTime(old.ModTime(), cur.ModTime()) || old.Size() != cur.Size()))
}

// changesSize adds up the sizes of the regular files added or changed
// (hard links once), Docker's SizeRw for a driver without an upper
// directory.
func changesSize(dir string, changes []Change) int64 {
	var n int64
	seen := map[uint64]bool{}
	for _, c := range changes {
		if c.Kind == containertypes.ChangeDelete {
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, c.Path))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if ino, links := inode(fi); links > 1 {
			if seen[ino] {
				continue
			}
			seen[ino] = true
		}
		n += fi.Size()
	}
	return n
}

func inode(fi fs.FileInfo) (ino, links uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino, uint64(st.Nlink)
	}
	return 0, 1
}
