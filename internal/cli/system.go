package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/docker/go-units"
	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/image"
)

func newSystemCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "Manage berth"}
	cmd.AddCommand(newSystemDfCommand(g), newSystemPruneCommand(g), newInfoCommand(g), newEventsCommand(g),
		newSystemBootCommand(g))
	return cmd
}

// newSystemBootCommand is `system boot`: what dockerd does for restart
// policies when it starts, for an init system to run at boot (berth has
// no daemon to do it).
func newSystemBootCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "boot",
		Short: "Start the containers whose restart policy says so (run once at boot)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			results, err := e.Boot(cmd.Context())
			failed := false
			for _, r := range results {
				if r.Err != nil {
					fmt.Fprintln(os.Stderr, "Error:", r.Err)
					failed = true
					continue
				}
				fmt.Println(r.Container.Name)
			}
			if err != nil {
				return err
			}
			if failed {
				return exitError{code: 1}
			}
			return nil
		},
	}
}

func newSystemDfCommand(g *globalOptions) *cobra.Command {
	var format string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show berth disk usage",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			imgs, err := e.Images.List(cmd.Context())
			if err != nil {
				return err
			}
			// Shared layers count once for the total.
			var total int64
			seen := map[string]bool{}
			for _, img := range imgs {
				layers, err := e.Images.Layers(cmd.Context(), img)
				if err != nil {
					return err
				}
				for _, l := range layers {
					if !seen[l.Key] {
						seen[l.Key] = true
						total += l.Size
					}
				}
			}
			active := 0
			row := dfRow{Type: "Images", TotalCount: fmt.Sprint(len(imgs)), Active: fmt.Sprint(active),
				Size: humanSize(total), Reclaimable: fmt.Sprintf("%s (100%%)", humanSize(total))}
			if total == 0 {
				row.Reclaimable = "0B"
			}
			if verbose {
				fmt.Println("Images space usage:")
				fmt.Println()
				var rows []any
				for _, img := range imgs {
					r := imageRows(img, &imageFilter{})
					for i := range r {
						r[i].ID = image.ShortID(digest.Digest(img.ID))
						rows = append(rows, r[i])
					}
				}
				if err := (formatter{out: os.Stdout, def: "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}", headers: imageHeaders}.print(rows)); err != nil {
					return err
				}
				return printBuildCacheUsage(cmd.Context(), e)
			}
			vu, err := e.VolumesDiskUsage(cmd.Context())
			if err != nil {
				return err
			}
			cu, err := e.BuildCacheUsage(cmd.Context())
			if err != nil {
				return err
			}
			bc := dfRow{Type: "Build Cache", TotalCount: fmt.Sprint(cu.Count), Active: "0", Size: humanSize(cu.Size), Reclaimable: humanSize(cu.Size)}
			return formatter{out: os.Stdout, format: format, def: "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
				headers: map[string]string{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}}.print([]any{row, volumesDfRow(vu), bc})
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Show detailed information on space usage")
	return cmd
}

type dfRow struct{ Type, TotalCount, Active, Size, Reclaimable string }

// buildCacheDfRow is a row of df -v's build cache table, as Docker's.
type buildCacheDfRow struct {
	ID, CacheType, Size, CreatedSince, LastUsedSince string
	UsageCount                                       int
	Shared                                           bool
}

// printBuildCacheUsage is df -v's build cache section.
func printBuildCacheUsage(ctx context.Context, e *engine.Engine) error {
	cu, err := e.BuildCacheUsage(ctx)
	if err != nil {
		return err
	}
	recs, err := e.BuildCacheRecords(ctx, nil)
	if err != nil {
		return err
	}
	fmt.Printf("\nBuild cache usage: %s\n\n", units.HumanSize(float64(cu.Size)))
	rows := make([]any, 0, len(recs))
	for _, r := range recs {
		id := r.ID
		if len(id) > 12 {
			id = id[:12]
		}
		rows = append(rows, buildCacheDfRow{ID: id, CacheType: r.Type, Size: humanSize(r.Size),
			CreatedSince: since(r.CreatedAt), LastUsedSince: since(r.LastUsedAt), UsageCount: r.UsageCount, Shared: r.Shared})
	}
	return formatter{out: os.Stdout, def: "{{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
		headers: map[string]string{"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED",
			"LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED"}}.print(rows)
}

// volumesDfRow is df's Local Volumes row, as Docker's.
func volumesDfRow(u engine.VolumeUsage) dfRow {
	r := dfRow{Type: "Local Volumes", TotalCount: fmt.Sprint(u.Total), Active: fmt.Sprint(u.Active),
		Size: humanSize(u.Size), Reclaimable: humanSize(u.Reclaimable)}
	if u.Size > 0 {
		r.Reclaimable = fmt.Sprintf("%s (%d%%)", humanSize(u.Reclaimable), int64(float64(u.Reclaimable)/float64(u.Size)*100))
	}
	return r
}

func newSystemPruneCommand(g *globalOptions) *cobra.Command {
	var all, force bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return prune(cmd.Context(), g, all, force, true)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused images not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	return cmd
}
