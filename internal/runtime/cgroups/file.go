package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// writeFile writes data to dir/name. Each write(2) to a cgroup file is
// parsed as one command, so data goes out in a single call, and the file is
// never created: a missing file means a missing controller, which must show
// up as an error rather than as a stray regular file. O_TRUNC does nothing
// on cgroupfs but lets the fake trees in tests behave like it.
func writeFile(dir, name, data string) error {
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("cgroups: write %q to %s: %w", data, p, unwrapPath(err))
	}
	_, err = f.Write([]byte(data))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cgroups: write %q to %s: %w", data, p, unwrapPath(err))
	}
	return nil
}

// readFile returns the content of dir/name without surrounding white space.
func readFile(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("cgroups: read %s: %w", p, unwrapPath(err))
	}
	return strings.TrimSpace(string(b)), nil
}

// unwrapPath drops the *fs.PathError layer, whose message would repeat the
// path our own wrapping already names, while keeping the errno for
// errors.Is.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readUint reads a file holding one number; "max" reads as math.MaxUint64.
func readUint(dir, name string) (uint64, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return 0, err
	}
	return parseUint(s, filepath.Join(dir, name))
}

func parseUint(s, file string) (uint64, error) {
	if s == "max" {
		return math.MaxUint64, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		// v1 reports -1 in a few files when there is no value.
		if i, ierr := strconv.ParseInt(s, 10, 64); ierr == nil && i < 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("cgroups: parse %s: %w", file, err)
	}
	return v, nil
}

// readKeyValues reads a flat-keyed file such as cpu.stat or memory.events
// ("key value" per line).
func readKeyValues(dir, name string) (map[string]uint64, error) {
	p := filepath.Join(dir, name)
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("cgroups: read %s: %w", p, unwrapPath(err))
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			continue
		}
		n, err := parseUint(strings.TrimSpace(v), p)
		if err != nil {
			return nil, err
		}
		out[k] = n
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cgroups: read %s: %w", p, err)
	}
	return out, nil
}

// exists reports whether dir/name is there.
func exists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}
