package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/util/entitlements"
	"github.com/spf13/cobra"
	"github.com/tonistiigi/go-csvvalue"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/image"
)

// buildFlags are `build`'s flags as typed.
type buildFlags struct {
	file, target, iidfile, progress, cgroupParent, network, platform string
	tags, buildArgs, labels, secrets, ssh, allow                     []string
	noCache, quiet, pull                                             bool
}

func newBuildCommand(g *globalOptions) *cobra.Command {
	var f buildFlags
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | URL | -",
		Short: "Build an image from a Dockerfile",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(args[0])
			if err != nil {
				return err
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			res, err := e.Build(cmd.Context(), o)
			if err != nil {
				return err
			}
			if f.iidfile != "" {
				if err := os.WriteFile(f.iidfile, []byte(res.ImageID.String()), 0o644); err != nil {
					return fmt.Errorf("failed to write image ID to %s: %w", f.iidfile, err)
				}
			}
			if f.quiet {
				fmt.Println(res.ImageID)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", `Name of the Dockerfile (default: "PATH/Dockerfile")`)
	fl.StringArrayVarP(&f.tags, "tag", "t", nil, `Name and optionally a tag (format: "name:tag")`)
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "Set build-time variables")
	fl.StringArrayVar(&f.labels, "label", nil, "Set metadata for an image")
	fl.StringVar(&f.target, "target", "", "Set the target build stage to build")
	fl.BoolVar(&f.noCache, "no-cache", false, "Do not use cache when building the image")
	fl.BoolVar(&f.pull, "pull", false, "Always attempt to pull all referenced images")
	fl.StringVar(&f.platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set target platform for build")
	fl.StringVar(&f.iidfile, "iidfile", "", "Write the image ID to a file")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	fl.StringVar(&f.progress, "progress", progressDefault(), `Set type of progress output ("auto", "plain", "tty", "quiet")`)
	fl.StringVar(&f.cgroupParent, "cgroup-parent", "", "Set the parent cgroup for the RUN instructions during build")
	fl.StringVar(&f.network, "network", "default", `Set the networking mode for the RUN instructions during build ("default", "host", "none")`)
	fl.StringArrayVar(&f.secrets, "secret", nil, `Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")`)
	fl.StringArrayVar(&f.allow, "allow", nil, `Allow extra privileged entitlement (e.g., "security.insecure", "device")`)
	fl.StringArrayVar(&f.ssh, "ssh", nil, `SSH agent socket or keys to expose to the build (format: "default|<id>[=<socket>|<key>[,<key>]]")`)
	return cmd
}

// options checks the flags and turns them into the engine's options.
func (f *buildFlags) options(path string) (engine.BuildOptions, error) {
	o := engine.BuildOptions{
		ContextDir: path, Dockerfile: f.file, Stdin: os.Stdin, Target: f.target,
		NoCache: f.noCache, CgroupParent: f.cgroupParent, Progress: os.Stderr,
		Pull: f.pull, Platform: f.platform,
	}
	if strings.Contains(f.platform, ",") {
		return o, fmt.Errorf("multi-platform build is not supported by berth's builder: build --platform %s one platform at a time", f.platform)
	}
	for _, a := range f.allow {
		switch {
		case a == "security.insecure", a == "network.host":
		case a == "device" || strings.HasPrefix(a, "device="):
			if _, _, err := entitlements.Parse(a); err != nil {
				return o, fmt.Errorf("invalid entitlement %s: %w", a, err)
			}
		default:
			return o, fmt.Errorf("invalid entitlement: %s", a)
		}
		o.Allow = append(o.Allow, a)
	}
	switch f.progress {
	case "auto":
		o.TTY = isTerminal(os.Stderr)
	case "tty":
		o.TTY = true
	case "plain":
	case "quiet":
		f.quiet = true
	default:
		return o, fmt.Errorf("invalid progress mode %q: use auto, plain, tty or quiet", f.progress)
	}
	if f.quiet {
		o.Progress = nil
	}
	for _, t := range f.tags {
		ref, err := image.ParseTagRef(t)
		if err != nil {
			return o, fmt.Errorf("invalid tag %q: %v", t, strings.TrimPrefix(err.Error(), "invalid reference format: "+fmt.Sprintf("%q: ", t)))
		}
		o.Tags = append(o.Tags, ref.String())
	}
	o.BuildArgs = map[string]string{}
	for _, a := range f.buildArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			// A bare name takes its value from the environment, if set.
			if v, ok = os.LookupEnv(k); !ok {
				continue
			}
		}
		o.BuildArgs[k] = v
	}
	if len(f.labels) > 0 {
		o.Labels = map[string]string{}
		for _, l := range f.labels {
			k, v, _ := strings.Cut(l, "=")
			o.Labels[k] = v
		}
	}
	switch f.network {
	case "default", "host", "none":
		o.Network = f.network
	default:
		return o, fmt.Errorf("network mode %q not supported by berth's builder: use default, host or none", f.network)
	}
	for _, sec := range f.secrets {
		id, data, err := readSecret(sec)
		if err != nil {
			return o, err
		}
		if o.Secrets == nil {
			o.Secrets = map[string][]byte{}
		}
		o.Secrets[id] = data
	}
	for _, v := range f.ssh {
		id, a, err := readSSH(v)
		if err != nil {
			return o, err
		}
		if o.SSH == nil {
			o.SSH = map[string]engine.SSHAgent{}
		}
		o.SSH[id] = a
	}
	if path == "-" && f.file == "-" {
		return o, fmt.Errorf("invalid argument: can't use stdin for both build context and dockerfile")
	}
	return o, nil
}

