package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/runtime/cgroups"
)

// ErrNotExist is returned for an unknown container id.
var ErrNotExist = errors.New("container does not exist")

// ErrExist is returned when creating a container whose id is taken.
var ErrExist = errors.New("container already exists")

// Container is what the runtime records about one container in
// <root>/<id>/state.json. The spec is copied at create time, as runc does, so
// later commands (start's hooks, exec's defaults, delete's poststop hooks) do
// not depend on the bundle staying unchanged.
type Container struct {
	ID      string      `json:"id"`
	Bundle  string      `json:"bundle"`
	Rootfs  string      `json:"rootfs"`
	Pid     int         `json:"pid"`
	Created time.Time   `json:"created"`
	Owner   string      `json:"owner,omitempty"`
	Spec    *specs.Spec `json:"config"`
	// InitStartTime is field 22 of /proc/<pid>/stat when the init was
	// created: together with Pid it tells our init from a reused pid.
	InitStartTime uint64            `json:"initStartTime"`
	CgroupPaths   map[string]string `json:"cgroupPaths"`

	cg cgroups.Manager // the manager create used, if this process created it
}

// cgroup returns the container's cgroup manager: the one create used, or
// one reopened from the saved paths.
func (c *Container) cgroup() (cgroups.Manager, error) {
	if c.cg != nil {
		return c.cg, nil
	}
	return cgroups.Load(c.CgroupPaths)
}

// checkID rejects ids that could name a path outside the state root.
func checkID(id string) error {
	if id == "" || id == "." || id == ".." || strings.IndexFunc(id, invalidIDChar) >= 0 {
		return fmt.Errorf("invalid container id %q: use letters, digits, '_', '+', '-' and '.'", id)
	}
	return nil
}

func (r *Runtime) dir(id string) string { return filepath.Join(r.Root, id) }

func (r *Runtime) fifoPath(id string) string { return filepath.Join(r.dir(id), "exec.fifo") }

// load reads a container's recorded state.
func (r *Runtime) load(id string) (*Container, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(r.dir(id), "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("container %q: read state: %w", id, err)
	}
	var c Container
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("container %q: corrupt state: %w", id, err)
	}
	return &c, nil
}

// save writes the container's state atomically: a reader sees the old or
// the new file, never a partial one. No fsync: the state describes
// processes, which a power loss ends too (and it lives on tmpfs, /run,
// by default), as runc's does.
func (r *Runtime) save(c *Container) error {
	commit, err := r.stage(c)
	if err != nil {
		return err
	}
	return commit()
}

// stage writes c's state file under a temporary name; commit puts it in
// place (or removes it if the rename fails).
func (r *Runtime) stage(c *Container) (commit func() error, err error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return writeTemp(filepath.Join(r.dir(c.ID), "state.json"), data, 0o600)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	commit, err := writeTemp(path, data, mode)
	if err != nil {
		return err
	}
	return commit()
}

// writeTemp writes data to a new file beside path; commit renames it to
// path, atomically replacing what was there.
func writeTemp(path string, data []byte, mode os.FileMode) (commit func() error, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return nil, err
	}
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return nil, err
	}
	return func() error {
		err := os.Rename(tmp.Name(), path)
		if err != nil {
			os.Remove(tmp.Name())
		}
		return err
	}, nil
}

// ociState renders the OCI state of c with its current status.
func (r *Runtime) ociState(c *Container) *specs.State {
	st := c.state(r.status(c))
	if st.Status == specs.StateStopped {
		st.Pid = 0
	}
	return st
}

// state is c's OCI state with the given status.
func (c *Container) state(status specs.ContainerState) *specs.State {
	return &specs.State{
		Version: specs.Version, ID: c.ID, Status: status, Pid: c.Pid,
		Bundle: c.Bundle, Annotations: c.Spec.Annotations,
	}
}

// statePaused is the status runc reports for a frozen container; the OCI
// spec doesn't define it, but tools (containerd, the conformance suite)
// expect it.
// invalidIDChar is false for the characters of an id: letters, digits, '_',
// '+', '-' and '.'. (Not a regexp: its compilation would be most of this
// package's start-up, which every container init pays.)
func invalidIDChar(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '+' || r == '-' || r == '.')
}

const statePaused specs.ContainerState = "paused"
