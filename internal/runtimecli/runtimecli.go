// Package runtimecli is the command line of berth's OCI runtime, `berth
// runtime …` (or `berth-runtime`): runc's verbs, flags, output and exit
// codes over internal/runtime. It is the only command-line package that may
// import the runtime.
package runtimecli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/runtime"
)

// runtimeOptions are runc's global flags.
type runtimeOptions struct {
	root          string
	log           string
	logFormat     string
	debug         bool
	systemdCgroup bool
	rootless      string
	criu          string
}

// defaultRuntimeRoot is where `berth runtime` keeps container state unless
// --root says otherwise (runc's is /run/runc); with BERTH_ROOT set, under
// it, so that independent berth instances never share state.
func defaultRuntimeRoot() string {
	if root := os.Getenv("BERTH_ROOT"); root != "" {
		return filepath.Join(root, "run", "runtime")
	}
	return "/run/berth/runtime"
}

// ExitError makes the command exit with Code (a container's exit status,
// or 1 for a runtime error already reported).
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// ExitCode is the code the process exits with.
func (e ExitError) ExitCode() int { return e.Code }

// NewCommand is `berth runtime`: a runc-compatible OCI runtime CLI, so that
// containerd, Docker (--add-runtime), Podman and the OCI conformance suite
// can use berth in place of runc.
func NewCommand(use, version string) *cobra.Command {
	o := &runtimeOptions{}
	cmd := &cobra.Command{
		Use:           use,
		Short:         "The OCI runtime (runc-compatible command line)",
		Version:       fmt.Sprintf("%s\nspec: %s", version, specs.Version),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&o.root, "root", defaultRuntimeRoot(), "directory for the runtime's container state (default under $BERTH_ROOT when set)")
	f.StringVar(&o.log, "log", "", "append errors and debug messages to this file")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&o.debug, "debug", false, "log each command (to --log, else stderr)")
	f.BoolVar(&o.systemdCgroup, "systemd-cgroup", false, "accepted for runc compatibility; cgroups are managed through cgroupfs")
	f.StringVar(&o.rootless, "rootless", "auto", "accepted for runc compatibility")
	f.StringVar(&o.criu, "criu", "criu", "accepted for runc compatibility")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return o.fail(err)
	})
	cmd.AddCommand(
		newRuntimeSpecCommand(o), newRuntimeCreateCommand(o), newRuntimeStartCommand(o),
		newRuntimeRunCommand(o), newRuntimeStateCommand(o), newRuntimeKillCommand(o),
		newRuntimeDeleteCommand(o), newRuntimeExecCommand(o), newRuntimePsCommand(o),
		newRuntimeListCommand(o), newRuntimePauseCommand(o, true), newRuntimePauseCommand(o, false),
		newRuntimeUpdateCommand(o), newRuntimeEventsCommand(o), newRuntimeFeaturesCommand(o),
	)
	return cmd
}

func (o *runtimeOptions) runtime() *runtime.Runtime {
	return &runtime.Runtime{Root: o.root, Warn: func(format string, args ...any) {
		o.logLine("warning", fmt.Sprintf(format, args...))
	}}
}

// fail reports err the way runc does — one line on stderr and, with --log,
// a line in the log file (JSON with --log-format json, which containerd
// reads to show the error) — and makes the command exit 1.
func (o *runtimeOptions) fail(err error) error {
	o.logLine("error", err.Error())
	fmt.Fprintln(os.Stderr, "berth:", err)
	return ExitError{Code: 1}
}

func (o *runtimeOptions) logLine(level, msg string) {
	if level != "error" && o.log == "" {
		fmt.Fprintf(os.Stderr, "berth: %s: %s\n", level, msg)
	}
	if o.log == "" {
		return
	}
	f, err := os.OpenFile(o.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if o.logFormat == "json" {
		line, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": now})
		fmt.Fprintf(f, "%s\n", line)
		return
	}
	fmt.Fprintf(f, "time=%q level=%s msg=%q\n", now, level, msg)
}

// run wraps a command body so that its error is reported runc-style.
func (o *runtimeOptions) run(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if o.logFormat != "text" && o.logFormat != "json" {
			return o.fail(fmt.Errorf("invalid --log-format %q: use text or json", o.logFormat))
		}
		if o.debug {
			o.logLine("debug", fmt.Sprintf("%s %v", cmd.CommandPath(), args))
		}
		// One P: a runtime command does one thing after another, and a
		// second P only has Go start and wake more threads (about 2 ms of
		// CPU per `run` here, which a busy host feels).
		goruntime.GOMAXPROCS(1)
		if err := fn(cmd, args); err != nil {
			if _, ok := err.(ExitError); ok {
				return err
			}
			return o.fail(err)
		}
		return nil
	}
}

// exitCode turns a process's exit code into the command's result.
func exitCode(code int, err error) error {
	switch {
	case err != nil:
		return err
	case code != 0:
		return ExitError{Code: code}
	}
	return nil
}

// needArgs checks the positional arguments, with runc's wording.
func needArgs(cmd *cobra.Command, args []string, n int, names string) error {
	if len(args) != n {
		return fmt.Errorf("%q requires exactly %d argument(s): %s", cmd.CommandPath(), n, names)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
