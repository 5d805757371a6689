package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
)

func newRenameCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			if err := e.RenameContainer(cmd.Context(), args[0], args[1]); err != nil {
				return fmt.Errorf("failed to rename container: %w", err)
			}
			return nil
		},
	}
}

func newContainerPruneCommand(g *globalOptions) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := engine.ParseFilters(filters)
			if err != nil {
				return err
			}
			if !force && !ask("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ") {
				return nil
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			deleted, reclaimed, err := e.PruneContainers(cmd.Context(), f)
			if err != nil {
				return err
			}
			if len(deleted) > 0 {
				fmt.Println("Deleted Containers:")
				for _, id := range deleted {
					fmt.Println(id)
				}
				fmt.Println()
			}
			fmt.Println("Total reclaimed space:", humanSize(reclaimed))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

// ask prints question and reads a yes (y or yes, any case) from stdin.
func ask(question string) bool {
	fmt.Print(question)
	var answer string
	fmt.Scanln(&answer)
	answer = strings.TrimSpace(answer)
	return strings.EqualFold(answer, "y") || strings.EqualFold(answer, "yes")
}

func newPauseCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER [CONTAINER...]",
		Short: "Pause all processes within one or more containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachArg(g, cmd, args, func(e *engine.Engine, ref string) error {
				return e.PauseContainer(cmd.Context(), ref)
			})
		},
	}
}

func newUnpauseCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "unpause CONTAINER [CONTAINER...]",
		Short: "Unpause all processes within one or more containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachArg(g, cmd, args, func(e *engine.Engine, ref string) error {
				return e.UnpauseContainer(cmd.Context(), ref)
			})
		},
	}
}

func newTopCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "Display the running processes of a container",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			top, err := e.TopContainer(cmd.Context(), args[0], args[1:])
			if err != nil {
				return err
			}
			w := tableWriterMin(os.Stdout, 20)
			fmt.Fprintln(w, strings.Join(top.Titles, "\t"))
			for _, p := range top.Processes {
				fmt.Fprintln(w, strings.Join(p, "\t"))
			}
			return w.Flush()
		},
	}
	cmd.Flags().SetInterspersed(false) // ps's options are ps's
	return cmd
}

func newDiffCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "Inspect changes to files or directories on a container's filesystem",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			changes, err := e.ContainerChanges(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			for _, c := range changes {
				fmt.Println(c.Kind.String(), c.Path)
			}
			return nil
		},
	}
}
