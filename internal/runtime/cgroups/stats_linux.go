package cgroups

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func (m *manager) Stats() (*Stats, error) {
	st := &Stats{}
	if err := m.cpuStats(st); err != nil {
		return nil, err
	}
	if err := m.memoryStats(st); err != nil {
		return nil, err
	}
	if err := m.pidsStats(st); err != nil {
		return nil, err
	}
	m.ioStats(st)
	return st, nil
}

// ioStats sums the bytes read and written over devices. On v1 the first
// of bfq's, cfq's and the throttle layer's counters that has lines wins
// (runc's order); unreadable files leave the counters zero.
func (m *manager) ioStats(st *Stats) {
	t, ok := m.target("blkio")
	if !ok {
		if t, ok = m.target("io"); !ok {
			return
		}
	}
	if t.v2 {
		data, err := os.ReadFile(filepath.Join(t.dir, "io.stat"))
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(data), "\n") {
			for _, f := range strings.Fields(line) {
				k, v, _ := strings.Cut(f, "=")
				n, _ := strconv.ParseUint(v, 10, 64)
				switch k {
				case "rbytes":
					st.IO.ReadBytes += n
				case "wbytes":
					st.IO.WriteBytes += n
				}
			}
		}
		return
	}
	for _, name := range []string{"blkio.bfq.io_service_bytes_recursive", "blkio.io_service_bytes_recursive", "blkio.throttle.io_service_bytes_recursive"} {
		data, err := os.ReadFile(filepath.Join(t.dir, name))
		if err != nil {
			continue
		}
		found := false
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) != 3 {
				continue
			}
			found = true
			n, _ := strconv.ParseUint(f[2], 10, 64)
			switch strings.ToLower(f[1]) {
			case "read":
				st.IO.ReadBytes += n
			case "write":
				st.IO.WriteBytes += n
			}
		}
		if found {
			return
		}
	}
}

func (m *manager) pidsStats(st *Stats) error {
	t, ok := m.target("pids")
	if !ok || !exists(t.dir, "pids.current") {
		return nil
	}
	var err error
	if st.Pids.Current, err = readUint(t.dir, "pids.current"); err != nil {
		return err
	}
	s, err := readFile(t.dir, "pids.max")
	if err != nil {
		return err
	}
	if s != "max" {
		st.Pids.Limit, err = parseUint(s, t.dir+"/pids.max")
	}
	return err
}
