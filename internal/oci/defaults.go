package oci

import specs "github.com/opencontainers/runtime-spec/specs-go"

// defaultPath is PATH when neither the image nor -e sets it (moby's
// oci.DefaultPathEnv for Linux).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// defaultCapabilities is Docker's default set (oci/caps/defaults.go).
func defaultCapabilities() []string {
	return []string{
		"CAP_CHOWN",
		"CAP_DAC_OVERRIDE",
		"CAP_FSETID",
		"CAP_FOWNER",
		"CAP_MKNOD",
		"CAP_NET_RAW",
		"CAP_SETGID",
		"CAP_SETUID",
		"CAP_SETFCAP",
		"CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT",
		"CAP_KILL",
		"CAP_AUDIT_WRITE",
	}
}

// defaultMaskedPaths are the paths Docker masks in every unprivileged
// container; maskedPaths adds the host's per-CPU thermal_throttle
// directories, as Docker does.
var defaultMaskedPaths = []string{
	"/proc/asound",
	"/proc/acpi",
	"/proc/interrupts", // GHSA-6fw5-f8r9-fgfm
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/proc/sched_debug",
	"/proc/scsi",
	"/sys/firmware",
	"/sys/devices/virtual/powercap", // GHSA-jq35-85cj-fj4p
}

var defaultReadonlyPaths = []string{
	"/proc/bus",
	"/proc/fs",
	"/proc/irq",
	"/proc/sys",
	"/proc/sysrq-trigger",
}

// defaultSpec is moby's oci.DefaultLinuxSpec: the mounts, masked paths,
// namespaces and device rules every container starts from.
func defaultSpec() *specs.Spec {
	i := func(v int64) *int64 { return &v }
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777"}},
		},
		Linux: &specs.Linux{
			MaskedPaths:   append(append([]string(nil), defaultMaskedPaths...), host.extraMaskedPaths()...),
			ReadonlyPaths: append([]string(nil), defaultReadonlyPaths...),
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.MountNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.PIDNamespace},
				{Type: specs.IPCNamespace},
			},
			// The runtime creates the default devices (null, zero, full,
			// random, urandom, tty, console, ptmx) and allows them, ptys
			// and tun, as runc does; these are Docker's own rules.
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{
					{Allow: false, Access: "rwm"},
					{Allow: true, Type: "c", Major: i(1), Minor: i(5), Access: "rwm"},     // zero
					{Allow: true, Type: "c", Major: i(1), Minor: i(3), Access: "rwm"},     // null
					{Allow: true, Type: "c", Major: i(1), Minor: i(9), Access: "rwm"},     // urandom
					{Allow: true, Type: "c", Major: i(1), Minor: i(8), Access: "rwm"},     // random
					{Allow: true, Type: "c", Major: i(5), Minor: i(0), Access: "rwm"},     // tty
					{Allow: true, Type: "c", Major: i(5), Minor: i(1), Access: "rwm"},     // console
					{Allow: false, Type: "c", Major: i(10), Minor: i(229), Access: "rwm"}, // fuse
				},
			},
		},
	}
}
