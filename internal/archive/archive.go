// Package archive owns tar streams in and out of directories: it unpacks
// image layers (untrusted input) into a directory, and writes a directory, or
// the upper directory of an overlay mount, back out as a layer tar.
//
// A layer is hostile input. Apply never lets an entry leave the root it
// unpacks into: names with ".." that climb out are refused, absolute names
// are taken relative to the root, every parent directory is resolved inside
// the root (openat2 RESOLVE_IN_ROOT, so a symlink in the layer is followed as
// if the root were "/"), and the last component is never followed.
// Sizes and entry counts are bounded (Options.MaxBytes, Options.MaxEntries).
//
// The package knows nothing of images, digests, snapshots or the engine: it
// must not import any other berth package. Callers hash streams and manage
// directories; this package only moves files.
package archive

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// WhiteoutMode says what Apply does with AUFS-style whiteout entries
// (.wh.NAME, .wh..wh..opq), which is how a layer tar records deletions.
type WhiteoutMode int

const (
	// WhiteoutOverlay: the layer is unpacked alone into an empty directory
	// that will be an overlayfs lower or upper layer, so whiteouts are stored
	// the way overlayfs reads them: .wh.NAME becomes a 0:0 character device
	// NAME; .wh..wh..opq sets the xattr trusted.overlay.opaque=y on its
	// directory.
	WhiteoutOverlay WhiteoutMode = iota
	// WhiteoutApply: the layer is applied on top of the full tree of its
	// parent (a plain-copy snapshotter), so whiteouts are carried out:
	// .wh.NAME removes NAME (recursively); .wh..wh..opq empties its directory
	// of everything that did not come from this same layer.
	WhiteoutApply
	// WhiteoutNone: the stream is not a layer but files being copied (cp),
	// so names beginning with .wh. are ordinary files, written as they are.
	WhiteoutNone
)

func (m WhiteoutMode) String() string {
	switch m {
	case WhiteoutOverlay:
		return "overlay"
	case WhiteoutApply:
		return "apply"
	case WhiteoutNone:
		return "none"
	}
	return fmt.Sprintf("WhiteoutMode(%d)", int(m))
}

const (
	// DefaultMaxBytes bounds the regular file content one Apply writes when
	// Options.MaxBytes is 0: far above any real layer, far below a full disk.
	DefaultMaxBytes int64 = 64 << 30
	// DefaultMaxEntries bounds the entries of one layer when
	// Options.MaxEntries is 0 (a full distribution is ~10^5).
	DefaultMaxEntries = 4_000_000
)

// Options tune Apply. The zero value unpacks for overlayfs, with the default
// limits, skipping device nodes and keeping the owners from the tar.
type Options struct {
	// Whiteouts says what to do with whiteout entries.
	Whiteouts WhiteoutMode
	// AllowDevices creates block and character device and fifo entries;
	// when false they are skipped (not an error). Whiteout devices in
	// overlay mode are always made.
	AllowDevices bool
	// MaxBytes limits the sum of the sizes of regular files written (a tar
	// bomb); 0 means DefaultMaxBytes.
	MaxBytes int64
	// MaxEntries limits the number of entries read; 0 means
	// DefaultMaxEntries.
	MaxEntries int
	// IgnoreChown skips lchown, for unprivileged callers: everything is
	// owned by the caller.
	IgnoreChown bool
	// NoOverwriteDirNonDir refuses an entry that would replace an existing
	// directory with a non-directory or the reverse (Docker's option of the
	// same name, which cp uses): a copy must not wipe a tree by a name.
	NoOverwriteDirNonDir bool
}

var (
	// ErrBreakout is the class of entries refused because their name or
	// hardlink target would leave the root Apply unpacks into.
	ErrBreakout = errors.New("path escapes the layer root")
	// ErrLimit is the class of errors from Options.MaxBytes and
	// Options.MaxEntries.
	ErrLimit = errors.New("layer exceeds a limit")
)

// Magic numbers of the compressions a layer may come in.
var (
	magicGzip = []byte{0x1f, 0x8b}
	magicZstd = []byte{0x28, 0xb5, 0x2f, 0xfd}
	// "BZh", a block size digit, then the block magic (BCD pi): the three
	// letters alone could begin a plain tar's first file name.
	magicBzip2      = []byte("BZh")
	magicBzip2Block = []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59}
	magicXz         = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
)

// Decompress returns a reader of the uncompressed stream of r, detecting the
// compression by its magic bytes: gzip is decompressed, anything that is not
// a known compression (a plain tar) passes through unchanged. gzip and zstd
// (the two the image spec names) are decompressed with klauspost/compress,
// about twice as fast as the standard library's gzip; bzip2 and xz are
// recognised and refused. Closing the result does not close r.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(10)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("archive: read stream header: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, magicGzip):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("archive: gzip: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(head, magicZstd):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<30))
		if err != nil {
			return nil, fmt.Errorf("archive: zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	case len(head) >= 10 && bytes.HasPrefix(head, magicBzip2) && head[3] >= '1' && head[3] <= '9' && bytes.Equal(head[4:10], magicBzip2Block):
		return nil, fmt.Errorf("archive: bzip2-compressed stream: %w", errors.ErrUnsupported)
	case bytes.HasPrefix(head, magicXz):
		return nil, fmt.Errorf("archive: xz-compressed stream: %w", errors.ErrUnsupported)
	}
	return io.NopCloser(br), nil
}
