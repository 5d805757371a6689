package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/image"
)

func newTagCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			return e.Images.Tag(cmd.Context(), args[0], args[1])
		},
	}
}

func newRmiCommand(g *globalOptions, use string) *cobra.Command {
	var force, noPrune bool
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			var errs []string
			for _, name := range args {
				res, err := e.Images.Remove(cmd.Context(), name, image.RemoveOptions{Force: force, NoPrune: noPrune, InUse: e.ImageInUse(cmd.Context())})
				if err != nil {
					errs = append(errs, err.Error())
					continue
				}
				for _, u := range res.Untagged {
					fmt.Println("Untagged: " + u)
				}
				for _, d := range res.Deleted {
					fmt.Println("Deleted: " + d)
				}
			}
			if len(errs) > 0 {
				return fmt.Errorf("%s", strings.Join(errs, "\nError: "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force removal of the image")
	cmd.Flags().BoolVar(&noPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

func newImageInspectCommand(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), g, args, format, "image", false)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

// printInspect prints inspect results as Docker does: an indented JSON
// array ("json": one line), or the template once per object, run on the
// typed object and, when that fails (a field spelt as in the JSON, such
// as .Id), on its JSON form.
func printInspect(objs []any, format string) error {
	if objs == nil {
		objs = []any{}
	}
	switch format {
	case "":
		data, err := json.MarshalIndent(objs, "", "    ")
		if err != nil {
			return err
		}
		fmt.Println(string(data))
		return nil
	case "json":
		data, err := json.Marshal(objs)
		if err != nil {
			return err
		}
		fmt.Println(string(data))
		return nil
	}
	t, err := parseTemplate(format)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	var errs []string
	for _, o := range objs {
		var buf bytes.Buffer
		if err := t.Execute(&buf, o); err != nil {
			buf.Reset()
			var generic any
			data, _ := json.Marshal(o)
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			dec.Decode(&generic)
			if err := t.Option("missingkey=error").Execute(&buf, generic); err != nil {
				errs = append(errs, fmt.Sprintf("template parsing error: %v", err))
				continue
			}
		}
		out.Write(buf.Bytes())
		out.WriteByte('\n')
	}
	if out.Len() == 0 {
		out.WriteByte('\n')
	}
	if _, err := os.Stdout.Write(out.Bytes()); err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\nError: "))
	}
	return nil
}

func inspectImage(ctx context.Context, e *engine.Engine, name string) (*imagetypes.InspectResponse, error) {
	img, err := e.Images.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	cfg, err := e.Images.Config(img)
	if err != nil {
		return nil, err
	}
	r := &imagetypes.InspectResponse{
		ID:           img.ID.String(),
		RepoTags:     familiarAll(img.RepoTags),
		RepoDigests:  familiarAll(img.RepoDigests),
		Author:       cfg.Author,
		Config:       &cfg.Config,
		Architecture: cfg.Architecture,
		Variant:      cfg.Variant,
		Os:           cfg.OS,
		OsVersion:    cfg.OSVersion,
		Size:         img.Size,
		RootFS:       imagetypes.RootFS{Type: cfg.RootFS.Type},
		Metadata:     imagetypes.Metadata{LastTagTime: img.Added},
		GraphDriver:  &storage.DriverData{Name: e.DriverName(), Data: map[string]string{}},
	}
	if cfg.Created != nil {
		r.Created = cfg.Created.UTC().Format(time.RFC3339Nano)
	}
	if len(cfg.History) > 0 {
		r.Comment = cfg.History[len(cfg.History)-1].Comment
	}
	for _, d := range cfg.RootFS.DiffIDs {
		r.RootFS.Layers = append(r.RootFS.Layers, d.String())
	}
	if r.Config == nil {
		r.Config = &dockerspec.DockerOCIImageConfig{}
	}
	return r, nil
}

func familiarAll(refs []string) []string {
	out := []string{}
	for _, r := range refs {
		out = append(out, image.Familiar(r))
	}
	return out
}

func newHistoryCommand(g *globalOptions, use string) *cobra.Command {
	var noTrunc, quiet, human bool
	var format string
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			img, err := e.Images.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			hist, err := e.Images.History(cmd.Context(), img)
			if err != nil {
				return err
			}
			var rows []any
			for _, h := range hist {
				id := h.ID
				if !noTrunc && strings.HasPrefix(id, "sha256:") {
					id = id[7:19]
				}
				if quiet {
					fmt.Println(id)
					continue
				}
				createdBy := strings.ReplaceAll(h.CreatedBy, "\t", " ")
				if !noTrunc && len([]rune(createdBy)) > 45 {
					createdBy = string([]rune(createdBy)[:44]) + "…"
				}
				row := historyRow{ID: id, CreatedBy: createdBy, Comment: h.Comment,
					CreatedAt: h.Created.Format(time.RFC3339), CreatedSince: since(h.Created), Size: humanSize(h.Size)}
				if !human {
					row.CreatedSince = row.CreatedAt
					row.Size = fmt.Sprint(h.Size)
				}
				rows = append(rows, row)
			}
			if quiet {
				return nil
			}
			return formatter{out: os.Stdout, format: format,
				def:     "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
				headers: map[string]string{"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"},
			}.print(rows)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	f.BoolVarP(&human, "human", "H", true, "Print sizes and dates in human readable format")
	f.StringVar(&format, "format", "", "Format output using a custom template")
	return cmd
}

type historyRow struct {
	ID, CreatedSince, CreatedAt, CreatedBy, Size, Comment string
}

func newImagePruneCommand(g *globalOptions) *cobra.Command {
	var all, force bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return prune(cmd.Context(), g, all, force, false)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused images, not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	return cmd
}

// prune is `image prune` and, with cleanup (crash leftovers: orphan
// snapshot directories, stale partial downloads, unreferenced blobs),
// `system prune`.
func prune(ctx context.Context, g *globalOptions, all, force, cleanup bool) error {
	if !force && !confirm(all) {
		return nil
	}
	e, err := g.engine()
	if err != nil {
		return err
	}
	defer e.Close()
	deleted, freed, err := e.Images.Prune(ctx, image.PruneOptions{All: all})
	if err != nil {
		return err
	}
	if cleanup {
		n, err := e.Images.Cleanup(ctx)
		if err != nil {
			return err
		}
		freed += n
	}
	if len(deleted) > 0 {
		fmt.Println("Deleted Images:")
		for _, d := range deleted {
			if strings.HasPrefix(d, "sha256:") {
				fmt.Println("deleted: " + d)
			} else {
				fmt.Println("untagged: " + d)
			}
		}
		fmt.Println()
	}
	fmt.Printf("Total reclaimed space: %s\n", humanSize(freed))
	return nil
}

// confirm asks Docker's prune question on stdin.
func confirm(all bool) bool {
	if all {
		fmt.Print("WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue? [y/N] ")
	} else {
		fmt.Print("WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ")
	}
	var answer string
	fmt.Scanln(&answer)
	return strings.EqualFold(strings.TrimSpace(answer), "y") || strings.EqualFold(strings.TrimSpace(answer), "yes")
}
