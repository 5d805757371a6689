package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
)

func newCommitCommand(g *globalOptions) *cobra.Command {
	var o engine.CommitOptions
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Create a new image from a container's changes",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) >= 1 && len(args) <= 2 {
				return nil
			}
			return fmt.Errorf("%q requires at least 1 and at most 2 arguments.\nSee '%s --help'.\n\nUsage:  %s", c.CommandPath(), c.CommandPath(), c.UseLine())
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				o.Ref = args[1]
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			img, err := e.CommitContainer(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			fmt.Println(img.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Author, "author", "a", "", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	f.StringArrayVarP(&o.Changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	f.StringVarP(&o.Message, "message", "m", "", "Commit message")
	f.BoolVarP(&o.Pause, "pause", "p", true, "Pause container during commit")
	return cmd
}
