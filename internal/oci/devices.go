package oci

import (
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DeviceMapping is one --device: a host device node (or a directory of
// them) made at PathInContainer and allowed CgroupPermissions ("rwm" or
// any of its letters) in the device cgroup, as Docker's HostConfig.Devices.
type DeviceMapping struct {
	PathOnHost        string
	PathInContainer   string
	CgroupPermissions string
}

// deviceCgroupRule is Docker's daemon-side syntax of --device-cgroup-rule:
// type (a, b or c), major:minor (a number or *) and access.
var deviceCgroupRule = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`) })

// setDevices adds the --device nodes and their cgroup rules, then the
// --device-cgroup-rule rules; --privileged gets every host device instead
// (its cgroup rule is setCgroups'), with the --device mappings that put a
// node at another path (daemon/oci_linux.go WithDevices).
func setDevices(s *specs.Spec, o *Options) error {
	var devs []specs.LinuxDevice
	rules := s.Linux.Resources.Devices
	if o.Privileged {
		all, err := host.hostDevices()
		if err != nil {
			return err
		}
		devs = append(devs, all...)
	}
	for _, m := range o.Devices {
		if o.Privileged {
			if m.PathOnHost == m.PathInContainer {
				continue // already there
			}
			m.CgroupPermissions = "rwm"
		}
		d, r, err := devicesFromPath(m)
		if err != nil {
			return err
		}
		devs = append(devs, d...)
		if !o.Privileged {
			rules = append(rules, r...)
		}
	}
	if !o.Privileged {
		for _, rule := range o.DeviceCgroupRules {
			r, err := parseDeviceCgroupRule(rule)
			if err != nil {
				return err
			}
			rules = append(rules, r)
		}
	}
	s.Linux.Devices = append(s.Linux.Devices, devs...)
	s.Linux.Resources.Devices = rules
	return nil
}

// devicesFromPath resolves one mapping on the host: a device node, or a
// directory whose device nodes are mapped under PathInContainer (moby's
// oci.DevicesFromPath). Permissions are checked first.
func devicesFromPath(m DeviceMapping) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	perms := m.CgroupPermissions
	if perms == "" {
		perms = "rwm"
	}
	if !ValidDeviceMode(perms) {
		return nil, nil, invalidf("invalid device mode: %s", perms)
	}
	if !path.IsAbs(m.PathInContainer) {
		return nil, nil, invalidf("%s is not an absolute path", m.PathInContainer)
	}
	found, err := host.devicesAt(m.PathOnHost)
	if err != nil {
		return nil, nil, invalidf("error gathering device information while adding custom device %q: %s", m.PathOnHost, err)
	}
	var devs []specs.LinuxDevice
	var rules []specs.LinuxDeviceCgroup
	for _, d := range found {
		d.Path = path.Join(m.PathInContainer, d.Path)
		major, minor := d.Major, d.Minor
		devs = append(devs, d)
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: perms})
	}
	return devs, rules, nil
}

// ValidDeviceMode is Docker's: a non-empty combination of r, w and m,
// each at most once.
func ValidDeviceMode(mode string) bool {
	if mode == "" {
		return false
	}
	seen := map[rune]bool{}
	for _, c := range mode {
		if !strings.ContainsRune("rwm", c) || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

// parseDeviceCgroupRule reads "c 1:3 rwm" (moby's
// oci.AppendDevicePermissionsFromCgroupRules).
func parseDeviceCgroupRule(rule string) (specs.LinuxDeviceCgroup, error) {
	ss := deviceCgroupRule().FindStringSubmatch(rule)
	if len(ss) != 5 {
		return specs.LinuxDeviceCgroup{}, invalidf("invalid device cgroup rule format: '%s'", rule)
	}
	r := specs.LinuxDeviceCgroup{Allow: true, Type: ss[1], Access: ss[4]}
	for i, p := range []**int64{&r.Major, &r.Minor} {
		if v := ss[2+i]; v != "*" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return specs.LinuxDeviceCgroup{}, invalidf("invalid %s %s in device cgroup rule '%s'", []string{"major", "minor"}[i], v, rule)
			}
			*p = &n
		} else {
			wild := int64(-1)
			*p = &wild
		}
	}
	return r, nil
}
