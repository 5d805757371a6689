package oci

import specs "github.com/opencontainers/runtime-spec/specs-go"

// hostFacts is everything Spec learns from the machine it runs on, as
// Docker's daemon does; tests replace host with fixed answers.
type hostFacts struct {
	// caps returns the capabilities known to berth (in kernel order) and
	// those the engine holds itself: --privileged grants the latter, and
	// --cap-add may only name those.
	caps func() (known, held []string)
	// sysctlExists reports whether the kernel has a sysctl, so the
	// network defaults are only set where they exist.
	sysctlExists func(name string) bool
	// extraMaskedPaths are the host-specific paths Docker masks too.
	extraMaskedPaths func() []string
	// hostname is the host's name, a host-network container's default.
	hostname func() (string, error)
	// inUserNS reports whether the engine runs in a user namespace.
	inUserNS func() bool
	// devicesAt returns the device node at a host path (a symlink
	// resolved), or those under it for a directory, each with its path
	// relative to the one given ("" for the node itself).
	devicesAt func(path string) ([]specs.LinuxDevice, error)
	// hostDevices are all of the host's devices, for --privileged.
	hostDevices func() ([]specs.LinuxDevice, error)
}
