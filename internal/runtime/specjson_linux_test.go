package runtime

import (
	"encoding/json"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/runtime/spectemplate"
)

// richSpec is the template with something in every field the runtime's
// JSON forms carry, and a section of another platform, which they drop.
func richSpec() *specs.Spec {
	s := spectemplate.New()
	s.Hostname, s.Domainname = "h", "d"
	s.Annotations = map[string]string{"a": "b"}
	s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true"}}}
	mem := int64(1 << 20)
	s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &mem}
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
	s.Linux.GIDMappings = s.Linux.UIDMappings
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	s.Linux.RootfsPropagation = "rslave"
	s.Windows = &specs.Windows{LayerFolders: []string{`C:\x`}}
	return s
}

func asMap(t *testing.T, v any) map[string]any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// state.json holds what specs.Spec would, less other platforms' sections,
// and reads back to the same spec.
func TestStateJSONKeepsTheLinuxConfig(t *testing.T) {
	c := &Container{ID: "x", Pid: 7, Spec: richSpec(), CgroupPaths: map[string]string{"": "/sys/fs/cgroup/x"}}
	got := asMap(t, c)
	plain := *c.Spec
	plain.Windows = nil
	want := asMap(t, &struct {
		*containerFields
		Spec *specs.Spec `json:"config"`
	}{(*containerFields)(c), &plain})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("state.json:\n%v\nwant:\n%v", got, want)
	}
	data, _ := json.Marshal(c)
	var back Container
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Spec, &plain) || back.Pid != 7 || back.CgroupPaths[""] != "/sys/fs/cgroup/x" {
		t.Fatalf("read back: %+v", back)
	}
}

// The init reads from the bootstrap everything of the config but the
// cgroup resources (and other platforms' sections).
func TestBootstrapCarriesWhatTheInitUses(t *testing.T) {
	s := richSpec()
	b := &bootstrap{Mode: "run", ID: "x", Spec: s, Process: s.Process, ConsoleFd: -1, HostPid: 9}
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var got bootstrap
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := *s
	want.Windows = nil
	linux := *s.Linux
	linux.Resources, linux.CgroupsPath = nil, ""
	want.Linux = &linux
	if !reflect.DeepEqual(got.Spec, &want) {
		t.Fatalf("the init's spec:\n%+v\nwant:\n%+v", got.Spec.Linux, want.Linux)
	}
	if got.Mode != "run" || got.HostPid != 9 || got.ConsoleFd != -1 || !reflect.DeepEqual(got.Process, s.Process) {
		t.Fatalf("bootstrap fields: %+v", got)
	}
}
