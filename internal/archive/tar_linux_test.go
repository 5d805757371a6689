package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// describe lists everything under dir, one line per name: type, mode,
// owner, mtime (seconds), size and content hash, symlink target, device
// number, the xattrs a layer keeps, and the other names of its inode.
func describe(t testing.TB, dir string) []string {
	t.Helper()
	type node struct {
		rel string
		st  unix.Stat_t
	}
	var nodes []node
	byInode := map[[2]uint64][]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		nodes = append(nodes, node{rel, st})
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			k := [2]uint64{st.Dev, st.Ino}
			byInode[k] = append(byInode[k], rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, n := range nodes {
		p := filepath.Join(dir, n.rel)
		st := n.st
		line := fmt.Sprintf("%s mode=%o owner=%d:%d mtime=%d", n.rel, st.Mode, st.Uid, st.Gid, st.Mtim.Sec)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			line += fmt.Sprintf(" size=%d sha256=%x", st.Size, sum[:8])
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				t.Fatal(err)
			}
			line += " -> " + target
		case unix.S_IFCHR, unix.S_IFBLK:
			line += fmt.Sprintf(" rdev=%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if names := byInode[[2]uint64{st.Dev, st.Ino}]; len(names) > 1 {
				line += " links=" + strings.Join(names, ",")
			}
		}
		line += " xattrs=" + xattrList(t, p)
		lines = append(lines, line)
	}
	return lines
}

func xattrList(t testing.TB, p string) string {
	t.Helper()
	x, err := readXattrs(
		func(b []byte) (int, error) { return unix.Llistxattr(p, b) },
		func(n string, b []byte) (int, error) { return unix.Lgetxattr(p, n, b) })
	if err != nil {
		t.Fatal(err)
	}
	var kv []string
	for k, v := range x {
		if layerXattr(k) {
			kv = append(kv, fmt.Sprintf("%s=%q", k, v))
		}
	}
	slices.Sort(kv)
	return strings.Join(kv, ",")
}

