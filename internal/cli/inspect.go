package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/image"
)

// inspectTypes are the objects `inspect` knows, in the order it looks a
// name up, as Docker's.
var inspectTypes = []string{"container", "image", "volume"}

func newInspectCommand(g *globalOptions) *cobra.Command {
	var format, typ string
	var size bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on berth objects",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("type") && typ == "" {
				return fmt.Errorf(`type is empty: must be one of "%s"`, strings.Join(inspectTypes, `", "`))
			}
			if typ != "" && !slices.Contains(inspectTypes, typ) {
				return fmt.Errorf(`unknown type: %q: must be one of "%s"`, typ, strings.Join(inspectTypes, `", "`))
			}
			return runInspect(cmd.Context(), g, args, format, typ, size)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&format, "format", "f", "", "Format output using a custom template")
	f.StringVar(&typ, "type", "", "Only inspect objects of the given type (container, image or volume)")
	f.BoolVarP(&size, "size", "s", false, "Display total file sizes if the type is container")
	return cmd
}

func newContainerInspectCommand(g *globalOptions) *cobra.Command {
	var format string
	var size bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), g, args, format, "container", size)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolVarP(&size, "size", "s", false, "Display total file sizes")
	return cmd
}

// inspectEach prints (as JSON, or with format) what one finds for every
// name, and returns the error lines of the names it did not; err is a
// bad format or an engine that would not open.
func inspectEach(g *globalOptions, names []string, format string, one func(*engine.Engine, string) (any, error)) (errs []string, err error) {
	if format != "" && format != "json" {
		if _, err := parseTemplate(format); err != nil {
			return nil, err
		}
	}
	e, err := g.engine()
	if err != nil {
		return nil, err
	}
	defer e.Close()
	var out []any
	for _, name := range names {
		obj, err := one(e, name)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, obj)
	}
	if err := printInspect(out, format); err != nil {
		errs = append(errs, err.Error())
	}
	return errs, nil
}

// daemonErrors prints errs as Docker's client does and exits 1 if any.
func daemonErrors(errs []string) error {
	for _, e := range errs {
		fmt.Fprintln(os.Stderr, "Error response from daemon:", e)
	}
	if len(errs) > 0 {
		return exitError{code: 1}
	}
	return nil
}

// runInspect prints what every name is (of type typ, or a container
// else an image), then the errors for the names that were not found.
func runInspect(ctx context.Context, g *globalOptions, names []string, format, typ string, size bool) error {
	errs, err := inspectEach(g, names, format, func(e *engine.Engine, name string) (any, error) {
		return inspectOne(ctx, e, name, typ, size)
	})
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\nError: "))
	}
	return nil
}

func inspectOne(ctx context.Context, e *engine.Engine, name, typ string, size bool) (any, error) {
	if typ == "" || typ == "container" {
		c, err := e.InspectContainer(ctx, name, size)
		if err == nil || typ == "container" || !errors.Is(err, container.ErrNotFound) {
			return c, err
		}
	}
	if typ == "volume" {
		return e.InspectVolume(ctx, name)
	}
	img, err := inspectImage(ctx, e, name)
	if typ == "" && err != nil {
		if v, verr := e.InspectVolume(ctx, name); verr == nil {
			return v, nil
		}
	}
	if err == nil {
		if size {
			fmt.Fprintln(os.Stderr, "WARNING: --size ignored for image")
		}
		return img, nil
	}
	if typ == "" && (errors.Is(err, image.ErrNotFound) || strings.Contains(err.Error(), "invalid reference format")) {
		return nil, fmt.Errorf("No such object: %s", name)
	}
	return nil, err
}
