package runtime

import (
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// Features describes what this runtime implements, for `runtime features`
// (the OCI features document that containerd and others read).
func Features() *features.Features {
	var opts []string
	for o := range flagOpts {
		opts = append(opts, o)
	}
	for o := range propagationOpts {
		opts = append(opts, o)
	}
	for o := range recursiveAttrOpts {
		opts = append(opts, o)
	}
	sort.Strings(opts)
	yes := true
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  opts,
		Linux: &features.Linux{
			Namespaces: []string{"cgroup", "ipc", "mount", "network", "pid", "user", "uts"},
			Cgroup:     &features.Cgroup{V1: &yes, V2: &yes},
			Seccomp:    &features.Seccomp{Enabled: &yes},
		},
	}
}