func diffLines(t testing.TB, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("trees differ:\n got:\n  %s\n want:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// makeTree builds a tree with every kind of entry a layer holds.
func makeTree(t testing.TB, dir string) {
	t.Helper()
	p := func(rel string) string { return filepath.Join(dir, rel) }
	must(t, os.Mkdir(p("d"), 0o755))
	must(t, os.Mkdir(p("d/e"), 0o755))
	must(t, os.Mkdir(p("empty"), 0o755))
	must(t, os.WriteFile(p("f"), []byte("hello"), 0o644))
	must(t, os.WriteFile(p("d/suid"), []byte("#!/bin/true"), 0o755))
	must(t, os.WriteFile(p("d/e/ping"), []byte("ping"), 0o755))
	big := make([]byte, 3<<20+17)
	rand.NewChaCha8([32]byte{1}).Read(big)
	must(t, os.WriteFile(p("d/big"), big, 0o600))
	must(t, os.WriteFile(p("d/e/zero"), nil, 0o444))
	must(t, os.Symlink("d/suid", p("l")))
	must(t, os.Symlink("/nonexistent/abs", p("d/dangling")))
	must(t, os.Link(p("f"), p("d/hl")))
	must(t, os.Link(p("f"), p("d/e/hl2")))
	must(t, os.Link(p("l"), p("d/e/l-link"))) // a hardlink of the symlink itself
	must(t, unix.Mkfifo(p("fifo"), 0o600))
	must(t, unix.Mknod(p("d/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(t, unix.Mknod(p("sock"), unix.S_IFSOCK|0o600, 0))
	// Long names need PAX records.
	long := strings.Repeat("n", 120) + "/" + strings.Repeat("m", 150)
	must(t, os.MkdirAll(p(filepath.Dir(long)), 0o755))
	must(t, os.WriteFile(p(long), []byte("long"), 0o644))

	must(t, os.Lchown(p("d"), 1000, 1001))
	must(t, os.Lchown(p("d/suid"), 1000, 1001))
	must(t, os.Lchown(p("l"), 1002, 1003))
	must(t, os.Chmod(p("d/suid"), 0o755|fs.ModeSetuid|fs.ModeSetgid))
	must(t, os.Chmod(p("empty"), 0o777|fs.ModeSticky))
	must(t, os.Chmod(p("d"), 0o750))
	must(t, unix.Lsetxattr(p("f"), "user.mime", []byte("text/plain"), 0))
	must(t, unix.Lsetxattr(p("d"), "trusted.berth", []byte("dir"), 0))
	must(t, unix.Lsetxattr(p("d"), "trusted.overlay.origin", []byte("nope"), 0))
	must(t, unix.Lsetxattr(p("d/e/ping"), "security.capability", []byte{1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0))
	must(t, unix.Lsetxattr(p("l"), "trusted.link", []byte("sym"), 0))

	// Times last, deepest first, so making children does not move them.
	var all []string
	must(t, filepath.WalkDir(dir, func(q string, _ fs.DirEntry, err error) error {
		all = append(all, q)
		return err
	}))
	for i := len(all) - 1; i >= 0; i-- {
		ts := time.Date(2020, 1, 1, 0, 0, i, 123456789, time.UTC)
		tv := []unix.Timespec{unix.NsecToTimespec(ts.UnixNano()), unix.NsecToTimespec(ts.UnixNano())}
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, all[i], tv, unix.AT_SYMLINK_NOFOLLOW))
	}
}

func tarOf(t testing.TB, dir string, diff bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	f := Tar
	if diff {
		f = DiffOverlay
	}
	if err := f(context.Background(), dir, &buf); err != nil {
		t.Fatalf("tar %s: %v", dir, err)
	}
	return buf.Bytes()
}

// Tar, then Apply into another directory, gives the same tree: modes,
// owners, mtimes (to the second), symlinks, hardlinks sharing an inode,
// devices, fifos and the xattrs a layer keeps; sockets are left out.
func TestTarRoundTrip(t *testing.T) {
	requireRoot(t, "chown, mknod and trusted.* xattrs")
	src, dst := t.TempDir(), t.TempDir()
	makeTree(t, src)
	data := tarOf(t, src, false)
	n, err := Apply(context.Background(), dst, bytes.NewReader(data), Options{AllowDevices: true})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	want := slices.DeleteFunc(describe(t, src), func(l string) bool { return strings.HasPrefix(l, "sock ") })
	diffLines(t, describe(t, dst), want)
	if n != int64(3<<20+17+len("hello")+len("#!/bin/true")+len("ping")+len("long")) {
		t.Errorf("Apply wrote %d bytes", n)
	}
	if got := xattrList(t, filepath.Join(dst, "d")); got != `trusted.berth="dir"` {
		t.Errorf("d xattrs %q: trusted.overlay.* crossed", got)
	}
}

// The stream's shape: sorted, directories before their contents, relative
// names, directories with a trailing slash, hardlinks to the first name,
// PAX, no user names or access times; and the same bytes every time.
func TestTarFormat(t *testing.T) {
	src := t.TempDir()
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600))
	for _, d := range []string{"b", "b/c", "a.d"} {
		must(t, os.Mkdir(filepath.Join(src, d), 0o755))
	}
	for _, f := range []string{"z", "b/y", "b/c/x", "a", "a.d/w", "B"} {
		must(t, os.WriteFile(filepath.Join(src, f), []byte(f), 0o644))
	}
	must(t, os.Link(filepath.Join(src, "z"), filepath.Join(src, "b/link-to-z")))
	must(t, os.Symlink(outside, filepath.Join(src, "out")))

	data := tarOf(t, src, false)
	if again := tarOf(t, src, false); !bytes.Equal(data, again) {
		t.Errorf("two Tars of one tree differ")
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		names = append(names, hdr.Name)
		if hdr.Uname != "" || hdr.Gname != "" || !hdr.AccessTime.IsZero() || !hdr.ChangeTime.IsZero() {
			t.Errorf("%s: uname %q gname %q atime %v ctime %v", hdr.Name, hdr.Uname, hdr.Gname, hdr.AccessTime, hdr.ChangeTime)
		}
		switch hdr.Name {
		case "b/link-to-z":
			if hdr.Typeflag != tar.TypeReg || hdr.Size != 1 {
				t.Errorf("b/link-to-z: type %c size %d, want the file (first in walk order)", hdr.Typeflag, hdr.Size)
			}
		case "z":
			if hdr.Typeflag != tar.TypeLink || hdr.Linkname != "b/link-to-z" {
				t.Errorf("z: type %c -> %q, want a hardlink to b/link-to-z", hdr.Typeflag, hdr.Linkname)
			}
		case "out":
			if hdr.Typeflag != tar.TypeSymlink || hdr.Linkname != outside {
				t.Errorf("out: type %c -> %q", hdr.Typeflag, hdr.Linkname)
			}
		}
	}
	want := []string{"B", "a", "a.d/", "a.d/w", "b/", "b/c/", "b/c/x", "b/link-to-z", "b/y", "out", "z"}
	if !slices.Equal(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
}

// Tar walks by descriptor and never follows a symlink, even one that
// replaced a directory: what it writes comes from inside dir.
func TestTarDoesNotFollowSymlinks(t *testing.T) {
	src, outside := t.TempDir(), t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600))
	must(t, os.Symlink(outside, filepath.Join(src, "dir-link")))
	must(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(src, "file-link")))
	tr := tar.NewReader(bytes.NewReader(tarOf(t, src, false)))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		if hdr.Typeflag != tar.TypeSymlink || hdr.Size != 0 {
			t.Errorf("%s: type %c size %d, want a symlink", hdr.Name, hdr.Typeflag, hdr.Size)
		}
	}
}

