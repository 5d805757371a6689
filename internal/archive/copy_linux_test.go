package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestApplyWhiteoutNone: copied files named like whiteouts are files.
func TestApplyWhiteoutNone(t *testing.T) {
	root := t.TempDir()
	mustMkdir(t, filepath.Join(root, "d"))
	os.WriteFile(filepath.Join(root, "d", "keep"), []byte("k"), 0o644)
	mustApply(t, root, Options{Whiteouts: WhiteoutNone}, file("d/.wh..wh..opq", ""), file("d/.wh.keep", ""), file(".wh..wh.plnk", "x"))
	for _, p := range []string{"d/keep", "d/.wh..wh..opq", "d/.wh.keep", ".wh..wh.plnk"} {
		if !exists(filepath.Join(root, p)) {
			t.Errorf("%s missing", p)
		}
	}
}

// TestApplyNoOverwriteDirNonDir: neither kind replaces the other.
func TestApplyNoOverwriteDirNonDir(t *testing.T) {
	root := t.TempDir()
	mustMkdir(t, filepath.Join(root, "d", "inner"))
	os.WriteFile(filepath.Join(root, "f"), nil, 0o644)
	opts := Options{Whiteouts: WhiteoutNone, NoOverwriteDirNonDir: true}
	if _, err := applyEnts(t, root, opts, file("d", "x")); err == nil || !strings.Contains(err.Error(), "cannot overwrite directory") {
		t.Errorf("file over dir: %v", err)
	}
	if _, err := applyEnts(t, root, opts, dir("f")); err == nil || !strings.Contains(err.Error(), "cannot overwrite non-directory") {
		t.Errorf("dir over file: %v", err)
	}
	mustApply(t, root, opts, file("f", "new"), dir("d"))
	if readFile(t, filepath.Join(root, "f")) != "new" || !exists(filepath.Join(root, "d", "inner")) {
		t.Error("a file over a file, a dir over a dir")
	}
}

func TestRebase(t *testing.T) {
	for _, tc := range []struct{ old, new, in, want string }{
		{"a", "b", "a/", "b/"}, {"a", "b", "a/x", "b/x"}, {"a", "b", "ab/x", "ab/x"},
		{".", "b", "./", "b/"}, {".", "b", "./x", "b/x"}, {"/", "b", "x/y", "b/x/y"},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: tc.in, Typeflag: tar.TypeDir, Mode: 0o755})
		tw.Close()
		h, err := tar.NewReader(Rebase(&buf, tc.old, tc.new)).Next()
		if err != nil || h.Name != tc.want {
			t.Errorf("Rebase(%q, %q) of %q: %v %v, want %q", tc.old, tc.new, tc.in, h, err, tc.want)
		}
	}
}

// TestTarPathNames: entries are named after the path as typed.
func TestTarPathNames(t *testing.T) {
	root := t.TempDir()
	mustMkdir(t, filepath.Join(root, "etc", "sub"))
	os.WriteFile(filepath.Join(root, "etc", "sub", "f"), nil, 0o644)
	os.Symlink("/etc", filepath.Join(root, "link"))
	for _, tc := range []struct {
		p      string
		follow bool
		want   string
	}{
		{"/etc", false, "etc/ etc/sub/ etc/sub/f"},
		{"/etc/.", false, "./ ./sub/ ./sub/f"},
		{"/link", false, "link"},
		{"/link", true, "link/ link/sub/ link/sub/f"},
		{"/link/", false, "link/ link/sub/ link/sub/f"},
		{"/etc/sub/f", false, "f"},
	} {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(TarPath(context.Background(), root, tc.p, tc.follow, pw)) }()
		var names []string
		tr := tar.NewReader(pr)
		for {
			h, err := tr.Next()
			if err != nil {
				if err != io.EOF {
					t.Errorf("%s: %v", tc.p, err)
				}
				break
			}
			names = append(names, h.Name)
		}
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("TarPath(%q, follow %v): %q, want %q", tc.p, tc.follow, got, tc.want)
		}
	}
}
