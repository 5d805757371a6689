package spawn

import (
	"testing"

	"github.com/berth-dev/berth/internal/oci"
)

func TestEarlyCgroupParentIsOCIDefault(t *testing.T) {
	if earlyCgroupParent != oci.DefaultCgroupParent {
		t.Fatalf("earlyCgroupParent %q, oci.DefaultCgroupParent %q", earlyCgroupParent, oci.DefaultCgroupParent)
	}
}

// attachedRun says yes only to what is surely an attached run, and
// finds its --cgroup-parent.
func TestAttachedRun(t *testing.T) {
	for _, c := range []struct {
		args   []string
		parent string // "" for no
	}{
		{[]string{"berth", "run", "--rm", "busybox", "true"}, "/berth"},
		{[]string{"/usr/bin/berth", "run", "-it", "busybox"}, "/berth"},
		{[]string{"berth", "--root", "/x", "run", "busybox"}, "/berth"},
		{[]string{"berth", "--root=/x", "--storage-driver", "copy", "run", "busybox"}, "/berth"},
		{[]string{"berth", "run", "--cgroup-parent", "/t1", "busybox"}, "/t1"},
		{[]string{"berth", "run", "--cgroup-parent=/t2", "busybox"}, "/t2"},
		{[]string{"berth", "run", "--cgroup-parent=", "busybox"}, "/berth"},
		{[]string{"berth", "run", "--detach-keys", "ctrl-x", "busybox"}, "/berth"},
		{[]string{"berth", "run", "-d", "busybox"}, ""},
		{[]string{"berth", "run", "-dit", "busybox"}, ""},
		{[]string{"berth", "run", "--detach", "busybox"}, ""},
		{[]string{"berth", "run", "--detach=false", "busybox"}, ""},
		{[]string{"berth", "run", "busybox", "ls", "-d", "/"}, ""}, // could be either: no
		{[]string{"berth", "run", "--help"}, ""},
		{[]string{"berth", "run"}, ""},
		{[]string{"berth", "create", "busybox"}, ""},
		{[]string{"berth", "--debug", "run", "busybox"}, ""},
		{[]string{"berth", "", "run"}, ""},
		{[]string{"berth-runtime", "run", "ctr"}, ""},
		{[]string{"/x/docker-init", "run", "x"}, ""},
		{[]string{"berth"}, ""},
	} {
		parent, ok := attachedRun(c.args)
		if ok != (c.parent != "") || parent != c.parent {
			t.Errorf("attachedRun(%q) = %q, %v; want %q", c.args, parent, ok, c.parent)
		}
	}
}

func TestSubcommand(t *testing.T) {
	for want, args := range map[string][]string{
		"run":   {"berth", "run", "x"},
		"ps":    {"berth", "--root", "/r", "ps"},
		"":      {"berth", "--root"},
		"image": {"berth", "--insecure-registry=h:5000", "--userns-remap", "default", "image", "ls"},
	} {
		if got := Subcommand(args); got != want {
			t.Errorf("Subcommand(%q) = %q, want %q", args, got, want)
		}
	}
}
