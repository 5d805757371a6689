package cli

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/reference"
)

// psHeaders are the column names of `ps` fields, as Docker's.
var psHeaders = map[string]string{
	"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
	"RunningFor": "CREATED", "Status": "STATUS", "State": "STATE", "Ports": "PORTS", "Names": "NAMES",
	"Size": "SIZE", "Labels": "LABELS", "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES",
	"Networks": "NETWORKS",
}

const psDefaultFormat = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

func newPsCommand(g *globalOptions, use string) *cobra.Command {
	var all, quiet, noTrunc, latest, size bool
	var last int
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS]",
		Short: "List containers",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := engine.ParseFilters(filters)
			if err != nil {
				return err
			}
			o := engine.ListOptions{All: all, Limit: last, Size: size, Filters: f}
			if latest && last == -1 {
				o.Limit = 1
			}
			if quiet && format != "" {
				fmt.Fprintln(os.Stderr, "WARNING: Ignoring custom format, because both --format and --quiet are set.")
			}
			if !quiet && !cmd.Flags().Changed("size") && strings.Contains(format, ".Size") {
				o.Size = true
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			cs, err := e.ListContainers(cmd.Context(), o)
			if err != nil {
				return err
			}
			if quiet {
				for _, c := range cs {
					fmt.Println((&psRow{c: c, trunc: !noTrunc}).ID())
				}
				return nil
			}
			rows := make([]any, len(cs))
			for i, c := range cs {
				rows[i] = &psRow{c: c, trunc: !noTrunc}
			}
			def := psDefaultFormat
			if o.Size {
				def += "\t{{.Size}}"
			}
			return formatter{out: os.Stdout, format: format, headers: psHeaders, def: def}.print(rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display container IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	f.BoolVarP(&latest, "latest", "l", false, "Show the latest created container (includes all states)")
	f.IntVarP(&last, "last", "n", -1, "Show n last created containers (includes all states)")
	f.BoolVarP(&size, "size", "s", false, "Display total file sizes")
	f.StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	f.StringVar(&format, "format", "", "Format output using a custom template")
	return cmd
}

// psRow is one container as `ps` templates see it: Docker's placeholders
// are its methods.
type psRow struct {
	c     containertypes.Summary
	trunc bool
}

func (r *psRow) ID() string {
	if r.trunc {
		return truncateID(r.c.ID)
	}
	return r.c.ID
}

func truncateID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	return id[:min(12, len(id))]
}

func (r *psRow) Names() string {
	names := make([]string, 0, len(r.c.Names))
	for _, n := range r.c.Names {
		names = append(names, strings.TrimPrefix(n, "/"))
	}
	if r.trunc && len(names) > 0 {
		return names[0]
	}
	return strings.Join(names, ",")
}

// Image is the image as it was asked for, its short ID when that name
// now means another image.
func (r *psRow) Image() string {
	img := r.c.Image
	if img == "" {
		return "<no image>"
	}
	if !r.trunc {
		return img
	}
	if t := truncateID(r.c.ImageID); t == truncateID(img) {
		return t
	}
	ref, err := reference.ParseNormalizedNamed(img)
	if err != nil {
		return img
	}
	return reference.FamiliarString(ref)
}

func (r *psRow) Command() string {
	cmd := r.c.Command
	if rs := []rune(cmd); r.trunc && len(rs) > 20 {
		cmd = string(rs[:19]) + "…"
	}
	return strconv.Quote(cmd)
}

func (r *psRow) CreatedAt() string { return time.Unix(r.c.Created, 0).String() }

func (r *psRow) RunningFor() string { return since(time.Unix(r.c.Created, 0)) }

func (r *psRow) Ports() string { return displayablePorts(r.c.Ports) }

func (r *psRow) State() string { return string(r.c.State) }

func (r *psRow) Status() string { return r.c.Status }

func (r *psRow) Size() string {
	s := humanSize(r.c.SizeRw)
	if r.c.SizeRootFs > 0 {
		s += fmt.Sprintf(" (virtual %s)", humanSize(r.c.SizeRootFs))
	}
	return s
}

func (r *psRow) Labels() string {
	var kv []string
	for k, v := range r.c.Labels {
		kv = append(kv, k+"="+v)
	}
	slices.Sort(kv)
	return strings.Join(kv, ",")
}

func (r *psRow) Label(name string) string { return r.c.Labels[name] }

func (r *psRow) Mounts() string {
	var names []string
	for _, m := range r.c.Mounts {
		n := m.Name
		if n == "" {
			n = m.Source
		}
		if rs := []rune(n); r.trunc && len(rs) > 15 {
			n = string(rs[:14]) + "…"
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

func (r *psRow) LocalVolumes() string {
	n := 0
	for _, m := range r.c.Mounts {
		if m.Driver == "local" {
			n++
		}
	}
	return strconv.Itoa(n)
}

func (r *psRow) Networks() string {
	if r.c.NetworkSettings == nil {
		return ""
	}
	var names []string
	for n := range r.c.NetworkSettings.Networks {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// MarshalJSON is `--format json`: every placeholder by name.
func (r *psRow) MarshalJSON() ([]byte, error) {
	return placeholdersJSON(map[string]string{
		"ID": r.ID(), "Names": r.Names(), "Image": r.Image(), "Command": r.Command(),
		"CreatedAt": r.CreatedAt(), "RunningFor": r.RunningFor(), "Ports": r.Ports(),
		"State": r.State(), "Status": r.Status(), "Size": r.Size(), "Labels": r.Labels(),
		"Mounts": r.Mounts(), "LocalVolumes": r.LocalVolumes(), "Networks": r.Networks(),
	})
}
