package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireRoot skips t unless it runs as root; why names the privilege.
// CI runs as root, so these tests always run there.
func requireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root: %s", why)
	}
}

// bothResolvers runs f once with openat2 and once with the pathrs-lite
// fallback that kernels without openat2 take.
func bothResolvers(t *testing.T, f func(t *testing.T)) {
	for _, purego := range []bool{false, true} {
		name := "openat2"
		if purego {
			name = "pathrs-lite"
		}
		t.Run(name, func(t *testing.T) {
			old := forcePurego
			forcePurego = purego
			t.Cleanup(func() { forcePurego = old })
			f(t)
		})
	}
}

// sandbox makes base/root, the layer root, and base/outside, a directory
// that no entry may touch, holding the file secret.
func sandbox(t *testing.T) (base, root, outside string) {
	t.Helper()
	base = t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{root, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	return base, root, outside
}

// snapshot describes everything under base except root: what an escape
// would change.
func snapshot(t *testing.T, base, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return filepath.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		b.WriteString(p)
		b.WriteString(" mode=" + fs.FileMode(st.Mode).String())
		b.WriteString(" nlink=" + strconv.Itoa(int(st.Nlink)) + " size=" + strconv.Itoa(int(st.Size)))
		b.WriteString(" mtime=" + time.Unix(st.Mtim.Unix()).String() + "\n")
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b.WriteString("  " + string(data) + "\n")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// unprivileged tests cannot chown to the tar's owners (mostly 0:0).
var unprivileged = os.Geteuid() != 0

func applyEnts(t testing.TB, root string, opts Options, ents ...ent) (int64, error) {
	t.Helper()
	opts.IgnoreChown = opts.IgnoreChown || unprivileged
	return Apply(context.Background(), root, bytes.NewReader(buildTar(t, ents...)), opts)
}

func mustApply(t testing.TB, root string, opts Options, ents ...ent) {
	t.Helper()
	if _, err := applyEnts(t, root, opts, ents...); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func lstat(t testing.TB, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat: %v", err)
	}
	return &st
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// Names whose ".." climbs above the root are refused, naming the entry;
// absolute names and ".." that stays inside are taken relative to the root.
func TestApplyDotDotNames(t *testing.T) {
	for _, name := range []string{"../x", "a/../../x", "./../x", "a/b/../../../x", "..", "../"} {
		t.Run(name, func(t *testing.T) {
			base, root, _ := sandbox(t)
			before := snapshot(t, base, root)
			e := file(name, "escaped")
			if strings.HasSuffix(name, "/") {
				e = dir(name)
			}
			_, err := applyEnts(t, root, Options{}, file("ok", "1"), e)
			if !errors.Is(err, ErrBreakout) {
				t.Fatalf("Apply: err = %v, want ErrBreakout", err)
			}
			want := `archive: entry "` + name + `": path escapes the layer root`
			if err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			if after := snapshot(t, base, root); after != before {
				t.Errorf("outside the root changed:\n%s\nwas\n%s", after, before)
			}
		})
	}
	for _, tc := range []struct{ name, at string }{
		{"/etc/x", "etc/x"},
		{"/../../y", "y"},
		{"a/../b", "b"},
		{"./c/./d", "c/d"},
		{"//e", "e"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, root, _ := sandbox(t)
			before := snapshot(t, base, root)
			mustApply(t, root, Options{}, file(tc.name, "in"))
			if got := readFile(t, filepath.Join(root, tc.at)); got != "in" {
				t.Errorf("%s holds %q", tc.at, got)
			}
			if after := snapshot(t, base, root); after != before {
				t.Errorf("outside the root changed:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// Entries under a symlink in the layer follow it as if root were "/": they
// land inside root, never where the symlink points on the host.
func TestApplyThroughSymlinks(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		const canary = "berth-archive-test-canary"
		t.Cleanup(func() { os.Remove("/etc/" + canary) }) // only there if the test fails
		for _, tc := range []struct {
			name   string
			ents   func(outside string) []ent
			opts   Options
			inRoot func(outside string) string // where the last entry must land
		}{
			{"absolute symlink, then a file",
				func(o string) []ent { return []ent{symlink("a", o), file("a/pwned", "x")} }, Options{},
				func(o string) string { return filepath.Join(o, "pwned") }},
			{"symlink to /etc, then a file",
				func(o string) []ent { return []ent{symlink("a", "/etc"), file("a/"+canary, "x")} }, Options{},
				func(o string) string { return "etc/" + canary }},
			{"relative symlink climbing out",
				func(o string) []ent { return []ent{symlink("a", "../outside"), file("a/pwned", "x")} }, Options{},
				func(o string) string { return "outside/pwned" }},
			{"many ..",
				func(o string) []ent {
					return []ent{dir("d/"), symlink("d/up", "../../../../../.."+o), file("d/up/pwned", "x")}
				}, Options{},
				func(o string) string { return filepath.Join(o, "pwned") }},
			{"chain of symlinks",
				func(o string) []ent { return []ent{symlink("a", "b"), symlink("b", o), file("a/pwned", "x")} }, Options{},
				func(o string) string { return filepath.Join(o, "pwned") }},
			{"symlink, then a directory under it",
				func(o string) []ent { return []ent{symlink("a", o), dir("a/newdir/")} }, Options{},
				func(o string) string { return filepath.Join(o, "newdir") }},
			{"symlink, then a file two levels below it",
				func(o string) []ent { return []ent{symlink("a", o), file("a/x/y/pwned", "x")} }, Options{},
				func(o string) string { return filepath.Join(o, "x/y/pwned") }},
			{"symlink, then a symlink under it",
				func(o string) []ent { return []ent{symlink("a", o), symlink("a/l", "/anything")} }, Options{},
				func(o string) string { return filepath.Join(o, "l") }},
			{"symlink, then a hardlink under it",
				func(o string) []ent { return []ent{file("f", "x"), symlink("a", o), hardlink("a/l", "f")} }, Options{},
				func(o string) string { return filepath.Join(o, "l") }},
			{"symlink, then a fifo under it",
				func(o string) []ent {
					return []ent{symlink("a", o), {Header: tar.Header{Typeflag: tar.TypeFifo, Name: "a/fifo", Mode: 0o644}}}
				}, Options{AllowDevices: true},
				func(o string) string { return filepath.Join(o, "fifo") }},
			{"symlink to a file, then a file of its name",
				func(o string) []ent { return []ent{symlink("a", o+"/secret"), file("a", "replaced")} }, Options{},
				func(o string) string { return "a" }},
			{"dangling symlink to a file's path, then a file under it",
				func(o string) []ent { return []ent{symlink("a", o+"/secret"), file("a/x", "x")} }, Options{},
				func(o string) string { return filepath.Join(o, "secret/x") }},
			{"symlink to a file, then a file under it",
				func(o string) []ent { return []ent{file("f", "f"), symlink("a", "f"), file("a/x", "x")} }, Options{},
				nil},
			{"symlink loop",
				func(o string) []ent { return []ent{symlink("a", "b"), symlink("b", "a"), file("a/x", "x")} }, Options{},
				nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				base, root, outside := sandbox(t)
				before := snapshot(t, base, root)
				_, err := applyEnts(t, root, tc.opts, tc.ents(outside)...)
				if after := snapshot(t, base, root); after != before {
					t.Errorf("outside the root changed:\n%s\nwas\n%s", after, before)
				}
				if exists("/etc/" + canary) {
					t.Errorf("/etc/%s was written", canary)
				}
				if tc.inRoot == nil {
					if err == nil {
						t.Errorf("Apply succeeded")
					}
					return
				}
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
				if p := filepath.Join(root, tc.inRoot(outside)); !exists(p) {
					t.Errorf("%s was not created inside the root", p)
				}
			})
		}
	})
}

// Hardlink targets resolve inside the root; a hardlink never reaches a file
// outside it, whether by "..", by a symlinked directory or by a symlink.
func TestApplyHardlinks(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			ents    func(outside string) []ent
			wantErr error // nil: any error
			check   func(t *testing.T, root string)
		}{
			{"target climbs out",
				func(o string) []ent { return []ent{hardlink("l", "../outside/secret")} }, ErrBreakout, nil},
			{"target under a symlink to outside",
				func(o string) []ent { return []ent{symlink("a", o), hardlink("l", "a/secret")} }, nil, nil},
			{"target under a relative symlink to outside",
				func(o string) []ent { return []ent{symlink("a", "../outside"), hardlink("l", "a/secret")} }, nil, nil},
			{"target is the root",
				func(o string) []ent { return []ent{hardlink("l", "/")} }, nil, nil},
			{"target is a symlink to outside: links the symlink",
				func(o string) []ent { return []ent{symlink("evil", o+"/secret"), hardlink("l", "evil")} }, nil,
				func(t *testing.T, root string) {
					a, l := lstat(t, filepath.Join(root, "evil")), lstat(t, filepath.Join(root, "l"))
					if l.Mode&unix.S_IFMT != unix.S_IFLNK || a.Ino != l.Ino {
						t.Errorf("l is not a second name of the symlink evil")
					}
				}},
			{"target written earlier in the stream",
				func(o string) []ent { return []ent{file("f", "data"), hardlink("d/l", "f"), hardlink("/m", "/f")} }, nil,
				func(t *testing.T, root string) {
					f, l, m := lstat(t, filepath.Join(root, "f")), lstat(t, filepath.Join(root, "d/l")), lstat(t, filepath.Join(root, "m"))
					if f.Ino != l.Ino || f.Ino != m.Ino || f.Nlink != 3 {
						t.Errorf("f, d/l and m do not share an inode")
					}
				}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				base, root, outside := sandbox(t)
				before := snapshot(t, base, root)
				_, err := applyEnts(t, root, Options{}, tc.ents(outside)...)
				if after := snapshot(t, base, root); after != before {
					t.Errorf("outside the root changed:\n%s\nwas\n%s", after, before)
				}
				if tc.check != nil {
					if err != nil {
						t.Fatalf("Apply: %v", err)
					}
					tc.check(t, root)
					return
				}
				if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("Apply: err = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), `entry "l"`) {
					t.Errorf("error %q does not name the entry", err)
				}
			})
		}
	})
}

func TestApplyDevices(t *testing.T) {
	requireRoot(t, "mknod of a character device")
	ents := []ent{
		{Header: tar.Header{Typeflag: tar.TypeChar, Name: "null", Mode: 0o666, Devmajor: 1, Devminor: 3}},
		{Header: tar.Header{Typeflag: tar.TypeBlock, Name: "loop9", Mode: 0o660, Devmajor: 7, Devminor: 9}},
		{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo", Mode: 0o620}},
		file("after", "x"),
	}
	t.Run("skipped", func(t *testing.T) {
		root := t.TempDir()
		mustApply(t, root, Options{}, ents...)
		for _, n := range []string{"null", "loop9", "fifo"} {
			if exists(filepath.Join(root, n)) {
				t.Errorf("%s was created without AllowDevices", n)
			}
		}
		if !exists(filepath.Join(root, "after")) {
			t.Errorf("the entry after the devices is missing")
		}
	})
	t.Run("allowed", func(t *testing.T) {
		root := t.TempDir()
		mustApply(t, root, Options{AllowDevices: true}, ents...)
		for _, tc := range []struct {
			name string
			mode uint32
			dev  uint64
		}{
			{"null", unix.S_IFCHR | 0o666, unix.Mkdev(1, 3)},
			{"loop9", unix.S_IFBLK | 0o660, unix.Mkdev(7, 9)},
			{"fifo", unix.S_IFIFO | 0o620, 0},
		} {
			st := lstat(t, filepath.Join(root, tc.name))
			if st.Mode != tc.mode || st.Rdev != tc.dev {
				t.Errorf("%s: mode %o rdev %x, want %o %x", tc.name, st.Mode, st.Rdev, tc.mode, tc.dev)
			}
		}
	})
}

func TestApplyLimits(t *testing.T) {
	big := strings.Repeat("x", 600)
	for _, tc := range []struct {
		name        string
		opts        Options
		ents        []ent
		wantWritten int64
		wantEntry   string
	}{
		{"bytes", Options{MaxBytes: 1000}, []ent{file("a", big), file("b", big), file("c", "")}, 600, "b"},
		{"bytes of one file", Options{MaxBytes: 100}, []ent{file("a", big)}, 0, "a"},
		{"entries", Options{MaxEntries: 3}, []ent{dir("d/"), file("d/a", "1"), file("d/b", "2"), file("d/c", "3"), file("d/e", "4")}, 2, "d/c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			n, err := applyEnts(t, root, tc.opts, tc.ents...)
			if !errors.Is(err, ErrLimit) {
				t.Fatalf("Apply: err = %v, want ErrLimit", err)
			}
			if !strings.Contains(err.Error(), `entry "`+tc.wantEntry+`"`) {
				t.Errorf("error %q does not name entry %q", err, tc.wantEntry)
			}
			if n != tc.wantWritten {
				t.Errorf("written %d, want %d", n, tc.wantWritten)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		n, err := applyEnts(t, t.TempDir(), Options{}, file("a", big), file("b", big))
		if err != nil || n != 1200 {
			t.Fatalf("Apply = %d, %v", n, err)
		}
	})
}

// An entry replaces what is at its name, except a directory over a
// directory, which keeps its contents.
func TestApplyReplace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lower []ent
		layer []ent
		check func(t *testing.T, root string)
	}{
		{"file over a directory", []ent{dir("d/"), file("d/x", "x")}, []ent{file("d", "file")},
			func(t *testing.T, root string) {
				if got := readFile(t, filepath.Join(root, "d")); got != "file" {
					t.Errorf("d holds %q", got)
				}
			}},
		{"directory over a directory keeps its contents", []ent{dir("d/"), file("d/x", "x")},
			[]ent{{Header: tar.Header{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o710, Uid: 0}}},
			func(t *testing.T, root string) {
				if got := readFile(t, filepath.Join(root, "d/x")); got != "x" {
					t.Errorf("d/x holds %q", got)
				}
				if st := lstat(t, filepath.Join(root, "d")); st.Mode&0o7777 != 0o710 {
					t.Errorf("d mode %o, want 710", st.Mode&0o7777)
				}
			}},
		{"directory over a file", []ent{file("d", "file")}, []ent{dir("d/"), file("d/x", "x")},
			func(t *testing.T, root string) {
				if got := readFile(t, filepath.Join(root, "d/x")); got != "x" {
					t.Errorf("d/x holds %q", got)
				}
			}},
		{"directory over a symlink to a directory", []ent{dir("real/"), symlink("d", "real")}, []ent{dir("d/"), file("d/x", "x")},
			func(t *testing.T, root string) {
				if st := lstat(t, filepath.Join(root, "d")); st.Mode&unix.S_IFMT != unix.S_IFDIR {
					t.Errorf("d is not a directory")
				}
				if exists(filepath.Join(root, "real/x")) {
					t.Errorf("d/x went through the old symlink")
				}
			}},
		{"symlink over a directory", []ent{dir("d/"), file("d/x", "x")}, []ent{symlink("d", "elsewhere")},
			func(t *testing.T, root string) {
				if target, err := os.Readlink(filepath.Join(root, "d")); err != nil || target != "elsewhere" {
					t.Errorf("d: %q, %v", target, err)
				}
			}},
		{"file over a hardlinked file leaves the other name", []ent{file("f", "old"), hardlink("g", "f")}, []ent{file("f", "new")},
			func(t *testing.T, root string) {
				if f, g := readFile(t, filepath.Join(root, "f")), readFile(t, filepath.Join(root, "g")); f != "new" || g != "old" {
					t.Errorf("f %q g %q, want new old", f, g)
				}
			}},
		{"hardlink over a file", []ent{file("f", "f"), file("g", "g")}, []ent{hardlink("g", "f")},
			func(t *testing.T, root string) {
				if g := readFile(t, filepath.Join(root, "g")); g != "f" {
					t.Errorf("g %q", g)
				}
			}},
		{"a directory removed through a symlink, then written again", nil,
			[]ent{dir("a/"), file("a/x", "x"), symlink("a/l", "/"), whiteout("a/l/.wh.a"), file("a/y", "y")},
			func(t *testing.T, root string) {
				if exists(filepath.Join(root, "a/x")) || !exists(filepath.Join(root, "a/y")) {
					t.Errorf("a/y went to the removed directory")
				}
			}},
		{"the same file twice in one layer", nil, []ent{file("f", "one"), file("f", "two")},
			func(t *testing.T, root string) {
				if f := readFile(t, filepath.Join(root, "f")); f != "two" {
					t.Errorf("f %q", f)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			mustApply(t, root, Options{Whiteouts: WhiteoutApply}, tc.lower...)
			mustApply(t, root, Options{Whiteouts: WhiteoutApply}, tc.layer...)
			tc.check(t, root)
		})
	}
}

func TestApplyMetadata(t *testing.T) {
	requireRoot(t, "chown to other users, trusted.* and security.capability xattrs")
	t1 := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	t2 := time.Date(2011, 2, 3, 4, 5, 6, 0, time.UTC)
	// A VFS_CAP_REVISION_2 capability: effective, CAP_NET_RAW permitted.
	capNetRaw := string([]byte{1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	xattr := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[paxXattr+kv[i]] = kv[i+1]
		}
		return m
	}
	ents := []ent{
		{Header: tar.Header{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o750, Uid: 1000, Gid: 1001, ModTime: t1,
			PAXRecords: xattr("trusted.berth", "dir", "trusted.overlay.opaque", "y", "user.overlay.redirect", "/x")}},
		{Header: tar.Header{Typeflag: tar.TypeDir, Name: "d/e/", Mode: 0o700, ModTime: t1}},
		{Header: tar.Header{Typeflag: tar.TypeReg, Name: "d/e/suid", Mode: 0o4755 | 0o2000, Uid: 1000, Gid: 1001, ModTime: t2}},
		{Header: tar.Header{Typeflag: tar.TypeReg, Name: "d/ping", Mode: 0o755, ModTime: t2,
			PAXRecords: xattr("security.capability", capNetRaw, "user.mime", "x-ping")}},
		{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: "d/link", Linkname: "ping", Uid: 1002, Gid: 1003, ModTime: t2}},
		{Header: tar.Header{Typeflag: tar.TypeReg, Name: "d/f", Mode: 0o600, ModTime: t2, AccessTime: t1, Format: tar.FormatPAX}},
		{Header: tar.Header{Typeflag: tar.TypeReg, Name: "implicit/parent/f", Mode: 0o644, ModTime: t2}},
	}
	root := t.TempDir()
	mustApply(t, root, Options{}, ents...)

	for _, tc := range []struct {
		name       string
		mode       uint32
		uid, gid   uint32
		mtime      time.Time
		atime      time.Time
		xattrs     map[string]string
		noXattrs   []string
		skipMode   bool
		skipAtime  bool
		skipOwners bool
	}{
		{name: "d", mode: unix.S_IFDIR | 0o750, uid: 1000, gid: 1001, mtime: t1, skipAtime: true,
			xattrs: map[string]string{"trusted.berth": "dir"}, noXattrs: []string{"trusted.overlay.opaque", "user.overlay.redirect"}},
		{name: "d/e", mode: unix.S_IFDIR | 0o700, mtime: t1, skipAtime: true},
		{name: "d/e/suid", mode: unix.S_IFREG | 0o6755, uid: 1000, gid: 1001, mtime: t2, atime: t2},
		{name: "d/ping", mode: unix.S_IFREG | 0o755, mtime: t2, xattrs: map[string]string{"security.capability": capNetRaw, "user.mime": "x-ping"}},
		{name: "d/link", uid: 1002, gid: 1003, mtime: t2, skipMode: true},
		{name: "d/f", mode: unix.S_IFREG | 0o600, mtime: t2, atime: t1},
		{name: "implicit/parent", mode: unix.S_IFDIR | 0o755, skipAtime: true},
	} {
		st := lstat(t, filepath.Join(root, tc.name))
		if !tc.skipMode && st.Mode != tc.mode {
			t.Errorf("%s: mode %o, want %o", tc.name, st.Mode, tc.mode)
		}
		if st.Uid != tc.uid || st.Gid != tc.gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", tc.name, st.Uid, st.Gid, tc.uid, tc.gid)
		}
		if !tc.mtime.IsZero() && !time.Unix(st.Mtim.Unix()).Equal(tc.mtime) {
			t.Errorf("%s: mtime %v, want %v", tc.name, time.Unix(st.Mtim.Unix()), tc.mtime)
		}
		if !tc.atime.IsZero() && !tc.skipAtime && !time.Unix(st.Atim.Unix()).Equal(tc.atime) {
			t.Errorf("%s: atime %v, want %v", tc.name, time.Unix(st.Atim.Unix()), tc.atime)
		}
		for k, v := range tc.xattrs {
			if got := getxattr(t, filepath.Join(root, tc.name), k); got != v {
				t.Errorf("%s: xattr %s = %q, want %q", tc.name, k, got, v)
			}
		}
		for _, k := range tc.noXattrs {
			if got := getxattr(t, filepath.Join(root, tc.name), k); got != "" {
				t.Errorf("%s: xattr %s = %q, want none", tc.name, k, got)
			}
		}
	}
}

