package runtime

import (
	"encoding/json"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The JSON forms of the config. The first time a process encodes or
// decodes a struct type, encoding/json builds a codec for every type that
// struct reaches; for specs.Spec, with its Windows, Solaris, VM, z/OS and
// FreeBSD sections, that took about 0.8 ms here, and every container start
// paid it twice, in the runtime (LoadSpec) and in the init (the
// bootstrap). So the config is read and written through types that reach
// only what a Linux runtime uses: linuxSpec (config.json, state.json, the
// bootstrap as the parent sends it) and, narrower still, initSpec (the
// bootstrap as the init reads it: no cgroup resources, which are the
// parent's). What they leave out is what the runtime ignores anyway.

// specCommon is the platform-independent part of specs.Spec.
type specCommon struct {
	Version     string            `json:"ociVersion"`
	Process     *specs.Process    `json:"process,omitempty"`
	Root        *specs.Root       `json:"root,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Domainname  string            `json:"domainname,omitempty"`
	Mounts      []specs.Mount     `json:"mounts,omitempty"`
	Hooks       *specs.Hooks      `json:"hooks,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func (c *specCommon) spec(linux *specs.Linux) *specs.Spec {
	return &specs.Spec{
		Version: c.Version, Process: c.Process, Root: c.Root, Hostname: c.Hostname, Domainname: c.Domainname,
		Mounts: c.Mounts, Hooks: c.Hooks, Annotations: c.Annotations, Linux: linux,
	}
}

// linuxSpec is specs.Spec without the sections of other platforms.
type linuxSpec struct {
	specCommon
	Linux *specs.Linux `json:"linux,omitempty"`
}

func toLinuxSpec(s *specs.Spec) *linuxSpec {
	if s == nil {
		return nil
	}
	return &linuxSpec{specCommon{
		Version: s.Version, Process: s.Process, Root: s.Root, Hostname: s.Hostname, Domainname: s.Domainname,
		Mounts: s.Mounts, Hooks: s.Hooks, Annotations: s.Annotations,
	}, s.Linux}
}

func (l *linuxSpec) spec() *specs.Spec {
	if l == nil {
		return nil
	}
	return l.specCommon.spec(l.Linux)
}

// initSpec is what the container init reads of the config.
type initSpec struct {
	specCommon
	Linux *initLinux `json:"linux,omitempty"`
}

// initLinux is the part of specs.Linux the init uses.
type initLinux struct {
	UIDMappings       []specs.LinuxIDMapping `json:"uidMappings,omitempty"`
	GIDMappings       []specs.LinuxIDMapping `json:"gidMappings,omitempty"`
	Sysctl            map[string]string      `json:"sysctl,omitempty"`
	Namespaces        []specs.LinuxNamespace `json:"namespaces,omitempty"`
	Devices           []specs.LinuxDevice    `json:"devices,omitempty"`
	Seccomp           *specs.LinuxSeccomp    `json:"seccomp,omitempty"`
	RootfsPropagation string                 `json:"rootfsPropagation,omitempty"`
	MaskedPaths       []string               `json:"maskedPaths,omitempty"`
	ReadonlyPaths     []string               `json:"readonlyPaths,omitempty"`
}

func (i *initSpec) spec() *specs.Spec {
	if i == nil {
		return nil
	}
	var linux *specs.Linux
	if l := i.Linux; l != nil {
		linux = &specs.Linux{
			UIDMappings: l.UIDMappings, GIDMappings: l.GIDMappings, Sysctl: l.Sysctl, Namespaces: l.Namespaces,
			Devices: l.Devices, Seccomp: l.Seccomp, RootfsPropagation: l.RootfsPropagation,
			MaskedPaths: l.MaskedPaths, ReadonlyPaths: l.ReadonlyPaths,
		}
	}
	return i.specCommon.spec(linux)
}

// containerJSON is a Container in state.json. Its Spec field hides the
// embedded one, whose type encoding/json then never looks at.
type containerJSON struct {
	*containerFields
	Spec *linuxSpec `json:"config"`
}

type containerFields Container // Container without its JSON methods

func (c *Container) MarshalJSON() ([]byte, error) {
	return json.Marshal(containerJSON{(*containerFields)(c), toLinuxSpec(c.Spec)})
}

func (c *Container) UnmarshalJSON(data []byte) error {
	v := containerJSON{containerFields: (*containerFields)(c)}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	c.Spec = v.Spec.spec()
	return nil
}

// MarshalSpec is the config.json of s, as the engine writes it: through
// linuxSpec, whose encoder is quicker to build than specs.Spec's.
func MarshalSpec(s *specs.Spec) ([]byte, error) { return json.Marshal(toLinuxSpec(s)) }

// WarmUp builds encoding/json's codecs for the config, the state and the
// bootstrap as their first use would, from a sample config with every
// part a container's has: for a process with time to spare before its
// first container (a shim waiting for its config), which then reads the
// config in a third of the time.
func WarmUp() {
	s := sampleSpec()
	if data, err := json.Marshal(s); err == nil {
		json.Unmarshal(data, new(linuxSpec))
	}
	json.Marshal(&Container{Spec: s.spec()})
	json.Marshal(&bootstrap{Spec: s.spec(), Process: s.Process})
}

// warmBootstrap builds the codecs a container init reads its bootstrap
// with: for a spare, while it waits for one.
func warmBootstrap() {
	s := sampleSpec()
	if data, err := json.Marshal(&bootstrap{Spec: s.spec(), Process: s.Process}); err == nil {
		json.Unmarshal(data, new(bootstrap))
	}
}

// sampleSpec is a config with every part a container's has.
func sampleSpec() *linuxSpec {
	one := []string{"x"}
	return &linuxSpec{
		specCommon: specCommon{Version: specs.Version, Root: &specs.Root{Path: "x"}, Hostname: "x",
			Process: &specs.Process{Args: one, Env: one, Cwd: "/", Capabilities: &specs.LinuxCapabilities{Bounding: one},
				Rlimits: []specs.POSIXRlimit{{Type: "x"}}, User: specs.User{AdditionalGids: []uint32{1}}},
			Mounts: []specs.Mount{{Destination: "/x", Options: one}}, Annotations: map[string]string{"x": "x"}},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}}, Devices: []specs.LinuxDevice{{Path: "/x"}},
			Sysctl: map[string]string{"x": "x"}, MaskedPaths: one, ReadonlyPaths: one, CgroupsPath: "x",
			Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Access: "x"}}, Memory: &specs.LinuxMemory{},
				CPU: &specs.LinuxCPU{}, Pids: &specs.LinuxPids{}, BlockIO: &specs.LinuxBlockIO{}},
			Seccomp: &specs.LinuxSeccomp{Architectures: []specs.Arch{specs.ArchX86_64}, Flags: []specs.LinuxSeccompFlag{"x"},
				Syscalls: []specs.LinuxSyscall{{Names: one, Args: []specs.LinuxSeccompArg{{Index: 1}}}}},
		},
	}
}
