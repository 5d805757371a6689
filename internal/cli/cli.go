// Package cli is berth's command line: one file per command, each parsing
// flags into options and calling the engine (or, for `berth runtime`, the
// OCI runtime). It holds no container logic of its own.
package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/runtimecli"
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
	var root *cobra.Command
	if filepath.Base(args[0]) == "berth-runtime" {
		root = runtimecli.NewCommand("berth-runtime", Version)
	} else {
		root = newRootCommand()
	}
	root.SetArgs(args[1:])
	err := root.Execute()
	var ee interface{ ExitCode() int }
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, "berth:", err)
		return 125
	}
}

// globalOptions are the flags every berth command has.
type globalOptions struct {
	root string
}

func newRootCommand() *cobra.Command {
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
	cmd.AddCommand(runtimecli.NewCommand("runtime", Version))
	cmd.SetFlagErrorFunc(flagError)
	return cmd
}

func flagError(c *cobra.Command, err error) error {
	fmt.Fprintf(os.Stderr, "%s: %v\nSee '%s --help'.\n", c.CommandPath(), err, c.CommandPath())
	return exitError{code: 125}
}