// readSecret reads a --secret value as buildx does:
// id=ID[,type=file|env][,src=PATH|,env=VAR]; with neither src nor env,
// the variable named ID if set, else the file ID.
func readSecret(value string) (string, []byte, error) {
	fields, err := csvvalue.Fields(value, nil)
	if err != nil {
		return "", nil, fmt.Errorf("failed to parse secret %q: %w", value, err)
	}
	var id, typ, src, env string
	for _, field := range fields {
		key, val, ok := strings.Cut(field, "=")
		if !ok {
			return "", nil, fmt.Errorf("invalid field '%s' must be a key=value pair", field)
		}
		switch strings.ToLower(key) {
		case "type":
			if val != "file" && val != "env" {
				return "", nil, fmt.Errorf("unsupported secret type %q", val)
			}
			typ = val
		case "id":
			id = val
		case "source", "src":
			src = val
		case "env":
			env = val
		default:
			return "", nil, fmt.Errorf("unexpected key '%s' in '%s'", key, field)
		}
	}
	if typ == "env" && env == "" {
		env, src = src, ""
	}
	if id == "" {
		id = src
		if id == "" {
			id = env
		}
	}
	if id == "" {
		return "", nil, fmt.Errorf("invalid secret %q: an id is required", value)
	}
	if src == "" && env == "" {
		if _, ok := os.LookupEnv(id); ok {
			env = id
		} else {
			src = id
		}
	}
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", nil, fmt.Errorf("secret %s: environment variable %s is not set", id, env)
		}
		return id, []byte(v), nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return "", nil, fmt.Errorf("failed to read secret %s: %w", id, err)
	}
	return id, data, nil
}

// progressDefault is --progress's default: $BUILDKIT_PROGRESS, as buildx
// reads it, else auto.
func progressDefault() string {
	if v := os.Getenv("BUILDKIT_PROGRESS"); v != "" {
		return v
	}
	return "auto"
}

// readSSH reads an --ssh value as buildx does: ID alone forwards
// $SSH_AUTH_SOCK; ID=SOCKET an agent's socket; ID=KEY[,KEY] key files.
func readSSH(value string) (string, engine.SSHAgent, error) {
	id, paths, _ := strings.Cut(value, "=")
	if id == "" {
		return "", engine.SSHAgent{}, fmt.Errorf("invalid ssh value %q: an id is required", value)
	}
	if paths == "" {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return "", engine.SSHAgent{}, errors.New("invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set")
		}
		return id, engine.SSHAgent{Socket: sock}, nil
	}
	list := strings.Split(paths, ",")
	if fi, err := os.Stat(list[0]); len(list) == 1 && err == nil && fi.Mode()&os.ModeSocket != 0 {
		return id, engine.SSHAgent{Socket: list[0]}, nil
	}
	var a engine.SSHAgent
	for _, p := range list {
		data, err := os.ReadFile(p)
		if err != nil {
			return "", a, fmt.Errorf("failed to read ssh key %s: %w", p, err)
		}
		a.Keys = append(a.Keys, data)
	}
	return id, a, nil
}
