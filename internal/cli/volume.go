package cli

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	volumetypes "github.com/moby/moby/api/types/volume"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
)

// newVolumeCommand is `berth volume …`.
func newVolumeCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage volumes"}
	cmd.AddCommand(newVolumeCreateCommand(g), newVolumeLsCommand(g), newVolumeInspectCommand(g),
		newVolumeRmCommand(g), newVolumePruneCommand(g))
	return cmd
}

func newVolumeCreateCommand(g *globalOptions) *cobra.Command {
	var name, driver string
	var labels, opts []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return fmt.Errorf("%q requires at most 1 argument.\nSee '%s --help'.\n\nUsage:  %s", c.CommandPath(), c.CommandPath(), c.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if name != "" {
					return errors.New("conflicting options: cannot specify a volume-name through both --name and as a positional arg")
				}
				name = args[0]
			}
			l, err := parseLabels(nil, labels)
			if err != nil {
				return err
			}
			o := engine.VolumeCreateOptions{Name: name, Driver: driver, Labels: l, Options: map[string]string{}}
			if o.Labels == nil {
				o.Labels = map[string]string{} // as Docker's CLI sends them: {} in inspect
			}
			for _, kv := range opts {
				k, v, _ := strings.Cut(kv, "=")
				o.Options[k] = v
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			v, err := e.CreateVolume(cmd.Context(), o)
			if err != nil {
				return daemonError(err)
			}
			fmt.Println(v.Name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&driver, "driver", "d", "local", "Specify volume driver name")
	f.StringArrayVar(&labels, "label", nil, "Set metadata for a volume")
	f.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	f.StringVar(&name, "name", "", "Specify volume name")
	f.MarkHidden("name")
	return cmd
}

// volumeRow is a volume as `volume ls --format` sees it (Docker's
// volume formatter).
type volumeRow struct{ v *volumetypes.Volume }

func (r volumeRow) Name() string       { return r.v.Name }
func (r volumeRow) Driver() string     { return r.v.Driver }
func (r volumeRow) Scope() string      { return r.v.Scope }
func (r volumeRow) Mountpoint() string { return r.v.Mountpoint }
func (r volumeRow) Links() string      { return "N/A" }
func (r volumeRow) Size() string       { return "N/A" }
func (r volumeRow) Group() string      { return "N/A" }
func (r volumeRow) Availability() string {
	return "N/A"
}
func (r volumeRow) Status() string { return "N/A" }
func (r volumeRow) Label(name string) string {
	return r.v.Labels[name]
}
func (r volumeRow) Labels() string {
	var kv []string
	for k, v := range r.v.Labels {
		kv = append(kv, k+"="+v)
	}
	slices.Sort(kv)
	return strings.Join(kv, ",")
}

// MarshalJSON is `--format json`: every placeholder by name.
func (r volumeRow) MarshalJSON() ([]byte, error) {
	return placeholdersJSON(map[string]string{
		"Availability": r.Availability(), "Driver": r.Driver(), "Group": r.Group(), "Labels": r.Labels(),
		"Links": r.Links(), "Mountpoint": r.Mountpoint(), "Name": r.Name(), "Scope": r.Scope(),
		"Size": r.Size(), "Status": r.Status(),
	})
}

var volumeHeaders = headerMap{
	"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
	"Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "Group": "GROUP", "Availability": "AVAILABILITY",
	"Status": "STATUS",
}

func newVolumeLsCommand(g *globalOptions) *cobra.Command {
	var quiet bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    exactArgs(0),
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
			vs, err := e.ListVolumes(cmd.Context(), f)
			if err != nil {
				return daemonError(err)
			}
			if quiet && format == "" {
				format = "{{.Name}}"
			}
			rows := make([]any, len(vs))
			for i, v := range vs {
				rows[i] = volumeRow{v}
			}
			return formatter{out: os.Stdout, format: format, def: "{{.Driver}}\t{{.Name}}", headers: volumeHeaders}.print(rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	f.StringVar(&format, "format", "", "Format output using a custom template")
	f.StringArrayVarP(&filters, "filter", "f", nil, `Provide filter values (e.g. "dangling=true")`)
	return cmd
}

func newVolumeInspectCommand(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			errs, err := inspectEach(g, args, format, func(e *engine.Engine, ref string) (any, error) {
				return e.InspectVolume(cmd.Context(), ref)
			})
			if err != nil {
				return err
			}
			return daemonErrors(errs)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func newVolumeRmCommand(g *globalOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachArg(g, cmd, args, func(e *engine.Engine, name string) error {
				return e.RemoveVolume(cmd.Context(), name, force)
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

func newVolumePruneCommand(g *globalOptions) *cobra.Command {
	var all, force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := engine.ParseFilters(filters)
			if err != nil {
				return err
			}
			if all {
				if _, ok := f["all"]; ok {
					return errors.New("conflicting options: cannot specify both --all and --filter all=1")
				}
				f["all"] = []string{"true"}
			}
			warning := "WARNING! This will remove anonymous local volumes not used by at least one container.\n"
			if slices.ContainsFunc(f["all"], func(v string) bool { return v == "true" || v == "1" }) {
				warning = "WARNING! This will remove all local volumes not used by at least one container.\n"
			}
			if !force && !ask(warning+"Are you sure you want to continue? [y/N] ") {
				return nil
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			deleted, reclaimed, err := e.PruneVolumes(cmd.Context(), f)
			if err != nil {
				return daemonError(err)
			}
			if len(deleted) > 0 {
				fmt.Println("Deleted Volumes:")
				for _, name := range deleted {
					fmt.Println(name)
				}
				fmt.Println()
			}
			fmt.Println("Total reclaimed space:", humanSize(reclaimed))
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	f.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	f.StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "label=<label>")`)
	return cmd
}
