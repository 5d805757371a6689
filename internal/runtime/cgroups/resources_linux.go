package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// target is the directory holding one controller's files, and whether it
// is a cgroup2 one (the file names and formats differ).
type target struct {
	dir string
	v2  bool
	ctl string // the controller, for error messages
}

// target routes a controller: a v1 mount of it wins (on a hybrid host the
// v1 hierarchies hold the controllers), else cgroup2 serves it. ok is
// false when neither exists; whether cgroup2 really offers the controller
// shows when its files are written (see write).
func (m *manager) target(ctl string) (target, bool) {
	if d, ok := m.v1[ctl]; ok {
		return target{dir: d, ctl: ctl}, true
	}
	if m.v2 != "" {
		return target{dir: m.v2, v2: true, ctl: ctl}, true
	}
	return target{}, false
}

// mustTarget is target for a limit that was asked for: no controller is
// an error.
func (m *manager) mustTarget(ctl, what string) (target, error) {
	t, ok := m.target(ctl)
	if !ok {
		return t, fmt.Errorf("cgroups: cannot set %s: no %s controller is mounted: %w", what, ctl, ErrNotSupported)
	}
	return t, nil
}

// write writes one file of t.
func (t target) write(file, data string) error {
	return t.hint(writeFile(t.dir, file, data))
}

// readUint reads one numeric file of t.
func (t target) readUint(file string) (uint64, error) {
	v, err := readUint(t.dir, file)
	return v, t.hint(err)
}

// hint explains ENOENT on cgroup2, where a missing file almost always
// means the controller is not enabled for this cgroup.
func (t target) hint(err error) error {
	if err != nil && t.v2 && errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (the %s controller is not available in this cgroup2 tree)", err, t.ctl)
	}
	return err
}

func (m *manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if err := m.create(); err != nil {
		return err
	}
	// Roughly runc's order. Unified goes last so its raw keys override the
	// converted values.
	for _, set := range []func(*specs.LinuxResources) error{
		m.setCpuset,
		m.setDevices,
		m.setMemory,
		m.setCPU,
		m.setPids,
		m.setBlockIO,
		m.setHugetlb,
		m.setNetwork,
		m.setRdma,
		m.setUnified,
	} {
		if err := set(r); err != nil {
			return err
		}
	}
	return nil
}

func (m *manager) setDevices(r *specs.LinuxResources) error {
	if len(r.Devices) == 0 {
		return nil
	}
	rules, err := parseDeviceRules(r.Devices)
	if err != nil {
		return err
	}
	// Replaying the rules first refuses, on both versions, the lists the
	// kernel could not honour (see devEmulator).
	emu, err := emulateDevices(rules)
	if err != nil {
		return err
	}
	if dir, ok := m.v1["devices"]; ok {
		return setDevicesV1(dir, rules)
	}
	if m.v2 != "" {
		return setDeviceProgram(m.v2, compileDeviceFilter(emu))
	}
	return fmt.Errorf("cgroups: cannot set device rules: no devices controller or cgroup2 mount: %w", ErrNotSupported)
}

// setDevicesV1 denies everything, then replays the rules in order, the
// kernel merging them the way devEmulator does.
func setDevicesV1(dir string, rules []devRule) error {
	if err := writeFile(dir, "devices.deny", "a"); err != nil {
		return err
	}
	for _, rule := range rules {
		file := "devices.deny"
		if rule.allow {
			file = "devices.allow"
		}
		data := rule.String()
		if rule.typ == 'a' {
			data = "a" // the kernel ignores the rest of an "a" rule
		}
		if err := writeFile(dir, file, data); err != nil {
			return err
		}
	}
	return nil
}

// setUnified writes the raw cgroup2 keys. cgroup v1 has no such files; on
// a hybrid host a key is accepted only when its controller lives on the
// cgroup2 side (or is the core "cgroup."), since the same name on v1
// would mean nothing.
func (m *manager) setUnified(r *specs.LinuxResources) error {
	if len(r.Unified) == 0 {
		return nil
	}
	if m.v2 == "" {
		return fmt.Errorf("cgroups: unified resources need cgroup v2, this host has only v1: %w", ErrNotSupported)
	}
	keys := make([]string, 0, len(r.Unified))
	for k := range r.Unified {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ctl, _, ok := strings.Cut(k, ".")
		if !ok || ctl == "" || strings.ContainsAny(k, "/\x00") || k != strings.TrimSpace(k) {
			return fmt.Errorf("cgroups: unified resource %q: want a file name CONTROLLER.PARAMETER", k)
		}
		if _, onV1 := m.v1[ctl]; onV1 {
			return fmt.Errorf("cgroups: unified resource %q: the %s controller is mounted as cgroup v1 on this host: %w", k, ctl, ErrNotSupported)
		}
		t := target{dir: m.v2, v2: true, ctl: ctl}
		// Files such as io.max take one device per write.
		for _, line := range strings.Split(r.Unified[k], "\n") {
			if line == "" && strings.Contains(r.Unified[k], "\n") {
				continue
			}
			if err := t.write(k, line); err != nil {
				return fmt.Errorf("%w (unified resource %q)", err, k)
			}
		}
	}
	return nil
}