func getxattr(t testing.TB, p, name string) string {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(p, name, buf)
	if err == unix.ENODATA {
		return ""
	}
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", p, name, err)
	}
	return string(buf[:n])
}

// Without root, xattrs the kernel refuses (trusted.*) are skipped and
// ownership is the caller's with IgnoreChown.
func TestApplyIgnoreChown(t *testing.T) {
	root := t.TempDir()
	mustApply(t, root, Options{IgnoreChown: true},
		ent{Header: tar.Header{Typeflag: tar.TypeReg, Name: "f", Mode: 0o640, Uid: 4242, Gid: 4343}})
	st := lstat(t, filepath.Join(root, "f"))
	if st.Uid != uint32(os.Geteuid()) || st.Mode&0o777 != 0o640 {
		t.Errorf("f: owner %d mode %o", st.Uid, st.Mode&0o777)
	}
}

func TestApplyWhiteoutOverlay(t *testing.T) {
	requireRoot(t, "mknod of overlayfs whiteouts, trusted.overlay.opaque")
	root := t.TempDir()
	mustApply(t, root, Options{Whiteouts: WhiteoutOverlay},
		dir("d/"),
		whiteout("d/.wh..wh..opq"),
		file("d/kept", "k"),
		whiteout("d/.wh.gone"),
		whiteout(".wh.top"),
		whiteout("implicit/.wh..wh..opq"),
		whiteout(".wh..wh.plnk/123"), // AUFS bookkeeping: ignored
		file("d/.wh.gone-too", ""),
	)
	for _, n := range []string{"d/gone", "top", "d/gone-too"} {
		st := lstat(t, filepath.Join(root, n))
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("%s: mode %o rdev %d, want a 0:0 character device", n, st.Mode, st.Rdev)
		}
	}
	for _, d := range []string{"d", "implicit"} {
		if got := getxattr(t, filepath.Join(root, d), overlayOpaque); got != "y" {
			t.Errorf("%s: %s = %q, want y", d, overlayOpaque, got)
		}
	}
	for _, n := range []string{".wh..wh.plnk", "d/.wh.gone", ".wh.top"} {
		if exists(filepath.Join(root, n)) {
			t.Errorf("%s was stored", n)
		}
	}
}

