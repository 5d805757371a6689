package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/engine"
)

type cpOptions struct {
	follow, archive, quiet bool
}

func newCpCommand(g *globalOptions) *cobra.Command {
	var o cpOptions
	cmd := &cobra.Command{
		Use: `cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
	berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH`,
		Short: "Copy files/folders between a container and the local filesystem",
		Long: `Copy files/folders between a container and the local filesystem

Use '-' as the source to read a tar archive from stdin
and extract it to a directory destination in a container.
Use '-' as the destination to stream a tar archive of a
container source to stdout.`,
		Args:                  exactArgs(2),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				return errors.New("source can not be empty")
			}
			if args[1] == "" {
				return errors.New("destination can not be empty")
			}
			if !cmd.Flag("quiet").Changed {
				o.quiet = !isTerminal(os.Stdout)
			}
			srcCtr, src := splitCpArg(args[0])
			dstCtr, dst := splitCpArg(args[1])
			switch {
			case srcCtr != "" && dstCtr != "":
				return errors.New("copying between containers is not supported")
			case srcCtr == "" && dstCtr == "":
				return errors.New("must specify at least one container source")
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			if srcCtr != "" {
				return copyFromContainer(cmd, e, srcCtr, src, dst, o)
			}
			return copyToContainer(cmd, e, dstCtr, src, dst, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.follow, "follow-link", "L", false, "Always follow symlinks in SRC_PATH")
	f.BoolVarP(&o.archive, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached")
	return cmd
}

// splitCpArg splits CONTAINER:PATH; a path that is absolute, or whose
// part before the colon starts with ".", is local.
func splitCpArg(arg string) (ctr, p string) {
	if filepath.IsAbs(arg) {
		return "", arg
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(ctr, ".") {
		return "", arg
	}
	return ctr, p
}

// localPath makes a local cp path absolute, keeping a trailing "/" or "/.".
func localPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return archive.PreserveTrailingDotOrSeparator(abs, p), nil
}

// countReader counts what the copy moved, for the summary line.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func copyFromContainer(cmd *cobra.Command, e *engine.Engine, ctr, src, dst string, o cpOptions) error {
	if dst != "-" {
		var err error
		if dst, err = localPath(dst); err != nil {
			return err
		}
	}
	return e.CopyFromContainer(cmd.Context(), ctr, src, o.follow, func(st *archive.PathStat, r io.Reader) error {
		if dst == "-" {
			_, err := io.Copy(os.Stdout, r)
			return err
		}
		cr := &countReader{r: r}
		info := archive.CopyInfo{Path: archive.CleanCopyPath(src), Exists: true, IsDir: st.Mode.IsDir()}
		if err := archive.CopyTo(cmd.Context(), cr, info, dst, archive.CopyOptions{KeepOwners: o.archive}); err != nil {
			return err
		}
		if !o.quiet {
			size := cr.n
			if !st.Mode.IsDir() {
				size = st.Size
			}
			fmt.Fprintf(os.Stderr, "Successfully copied %s to %s\n", humanSize(size), dst)
		}
		return nil
	})
}

func copyToContainer(cmd *cobra.Command, e *engine.Engine, ctr, src, dst string, o cpOptions) error {
	ctx := cmd.Context()
	dstInfo := archive.CopyInfo{Path: dst}
	if st, err := e.ContainerStatPath(ctx, ctr, dst); err == nil {
		if st.Mode&os.ModeSymlink != 0 {
			dstInfo.Path = st.LinkTarget
			st, err = e.ContainerStatPath(ctx, ctr, st.LinkTarget)
		}
		if err == nil {
			if !st.Mode.IsDir() && !st.Mode.IsRegular() {
				return fmt.Errorf("destination \"%s:%s\" must be a directory or a regular file", ctr, dst)
			}
			dstInfo.Exists, dstInfo.IsDir = true, st.Mode.IsDir()
		}
	} else if !errors.Is(err, engine.ErrPathNotFound) {
		return err
	}
	copyOpts := archive.CopyOptions{KeepOwners: o.archive}
	if src == "-" {
		if !dstInfo.IsDir {
			return fmt.Errorf("destination \"%s:%s\" must be a directory", ctr, dst)
		}
		return e.CopyToContainer(ctx, ctr, dstInfo.Path, os.Stdin, copyOpts)
	}
	src, err := localPath(src)
	if err != nil {
		return err
	}
	srcInfo, err := archive.CopyInfoSourcePath(src, o.follow)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.TarPath(ctx, "/", src, o.follow, pw)) }()
	defer pr.Close()
	dir, content, err := archive.PrepareArchiveCopy(pr, srcInfo, dstInfo)
	if err != nil {
		return err
	}
	defer content.Close()
	cr := &countReader{r: content}
	if err := e.CopyToContainer(ctx, ctr, dir, cr, copyOpts); err != nil {
		return err
	}
	if !o.quiet {
		fmt.Fprintf(os.Stderr, "Successfully copied %s to %s:%s\n", humanSize(cr.n), ctr, dstInfo.Path)
	}
	return nil
}
