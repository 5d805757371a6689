package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/snapshot"
)

// Like `podman image mount`: the image's tree, read-only, for tools that
// want to look inside it (or an OCI bundle's rootfs).

func imageMountPoint(root string, img *image.Image) string {
	return filepath.Join(root, "image-mounts", image.ShortID(img.ID))
}

func newImageMountCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "mount IMAGE",
		Short: "Mount an image's root filesystem read-only and print where",
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
			dir := imageMountPoint(g.root, img)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if snapshot.IsMountPoint(dir) {
				fmt.Println(dir)
				return nil
			}
			if img.TopLayer == "" {
				return fmt.Errorf("image %s has no layers to mount", args[0])
			}
			mounts, err := e.Images.Snapshotter().Mounts(cmd.Context(), img.TopLayer)
			if err != nil {
				return err
			}
			if _, err := snapshot.MountAll(mounts, dir); err != nil {
				os.Remove(dir)
				return err
			}
			fmt.Println(dir)
			return nil
		},
	}
}

func newImageUnmountCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "unmount IMAGE",
		Aliases: []string{"umount"},
		Short:   "Unmount an image mounted with image mount",
		Args:    exactArgs(1),
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
			dir := imageMountPoint(g.root, img)
			if !snapshot.IsMountPoint(dir) {
				return fmt.Errorf("image %s is not mounted", args[0])
			}
			if err := snapshot.Unmount(dir); err != nil {
				return err
			}
			os.Remove(dir)
			return nil
		},
	}
}
