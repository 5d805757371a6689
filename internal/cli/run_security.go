package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/oci"
)

// securityFlags are run's and create's security and namespace flags.
type securityFlags struct {
	privileged        bool
	capAdd, capDrop   []string
	securityOpt       []string
	devices           []string
	deviceCgroupRules []string
	sysctls           []string
	ipc, pid, uts     string
	userns            string
}

func (s *securityFlags) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&s.privileged, "privileged", false, "Give extended privileges to this container")
	f.StringArrayVar(&s.capAdd, "cap-add", nil, "Add Linux capabilities")
	f.StringArrayVar(&s.capDrop, "cap-drop", nil, "Drop Linux capabilities")
	f.StringArrayVar(&s.securityOpt, "security-opt", nil, "Security Options")
	f.StringArrayVar(&s.devices, "device", nil, "Add a host device to the container")
	f.StringArrayVar(&s.deviceCgroupRules, "device-cgroup-rule", nil, "Add a rule to the cgroup allowed devices list")
	f.StringArrayVar(&s.sysctls, "sysctl", nil, "Sysctl options")
	f.StringVar(&s.ipc, "ipc", "", "IPC mode to use")
	f.StringVar(&s.pid, "pid", "", "PID namespace to use")
	f.StringVar(&s.uts, "uts", "", "UTS namespace to use")
	f.StringVar(&s.userns, "userns", "", "User namespace to use")
}

// deviceCgroupRuleFormat is the docker CLI's check of --device-cgroup-rule.
var deviceCgroupRuleFormat = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$`) })

// config checks the flags as the docker CLI does (its messages) and puts
// them in cfg. The engine checks the rest (capability names, devices on
// the host, other containers) as Docker's daemon does.
func (s *securityFlags) config(cfg *container.Config) error {
	cfg.Privileged = s.privileged
	cfg.CapAdd, cfg.CapDrop = effectiveCaps(s.capAdd, s.capDrop)
	secOpts, err := readSecurityOpts(s.securityOpt)
	if err != nil {
		return err
	}
	cfg.SecurityOpt = secOpts
	for _, d := range s.devices {
		m, err := parseDevice(d)
		if err != nil {
			return err
		}
		cfg.Devices = append(cfg.Devices, m)
	}
	for _, r := range s.deviceCgroupRules {
		if !deviceCgroupRuleFormat().MatchString(r) {
			return fmt.Errorf("invalid argument %q for \"--device-cgroup-rule\" flag: invalid device cgroup format '%s'", r, r)
		}
	}
	cfg.DeviceCgroupRules = s.deviceCgroupRules
	for _, kv := range s.sysctls {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !namespacedSysctl(k) {
			return fmt.Errorf("invalid argument %q for \"--sysctl\" flag: sysctl '%s' is not allowed", kv, kv)
		}
		if cfg.Sysctls == nil {
			cfg.Sysctls = map[string]string{}
		}
		cfg.Sysctls[k] = v
	}
	if !containertypes.IpcMode(s.ipc).Valid() {
		return fmt.Errorf("invalid IPC mode: %s", s.ipc)
	}
	if !containertypes.PidMode(s.pid).Valid() {
		return errors.New("--pid: invalid PID mode")
	}
	if !containertypes.UTSMode(s.uts).Valid() {
		return errors.New("--uts: invalid UTS mode")
	}
	if !containertypes.UsernsMode(s.userns).Valid() {
		return errors.New("--userns: invalid USER mode")
	}
	cfg.IpcMode, cfg.PidMode, cfg.UTSMode, cfg.UsernsMode = s.ipc, s.pid, s.uts, s.userns
	return nil
}

// readSecurityOpts is the docker CLI's parseSecurityOpts: every option but
// no-new-privileges needs a value, and seccomp=FILE sends the file's
// content (compacted), not its name.
func readSecurityOpts(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, opt := range in {
		k, v, ok := strings.Cut(opt, "=")
		if !ok && k != "no-new-privileges" {
			k, v, ok = strings.Cut(opt, ":")
		}
		if (!ok || v == "") && k != "no-new-privileges" {
			return nil, fmt.Errorf("invalid --security-opt: %q", opt)
		}
		if k == "seccomp" && v != "builtin" && v != "unconfined" {
			data, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("opening seccomp profile (%s) failed: %w", v, err)
			}
			var b bytes.Buffer
			if err := json.Compact(&b, data); err != nil {
				return nil, fmt.Errorf("compacting json for seccomp profile (%s) failed: %w", v, err)
			}
			opt = "seccomp=" + b.String()
		}
		out = append(out, opt)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// parseDevice reads HOST[:CONTAINER][:PERMS] as the docker CLI does
// (validateLinuxPath, then parseLinuxDevice).
func parseDevice(d string) (container.DeviceMapping, error) {
	if strings.Count(d, ":") > 2 {
		return container.DeviceMapping{}, fmt.Errorf("bad format for path: %s", d)
	}
	parts := strings.Split(d, ":")
	if parts[0] == "" {
		return container.DeviceMapping{}, fmt.Errorf("bad format for path: %s", d)
	}
	m := container.DeviceMapping{PathOnHost: parts[0], CgroupPermissions: "rwm"}
	switch len(parts) {
	case 2:
		if oci.ValidDeviceMode(parts[1]) {
			m.CgroupPermissions = parts[1]
		} else {
			m.PathInContainer = parts[1]
		}
	case 3:
		if !oci.ValidDeviceMode(parts[2]) {
			return container.DeviceMapping{}, fmt.Errorf("bad mode specified: %s", parts[2])
		}
		m.PathInContainer, m.CgroupPermissions = parts[1], parts[2]
	}
	if m.PathInContainer == "" {
		m.PathInContainer = m.PathOnHost
	}
	if !path.IsAbs(m.PathInContainer) {
		return container.DeviceMapping{}, fmt.Errorf("%s is not an absolute path", m.PathInContainer)
	}
	m.PathInContainer = path.Clean(m.PathInContainer)
	return m, nil
}

// namespacedSysctl is the docker CLI's opts.ValidateSysctl: only the
// sysctls of the IPC and network namespaces, which a container has its
// own of.
func namespacedSysctl(k string) bool {
	switch k {
	case "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
		"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced":
		return true
	}
	return strings.HasPrefix(k, "net.") || strings.HasPrefix(k, "fs.mqueue.")
}

// effectiveCaps is the docker CLI's opts.EffectiveCapAddCapDrop: names
// upper-cased with CAP_ (ALL stays ALL), ALL alone when given, a
// capability both added and dropped only added, each once, sorted.
func effectiveCaps(add, drop []string) (capAdd, capDrop []string) {
	norm := func(list []string) map[string]bool {
		m := map[string]bool{}
		for _, c := range list {
			c = strings.ToUpper(strings.TrimSpace(c))
			if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
				c = "CAP_" + c
			}
			m[c] = true
		}
		if m["ALL"] {
			m = map[string]bool{"ALL": true}
		}
		return m
	}
	a, d := norm(add), norm(drop)
	for c := range d {
		if !a[c] {
			capDrop = append(capDrop, c)
		}
	}
	for c := range a {
		capAdd = append(capAdd, c)
	}
	slices.Sort(capAdd)
	slices.Sort(capDrop)
	return capAdd, capDrop
}
