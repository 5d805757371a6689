package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-dev/berth/internal/image"
)

func newSaveCommand(g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := refuseTerminal(output); err != nil {
				return err
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			return writeOutput(output, func(w io.Writer) error { return e.Images.Save(cmd.Context(), args, w) })
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

// refuseTerminal is docker's check before writing a tar to stdout: a
// terminal as the ioctl says, so `save > /dev/null` (a character device)
// works.
func refuseTerminal(output string) error {
	if output == "" && term.IsTerminal(int(os.Stdout.Fd())) {
		return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	return nil
}

// writeOutput runs write into the file output (atomically), or into
// stdout when output is "".
func writeOutput(output string, write func(io.Writer) error) error {
	if output != "" {
		return writeFileAtomic(output, write)
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	if err := write(w); err != nil {
		return err
	}
	return w.Flush()
}

// writeFileAtomic writes name through a temporary file beside it, renamed
// over name once complete and synced: a failure leaves no half file. The
// file is private (0600), as docker save's is.
func writeFileAtomic(name string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-")
	if err != nil {
		return fmt.Errorf("failed to save image: %w", err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := write(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("failed to save image: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("failed to save image: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("failed to save image: %w", err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("failed to save image: %w", err)
	}
	done = true
	return nil
}

func newLoadCommand(g *globalOptions) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = os.Stdin
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			} else if term.IsTerminal(int(os.Stdin.Fd())) {
				return errors.New("requested load from stdin, but stdin is empty")
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			lines, err := e.Images.Load(cmd.Context(), r)
			for _, l := range lines {
				fmt.Println(l)
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	// Loading shows no progress yet, so quiet changes nothing; the
	// "Loaded image" lines are printed either way, as docker does.
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}

func newImportCommand(g *globalOptions) *cobra.Command {
	var opts image.ImportOptions
	var platform string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) >= 1 && len(args) <= 2 {
				return nil
			}
			return fmt.Errorf("%q requires at least 1 and at most 2 arguments.\nSee '%s --help'.\n\nUsage:  %s", c.CommandPath(), c.CommandPath(), c.UseLine())
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				opts.Ref = args[1]
			}
			if platform != "" {
				p, err := image.ParsePlatform(platform)
				if err != nil {
					return err
				}
				opts.Platform = &p
			}
			var r io.Reader = os.Stdin
			switch src := args[0]; {
			case src == "-":
			case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://"):
				return fmt.Errorf("importing from a URL is not supported: download %s and import the file", src)
			default:
				f, err := os.Open(src)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			img, err := e.Images.Import(cmd.Context(), r, opts)
			if err != nil {
				return err
			}
			fmt.Println(img.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&opts.Changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	f.StringVarP(&opts.Message, "message", "m", "", "Set commit message for imported image")
	f.StringVar(&platform, "platform", "", "Set platform if server is multi-platform capable")
	return cmd
}
