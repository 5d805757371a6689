package engine

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/testutil"
)

func TestFreeRange(t *testing.T) {
	for _, c := range []struct {
		ranges []subIDRange
		want   uint32
	}{
		{nil, 100000},
		{[]subIDRange{{start: 100000, count: 65536}}, 165536},
		{[]subIDRange{{start: 0, count: 1000}, {start: 300000, count: 10}}, 100000},
		{[]subIDRange{{start: 165536, count: 10}, {start: 100000, count: 65536}}, 165546},
	} {
		if got := freeRange(c.ranges); got != c.want {
			t.Errorf("freeRange(%v) = %d, want %d", c.ranges, got, c.want)
		}
	}
}

// TestSubIDMaps: a user's ranges, by name or uid, laid end to end from
// container ID 0 in the file's order.
func TestSubIDMaps(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subuid")
	os.WriteFile(f, []byte("# comment\nberth:100000:65536\nother:200000:10\n\n1234:300000:1000\n"), 0o644)
	got, err := subIDMaps(f, "berth", "1234")
	want := []container.IDRange{{ContainerID: 0, HostID: 100000, Size: 65536}, {ContainerID: 65536, HostID: 300000, Size: 1000}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("subIDMaps = %v, %v; want %v", got, err, want)
	}
	if got, _ := subIDMaps(f, "nobody", ""); got != nil {
		t.Errorf("a user without ranges: %v", got)
	}
	os.WriteFile(f, []byte("berth:x:1\n"), 0o644)
	if _, err := subIDMaps(f, "berth", ""); err == nil {
		t.Error("a bad line is not an error")
	}
}

// TestRemapTree: owners and groups move into the ranges (others stay),
// symlinks are changed themselves, hard links once, setuid bits stay.
func TestRemapTree(t *testing.T) {
	testutil.RequireRoot(t, "chown to other users")
	root := t.TempDir()
	mk := func(name string, mode os.FileMode, uid, gid int) string {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, nil, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		os.Lchown(p, uid, gid)
		return p
	}
	os.Mkdir(filepath.Join(root, "dir"), 0o755)
	mk("dir/plain", 0o644, 0, 0)
	suid := mk("suid", 0o4755|os.ModeSetuid, 0, 0)
	os.Chmod(suid, 0o755|os.ModeSetuid)
	mk("user", 0o644, 1000, 50)
	mk("outside", 0o644, 70000, 70000)
	os.Link(filepath.Join(root, "user"), filepath.Join(root, "user-link"))
	os.Symlink("/etc/passwd", filepath.Join(root, "link"))
	remap := &container.IDMapping{
		UIDMaps: []container.IDRange{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GIDMaps: []container.IDRange{{ContainerID: 0, HostID: 200000, Size: 65536}},
	}
	if err := remapTree(root, remap); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][2]uint32{
		".": {100000, 200000}, "dir": {100000, 200000}, "dir/plain": {100000, 200000}, "suid": {100000, 200000},
		"user": {101000, 200050}, "user-link": {101000, 200050}, "outside": {70000, 70000}, "link": {100000, 200000},
	} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, name), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != want[0] || st.Gid != want[1] {
			t.Errorf("%s: %d:%d, want %d:%d", name, st.Uid, st.Gid, want[0], want[1])
		}
		if name == "suid" && st.Mode&unix.S_ISUID == 0 {
			t.Errorf("suid lost its setuid bit: %o", st.Mode)
		}
	}
	var st unix.Stat_t
	unix.Stat("/etc/passwd", &st)
	if st.Uid != 0 {
		t.Errorf("the symlink's target was changed")
	}
}
