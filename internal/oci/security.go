package oci

import (
	"strconv"
	"strings"
)

// Values of seccomp= with a meaning of their own (moby's
// dconfig.SeccompProfileDefault and SeccompProfileUnconfined).
const (
	seccompBuiltin    = "builtin"
	seccompUnconfined = "unconfined"
)

// securityOpts are the --security-opt values that shape the spec.
type securityOpts struct {
	noNewPrivileges bool
	seccomp         string // "", builtin, unconfined or a profile's JSON
	writableCgroups *bool
	systemPaths     bool // systempaths=unconfined: no masked or read-only paths
}

// parseSecurityOpt reads --security-opt as Docker's daemon does
// (daemon_unix.go parseSecurityOpt), ":" accepted for "=" as there.
// SELinux labels and AppArmor profiles are accepted and ignored: berth
// applies neither.
func parseSecurityOpt(opts []string) (securityOpts, error) {
	var sec securityOpts
	for _, opt := range opts {
		switch opt {
		case "no-new-privileges":
			sec.noNewPrivileges = true
			continue
		case "writable-cgroups":
			t := true
			sec.writableCgroups = &t
			continue
		case "disable": // label=disable's short form
			continue
		}
		var k, v string
		var ok bool
		if strings.Contains(opt, "=") {
			k, v, ok = strings.Cut(opt, "=")
		} else {
			k, v, ok = strings.Cut(opt, ":")
		}
		if !ok {
			return sec, invalidf("invalid --security-opt 1: %q", opt)
		}
		switch k {
		case "label", "apparmor":
		case "seccomp":
			sec.seccomp = v
		case "systempaths":
			if v != seccompUnconfined {
				return sec, invalidf("invalid --security-opt 2: %q", opt)
			}
			sec.systemPaths = true
		case "no-new-privileges", "writable-cgroups":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return sec, invalidf("invalid --security-opt 2: %q", opt)
			}
			if k == "no-new-privileges" {
				sec.noNewPrivileges = b
			} else {
				sec.writableCgroups = &b
			}
		default:
			return sec, invalidf("invalid --security-opt 2: %q", opt)
		}
	}
	return sec, nil
}
