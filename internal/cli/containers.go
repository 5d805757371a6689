package cli

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/logs"
)

func newLogsCommand(g *globalOptions) *cobra.Command {
	var follow, timestamps bool
	var tail, since, until string
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := -1
			if tail != "all" {
				v, err := strconv.Atoi(tail)
				if err != nil {
					return fmt.Errorf("invalid value for \"tail\": %q is not a number or \"all\"", tail)
				}
				n = v
			}
			now := time.Now()
			ro := logs.ReadOptions{Follow: follow, Tail: n}
			var err error
			if ro.Since, err = parseTime(since, now); err != nil {
				return err
			}
			if ro.Until, err = parseTime(until, now); err != nil {
				return err
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			c, err := e.Container(cmd.Context(), args[0])
			if err != nil {
				return daemonError(err)
			}
			err = e.ReadLogs(cmd.Context(), c, ro, func(m logs.Message) error {
				w := os.Stdout
				if m.Stream == "stderr" {
					w = os.Stderr
				}
				if timestamps {
					fmt.Fprint(w, m.Time.UTC().Format(time.RFC3339Nano)+" ")
				}
				_, err := w.Write(m.Line)
				return err
			})
			if cmd.Context().Err() != nil {
				return nil
			}
			if err != nil {
				return daemonError(err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "Follow log output")
	f.BoolVarP(&timestamps, "timestamps", "t", false, "Show timestamps")
	f.StringVarP(&tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	f.StringVar(&since, "since", "", `Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	f.StringVar(&until, "until", "", `Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	return cmd
}

func newRmCommand(g *globalOptions, use string) *cobra.Command {
	var force, volumes bool
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Remove one or more containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachArg(g, cmd, args, func(e *engine.Engine, ref string) error {
				err := e.RemoveContainerWith(cmd.Context(), ref, engine.RemoveOptions{Force: force, Volumes: volumes})
				if errors.Is(err, container.ErrNotFound) && force {
					return errSkipArg // Docker's rm -f ignores missing containers
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	return cmd
}

func newWaitCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			failed := false
			for _, ref := range args {
				code, err := e.WaitContainer(cmd.Context(), ref)
				if err != nil {
					fmt.Fprintln(os.Stderr, "Error response from daemon:", err)
					failed = true
					continue
				}
				fmt.Println(code)
			}
			if failed {
				return exitError{code: 1}
			}
			return nil
		},
	}
}

// newContainerCommand is `berth container …`, Docker's management command.
func newContainerCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "container", Short: "Manage containers"}
	ls := newPsCommand(g, "ls")
	ls.Aliases = []string{"list", "ps"}
	rm := newRmCommand(g, "rm")
	rm.Aliases = []string{"remove"}
	cmd.AddCommand(ls, rm, newRunCommand(g), newCreateCommand(g), newLogsCommand(g), newWaitCommand(g),
		newStartCommand(g), newStopCommand(g), newKillCommand(g), newExportCommand(g),
		newExecCommand(g), newRestartCommand(g), newAttachCommand(g),
		newContainerInspectCommand(g), newRenameCommand(g), newContainerPruneCommand(g),
		newPauseCommand(g), newUnpauseCommand(g), newTopCommand(g), newDiffCommand(g),
		newCpCommand(g), newCommitCommand(g), newStatsCommand(g), newUpdateCommand(g), newPortCommand(g))
	return cmd
}