// overlayMount mounts an overlay and unmounts it at cleanup, even when the
// test fails; the caller can unmount earlier with the returned func.
func overlayMount(t *testing.T, target, opts string) func() {
	t.Helper()
	if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
		t.Skipf("cannot mount overlayfs (%s): %v", opts, err)
	}
	mounted := true
	umount := func() {
		if mounted {
			if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", target, err)
			}
			mounted = false
		}
	}
	t.Cleanup(umount)
	return umount
}

// A real overlay's upper directory after a delete, a directory replaced
// (opaque) and some writes: DiffOverlay gives the whiteout entries, Apply
// in overlay mode turns them back into what overlayfs reads, and Apply in
// apply mode onto a copy of the lower gives the same tree as the overlay.
func TestDiffOverlay(t *testing.T) {
	requireRoot(t, "mounting overlayfs")
	base := t.TempDir()
	p := func(rel string) string { return filepath.Join(base, rel) }
	for _, d := range []string{"lower", "upper", "work", "merged", "layer", "merged2", "copy"} {
		must(t, os.Mkdir(p(d), 0o755))
	}
	must(t, os.Mkdir(p("lower/d"), 0o755))
	must(t, os.Mkdir(p("lower/keep"), 0o755))
	for _, f := range []string{"a", "d/x", "d/y", "keep/k", "mod"} {
		must(t, os.WriteFile(p("lower/"+f), []byte("lower "+f), 0o644))
	}

	umount := overlayMount(t, p("merged"), fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,redirect_dir=off,metacopy=off,index=off", p("lower"), p("upper"), p("work")))
	m := func(rel string) string { return filepath.Join(p("merged"), rel) }
	must(t, os.Remove(m("a")))
	must(t, os.RemoveAll(m("d")))
	must(t, os.Mkdir(m("d"), 0o755))
	must(t, os.WriteFile(m("d/new"), []byte("new"), 0o644))
	must(t, os.WriteFile(m("mod"), []byte("changed"), 0o644))
	must(t, os.MkdirAll(m("newdir/sub"), 0o755))
	must(t, os.WriteFile(m("newdir/sub/f"), []byte("f"), 0o644))
	must(t, os.Remove(m("keep/k")))
	want := describe(t, p("merged"))
	umount()

	data := tarOf(t, p("upper"), true)
	var names []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		names = append(names, hdr.Name)
		for k := range hdr.PAXRecords {
			if strings.Contains(k, "overlay") {
				t.Errorf("%s carries %s", hdr.Name, k)
			}
		}
		if strings.HasPrefix(filepath.Base(hdr.Name), whiteoutPrefix) && (hdr.Typeflag != tar.TypeReg || hdr.Size != 0) {
			t.Errorf("%s: type %c size %d, want an empty file", hdr.Name, hdr.Typeflag, hdr.Size)
		}
	}
	wantNames := []string{".wh.a", "d/", "d/.wh..wh..opq", "d/new", "keep/", "keep/.wh.k", "mod", "newdir/", "newdir/sub/", "newdir/sub/f"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("DiffOverlay names %q, want %q", names, wantNames)
	}

	// Overlay mode: whiteout devices and the opaque xattr, which a read-only
	// overlay of layer over lower shows as the merged tree above.
	if _, err := Apply(context.Background(), p("layer"), bytes.NewReader(data), Options{Whiteouts: WhiteoutOverlay}); err != nil {
		t.Fatalf("Apply overlay: %v", err)
	}
	for _, w := range []string{"a", "keep/k"} {
		if st := lstat(t, p("layer/"+w)); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("layer/%s: mode %o rdev %d, want a whiteout", w, st.Mode, st.Rdev)
		}
	}
	if got := getxattr(t, p("layer/d"), overlayOpaque); got != "y" {
		t.Errorf("layer/d: %s = %q", overlayOpaque, got)
	}
	overlayMount(t, p("merged2"), fmt.Sprintf("lowerdir=%s:%s", p("layer"), p("lower")))
	diffLines(t, describe(t, p("merged2")), want)

	// Apply mode onto a copy of lower: the same tree.
	if _, err := Apply(context.Background(), p("copy"), bytes.NewReader(tarOf(t, p("lower"), false)), Options{Whiteouts: WhiteoutApply}); err != nil {
		t.Fatalf("Apply lower: %v", err)
	}
	if _, err := Apply(context.Background(), p("copy"), bytes.NewReader(data), Options{Whiteouts: WhiteoutApply}); err != nil {
		t.Fatalf("Apply layer: %v", err)
	}
	diffLines(t, describe(t, p("copy")), want)
}