func TestApplyWhiteoutApply(t *testing.T) {
	lower := []ent{
		file("keep", "k"),
		dir("gone/"), file("gone/x", "x"),
		file("f", "f"),
		symlink("sl", "keep"),
		dir("o/"), file("o/old", "o"), dir("o/sub/"), file("o/sub/old2", "o"), dir("o/oldsub/"), file("o/oldsub/x", "x"),
		file("o/replaced", "lower"),
	}
	layerBody := []ent{
		dir("o/"), file("o/new", "n"), dir("o/sub/"), file("o/sub/n2", "n"), file("o/deep/er/n3", "n"), file("o/replaced", "upper"),
	}
	for _, tc := range []struct {
		name  string
		layer []ent
	}{
		// Docker writes the opaque marker right after its directory; other
		// tools may write it last. Both keep what this layer wrote.
		{"opaque first", append(append([]ent{whiteout(".wh.gone"), whiteout(".wh.f"), whiteout(".wh.sl"), dir("o/"), whiteout("o/.wh..wh..opq")}, layerBody...), whiteout(".wh.missing"))},
		{"opaque last", append(append([]ent{whiteout(".wh.gone"), whiteout(".wh.f"), whiteout(".wh.sl")}, layerBody...), whiteout("o/.wh..wh..opq"), whiteout("nodir/.wh.x"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			mustApply(t, root, Options{Whiteouts: WhiteoutApply}, lower...)
			mustApply(t, root, Options{Whiteouts: WhiteoutApply}, tc.layer...)
			for _, n := range []string{"gone", "f", "sl", "o/old", "o/sub/old2", "o/oldsub", ".wh.gone", "o/.wh..wh..opq", "nodir"} {
				if exists(filepath.Join(root, n)) {
					t.Errorf("%s is still there", n)
				}
			}
			for n, want := range map[string]string{"keep": "k", "o/new": "n", "o/sub/n2": "n", "o/deep/er/n3": "n", "o/replaced": "upper"} {
				if got := readFile(t, filepath.Join(root, n)); got != want {
					t.Errorf("%s holds %q, want %q", n, got, want)
				}
			}
		})
	}
}

// Whiteouts resolve their directory inside the root: under a symlink to
// the host they remove (or, for overlay, create) nothing outside.
func TestApplyWhiteoutThroughSymlink(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		for _, tc := range []struct {
			name string
			mode WhiteoutMode
			ent  ent
		}{
			{"apply .wh.NAME", WhiteoutApply, whiteout("a/.wh.secret")},
			{"apply .wh..wh..opq", WhiteoutApply, whiteout("a/.wh..wh..opq")},
			{"apply .wh.NAME under a relative symlink", WhiteoutApply, whiteout("r/.wh.secret")},
			{"apply .wh.NAME of a symlink to outside", WhiteoutApply, whiteout(".wh.a")},
			{"overlay .wh.NAME", WhiteoutOverlay, whiteout("a/.wh.secret")},
			{"overlay .wh..wh..opq", WhiteoutOverlay, whiteout("a/.wh..wh..opq")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.mode == WhiteoutOverlay {
					requireRoot(t, "mknod of overlayfs whiteouts")
				}
				base, root, outside := sandbox(t)
				before := snapshot(t, base, root)
				beforeX := getxattr(t, outside, overlayOpaque)
				_, err := applyEnts(t, root, Options{Whiteouts: tc.mode}, symlink("a", outside), symlink("r", "../outside"), tc.ent)
				if after := snapshot(t, base, root); after != before {
					t.Errorf("outside the root changed:\n%s\nwas\n%s", after, before)
				}
				if getxattr(t, outside, overlayOpaque) != beforeX {
					t.Errorf("outside was made opaque")
				}
				if err != nil && !errors.Is(err, unix.ENOENT) {
					t.Errorf("Apply: %v", err)
				}
			})
		}
	})
}

