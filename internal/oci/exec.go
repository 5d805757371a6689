package oci

import (
	"errors"
	"path"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ExecOptions are the `docker exec` flags that shape the process run in a
// container.
type ExecOptions struct {
	Args       []string // COMMAND [ARG…]; required
	Env        []string // -e and --env-file, already read: KEY=VALUE, or KEY to drop KEY
	User       string   // -u user[:group]; "" keeps the container's user
	GroupAdd   []string // the container's --group-add, applied with User as Docker does
	WorkingDir string   // -w; absolute; "" keeps the container's
	Tty        bool     // -t
	// Privileged (--privileged) gives the process every capability the
	// engine holds, whatever the container's.
	Privileged bool
	// ConsoleSize is the terminal's initial size with Tty.
	ConsoleSize *specs.Box
}

// ExecProcess is the process `exec` runs in a container whose own process
// is base (its config.json's), as Docker builds it (daemon/exec.go and
// exec_linux.go): the container's environment plus TERM=xterm with a tty
// (unless the container sets TERM) plus o.Env; its working directory and
// user unless given, a given user being looked up in rootfs's /etc/passwd
// and /etc/group; its capabilities (all the engine holds with
// Privileged), no_new_privs, rlimits, seccomp and AppArmor profile.
// Errors from bad options are ErrInvalid.
func ExecProcess(base *specs.Process, rootfs string, o ExecOptions) (*specs.Process, error) {
	if base == nil {
		return nil, errors.New("oci: the container has no process")
	}
	if len(o.Args) == 0 {
		return nil, invalidf("No exec command specified")
	}
	p := *base
	p.Args = slices.Clone(o.Args)
	p.Terminal = o.Tty
	p.ConsoleSize = nil
	if o.Tty {
		p.ConsoleSize = o.ConsoleSize
	}
	env := slices.Clone(base.Env)
	if o.Tty && !slices.ContainsFunc(env, func(e string) bool { return envKey(e) == "TERM" }) {
		env = append(env, "TERM=xterm")
	}
	p.Env = replaceOrAppendEnv(env, o.Env)
	if o.WorkingDir != "" {
		if !path.IsAbs(o.WorkingDir) {
			return nil, invalidf("the working directory '%s' is invalid, it needs to be an absolute path", o.WorkingDir)
		}
		p.Cwd = path.Clean(o.WorkingDir)
	}
	if o.User != "" {
		u, err := resolveUser(rootfs, o.User, o.GroupAdd)
		if err != nil {
			return nil, err
		}
		u.Umask = base.User.Umask
		p.User = u
	}
	if o.Privileged {
		_, held := host.caps()
		p.Capabilities = &specs.LinuxCapabilities{Bounding: held, Effective: slices.Clone(held), Permitted: slices.Clone(held)}
	}
	return &p, nil
}
