package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
)

// newBuilderCommand is `berth builder …`: build, and prune of the build
// cache.
func newBuilderCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "builder", Short: "Manage builds"}
	cmd.AddCommand(newBuildCommand(g), newBuilderPruneCommand(g))
	return cmd
}

func newBuilderPruneCommand(g *globalOptions) *cobra.Command {
	var all, force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := engine.ParseFilters(filters)
			if err != nil {
				return err
			}
			if !force {
				q := "WARNING! This will remove all dangling build cache.\nAre you sure you want to continue? [y/N] "
				if all {
					q = "WARNING! This will remove all build cache.\nAre you sure you want to continue? [y/N] "
				}
				if !ask(q) {
					return nil
				}
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			res, err := e.PruneBuildCache(cmd.Context(), all, f)
			if err != nil {
				return err
			}
			if len(res.Deleted) > 0 {
				fmt.Println("Deleted build cache objects:")
				for _, d := range res.Deleted {
					fmt.Println(shortCacheID(d))
				}
				fmt.Println()
			}
			fmt.Printf("Total reclaimed space: %s\n", humanSize(res.Reclaimed))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&all, "all", "a", false, "Remove all unused build cache, not just dangling ones")
	fl.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	fl.StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "until=24h")`)
	return cmd
}

// shortCacheID is a cache record's ID as BuildKit shows it: 25 characters
// of the digest.
func shortCacheID(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 25 {
		d = d[:25]
	}
	return d
}
