// Package logs is Docker's json-file log driver: a container's stdout and
// stderr written as one JSON object per line, rotated by size, and read
// back (tail, since/until, follow) by `berth logs`.
//
// The writer runs inside the container's supervisor (`berth shim`), the
// reader in any other berth process; the only thing they share is the
// files, so the reader follows by polling (every 100 ms, see pollInterval)
// rather than being told about writes as dockerd's in-process readers are.
//
// # Files
//
// A log is path (being written) and, once rotated, path.1 … path.N-1
// (oldest last), N being Options.MaxFile. Each line of each file is
//
//	{"log":"hello\n","stream":"stdout","time":"2026-11-23T12:00:00.123456789Z"}
//
// with "time" in RFC 3339 with nanoseconds in UTC, and "log" keeping the
// line's newline (and a \r before it, if the program wrote one). A line of
// 16 KiB or more is cut into 16 KiB pieces written without a newline, all
// with the time of the first piece; the rest (possibly empty) follows with
// the newline. Text left without a newline when the writer is closed is
// written without one too. A reader sees such pieces as Message.Partial.
// This is what dockerd's copier and json-file driver write, key order and
// escaping included; the "attrs" object (labels, env, tag) is not written.
//
// Rotation is Docker's: before writing a line, if the file already holds
// MaxSize bytes or more, path.N-2 … path.1 move up one (path.N-1 is
// dropped), path becomes path.1, and a new path is created (with MaxFile 1
// path is removed and recreated). So a file may end up to one line past
// MaxSize, exactly as with Docker. Rotated files are never compressed.
//
// This package imports nothing else of berth.
package logs

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	units "github.com/docker/go-units"
)

// Options configures a Writer.
type Options struct {
	// MaxSize is the size in bytes a file may reach before the next line
	// rotates it; 0 means no limit and no rotation.
	MaxSize int64
	// MaxFile is how many files a log keeps in all, the one being written
	// included; 0 is taken as 1.
	MaxFile int
	// Compress asks for rotated files to be gzipped, which berth does not
	// do: New refuses it.
	Compress bool
	// Now stamps each line; nil means time.Now. Tests set a fixed clock.
	Now func() time.Time
}

// Berth's defaults for --log-opt. Docker's json-file driver keeps
// everything (no max-size, one file) unless the daemon is configured
// otherwise; berth bounds every container's log out of the box, as
// Docker's "local" driver does (that one with 20 MiB × 5). Both values are
// what `--log-opt max-size=10m,max-file=3` would give: go-units reads "10m"
// as decimal megabytes.
const (
	DefaultMaxSize int64 = 10 * units.MB // max-size=10m
	DefaultMaxFile       = 3             // max-file=3
)

// knownOpts are the --log-opt keys json-file accepts. labels, labels-regex,
// env, env-regex and tag only feed "attrs", which berth does not write:
// they are accepted, so Docker command lines and compose files keep
// working, and ignored.
var knownOpts = []string{"compress", "env", "env-regex", "labels", "labels-regex", "max-file", "max-size", "tag"}

// ParseOptions reads --log-opt key=value pairs for the json-file driver,
// starting from berth's defaults (DefaultMaxSize, DefaultMaxFile) for the
// keys not given, the way dockerd merges its daemon-wide log-opts into a
// container's. Errors are Docker's own messages: an unknown key, a size
// go-units cannot read ("invalid size: '10x'"), a max-size that is not
// positive, a max-file below 1, and compress=true, which berth does not
// support (with Docker's message when max-file or max-size rule it out
// anyway).
//
// Docker accepts max-file without max-size and then never rotates; with
// berth's default max-size that combination cannot arise.
func ParseOptions(opts map[string]string) (Options, error) {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same error for the same options every time
	for _, k := range keys {
		if !slices.Contains(knownOpts, k) {
			return Options{}, fmt.Errorf("unknown log opt '%s' for json-file log driver", k)
		}
	}

	o := Options{MaxSize: DefaultMaxSize, MaxFile: DefaultMaxFile}
	if s, ok := opts["max-size"]; ok {
		n, err := units.FromHumanSize(s)
		if err != nil {
			return Options{}, err
		}
		if n <= 0 {
			return Options{}, errors.New("max-size must be a positive number")
		}
		o.MaxSize = n
	}
	if s, ok := opts["max-file"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil {
			return Options{}, err
		}
		if n < 1 {
			return Options{}, errors.New("max-file cannot be less than 1")
		}
		o.MaxFile = n
	}
	if s, ok := opts["compress"]; ok {
		c, err := strconv.ParseBool(s)
		if err != nil {
			return Options{}, err
		}
		if c && o.MaxFile == 1 {
			return Options{}, errors.New("compress cannot be true when max-file is less than 2 or max-size is not set")
		}
		o.Compress = c
	}
	if err := o.validate(); err != nil {
		return Options{}, err
	}
	return o, nil
}

// errCompress is returned for Options.Compress: rotated files stay plain.
var errCompress = errors.New("compress is not supported by berth's json-file log driver")

func (o Options) validate() error {
	if o.MaxSize < 0 {
		return errors.New("max-size must be a positive number")
	}
	if o.MaxFile < 0 {
		return errors.New("max-file cannot be less than 1")
	}
	if o.Compress {
		return errCompress
	}
	return nil
}
