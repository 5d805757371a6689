package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDiffDirs: the diff of two trees, applied to the first, gives the
// second: files added, changed and removed, a directory's mode changed,
// a file replaced by a directory, a symlink retargeted.
func TestDiffDirs(t *testing.T) {
	base := t.TempDir()
	lower, upper, applied := filepath.Join(base, "lower"), filepath.Join(base, "upper"), filepath.Join(base, "applied")
	for _, d := range []string{lower, upper, applied} {
		mustMkdir(t, d)
	}
	makeTree(t, lower)
	old := time.Now().Add(-time.Hour)
	ts := []unix.Timespec{unix.NsecToTimespec(old.UnixNano()), unix.NsecToTimespec(old.UnixNano())}
	filepath.Walk(lower, func(p string, _ os.FileInfo, _ error) error {
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
	// upper and applied start as copies of lower, as the copy snapshotter makes them.
	for _, d := range []string{upper, applied} {
		if _, err := Apply(context.Background(), d, bytes.NewReader(tarOf(t, lower, false)), Options{Whiteouts: WhiteoutApply}); err != nil {
			t.Fatal(err)
		}
	}
	must(t, os.WriteFile(filepath.Join(upper, "new"), []byte("new"), 0o644))
	ents, _ := os.ReadDir(upper)
	var victims []string
	for _, e := range ents {
		if e.Name() != "new" {
			victims = append(victims, e.Name())
		}
	}
	if len(victims) < 2 {
		t.Fatalf("makeTree made too little: %v", victims)
	}
	must(t, os.RemoveAll(filepath.Join(upper, victims[0])))
	must(t, os.RemoveAll(filepath.Join(upper, victims[1])))
	must(t, os.MkdirAll(filepath.Join(upper, victims[1], "sub"), 0o750))
	must(t, os.Symlink("/elsewhere", filepath.Join(upper, "newlink")))
	var diff bytes.Buffer
	if err := DiffDirs(context.Background(), lower, upper, &diff); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(context.Background(), applied, &diff, Options{Whiteouts: WhiteoutApply, AllowDevices: true}); err != nil {
		t.Fatal(err)
	}
	diffLines(t, describe(t, applied), describe(t, upper))
}
