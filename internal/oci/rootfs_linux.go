package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// openInRoot opens name for reading inside rootfs, resolving symlinks as if
// rootfs were / (so an image's /etc/passwd → /host/file stays inside). A
// missing file is (nil, nil): the user lookup goes without it, as Docker's
// does.
func openInRoot(rootfs, name string) (*os.File, error) {
	h, err := pathrs.OpenInRoot(rootfs, name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s in the container's rootfs: %w", name, err)
	}
	defer h.Close()
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open %s in the container's rootfs: %w", name, err)
	}
	return f, nil
}

// makeWorkingDir creates the working directory inside rootfs when it is
// missing, as Docker does when it builds the spec
// (container.SetupWorkingDirectory): mode 0755, owned by the engine's user.
// Like Docker it resolves symlinks inside rootfs first, so a link to a
// missing directory gets that directory made (inside rootfs); the walk
// that creates it then refuses to leave rootfs even if the tree changes
// meanwhile. writable, when set, is called first when there is something
// to create.
func makeWorkingDir(rootfs, dir string, writable func() error) error {
	resolved, err := securejoin.SecureJoin(rootfs, dir)
	if err == nil {
		if fi, serr := os.Stat(resolved); serr == nil && fi.IsDir() {
			return nil
		}
		if writable != nil {
			err = writable()
		}
	}
	if err == nil {
		var rel string
		rel, err = filepath.Rel(rootfs, resolved)
		if err == nil {
			err = pathrs.MkdirAll(rootfs, rel, 0o755)
		}
	}
	if err == nil {
		return nil
	}
	if h, err2 := pathrs.OpenInRoot(rootfs, dir); err2 == nil {
		fi, err3 := h.Stat()
		h.Close()
		if err3 == nil && !fi.IsDir() {
			return invalidf("Cannot mkdir: %s is not a directory", dir)
		}
	}
	return fmt.Errorf("working directory %s: %w", dir, err)
}
