package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/mount"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/oci"
)

// TestParseVolumeSpec: the daemon's ParseMountRaw cases
// (linux_parser_test.go), and what the valid ones become.
func TestParseVolumeSpec(t *testing.T) {
	valid := []string{
		"/home", "/home:/home", "/home:/something/else", "/with space", "/home:/with space",
		"relative:/absolute-path", "hostPath:/containerPath:ro", "/hostPath:/containerPath:rw", "/rw:/ro",
		"/hostPath:/containerPath:shared", "/hostPath:/containerPath:rshared", "/hostPath:/containerPath:slave",
		"/hostPath:/containerPath:rslave", "/hostPath:/containerPath:private", "/hostPath:/containerPath:rprivate",
		"/hostPath:/containerPath:ro,shared", "/hostPath:/containerPath:ro,slave", "/hostPath:/containerPath:ro,private",
		"/hostPath:/containerPath:ro,z,shared", "/hostPath:/containerPath:ro,Z,slave", "/hostPath:/containerPath:Z,ro,slave",
		"/hostPath:/containerPath:slave,Z,ro", "/hostPath:/containerPath:Z,slave,ro", "/hostPath:/containerPath:slave,ro,Z",
		"/hostPath:/containerPath:rslave,ro,Z", "/hostPath:/containerPath:ro,rshared,Z", "/hostPath:/containerPath:ro,Z,rprivate",
	}
	for _, v := range valid {
		if _, err := parseVolumeSpec(v); err != nil {
			t.Errorf("%q: %v", v, err)
		}
	}
	invalid := map[string]string{
		"": "invalid volume specification", "./": "mount path must be absolute", "../": "mount path must be absolute",
		"/:../": "mount path must be absolute", "/:path": "mount path must be absolute", ":": "invalid volume specification",
		"/tmp:": "invalid volume specification", ":test": "invalid volume specification", ":/test": "invalid volume specification",
		"tmp:": "invalid volume specification", ":test:": "invalid volume specification", "::": "invalid volume specification",
		":::": "invalid volume specification", "/tmp:::": "invalid volume specification", ":/tmp::": "invalid volume specification",
		"/path:rw": "invalid volume specification", "/path:ro": "invalid volume specification", "/rw:rw": "invalid volume specification",
		"path:ro": "invalid volume specification", "/path:/path:sw": "invalid mode", "/path:/path:rwz": "invalid mode",
		"/path:/path:ro,rshared,rslave": "invalid mode", "/path:/path:ro,z,rshared,rslave": "invalid mode",
		"/path:shared": "invalid volume specification", "/path:slave": "invalid volume specification",
		"/path:private": "invalid volume specification", "name:/absolute-path:shared": "invalid volume specification",
		"name:/absolute-path:rshared": "invalid volume specification", "name:/absolute-path:slave": "invalid volume specification",
		"name:/absolute-path:rslave": "invalid volume specification", "name:/absolute-path:private": "invalid volume specification",
		"name:/absolute-path:rprivate": "invalid volume specification",
	}
	for v, want := range invalid {
		_, err := parseVolumeSpec(v)
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, oci.ErrInvalid) {
			t.Errorf("%q: %v, want %q", v, err, want)
		}
	}

	for raw, want := range map[string]container.MountPoint{
		"/tmp:/tmp1":      {Type: mount.TypeBind, Source: "/tmp", Destination: "/tmp1", RW: true, Propagation: "rprivate"},
		"/tmp:/tmp2:ro":   {Type: mount.TypeBind, Source: "/tmp", Destination: "/tmp2", Mode: "ro", Propagation: "rprivate"},
		"/tmp:/t:rshared": {Type: mount.TypeBind, Source: "/tmp", Destination: "/t", RW: true, Mode: "rshared", Propagation: "rshared"},
		"name:/named1":    {Type: mount.TypeVolume, Name: "name", Destination: "/named1", Driver: "local", RW: true, Mode: "z", CopyData: true},
		"name:/n:nocopy":  {Type: mount.TypeVolume, Name: "name", Destination: "/n", Driver: "local", RW: true, Mode: "nocopy"},
		"/anon/":          {Type: mount.TypeVolume, Destination: "/anon", Driver: "local", RW: true, CopyData: true, Anonymous: true},
	} {
		got, err := parseVolumeSpec(raw)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v, want %+v", raw, got, err, want)
		}
	}
}

func TestParseMount(t *testing.T) {
	for _, c := range []struct {
		m    mount.Mount
		want string
	}{
		{mount.Mount{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 3 << 20, Mode: 0o1770}}, "ro,mode=1770,size=3m"},
		{mount.Mount{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1000}}, "size=1000"},
	} {
		c.m.ReadOnly = strings.HasPrefix(c.want, "ro")
		mp, err := parseMount(c.m)
		if err != nil || mp.TmpfsOptions != c.want {
			t.Errorf("%+v: %q %v, want %q", c.m, mp.TmpfsOptions, err, c.want)
		}
	}
	_, err := parseMount(mount.Mount{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{Options: [][]string{{"nosuid"}}}})
	if err == nil || err.Error() != `invalid mount config for type "tmpfs": invalid option: nosuid` {
		t.Errorf("tmpfs option: %v", err)
	}
	_, err = parseMount(mount.Mount{Type: "npipe", Target: "/t"})
	if err == nil || err.Error() != `invalid mount config for type "npipe": mount type unknown` {
		t.Errorf("unknown type: %v", err)
	}
}
