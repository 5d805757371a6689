package image

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// applyChanges applies Dockerfile instructions (import's and commit's
// --change) to cfg, parsed by BuildKit's Dockerfile parser so that every
// form, escape and $VAR expansion means what it means in a Dockerfile.
// Docker's set: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,
// STOPSIGNAL, USER, VOLUME, WORKDIR. A change may hold several lines.
func applyChanges(cfg *dockerspec.DockerOCIImageConfig, changes []string) error {
	if len(changes) == 0 {
		return nil
	}
	res, err := parser.Parse(strings.NewReader(strings.Join(changes, "\n")))
	if err != nil {
		return fmt.Errorf("--change: %w", err)
	}
	lex := shell.NewLex(res.EscapeToken)
	cmdSet := false
	for _, node := range res.AST.Children {
		switch strings.ToLower(node.Value) {
		case "cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild", "stopsignal", "user", "volume", "workdir":
		default:
			return fmt.Errorf("%s is not a valid change command", strings.ToLower(node.Value))
		}
		c, err := instructions.ParseCommand(node)
		if err != nil {
			return fmt.Errorf("--change %s: %w", node.Original, err)
		}
		if ex, ok := c.(instructions.SupportsSingleWordExpansion); ok {
			env := shell.EnvsFromSlice(cfg.Env)
			if err := ex.Expand(func(w string) (string, error) {
				out, _, err := lex.ProcessWord(w, env)
				return out, err
			}); err != nil {
				return fmt.Errorf("--change %s: %w", node.Original, err)
			}
		}
		if err := ApplyInstruction(cfg, c, &cmdSet); err != nil {
			return err
		}
	}
	return nil
}

// ApplyInstruction applies one of the Dockerfile instructions that only
// change the config (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL,
// ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR), already expanded, to cfg,
// as a Dockerfile does: a shell form runs in cfg.Shell, and ENTRYPOINT
// resets a CMD that *cmdSet says was not set by the same Dockerfile (or
// set of changes).
func ApplyInstruction(cfg *dockerspec.DockerOCIImageConfig, c instructions.Command, cmdSet *bool) error {
	shellForm := func(l instructions.ShellDependantCmdLine) []string {
		if !l.PrependShell {
			return l.CmdLine
		}
		sh := cfg.Shell
		if len(sh) == 0 {
			sh = []string{"/bin/sh", "-c"}
		}
		return append(append([]string{}, sh...), strings.Join(l.CmdLine, " "))
	}
	switch c := c.(type) {
	case *instructions.CmdCommand:
		cfg.Cmd, *cmdSet = shellForm(c.ShellDependantCmdLine), true
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = shellForm(c.ShellDependantCmdLine)
		if !*cmdSet {
			cfg.Cmd = nil // as a Dockerfile's ENTRYPOINT resets an inherited CMD
		}
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			cfg.Env = SetEnv(cfg.Env, kv.Key, kv.Value)
		}
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
		}
	case *instructions.ExposeCommand:
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, spec := range c.Ports {
			ports, err := exposedPorts(spec)
			if err != nil {
				return err
			}
			for _, p := range ports {
				cfg.ExposedPorts[p] = struct{}{}
			}
		}
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if strings.TrimSpace(v) == "" {
				return fmt.Errorf("VOLUME specified can not be an empty string")
			}
			cfg.Volumes[v] = struct{}{}
		}
	case *instructions.UserCommand:
		cfg.User = c.User
	case *instructions.WorkdirCommand:
		w := c.Path
		if !path.IsAbs(w) {
			w = path.Join("/", cfg.WorkingDir, w)
		}
		cfg.WorkingDir = w
	case *instructions.StopSignalCommand:
		cfg.StopSignal = c.Signal
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
	case *instructions.HealthCheckCommand:
		cfg.Healthcheck = c.Health
	default:
		return fmt.Errorf("%s is not a valid change command", c.Name())
	}
	return nil
}

// SetEnv sets key to value in env (KEY=VALUE entries), in place when key
// is there, else appended, as ENV does.
func SetEnv(env []string, key, value string) []string {
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}

// exposedPorts expands EXPOSE's port[/proto] and range[/proto] to the
// config's "port/proto" keys.
func exposedPorts(spec string) ([]string, error) {
	port, proto, _ := strings.Cut(spec, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("invalid proto: %s", proto)
	}
	lo, hi, isRange := strings.Cut(port, "-")
	if !isRange {
		hi = lo
	}
	start, err1 := strconv.ParseUint(lo, 10, 16)
	end, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || start == 0 || end < start {
		return nil, fmt.Errorf("invalid containerPort: %s", port)
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}
