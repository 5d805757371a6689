package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/docker/cli/pkg/kvfile"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/logs"
	"github.com/berth-dev/berth/internal/oci"
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
	f.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY (not supported yet)")
	f.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached (not supported yet)")
	// -h is --hostname, as in Docker; help stays reachable as --help.
	f.BoolP("help", "", false, "Print usage")
}

func (o *createOptions) engineOptions(cmd *cobra.Command, args []string) (engine.ContainerOptions, error) {
	if o.tty || o.interactive {
		return engine.ContainerOptions{}, errors.New("-t and -i are not supported yet: berth runs containers with stdin on /dev/null and separate stdout and stderr for now")
	}
	labels, err := parseLabels(o.labelFiles, o.labels)
	if err != nil {
		return engine.ContainerOptions{}, err
	}
	eo := engine.ContainerOptions{Image: args[0], Name: o.name, Config: container.Config{
		Cmd: args[1:], Env: o.env, WorkingDir: o.workdir, User: o.user,
		Hostname: o.hostname, CgroupParent: o.cgroupParent, AutoRemove: o.autoRemove,
		Labels: labels,
	}}
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
// container; its errors exit 125, as Docker's.
func createContainer(ctx context.Context, e *engine.Engine, cmd *cobra.Command, o *createOptions, args []string) (*container.Container, error) {
	eo, err := o.engineOptions(cmd, args)
	if err != nil {
		return nil, failed(125, err)
	}
	c, err := e.CreateContainer(ctx, eo)
	if errors.Is(err, engine.ErrImageNotFound) {
		fmt.Fprintf(os.Stderr, "Unable to find image '%s' locally\n", eo.Image)
		return nil, failed(125, fmt.Errorf("No such image: %s (pull it first: berth pull %s)", eo.Image, eo.Image))
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
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			e, err := g.engine()
			if err != nil {
				return failed(125, err)
			}
			defer e.Close()
			// Detached, the shim removes the container when it exits;
			// attached, this command does, once it has the exit code.
			o.autoRemove = detach && o.rm
			c, err := createContainer(ctx, e, cmd, o, args)
			if err != nil {
				return err
			}
			if err := e.StartContainer(ctx, c); err != nil {
				if o.rm {
					e.RemoveContainer(context.Background(), c.ID, true)
				}
				return startFailed(err)
			}
			if detach {
				fmt.Println(c.ID)
				return nil
			}
			return attach(ctx, e, c, time.Time{}, o.rm)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "Run container in background and print container ID")
	return cmd
}

// attach copies the container's output to ours until it exits (what it
// logged since since, or all of it), and exits with its code. The
// signals we get go to the container instead (Docker's --sig-proxy), so
// Ctrl-C stops it only if its process handles SIGINT.
func attach(ctx context.Context, e *engine.Engine, c *container.Container, since time.Time, rm bool) error {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			e.KillContainer(context.Background(), c.ID, s.(unix.Signal))
		}
	}()
	ctx = context.WithoutCancel(ctx) // Main's Ctrl-C context: the signal is the container's
	err := e.ReadLogs(ctx, c, logs.ReadOptions{Follow: true, Tail: -1, Since: since}, func(m logs.Message) error {
		var w io.Writer = os.Stdout
		if m.Stream == "stderr" {
			w = os.Stderr
		}
		_, err := w.Write(m.Line)
		return err
	})
	if err != nil {
		return failed(125, err)
	}
	code, err := e.WaitContainer(ctx, c.ID)
	if err != nil {
		return failed(125, err)
	}
	if rm {
		if err := e.RemoveContainer(context.Background(), c.ID, true); err != nil && !errors.Is(err, container.ErrNotFound) {
			fmt.Fprintln(os.Stderr, "Error:", err)
		}
	}
	if code != 0 {
		return exitError{code: code}
	}
	return nil
}
