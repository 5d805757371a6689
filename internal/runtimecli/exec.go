package runtimecli

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/runtime"
)

type execFlags struct {
	process    string
	tty        bool
	env        []string
	cwd        string
	user       string
	groups     []string
	caps       []string
	noNewPrivs bool
	eo         runtime.ExecOpts
}

func newRuntimeExecCommand(o *runtimeOptions) *cobra.Command {
	var x execFlags
	cmd := &cobra.Command{
		Use:   "exec [flags] CONTAINER [COMMAND [ARG…]]",
		Short: "Run a process in a running container",
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.StringVarP(&x.process, "process", "p", "", "path to a process.json (OCI process) to run instead of COMMAND")
	f.BoolVarP(&x.tty, "tty", "t", false, "allocate a pseudo-TTY")
	f.StringArrayVarP(&x.env, "env", "e", nil, "set an environment variable (KEY=VALUE)")
	f.StringVar(&x.cwd, "cwd", "", "working directory in the container")
	f.StringVarP(&x.user, "user", "u", "", "UID[:GID] to run as")
	f.StringArrayVarP(&x.groups, "additional-gids", "g", nil, "additional group ids")
	f.StringArrayVarP(&x.caps, "cap", "c", nil, "add a capability")
	f.BoolVar(&x.noNewPrivs, "no-new-privs", false, "set no_new_privs for the process")
	f.StringVar(&x.eo.ConsoleSocket, "console-socket", "", "unix socket to receive the pty master")
	f.StringVar(&x.eo.PidFile, "pid-file", "", "write the process's pid to this file")
	f.BoolVarP(&x.eo.Detach, "detach", "d", false, "detach from the process")
	f.IntVar(&x.eo.PreserveFDs, "preserve-fds", 0, "pass this many fds after stdio to the process")
	f.String("process-label", "", "accepted for runc compatibility (no SELinux)")
	f.String("apparmor", "", "accepted for runc compatibility (no AppArmor)")
	f.Bool("ignore-paused", false, "accepted for runc compatibility")
	cmd.RunE = o.run(func(cmd *cobra.Command, args []string) error {
		if len(args) < 1 || (x.process == "" && len(args) < 2) {
			return fmt.Errorf("%q requires a container id and a command (or --process)", cmd.CommandPath())
		}
		rt := o.runtime()
		spec, err := rt.Config(args[0])
		if err != nil {
			return err
		}
		p, err := x.buildProcess(spec.Process, args[1:])
		if err != nil {
			return err
		}
		x.eo.Stdin, x.eo.Stdout, x.eo.Stderr = os.Stdin, os.Stdout, os.Stderr
		return exitCode(rt.Exec(args[0], p, x.eo))
	})
	return cmd
}

// buildProcess is the process to run: --process as given, or the
// container's own process with COMMAND and the flags applied, as runc does.
func (x *execFlags) buildProcess(base *specs.Process, command []string) (*specs.Process, error) {
	if x.process != "" {
		data, err := os.ReadFile(x.process)
		if err != nil {
			return nil, fmt.Errorf("process: %w", err)
		}
		var p specs.Process
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("process %s: %w", x.process, err)
		}
		return &p, nil
	}
	if base == nil {
		base = &specs.Process{Cwd: "/"}
	}
	p := *base
	p.Args = command
	p.Terminal = x.tty
	p.ConsoleSize = nil
	p.Env = append(append([]string(nil), base.Env...), x.env...)
	if x.cwd != "" {
		p.Cwd = x.cwd
	}
	if x.user != "" {
		uid, gid, hasGid := strings.Cut(x.user, ":")
		u, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("invalid --user %q: want UID[:GID]", x.user)
		}
		p.User.UID = uint32(u)
		if hasGid {
			g, err := strconv.ParseUint(gid, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("invalid --user %q: want UID[:GID]", x.user)
			}
			p.User.GID = uint32(g)
		}
	}
	for _, g := range x.groups {
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("invalid --additional-gids %q", g)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(n))
	}
	if len(x.caps) > 0 && p.Capabilities != nil {
		c := *p.Capabilities
		for _, name := range x.caps {
			c.Bounding = append(c.Bounding, name)
			c.Effective = append(c.Effective, name)
			c.Permitted = append(c.Permitted, name)
		}
		p.Capabilities = &c
	}
	if x.noNewPrivs {
		p.NoNewPrivileges = true
	}
	return &p, nil
}
