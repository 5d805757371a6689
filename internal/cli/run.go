package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/docker/cli/pkg/kvfile"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/reference"
	"github.com/berth-dev/berth/internal/term"
)

// createOptions are the flags `create` and `run` share.
type createOptions struct {
	name         string
	env          []string
	labels       []string
	labelFiles   []string
	entrypoint   string
	workdir      string
	user         string
	hostname     string
	cgroupParent string
	rm           bool
	autoRemove   bool // the shim removes the container once it exited
	tty          bool
	interactive  bool
	restart      string
	init         bool
	health       healthFlags
	stdinOnce    bool // an attached -i: stdin closes when the client's ends
	envFiles     []string
	groupAdd     []string
	readOnly     bool
	stopSignal   string
	stopTimeout  int
	cidFile      string
	pull         string
	logDriver    string
	logOpts      []string
	resources    resourceFlags // run_resources.go
	security     securityFlags // run_security.go
	vols         volumeFlags
	network      networkFlags // run_network.go
}

func (o *createOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.SetInterspersed(false) // flags after the image belong to the command
	f.StringVar(&o.name, "name", "", "Assign a name to the container")
	f.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	f.StringArrayVarP(&o.labels, "label", "l", nil, "Set meta data on a container")
	f.StringArrayVar(&o.labelFiles, "label-file", nil, "Read in a line delimited file of labels")
	f.StringVar(&o.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	f.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	f.StringVarP(&o.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	f.StringVarP(&o.hostname, "hostname", "h", "", "Container host name")
	f.StringVar(&o.cgroupParent, "cgroup-parent", "", "Optional parent cgroup for the container")
	f.BoolVar(&o.rm, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	f.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	f.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.StringVar(&o.restart, "restart", "no", "Restart policy to apply when a container exits")
	f.BoolVar(&o.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	o.health.addFlags(f)
	f.StringArrayVar(&o.envFiles, "env-file", nil, "Read in a file of environment variables")
	f.StringArrayVar(&o.groupAdd, "group-add", nil, "Add additional groups to join")
	f.BoolVar(&o.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	f.StringVar(&o.stopSignal, "stop-signal", "", "Signal to stop the container")
	f.IntVar(&o.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	f.StringVar(&o.cidFile, "cidfile", "", "Write the container ID to the file")
	f.StringVar(&o.pull, "pull", "missing", `Pull image before creating ("always", "missing", "never")`)
	f.StringVar(&o.logDriver, "log-driver", "", "Logging driver for the container (json-file or none)")
	f.StringArrayVar(&o.logOpts, "log-opt", nil, "Log driver options")
	o.resources.addFlags(f)
	o.security.addFlags(f)
	o.vols.addFlags(f)
	o.network.addFlags(f)
	// -h is --hostname, as in Docker; help stays reachable as --help.
	f.BoolP("help", "", false, "Print usage")
}

func (o *createOptions) engineOptions(cmd *cobra.Command, args []string) (engine.ContainerOptions, error) {
	restart, err := container.ParseRestartPolicy(o.restart)
	if err != nil {
		return engine.ContainerOptions{}, err
	}
	if o.rm && !restart.IsNone() {
		return engine.ContainerOptions{}, errors.New("conflicting options: cannot specify both --restart and --rm")
	}
	health, err := o.health.config(cmd.Flags())
	if err != nil {
		return engine.ContainerOptions{}, err
	}
	env, err := readEnv(o.envFiles, o.env)
	if err != nil {
		return engine.ContainerOptions{}, err
	}
	labels, err := parseLabels(o.labelFiles, o.labels)
	if err != nil {
		return engine.ContainerOptions{}, err
	}
	eo := engine.ContainerOptions{Image: args[0], Name: o.name, Config: container.Config{
		Cmd: args[1:], Env: env, WorkingDir: o.workdir, User: o.user,
		Hostname: o.hostname, CgroupParent: o.cgroupParent, AutoRemove: o.autoRemove,
		Restart: restart, Init: o.init, Healthcheck: health, Tty: o.tty, OpenStdin: o.interactive, StdinOnce: o.stdinOnce,
		GroupAdd: o.groupAdd, ReadOnly: o.readOnly, StopSignal: o.stopSignal, LogDriver: o.logDriver,
		Labels: labels, Rm: o.rm,
	}}
	warnings, err := o.resources.apply(&eo.Config)
	if err != nil {
		return engine.ContainerOptions{}, err
	}
	printWarnings(warnings)
	if err := o.security.config(&eo.Config); err != nil {
		return engine.ContainerOptions{}, err
	}
	if err := o.vols.config(&eo.Config); err != nil {
		return engine.ContainerOptions{}, err
	}
	if err := o.network.config(&eo.Config); err != nil {
		return engine.ContainerOptions{}, err
	}
	if cmd.Flags().Changed("stop-timeout") {
		eo.StopTimeout = &o.stopTimeout
	}
	for _, kv := range o.logOpts {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return engine.ContainerOptions{}, fmt.Errorf("invalid key value pair format in log-opt %q: expected key=value", kv)
		}
		if eo.LogOpts == nil {
			eo.LogOpts = map[string]string{}
		}
		eo.LogOpts[k] = v
	}
	if cmd.Flags().Changed("entrypoint") {
		eo.EntrypointSet = true
		if o.entrypoint != "" {
			eo.Entrypoint = []string{o.entrypoint}
		}
	}
	return eo, nil
}

// parseLabels reads --label-file files, then --label values (which win),
// into a map as Docker's CLI does: "k" alone is k with an empty value.
func parseLabels(files, flags []string) (map[string]string, error) {
	var kvs []string
	for _, f := range files {
		l, err := kvfile.Parse(f, nil)
		if err != nil {
			return nil, err
		}
		kvs = append(kvs, l...)
	}
	for _, l := range flags {
		k, _, _ := strings.Cut(l, "=")
		k = strings.TrimLeft(k, " \t")
		if k == "" {
			return nil, fmt.Errorf("invalid argument %q for \"-l, --label\" flag: invalid label '%s': empty name", l, l)
		}
		if strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("invalid argument %q for \"-l, --label\" flag: label '%s' contains whitespaces", l, k)
		}
		kvs = append(kvs, l)
	}
	if len(kvs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m, nil
}

// failed prints err as `run` and `create` do and exits with code.
func failed(code int, err error) error {
	fmt.Fprintln(os.Stderr, "Error:", err)
	return exitError{code: code}
}

// createContainer is the part of `run` and `create` that makes the
// container (pulling its image per --pull) and writes --cidfile; its
// errors exit 125, as Docker's.
func createContainer(ctx context.Context, e *engine.Engine, cmd *cobra.Command, o *createOptions, args []string) (c *container.Container, err error) {
	eo, err := o.engineOptions(cmd, args)
	if err != nil {
		return nil, failed(125, err)
	}
	switch o.pull {
	case "always", "missing", "never":
	default:
		return nil, failed(125, fmt.Errorf(`invalid pull option: '%s': must be one of "always", "missing" or "never"`, o.pull))
	}
	if o.cidFile != "" {
		// Made first and empty, as Docker's: a second run with the same
		// file fails before it creates anything.
		f, ferr := os.OpenFile(o.cidFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(ferr, os.ErrExist) {
			return nil, failed(125, fmt.Errorf("Container ID file found, make sure the other container isn't running or delete %s", o.cidFile))
		}
		if ferr != nil {
			return nil, failed(125, fmt.Errorf("failed to create the container ID file: %w", ferr))
		}
		defer func() {
			if err == nil {
				_, err = f.WriteString(c.ID)
			}
			if cerr := f.Close(); err == nil && cerr != nil {
				err = cerr
			}
			if err != nil {
				os.Remove(o.cidFile)
				if c != nil {
					e.RemoveContainer(context.Background(), c.ID, true)
					c, err = nil, failed(125, fmt.Errorf("failed to write the container ID to the file: %w", err))
				}
			}
		}()
	}
	if o.pull == "always" {
		if err := pullTo(ctx, e, eo.Image, engine.PullOptions{}, false, os.Stderr, false); err != nil {
			return nil, failed(125, err)
		}
	}
	c, err = e.CreateContainer(ctx, eo)
	if errors.Is(err, engine.ErrImageNotFound) {
		name := eo.Image
		if ref, perr := image.ParseRef(eo.Image); perr == nil {
			name = reference.FamiliarString(ref)
		}
		if o.pull == "never" {
			return nil, failed(125, fmt.Errorf("No such image: %s", name))
		}
		fmt.Fprintf(os.Stderr, "Unable to find image '%s' locally\n", name)
		if err := pullTo(ctx, e, eo.Image, engine.PullOptions{}, false, os.Stderr, false); err != nil {
			return nil, failed(125, err)
		}
		c, err = e.CreateContainer(ctx, eo)
	}
	if errors.Is(err, oci.ErrNoCommand) {
		return nil, failed(125, fmt.Errorf("no command specified"))
	}
	if err != nil {
		return nil, failed(125, err)
	}
	return c, nil
}

func newCreateCommand(g *globalOptions) *cobra.Command {
	o := &createOptions{}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return failed(125, err)
			}
			defer e.Close()
			c, err := createContainer(cmd.Context(), e, cmd, o, args)
			if err != nil {
				return err
			}
			fmt.Println(c.ID)
			return nil
		},
	}
	o.addFlags(cmd)
	cmd.Flags().MarkHidden("rm")
	return cmd
}

func newRunCommand(g *globalOptions) *cobra.Command {
	o := &createOptions{}
	var detach bool
	ao := attachOptions{}
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := checkTerminal(o.tty, o.interactive && !detach); err != nil {
				return failed(1, err)
			}
			if _, err := term.ParseDetachKeys(ao.detachKeys); err != nil {
				return failed(125, err)
			}
			// The shim starts while the container is created.
			sh, err := engine.SpawnShim(!detach, o.cgroupParent)
			if err != nil {
				return failed(125, err)
			}
			e, err := g.engine()
			if err != nil {
				sh.Close()
				return failed(125, err)
			}
			defer e.Close()
			e.UseShim(sh)
			// The shim removes the container when it exits; attached,
			// this command gets the exit code from it (WaitExit).
			o.autoRemove = o.rm
			o.stdinOnce = o.interactive && !detach
			c, err := createContainer(ctx, e, cmd, o, args)
			if err != nil {
				return err
			}
			if detach {
				if err := e.StartContainer(ctx, c); err != nil {
					if o.rm {
						e.RemoveContainer(context.Background(), c.ID, true)
					}
					return startFailed(err)
				}
				fmt.Println(c.ID)
				return nil
			}
			ao.stdin, ao.rm = o.interactive, o.rm
			att, err := e.StartAttached(ctx, c, attachRequest(ao.stdin))
			if err != nil {
				if o.rm {
					e.RemoveContainer(context.Background(), c.ID, true)
				}
				return startFailed(err)
			}
			return session(ctx, e, c, att, ao)
		},
	}
	o.addFlags(cmd)
	f := cmd.Flags()
	f.BoolVarP(&detach, "detach", "d", false, "Run container in background and print container ID")
	f.StringVar(&ao.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	f.BoolVar(&ao.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	return cmd
}
