package cgroups

import "testing"

func TestParseCgroupsPath(t *testing.T) {
	for _, tc := range []struct {
		in, id   string
		want     string
		relative bool
	}{
		{"", "c1", "/berth/c1", false},
		{"/a/b", "c1", "/a/b", false},
		{"/a//b/./c/", "", "/a/b/c", false},
		{"a/b", "", "a/b", true},
		{"./a", "", "a", true},
		{"system.slice:docker:abc", "", "/system.slice/docker-abc.scope", false},
		{"user-1000.slice:berth:x", "", "/user.slice/user-1000.slice/berth-x.scope", false},
		{":berth:x", "", "/system.slice/berth-x.scope", false},
		{"machine.slice::x", "", "/machine.slice/x.scope", false},
		{"machine.slice::foo.slice", "", "/machine.slice/foo.slice", false},
		{"-.slice:p:n", "", "/p-n.scope", false},
	} {
		got, err := parseCgroupsPath(tc.in, tc.id)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got.inner != tc.want || got.relative != tc.relative {
			t.Errorf("%q = %+v, want %q relative=%v", tc.in, got, tc.want, tc.relative)
		}
	}
	for _, tc := range []struct{ in, id string }{
		{"", ""}, {"", "a/b"}, {"", ".."},
		{"/", ""}, {"/a/../..", ""}, {"a/../../b", ""}, {".", ""},
		{"system.slice:p:", ""}, {"bad:p:n", ""}, {"a--b.slice:p:n", ""}, {"system.slice:p:a/b", ""},
	} {
		if got, err := parseCgroupsPath(tc.in, tc.id); err == nil {
			t.Errorf("(%q, %q) = %+v, want an error", tc.in, tc.id, got)
		}
	}
}

func TestDirIn(t *testing.T) {
	root := &hierarchy{mountpoint: "/sys/fs/cgroup/memory", root: "/"}
	sub := &hierarchy{mountpoint: "/sys/fs/cgroup/memory", root: "/docker/abc"}
	abs := cgroupPath{inner: "/berth/c1"}
	rel := cgroupPath{inner: "berth/c1", relative: true}
	for _, tc := range []struct {
		cp   cgroupPath
		h    *hierarchy
		own  string
		want string
	}{
		{abs, root, "", "/sys/fs/cgroup/memory/berth/c1"},
		{abs, sub, "", "/sys/fs/cgroup/memory/berth/c1"},
		{rel, root, "/process_api/7722", "/sys/fs/cgroup/memory/process_api/7722/berth/c1"},
		{rel, root, "/", "/sys/fs/cgroup/memory/berth/c1"},
		{rel, sub, "/docker/abc/inner", "/sys/fs/cgroup/memory/inner/berth/c1"},
		{rel, sub, "/docker/abc", "/sys/fs/cgroup/memory/berth/c1"},
	} {
		got, err := tc.cp.dirIn(tc.h, tc.own)
		if err != nil || got != tc.want {
			t.Errorf("%+v in %+v (own %q) = %q, %v; want %q", tc.cp, tc.h, tc.own, got, err, tc.want)
		}
	}
	for _, own := range []string{"/docker/abcd", "/other"} {
		if got, err := rel.dirIn(sub, own); err == nil {
			t.Errorf("own %q outside mount root: got %q, want an error", own, got)
		}
	}
	if got, err := rel.dirIn(root, "/../../x"); err == nil {
		t.Errorf("own outside the namespace: got %q, want an error", got)
	}
}
