package cli

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/engine"
)

// newBuilderCommand is `berth builder …`: build, the build cache's disk
// usage and its prune.
func newBuilderCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "builder", Short: "Manage builds"}
	cmd.AddCommand(newBuildCommand(g), newBuilderPruneCommand(g), newBuilderDuCommand(g))
	return cmd
}

// bytesFlag is a size flag as Docker's opts.MemBytes: "512mb", "2GB", a
// number of bytes.
type bytesFlag int64

func (b *bytesFlag) Set(v string) error {
	n, err := units.RAMInBytes(v)
	if err != nil {
		return err
	}
	*b = bytesFlag(n)
	return nil
}

func (b *bytesFlag) String() string { return fmt.Sprint(int64(*b)) }
func (b *bytesFlag) Type() string   { return "bytes" }

var _ pflag.Value = (*bytesFlag)(nil)

func newBuilderPruneCommand(g *globalOptions) *cobra.Command {
	var all, force bool
	var filters []string
	var reserved, maxUsed, minFree bytesFlag
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
			res, err := e.PruneBuildCache(cmd.Context(), engine.BuildCachePruneOptions{
				All: all, Filters: f, ReservedSpace: int64(reserved), MaxUsedSpace: int64(maxUsed), MinFreeSpace: int64(minFree),
			})
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
	fl.Var(&reserved, "reserved-space", "Amount of disk space always allowed to keep for cache")
	fl.Var(&maxUsed, "max-used-space", "Maximum amount of disk space allowed to keep for cache")
	fl.Var(&minFree, "min-free-space", "Target amount of free disk space after pruning")
	fl.Var(&reserved, "keep-storage", "Amount of disk space to keep for cache")
	fl.MarkDeprecated("keep-storage", "keep-storage flag has been changed to reserved-space")
	return cmd
}

// newBuilderDuCommand is `builder du`, as buildx's: the cache's records,
// a table or (--verbose) one block each, and a summary.
func newBuilderDuCommand(g *globalOptions) *cobra.Command {
	var verbose bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "du",
		Short: "Disk usage",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := engine.ParseFilters(filters)
			if err != nil {
				return err
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			recs, err := e.BuildCacheRecords(cmd.Context(), f)
			if err != nil {
				return err
			}
			printRecords(os.Stdout, recs, verbose)
			if len(filters) == 0 {
				printRecordsSummary(os.Stdout, recs)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Provide filter values")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "Provide a more verbose output")
	return cmd
}

func printRecords(w *os.File, recs []engine.BuildCacheRecord, verbose bool) {
	if verbose {
		for _, r := range recs {
			fmt.Fprintf(w, "ID:           %s\n", shortCacheID(r.ID))
			fmt.Fprintf(w, "Created at:   %s\n", r.CreatedAt)
			fmt.Fprintf(w, "Mutable:      %v\n", r.Mutable)
			fmt.Fprintf(w, "Reclaimable:  %v\n", !r.InUse)
			fmt.Fprintf(w, "Shared:       %v\n", r.Shared)
			fmt.Fprintf(w, "Size:         %s\n", units.HumanSize(float64(r.Size)))
			if r.Description != "" {
				fmt.Fprintf(w, "Description:  %s\n", r.Description)
			}
			fmt.Fprintf(w, "Usage count:  %d\n", r.UsageCount)
			fmt.Fprintf(w, "Last used:    %s ago\n", units.HumanDuration(time.Since(r.LastUsedAt)))
			fmt.Fprintf(w, "Type:         %s\n\n", r.Type)
		}
		return
	}
	tw := tableWriter(w)
	fmt.Fprintln(tw, "ID\tRECLAIMABLE\tSIZE\tLAST ACCESSED")
	for _, r := range recs {
		id, size := shortCacheID(r.ID), units.HumanSize(float64(r.Size))
		if r.Mutable {
			id += "*"
		}
		if r.Shared {
			size += "*"
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s ago\n", id, !r.InUse, size, units.HumanDuration(time.Since(r.LastUsedAt)))
	}
	tw.Flush()
}

// printRecordsSummary is buildx du's summary: shared and private sizes
// (when some is shared), reclaimable and total.
func printRecordsSummary(w *os.File, recs []engine.BuildCacheRecord) {
	var total, reclaimable, shared int64
	for _, r := range recs {
		total += r.Size
		if !r.InUse {
			reclaimable += r.Size
		}
		if r.Shared {
			shared += r.Size
		}
	}
	tw := tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
	if shared > 0 {
		fmt.Fprintf(tw, "Shared:\t%s\n", units.HumanSize(float64(shared)))
		fmt.Fprintf(tw, "Private:\t%s\n", units.HumanSize(float64(total-shared)))
	}
	fmt.Fprintf(tw, "Reclaimable:\t%s\n", units.HumanSize(float64(reclaimable)))
	fmt.Fprintf(tw, "Total:\t%s\n", units.HumanSize(float64(total)))
	tw.Flush()
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