// DiffOverlay refuses an upper that does not hold whole files and
// directories (redirect_dir, metacopy), rather than write a wrong layer.
func TestDiffOverlayRefusesRedirectAndMetacopy(t *testing.T) {
	requireRoot(t, "trusted.overlay.* xattrs")
	for _, tc := range []struct{ name, xattr string }{
		{"d", "trusted.overlay.redirect"},
		{"f", "trusted.overlay.metacopy"},
		{"d", "user.overlay.redirect"},
	} {
		t.Run(tc.xattr, func(t *testing.T) {
			upper := t.TempDir()
			must(t, os.Mkdir(filepath.Join(upper, "d"), 0o755))
			must(t, os.WriteFile(filepath.Join(upper, "f"), nil, 0o644))
			must(t, unix.Lsetxattr(filepath.Join(upper, tc.name), tc.xattr, []byte("/x"), 0))
			err := DiffOverlay(context.Background(), upper, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.xattr) {
				t.Fatalf("DiffOverlay: err = %v", err)
			}
			// Plain Tar does not care.
			if err := Tar(context.Background(), upper, io.Discard); err != nil {
				t.Fatalf("Tar: %v", err)
			}
		})
	}
}

func TestTarCancelled(t *testing.T) {
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Tar(ctx, src, io.Discard); !errors.Is(err, context.Canceled) {
		t.Fatalf("Tar: err = %v", err)
	}
}
