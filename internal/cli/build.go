package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/image"
)

// buildFlags are `build`'s flags as typed.
type buildFlags struct {
	file, target, iidfile, progress, cgroupParent string
	tags, buildArgs, labels                       []string
	noCache, quiet                                bool
}

func newBuildCommand(g *globalOptions) *cobra.Command {
	var f buildFlags
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | -",
		Short: "Build an image from a Dockerfile",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(args[0])
			if err != nil {
				return err
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			res, err := e.Build(cmd.Context(), o)
			if err != nil {
				return err
			}
			if f.iidfile != "" {
				if err := os.WriteFile(f.iidfile, []byte(res.ImageID.String()), 0o644); err != nil {
					return fmt.Errorf("failed to write image ID to %s: %w", f.iidfile, err)
				}
			}
			if f.quiet {
				fmt.Println(res.ImageID)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", `Name of the Dockerfile (default: "PATH/Dockerfile")`)
	fl.StringArrayVarP(&f.tags, "tag", "t", nil, `Name and optionally a tag (format: "name:tag")`)
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "Set build-time variables")
	fl.StringArrayVar(&f.labels, "label", nil, "Set metadata for an image")
	fl.StringVar(&f.target, "target", "", "Set the target build stage to build")
	fl.BoolVar(&f.noCache, "no-cache", false, "Do not use cache when building the image")
	fl.StringVar(&f.iidfile, "iidfile", "", "Write the image ID to a file")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	fl.StringVar(&f.progress, "progress", "auto", `Set type of progress output ("auto", "plain", "tty", "quiet"); all plain for now`)
	fl.StringVar(&f.cgroupParent, "cgroup-parent", "", "Set the parent cgroup for the RUN instructions during build")
	return cmd
}

// options checks the flags and turns them into the engine's options.
func (f *buildFlags) options(path string) (engine.BuildOptions, error) {
	o := engine.BuildOptions{
		ContextDir: path, Dockerfile: f.file, Stdin: os.Stdin, Target: f.target,
		NoCache: f.noCache, CgroupParent: f.cgroupParent, Progress: os.Stderr,
	}
	switch f.progress {
	case "auto", "plain", "tty":
	case "quiet":
		f.quiet = true
	default:
		return o, fmt.Errorf("invalid progress mode %q: use auto, plain, tty or quiet", f.progress)
	}
	if f.quiet {
		o.Progress = nil
	}
	for _, t := range f.tags {
		ref, err := image.ParseTagRef(t)
		if err != nil {
			return o, fmt.Errorf("invalid tag %q: %v", t, strings.TrimPrefix(err.Error(), "invalid reference format: "+fmt.Sprintf("%q: ", t)))
		}
		o.Tags = append(o.Tags, ref.String())
	}
	o.BuildArgs = map[string]string{}
	for _, a := range f.buildArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			// A bare name takes its value from the environment, if set.
			if v, ok = os.LookupEnv(k); !ok {
				continue
			}
		}
		o.BuildArgs[k] = v
	}
	if len(f.labels) > 0 {
		o.Labels = map[string]string{}
		for _, l := range f.labels {
			k, v, _ := strings.Cut(l, "=")
			o.Labels[k] = v
		}
	}
	if path == "-" && f.file == "-" {
		return o, fmt.Errorf("invalid argument: can't use stdin for both build context and dockerfile")
	}
	return o, nil
}
