// Package cli is berth's command line: one file per command, each parsing
// flags into options and calling the engine (or, for `berth runtime`, the
// OCI runtime). It holds no container logic of its own.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/runtimecli"
	"github.com/berth-dev/berth/internal/shim/spawn"
)

// Version is berth's version, set at build time with -ldflags -X.
var Version = "0.1.0-dev"

// exitError carries a specific exit code out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// ExitCode lets Main read the code of this and other packages' exit errors.
func (e exitError) ExitCode() int { return e.code }

// Main runs the command line for args (os.Args) and returns the exit code.
// Invoked through a link named berth-runtime, berth is the OCI runtime.
func Main(args []string) int {
	defer engine.DiscardEarlyShim()
	var root *cobra.Command
	sub := spawn.Subcommand(args)
	switch {
	case filepath.Base(args[0]) == "berth-runtime":
		root = runtimecli.NewCommand("berth-runtime", Version)
	case sub == "runtime" || sub == "run":
		// `berth runtime …` (every container start of an engine that uses
		// berth as its OCI runtime) and `berth run` need none of the
		// other commands, whose flags take a millisecond to set up.
		root = newRootCommand(sub)
	default:
		root = newRootCommand("")
	}
	root.SetArgs(args[1:])
	ctx := context.Background()
	if c, _, err := root.Find(args[1:]); root.Name() == "berth" && (err != nil || !strings.HasPrefix(c.CommandPath(), "berth runtime")) {
		// Ctrl-C or SIGTERM cancels the command, so that a pull or save
		// removes its half-made files on the way out. (The runtime CLI
		// forwards signals to containers instead.)
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	err := root.ExecuteContext(ctx)
	var ee interface{ ExitCode() int }
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		// Errors from the engine exit 1, as the docker CLI's "Error
		// response from daemon" do; `run` returns its own 125.
		fmt.Fprintln(os.Stderr, "Error:", err)
		return 1
	}
}

// globalOptions are the flags every berth command has.
type globalOptions struct {
	root          string
	storageDriver string
	insecure      []string
	usernsRemap   string
}

// newRootCommand is `berth` with its commands; only ("runtime" or "run")
// leaves out the others.
func newRootCommand(only string) *cobra.Command {
	g := &globalOptions{}
	cmd := &cobra.Command{
		Use:           "berth",
		Short:         "Build, ship and run containers",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	defRoot := os.Getenv("BERTH_ROOT")
	if defRoot == "" {
		defRoot = "/var/lib/berth"
	}
	cmd.PersistentFlags().StringVar(&g.root, "root", defRoot, "directory for all of berth's state (env BERTH_ROOT)")
	cmd.PersistentFlags().StringVar(&g.storageDriver, "storage-driver", os.Getenv("BERTH_STORAGE_DRIVER"),
		"layer storage for a new root: overlay (alias overlay2) or copy (alias vfs); default overlay where the filesystem supports it (env BERTH_STORAGE_DRIVER)")
	cmd.PersistentFlags().StringArrayVar(&g.insecure, "insecure-registry", splitList(os.Getenv("BERTH_INSECURE_REGISTRIES")),
		"registry host[:port] to reach over plain HTTP (loopback always is); repeatable (env BERTH_INSECURE_REGISTRIES, comma-separated)")
	cmd.PersistentFlags().StringVar(&g.usernsRemap, "userns-remap", os.Getenv("BERTH_USERNS_REMAP"),
		"user namespace remapping of the containers created: default (user berth, made when missing) or USER[:GROUP] with /etc/subuid and /etc/subgid ranges (env BERTH_USERNS_REMAP)")
	cmd.SetFlagErrorFunc(flagError)
	cmd.AddCommand(runtimecli.NewCommand("runtime", Version))
	switch only {
	case "runtime":
		return cmd
	case "run":
		cmd.AddCommand(newRunCommand(g))
		return cmd
	}
	cmd.AddCommand(
		newImagesCommand(g, "images"),
		newPullCommand(g),
		newPushCommand(g),
		newTagCommand(g),
		newRmiCommand(g, "rmi"),
		newHistoryCommand(g, "history"),
		newLoginCommand(g),
		newLogoutCommand(),
		newImageCommand(g),
		newSystemCommand(g),
		newSaveCommand(g),
		newLoadCommand(g),
		newImportCommand(g),
		newRunCommand(g),
		newCreateCommand(g),
		newPsCommand(g, "ps"),
		newLogsCommand(g),
		newRmCommand(g, "rm"),
		newWaitCommand(g),
		newStartCommand(g),
		newStopCommand(g),
		newRestartCommand(g),
		newKillCommand(g),
		newExportCommand(g),
		newAttachCommand(g),
		newExecCommand(g),
		newInspectCommand(g),
		newRenameCommand(g),
		newPauseCommand(g),
		newUnpauseCommand(g),
		newTopCommand(g),
		newDiffCommand(g),
		newInfoCommand(g),
		newVersionCommand(g),
		newCpCommand(g),
		newCommitCommand(g),
		newStatsCommand(g),
		newUpdateCommand(g),
		newEventsCommand(g),
		newContainerCommand(g),
		newBuildCommand(g),
		newBuilderCommand(g),
		newVolumeCommand(g),
		newNetworkCommand(g),
		newPortCommand(g),
		newNetworkTeardownCommand(g),
	)
	return cmd
}

// newImageCommand is `berth image …`, Docker's management command form.
func newImageCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Manage images"}
	ls := newImagesCommand(g, "ls")
	ls.Aliases = []string{"list"}
	rm := newRmiCommand(g, "rm")
	rm.Aliases = []string{"remove"}
	cmd.AddCommand(ls, rm, newPullCommand(g), newPushCommand(g), newTagCommand(g),
		newHistoryCommand(g, "history"), newImageInspectCommand(g), newImagePruneCommand(g),
		newImageMountCommand(g), newImageUnmountCommand(g),
		newSaveCommand(g), newLoadCommand(g), newImportCommand(g), newBuildCommand(g))
	return cmd
}

// engine opens the berth root for a command.
func (g *globalOptions) engine() (*engine.Engine, error) {
	return engine.New(engine.Config{Root: g.root, Snapshotter: g.storageDriver, InsecureRegistries: g.insecure, UsernsRemap: g.usernsRemap})
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// exactArgs and minArgs report argument-count errors as the docker CLI
// does (exit 1 with usage hint).
func exactArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		what := "exactly " + plural(n)
		if n == 0 {
			what = "no arguments"
		}
		return fmt.Errorf("%q requires %s.\nSee '%s --help'.\n\nUsage:  %s", c.CommandPath(), what, c.CommandPath(), c.UseLine())
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return fmt.Errorf("%q requires at least %s.\nSee '%s --help'.\n\nUsage:  %s", c.CommandPath(), plural(n), c.CommandPath(), c.UseLine())
	}
}

func plural(n int) string {
	if n == 1 {
		return "1 argument"
	}
	return fmt.Sprintf("%d arguments", n)
}

func flagError(c *cobra.Command, err error) error {
	fmt.Fprintf(os.Stderr, "%s: %v\nSee '%s --help'.\n", c.CommandPath(), err, c.CommandPath())
	return exitError{code: 125}
}