func TestApplyInvalidWhiteouts(t *testing.T) {
	for _, name := range []string{".wh.", "d/.wh..", "d/.wh..."} {
		for _, mode := range []WhiteoutMode{WhiteoutApply, WhiteoutOverlay} {
			t.Run(mode.String()+" "+name, func(t *testing.T) {
				base := t.TempDir()
				root := filepath.Join(base, "root")
				mustMkdir(t, root)
				mustApply(t, root, Options{}, dir("d/"), file("d/x", "x"))
				_, err := applyEnts(t, root, Options{Whiteouts: mode}, whiteout(name))
				if err == nil || !strings.Contains(err.Error(), "invalid whiteout") {
					t.Fatalf("Apply: err = %v, want invalid whiteout", err)
				}
				if !exists(filepath.Join(root, "d/x")) {
					t.Errorf("d/x was removed")
				}
			})
		}
	}
}

func mustMkdir(t testing.TB, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

// Apply reads past the tar trailer to the end of the stream, so a caller
// hashing the stream sees all of it.
func TestApplyDrainsStream(t *testing.T) {
	data := append(buildTar(t, file("a", "x")), make([]byte, 3<<20)...) // past any read-ahead
	r := bytes.NewReader(data)
	if _, err := Apply(context.Background(), t.TempDir(), r, Options{IgnoreChown: unprivileged}); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 {
		t.Errorf("%d bytes left unread", r.Len())
	}
}

func TestApplyRootEntrySkipped(t *testing.T) {
	root := t.TempDir()
	if err := os.Chmod(root, 0o711); err != nil {
		t.Fatal(err)
	}
	mustApply(t, root, Options{}, ent{Header: tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o777}}, dir("/"), file("a", "x"))
	if st := lstat(t, root); st.Mode&0o777 != 0o711 {
		t.Errorf("root mode %o, want 711", st.Mode&0o777)
	}
}

func TestApplyErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		data func(t *testing.T) []byte
		want string
	}{
		{"truncated stream", func(t *testing.T) []byte { return buildTar(t, file("a", "hello world"))[:520] }, "archive: entry \"a\": write content"},
		{"not a tar", func(t *testing.T) []byte { return bytes.Repeat([]byte("x"), 1024) }, "archive: read tar"},
		{"file under a file", func(t *testing.T) []byte { return buildTar(t, file("a", "x"), file("a/b", "y")) }, `archive: entry "a/b": parent directory`},
		{"a symlink to the root replaced by a file, then used", func(t *testing.T) []byte {
			return buildTar(t, symlink("l", "."), file("l/x", "x"), file("l/l", "now a file"), file("l/y", "y"))
		}, `archive: entry "l/y": parent directory`},
		{"negative owner", func(t *testing.T) []byte {
			return buildTar(t, ent{Header: tar.Header{Typeflag: tar.TypeReg, Name: "a", Uid: 1 << 32, Format: tar.FormatPAX}})
		}, `archive: entry "a": owner`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Apply(context.Background(), t.TempDir(), bytes.NewReader(tc.data(t)), Options{IgnoreChown: unprivileged})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply: err = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("unknown whiteout mode", func(t *testing.T) {
		root := t.TempDir()
		mustApply(t, root, Options{}, file("keep", "k"))
		_, err := applyEnts(t, root, Options{Whiteouts: 7}, whiteout(".wh..wh..opq"))
		if err == nil || !exists(filepath.Join(root, "keep")) {
			t.Fatalf("Apply: err = %v", err)
		}
	})
	t.Run("missing root", func(t *testing.T) {
		_, err := Apply(context.Background(), filepath.Join(t.TempDir(), "nope"), bytes.NewReader(buildTar(t)), Options{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Apply: err = %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Apply(ctx, t.TempDir(), bytes.NewReader(buildTar(t, file("a", "x"))), Options{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Apply: err = %v", err)
		}
	})
}
