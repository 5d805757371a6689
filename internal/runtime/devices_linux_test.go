package runtime

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestContainerResourcesDeviceRules: a config device is allowed rwm,
// unless the config has a rule of its own for exactly that device, which
// then decides (Docker's --device /dev/x:/dev/x:r).
func TestContainerResourcesDeviceRules(t *testing.T) {
	i := func(v int64) *int64 { return &v }
	spec := &specs.Spec{Linux: &specs.Linux{
		Devices: []specs.LinuxDevice{
			{Path: "/dev/ro", Type: "b", Major: 7, Minor: 0},
			{Path: "/dev/free", Type: "c", Major: 10, Minor: 1},
		},
		Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "b", Major: i(7), Minor: i(0), Access: "r"},
		}},
	}}
	rules := containerResources(spec).Devices
	var ro, free []string
	for _, r := range rules {
		switch {
		case r.Type == "b" && r.Major != nil && *r.Major == 7 && r.Minor != nil && *r.Minor == 0:
			ro = append(ro, r.Access)
		case r.Type == "c" && r.Major != nil && *r.Major == 10 && r.Minor != nil && *r.Minor == 1:
			free = append(free, r.Access)
		}
	}
	if len(ro) != 1 || ro[0] != "r" {
		t.Errorf("rules for the device with its own rule: %v, want [r]", ro)
	}
	if len(free) != 1 || free[0] != "rwm" {
		t.Errorf("rules for the device without one: %v, want [rwm]", free)
	}
	if len(spec.Linux.Resources.Devices) != 2 {
		t.Errorf("the config's rules were changed: %v", spec.Linux.Resources.Devices)
	}
}
