package cli

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/image"
)

type imagesOptions struct {
	all, quiet, digests, noTrunc bool
	filters                      []string
	format                       string
}

func newImagesCommand(g *globalOptions, use string) *cobra.Command {
	o := &imagesOptions{}
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImages(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "Show all images (default hides intermediate images)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Only show image IDs")
	f.BoolVar(&o.digests, "digests", false, "Show digests")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	f.StringArrayVarP(&o.filters, "filter", "f", nil, "Filter output based on conditions provided")
	f.StringVar(&o.format, "format", "", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
	return cmd
}

// imageRow is one line of `images`, with Docker's template field names.
type imageRow struct {
	Containers   string
	CreatedAt    string
	CreatedSince string
	Digest       string
	ID           string
	Repository   string
	SharedSize   string
	Size         string
	Tag          string
	UniqueSize   string
	VirtualSize  string
}

var imageHeaders = map[string]string{
	"Containers": "CONTAINERS", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED", "Digest": "DIGEST",
	"ID": "IMAGE ID", "Repository": "REPOSITORY", "SharedSize": "SHARED SIZE", "Size": "SIZE",
	"Tag": "TAG", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
}

func runImages(ctx context.Context, g *globalOptions, o *imagesOptions, args []string) error {
	e, err := g.engine()
	if err != nil {
		return err
	}
	defer e.Close()
	filter, err := parseImageFilters(ctx, e.Images, o.filters)
	if err != nil {
		return err
	}
	if len(args) == 1 {
		filter.references = append(filter.references, args[0])
	}
	imgs, err := e.Images.List(ctx)
	if err != nil {
		return err
	}
	var rows []any
	seen := map[string]bool{}
	for _, img := range imgs {
		ok, err := filter.match(e.Images, img)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		id := img.ID.String()
		if !o.noTrunc {
			id = image.ShortID(img.ID)
		}
		if o.quiet {
			if !seen[id] {
				seen[id] = true
				fmt.Println(id)
			}
			continue
		}
		for _, r := range imageRows(img, filter) {
			r.ID = id
			rows = append(rows, r)
		}
	}
	if o.quiet {
		return nil
	}
	def := "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	if o.digests {
		def = "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	}
	return formatter{out: os.Stdout, format: o.format, def: def, headers: imageHeaders}.print(rows)
}

// imageRows returns one row per repository:tag of img (and one per
// digest-only repository), or a <none> row for a dangling image.
func imageRows(img *image.Image, f *imageFilter) []imageRow {
	base := imageRow{
		Containers:   "N/A",
		CreatedAt:    img.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
		CreatedSince: since(img.Created),
		Size:         humanSize(img.Size),
		SharedSize:   "N/A",
		UniqueSize:   "N/A",
		VirtualSize:  humanSize(img.Size),
		Digest:       "<none>",
	}
	digestOf := map[string]string{}
	for _, rd := range img.RepoDigests {
		repo, d, _ := strings.Cut(rd, "@")
		digestOf[image.Familiar(repo)] = d
	}
	var rows []imageRow
	tagged := map[string]bool{}
	for _, t := range img.RepoTags {
		if !f.matchRef(t) {
			continue
		}
		r := base
		r.Repository, r.Tag = splitRef(t)
		tagged[r.Repository] = true
		if d, ok := digestOf[r.Repository]; ok {
			r.Digest = d
		}
		rows = append(rows, r)
	}
	for repo, d := range digestOf {
		if tagged[repo] || !f.matchRef(repo) {
			continue
		}
		r := base
		r.Repository, r.Tag, r.Digest = repo, "<none>", d
		rows = append(rows, r)
	}
	if len(img.RepoTags) == 0 && len(img.RepoDigests) == 0 && len(f.references) == 0 {
		r := base
		r.Repository, r.Tag = "<none>", "<none>"
		rows = append(rows, r)
	}
	return rows
}

func splitRef(ref string) (repo, tag string) {
	fam := image.Familiar(ref)
	i := strings.LastIndex(fam, ":")
	if i < 0 || strings.Contains(fam[i:], "/") {
		return fam, "<none>"
	}
	return fam[:i], fam[i+1:]
}

// imageFilter is --filter for images.
type imageFilter struct {
	dangling   *bool
	labels     []string
	references []string
	before     *image.Image
	since      *image.Image
}

func parseImageFilters(ctx context.Context, s *image.Service, args []string) (*imageFilter, error) {
	f := &imageFilter{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value): %s", a)
		}
		switch strings.ToLower(k) {
		case "dangling":
			switch strings.ToLower(v) {
			case "true", "1":
				t := true
				f.dangling = &t
			case "false", "0":
				t := false
				f.dangling = &t
			default:
				return nil, fmt.Errorf("invalid filter 'dangling=%s'", v)
			}
		case "label":
			f.labels = append(f.labels, v)
		case "reference":
			f.references = append(f.references, v)
		case "before", "since":
			img, err := s.Get(ctx, v)
			if err != nil {
				return nil, err
			}
			if k == "before" {
				f.before = img
			} else {
				f.since = img
			}
		default:
			return nil, fmt.Errorf("invalid filter '%s'", k)
		}
	}
	return f, nil
}

func (f *imageFilter) match(s *image.Service, img *image.Image) (bool, error) {
	if f.dangling != nil && *f.dangling != (len(img.RepoTags) == 0) {
		return false, nil
	}
	if f.before != nil && !img.Created.Before(f.before.Created) {
		return false, nil
	}
	if f.since != nil && !img.Created.After(f.since.Created) {
		return false, nil
	}
	if len(f.labels) > 0 {
		cfg, err := s.Config(img)
		if err != nil {
			return false, err
		}
		for _, l := range f.labels {
			k, v, hasV := strings.Cut(l, "=")
			got, ok := cfg.Config.Labels[k]
			if !ok || (hasV && got != v) {
				return false, nil
			}
		}
	}
	if len(f.references) > 0 {
		any := false
		for _, t := range append(append([]string{}, img.RepoTags...), img.RepoDigests...) {
			if f.matchRef(t) {
				any = true
			}
		}
		return any, nil
	}
	return true, nil
}

// matchRef applies the reference filters (shell patterns on the familiar
// name, with or without the tag) to a stored reference.
func (f *imageFilter) matchRef(ref string) bool {
	if len(f.references) == 0 {
		return true
	}
	fam := image.Familiar(ref)
	repo, _ := splitRef(ref)
	for _, pat := range f.references {
		if ok, _ := path.Match(pat, fam); ok {
			return true
		}
		if ok, _ := path.Match(pat, repo); ok {
			return true
		}
	}
	return false
}
