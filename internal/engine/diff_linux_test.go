package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testutil"
)

func lines(changes []Change) string {
	var b strings.Builder
	for _, c := range changes {
		fmt.Fprintf(&b, "%s %s\n", c.Kind, c.Path)
	}
	return b.String()
}

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOverlayChanges: an upper directory as overlayfs leaves it (whiteout
// devices, an opaque directory, copied-up parents) reads as Docker's
// overlay2 diff does, in its order.
func TestOverlayChanges(t *testing.T) {
	testutil.RequireRoot(t, "whiteouts are 0:0 character devices and opacity a trusted.* xattr")
	lower, upper := t.TempDir(), t.TempDir()
	write(t, lower, "etc/passwd", "root")
	write(t, lower, "etc/group", "root")
	write(t, lower, "bin/ls", "ls")
	write(t, lower, "var/cache/a", "a")
	write(t, lower, "usr/share/x", "x")
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, d := range []string{"etc", "bin", "var", "var/cache", "usr", "usr/share"} {
		os.Chtimes(filepath.Join(lower, d), old, old)
	}
	// The container: changed /etc/passwd, added /etc/foo and /new/dir/f,
	// removed /bin/ls, emptied and refilled /var/cache (opaque).
	write(t, upper, "etc/passwd", "root\nme")
	write(t, upper, "etc/foo", "foo")
	write(t, upper, "new/dir/f", "f")
	if err := os.MkdirAll(filepath.Join(upper, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(upper, "bin/ls"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	write(t, upper, "var/cache/b", "b")
	if err := unix.Setxattr(filepath.Join(upper, "var/cache"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	// A directory copied up with the lower's metadata is no change.
	os.MkdirAll(filepath.Join(upper, "usr/share"), 0o755)
	for _, d := range []string{"usr", "usr/share"} {
		os.Chtimes(filepath.Join(upper, d), old, old)
	}
	got, err := overlayChanges(upper, []string{lower})
	if err != nil {
		t.Fatal(err)
	}
	want := `C /bin
D /bin/ls
C /etc
A /etc/foo
C /etc/passwd
A /new
A /new/dir
A /new/dir/f
C /var
D /var/cache
A /var/cache/b
`
	if lines(got) != want {
		t.Errorf("changes:\n%s\nwant:\n%s", lines(got), want)
	}
	if n := changesSize(upper, got); n != int64(len("foo")+len("root\nme")+len("f")+len("b")) {
		t.Errorf("size of the changes: %d", n)
	}
}

// TestTreeChanges: the copy driver's full tree compared with the
// image's: deletions alone, additions with their contents, parents of
// changes reported changed, unchanged directories not.
func TestTreeChanges(t *testing.T) {
	old, cur := t.TempDir(), t.TempDir()
	for _, root := range []string{old, cur} {
		write(t, root, "etc/passwd", "root")
		write(t, root, "etc/group", "root")
		write(t, root, "bin/ls", "ls")
		write(t, root, "usr/share/x", "x")
		write(t, root, "gone/deep/f", "f")
	}
	mt := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	filepath.Walk(old, func(p string, _ os.FileInfo, _ error) error {
		os.Chtimes(p, mt, mt)
		os.Chtimes(filepath.Join(cur, strings.TrimPrefix(p, old)), mt, mt)
		return nil
	})
	write(t, cur, "etc/passwd", "root\nme")
	write(t, cur, "etc/foo", "foo")
	write(t, cur, "new/dir/f", "f")
	if err := os.Remove(filepath.Join(cur, "bin/ls")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(cur, "gone")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(cur, "usr/share/x"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := treeChanges(cur, old)
	if err != nil {
		t.Fatal(err)
	}
	want := `C /bin
D /bin/ls
C /etc
A /etc/foo
C /etc/passwd
D /gone
A /new
A /new/dir
A /new/dir/f
C /usr
C /usr/share
C /usr/share/x
`
	if lines(got) != want {
		t.Errorf("changes:\n%s\nwant:\n%s", lines(got), want)
	}
	// Against no image at all, everything is new.
	got, err = treeChanges(filepath.Join(cur, "new"), "")
	if err != nil {
		t.Fatal(err)
	}
	if lines(got) != "A /dir\nA /dir/f\n" {
		t.Errorf("changes over an empty image:\n%s", lines(got))
	}
}

func TestParsePS(t *testing.T) {
	out := `UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init splash
root         100       1  0 10:01 ?        00:00:00 sleep 300
root         101     100  0 10:01 ?        00:00:00 sh -c echo a b
`
	r, err := parsePS([]byte(out), []int{100, 101})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.Titles, ",") != "UID,PID,PPID,C,STIME,TTY,TIME,CMD" || len(r.Processes) != 2 {
		t.Fatalf("parsed: %+v", r)
	}
	if got := r.Processes[1]; got[1] != "101" || got[7] != "sh -c echo a b" {
		t.Errorf("row: %q", got)
	}
	if _, err := parsePS([]byte("USER COMMAND\nroot sh\n"), []int{1}); err == nil {
		t.Error("ps output without a PID column was accepted")
	}
}
