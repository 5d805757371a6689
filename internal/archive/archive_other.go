//go:build !linux

package archive

import (
	"context"
	"errors"
	"io"
)

// Apply needs openat2 and the other *at system calls of Linux.
func Apply(ctx context.Context, root string, r io.Reader, opts Options) (int64, error) {
	return 0, errors.ErrUnsupported
}

// Tar needs the *at system calls of Linux.
func Tar(ctx context.Context, dir string, w io.Writer) error { return errors.ErrUnsupported }

// DiffOverlay needs overlayfs.
func DiffOverlay(ctx context.Context, upper string, w io.Writer) error {
	return errors.ErrUnsupported
}
