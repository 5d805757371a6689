package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/oci"
)

// createOptions are the flags `create` and `run` share.
type createOptions struct {
	name         string
	env          []string
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
	stdinOnce    bool // an attached -i: stdin closes when the client's ends
}

func (o *createOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.SetInterspersed(false) // flags after the image belong to the command
	f.StringVar(&o.name, "name", "", "Assign a name to the container")
	f.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	f.StringVar(&o.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	f.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	f.StringVarP(&o.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	f.StringVarP(&o.hostname, "hostname", "h", "", "Container host name")
	f.StringVar(&o.cgroupParent, "cgroup-parent", "", "Optional parent cgroup for the container")
	f.BoolVar(&o.rm, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	f.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	f.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.StringVar(&o.restart, "restart", "no", "Restart policy to apply when a container exits")
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
	eo := engine.ContainerOptions{Image: args[0], Name: o.name, Config: container.Config{
		Cmd: args[1:], Env: o.env, WorkingDir: o.workdir, User: o.user,
		Hostname: o.hostname, CgroupParent: o.cgroupParent, AutoRemove: o.autoRemove,
		Restart: restart, Tty: o.tty, OpenStdin: o.interactive, StdinOnce: o.stdinOnce,
	}}
	if cmd.Flags().Changed("entrypoint") {
		eo.EntrypointSet = true
		if o.entrypoint != "" {
			eo.Entrypoint = []string{o.entrypoint}
		}
	}
	return eo, nil
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
			if _, err := parseDetachKeys(ao.detachKeys); err != nil {
				return failed(125, err)
			}
			e, err := g.engine()
			if err != nil {
				return failed(125, err)
			}
			defer e.Close()
			// Detached, the shim removes the container when it exits;
			// attached, this command does, once it has the exit code.
			o.autoRemove = detach && o.rm
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
