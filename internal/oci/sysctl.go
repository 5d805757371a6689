package oci

import (
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// namespacedSysctls and namespacedSysctlPrefixes are the sysctls Docker's
// CLI lets --sysctl set (opts.ValidateSysctl): those of the IPC and
// network namespaces, which a container has its own of.
var (
	namespacedSysctls = []string{
		"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
		"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
	}
	namespacedSysctlPrefixes = []string{"net.", "fs.mqueue."}
)

// setSysctls sets Docker's defaults for a container with its own network
// namespace (unprivileged ping and low ports, where the kernel has them),
// kernel.domainname for --domainname, then --sysctl over them
// (daemon/oci_linux.go withCommonOptions, WithSysctls).
func setSysctls(s *specs.Spec, o *Options) error {
	sysctl := map[string]string{}
	if o.NetNS == "" {
		// Not in a user namespace, whose gids could not cover the range.
		if len(o.UIDMappings) == 0 && !host.inUserNS() && host.sysctlExists("net.ipv4.ping_group_range") {
			sysctl["net.ipv4.ping_group_range"] = "0 2147483647"
		}
		if host.sysctlExists("net.ipv4.ip_unprivileged_port_start") {
			sysctl["net.ipv4.ip_unprivileged_port_start"] = "0"
		}
	}
	if o.Domainname != "" {
		sysctl["kernel.domainname"] = o.Domainname
	}
	for k, v := range o.Sysctls {
		if !namespacedSysctl(k) {
			return invalidf("sysctl '%s=%s' is not allowed", k, v)
		}
		if o.NetNS == NetNSHost && strings.HasPrefix(k, "net.") {
			return invalidf("sysctl '%s=%s' is not allowed in the host's network namespace", k, v)
		}
		sysctl[k] = v
	}
	if len(sysctl) > 0 {
		s.Linux.Sysctl = sysctl
	}
	return nil
}

func namespacedSysctl(k string) bool {
	if slices.Contains(namespacedSysctls, k) {
		return true
	}
	for _, p := range namespacedSysctlPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}
