package oci

import (
	"path"
	"slices"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setProcess sets the command, environment, working directory, terminal
// and host name (moby's withCommonOptions).
func setProcess(s *specs.Spec, img dockerspec.DockerOCIImageConfig, o *Options) error {
	args, err := command(img.Entrypoint, img.Cmd, o)
	if err != nil {
		return err
	}
	if o.Init {
		init := o.InitPath
		if init == "" {
			init = DefaultInitPath
		}
		args = append([]string{init, "--"}, args...)
	}
	cwd, err := workingDir(img.WorkingDir, o.WorkingDir)
	if err != nil {
		return err
	}
	hostname, err := defaultHostname(o)
	if err != nil {
		return err
	}
	s.Hostname = hostname
	s.Process.Args = args
	s.Process.Cwd = cwd
	s.Process.Env = environment(img.Env, o.Env, hostname, o.Tty)
	s.Process.Terminal = o.Tty
	return nil
}

// command resolves process.args as Docker does: an entrypoint given on
// the command line replaces the image's ENTRYPOINT and CMD alike; without
// one, the image's ENTRYPOINT stays and the command line's CMD replaces the
// image's (daemon/commit.go merge). An entrypoint of "" clears it
// (daemon/create.go mergeAndVerifyConfig); then the args are the
// entrypoint followed by the command.
func command(imgEntrypoint, imgCmd []string, o *Options) ([]string, error) {
	entrypoint, cmd := o.Entrypoint, o.Cmd
	if o.EntrypointSet || len(entrypoint) > 0 {
		if len(entrypoint) == 0 {
			entrypoint = []string{""} // what the CLI sends for --entrypoint ""
		}
	} else {
		if len(cmd) == 0 {
			cmd = imgCmd
		}
		entrypoint = imgEntrypoint
	}
	if len(entrypoint) == 1 && entrypoint[0] == "" {
		entrypoint = nil
	}
	if len(entrypoint) == 0 && len(cmd) == 0 {
		return nil, ErrNoCommand
	}
	return append(slices.Clone(entrypoint), cmd...), nil
}

// environment is Docker's: PATH, HOSTNAME and (with -t) TERM first, then
// the -e variables and the image's that -e does not name, each replacing a
// default of the same name; a bare NAME removes NAME
// (container.CreateDaemonEnvironment over daemon/commit.go merge).
func environment(imgEnv, userEnv []string, hostname string, tty bool) []string {
	merged := slices.Clone(userEnv)
	if len(merged) == 0 {
		merged = slices.Clone(imgEnv)
	} else {
		named := map[string]bool{}
		for _, e := range userEnv {
			named[envKey(e)] = true
		}
		for _, e := range imgEnv {
			if !named[envKey(e)] {
				merged = append(merged, e)
			}
		}
	}
	env := []string{"PATH=" + defaultPath, "HOSTNAME=" + hostname}
	if tty {
		env = append(env, "TERM=xterm")
	}
	return replaceOrAppendEnv(env, merged)
}

func envKey(e string) string {
	k, _, _ := strings.Cut(e, "=")
	return k
}

// replaceOrAppendEnv is moby's container.ReplaceOrAppendEnvValues: an
// override replaces the default of its name or is appended; a bare NAME
// removes the default NAME and is otherwise dropped.
func replaceOrAppendEnv(defaults, overrides []string) []string {
	index := map[string]int{}
	for i, e := range defaults {
		index[envKey(e)] = i
	}
	for _, e := range overrides {
		k, _, ok := strings.Cut(e, "=")
		i, isDefault := index[k]
		switch {
		case !ok && isDefault:
			defaults[i] = ""
		case !ok:
		case isDefault:
			defaults[i] = e
		default:
			defaults = append(defaults, e)
		}
	}
	return slices.DeleteFunc(defaults, func(e string) bool { return e == "" })
}

// workingDir is -w, else the image's WORKDIR, else "/".
func workingDir(imgDir, userDir string) (string, error) {
	if userDir != "" {
		if !path.IsAbs(userDir) {
			return "", invalidf("the working directory '%s' is invalid, it needs to be an absolute path", userDir)
		}
		return path.Clean(userDir), nil
	}
	if imgDir == "" {
		return "/", nil
	}
	if !path.IsAbs(imgDir) {
		return "", invalidf("the image's working directory '%s' is invalid, it needs to be an absolute path", imgDir)
	}
	return path.Clean(imgDir), nil
}

// defaultHostname is -h, else the host's name for a host-network or
// host-UTS container, else the short ID (daemon/container.go newContainer).
func defaultHostname(o *Options) (string, error) {
	switch {
	case o.Hostname != "":
		return o.Hostname, nil
	case o.NetNS == NetNSHost || o.UTSHost:
		return host.hostname()
	case len(o.ContainerID) > 12:
		return o.ContainerID[:12], nil
	default:
		return o.ContainerID, nil
	}
}
