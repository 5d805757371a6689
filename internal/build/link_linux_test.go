package build

import (
	"archive/tar"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLinkChecks: a file is linked only when its metadata is what the
// copy would write and its content the source's; nothing is found
// through a symlink in the layer.
func TestLinkChecks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b, c := write("a", "same content"), write("b", "same content"), write("c", "diff content")
	longer := write("longer", "same content!")
	big1, big2 := write("big1", string(make([]byte, 100<<10))), write("big2", string(make([]byte, 100<<10-1))+"x")
	for _, tc := range []struct {
		x, y string
		size int64
		want bool
	}{{a, b, 12, true}, {a, c, 12, false}, {a, longer, 12, false}, {longer, a, 12, false}, {a, b, 11, false}, {big1, big2, 100 << 10, false}, {big1, big1, 100 << 10, true}} {
		if got, err := sameContent(tc.x, tc.y, tc.size); got != tc.want || err != nil {
			t.Errorf("sameContent(%s, %s, %d) = %v, %v", filepath.Base(tc.x), filepath.Base(tc.y), tc.size, got, err)
		}
	}

	mtime := time.Unix(1300000000, 123456789)
	if err := os.Chtimes(a, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(a, &st); err != nil {
		t.Fatal(err)
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Mode: 0o644, Uid: int(st.Uid), Gid: int(st.Gid), Size: 12, ModTime: mtime}
	if !sameMeta(&st, hdr) {
		t.Errorf("sameMeta: %+v does not match %+v", st, hdr)
	}
	for _, change := range []func(h *tar.Header){
		func(h *tar.Header) { h.Mode = 0o755 },
		func(h *tar.Header) { h.Uid++ },
		func(h *tar.Header) { h.Gid++ },
		func(h *tar.Header) { h.Size++ },
		func(h *tar.Header) { h.ModTime = h.ModTime.Add(time.Nanosecond) },
	} {
		h := *hdr
		change(&h)
		if sameMeta(&st, &h) {
			t.Errorf("sameMeta matches %+v", h)
		}
	}

	// A symlink in the layer is not followed.
	l := newLinker(dir)
	defer l.close()
	write("real/f", "x")
	if err := os.Symlink("real", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.stat(dir, "real/f"); err != nil {
		t.Errorf("stat real/f: %v", err)
	}
	if _, err := l.stat(dir, "link/f"); err == nil {
		t.Error("stat followed a symlink")
	}
	if err := os.Symlink("/etc", filepath.Join(dir, "abs")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.stat(dir, "abs/passwd"); err == nil {
		t.Error("stat left the layer")
	}
}
