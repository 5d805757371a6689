package runtime

// The parent (`create`, `run` or `exec`) and the container init talk over a
// unix socketpair inherited by the child, one JSON message per line:
//
//	parent                                   init (child)
//	  | cgroup: mkdir; clone(new namespaces,     |
//	  |   into the cgroup) -------------------> |
//	  |   (Go writes uid_map/gid_map)             | Go runtime starts
//	  | cgroup limits, oom_score_adj              |
//	  | bootstrap{spec, fds…} ------------------> |
//	  |                                           | unshare cgroupns, join mnt ns
//	  |                                           | mounts, devices, console
//	  | <------------------------------ msgHooks  |   (only with create-time hooks;
//	  | run prestart/createRuntime/               |    before pivot_root)
//	  |     createContainer hooks                 |
//	  | msgHooksDone --------------------------> |
//	  |                                           | pivot_root, masks, hostname,
//	  |                                           | sysctl, look up argv[0],
//	  |                                           | user, caps, no_new_privs, seccomp
//	  | <------------------------------ msgReady  |
//	  | write state.json, pid file                |
//	  |                                           | create: block reading exec.fifo
//	  |                                           |   until `start` writes a byte
//	  |                                           | run: go on at once (or, with
//	  | msgStart ------------------------------> |   startContainer hooks, once
//	  |   (run with startContainer hooks)         |   the state is written)
//	  |                                           | startContainer hooks, rlimits
//	  | create: exit                              | execve(process.args)
//	  | run: the socket closes on the execve ---- |
//	  |   (a msgError instead says why it failed) |
//
// A spare init (see Spare) starts before its container is known, in a new
// pid namespace only and in the container's cgroup: it waits for a
// message of one byte that carries its descriptors (stdio, console, fifo,
// namespaces to join; bootstrap.Passed says which is which), then for the
// bootstrap, and joins and unshares its namespaces itself before the rest.
//
// Any failure in the child is sent as msgError and the child exits; the
// parent then undoes what it set up. In exec mode there is no fifo and no
// hooks: after msgReady the init execs at once, and the socket closing on
// exec (it is close-on-exec) tells the parent the exec happened, as in run.

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/runtime/seccomp"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

type msgType string

const (
	msgHooks     msgType = "hooks"      // child → parent: run the create-time hooks now
	msgHooksDone msgType = "hooks-done" // parent → child: hooks ran, carry on
	msgReady     msgType = "ready"      // child → parent: set up, about to wait or exec
	msgStart     msgType = "start"      // parent → child (run, with startContainer hooks): state saved, go on
	msgError     msgType = "error"      // child → parent: setup failed
)

type syncMsg struct {
	Type  msgType `json:"type"`
	Error string  `json:"error,omitempty"`
}

// bootstrap is the parent's first message: everything the init needs.
type bootstrap struct {
	Mode    string         `json:"mode"` // "create", "run" (create, then exec at once) or "exec"
	ID      string         `json:"id"`
	Bundle  string         `json:"bundle"`
	Rootfs  string         `json:"rootfs,omitempty"` // absolute host path (create)
	Spec    *specs.Spec    `json:"spec"`             // the container's config
	Process *specs.Process `json:"process"`          // what to run
	NoPivot bool           `json:"noPivot,omitempty"`
	// CreateHooks: there are prestart, createRuntime or createContainer
	// hooks, so the init stops for the parent to run them (msgHooks).
	CreateHooks bool `json:"createHooks,omitempty"`
	// Inherited descriptors, by number in the child; -1 when absent.
	ConsoleFd int `json:"consoleFd"` // connected console socket
	FifoFd    int `json:"fifoFd"`    // exec.fifo, open read-write (create)
	MntNsFd   int `json:"mntNsFd"`   // mount namespace to join (exec, or create with a path)
	// Passed says what each descriptor sent ahead of the bootstrap is for,
	// in order, for a spare (see Spare.adopt): "stdin", "stdout", "stderr",
	// "console", "fifo", "mnt", or the type of a namespace to join.
	Passed []string `json:"passed,omitempty"`
	// UnshareCgroupNS asks the init to unshare its cgroup namespace once the
	// parent has moved it into its cgroup, so the namespace's root is that cgroup.
	UnshareCgroupNS bool `json:"unshareCgroupNs,omitempty"`
	// CgroupPaths are the container's cgroup directories, for a "cgroup"
	// mount without a cgroup namespace.
	CgroupPaths map[string]string `json:"cgroupPaths,omitempty"`
	// CgroupMounts are the host's cgroup hierarchies for a "cgroup" mount,
	// which the parent reads from its mountinfo while the init starts, when
	// the init's new mount namespace will be a copy of its own.
	CgroupMounts []cgroupMount `json:"cgroupMounts,omitempty"`
	// UnshareFlags are the new namespaces the init unshares itself, after
	// the trampoline joined a user namespace they must belong to.
	UnshareFlags uintptr `json:"unshareFlags,omitempty"`
	// HostPid is the init's pid as the host sees it (for the seccomp
	// listener's process state).
	HostPid int `json:"hostPid"`
	// ExtraFds are the fds 3..3+ExtraFds-1 preserved for the process (--preserve-fds).
	ExtraFds int `json:"extraFds,omitempty"`
	// Seccomp is the config's filter, compiled by the parent while the
	// init starts (see forInit); the init compiles it itself without.
	Seccomp *seccomp.Filter `json:"seccomp,omitempty"`
}

// forInit makes b lighter for the init to read: the config without the
// seccomp filter's rules, which filter (compiled by the parent while the
// init starts) replaces, and without the process (which b carries).
func (b *bootstrap) forInit(filter *seccomp.Filter) {
	s := *b.Spec
	s.Process = nil
	if s.Linux != nil && s.Linux.Seccomp != nil {
		b.Seccomp = filter
		l, sc := *s.Linux, *s.Linux.Seccomp
		sc.Syscalls = nil
		l.Seccomp, s.Linux = &sc, &l
	}
	b.Spec = &s
}

// bootstrapJSON is the bootstrap on the wire: the parent sends the config
// as a linuxSpec, the init reads an initSpec (see specjson.go). Spec hides
// the embedded field, whose type encoding/json then never looks at.
type bootstrapJSON[S any] struct {
	*bootstrapFields
	Spec S `json:"spec"`
}

type bootstrapFields bootstrap // bootstrap without its JSON methods

func (b *bootstrap) MarshalJSON() ([]byte, error) {
	return json.Marshal(bootstrapJSON[*linuxSpec]{(*bootstrapFields)(b), toLinuxSpec(b.Spec)})
}

func (b *bootstrap) UnmarshalJSON(data []byte) error {
	v := bootstrapJSON[*initSpec]{bootstrapFields: (*bootstrapFields)(b)}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	b.Spec = v.Spec.spec()
	return nil
}

// syncConn is one end of the socketpair with a JSON codec on it.
type syncConn struct {
	f   *os.File
	enc *json.Encoder
	dec *json.Decoder
}

func newSyncConn(f *os.File) *syncConn {
	return &syncConn{f: f, enc: json.NewEncoder(f), dec: json.NewDecoder(f)}
}

func (c *syncConn) send(v any) error {
	if err := c.enc.Encode(v); err != nil {
		return fmt.Errorf("sync: send: %w", err)
	}
	return nil
}

// recv reads the next message; io.EOF means the peer closed (in exec mode:
// the init exec'd the process successfully).
func (c *syncConn) recv(v any) error {
	if err := c.dec.Decode(v); err != nil {
		// ECONNRESET is a close too: the peer's end went with bytes it
		// had not read, such as the newline after the bootstrap, which
		// the init's decoder does not need when the object ends a read.
		if err == io.EOF || err == io.ErrUnexpectedEOF || errors.Is(err, unix.ECONNRESET) {
			return io.EOF
		}
		return fmt.Errorf("sync: receive: %w", err)
	}
	return nil
}

// expect receives a message and fails unless it has type t; a msgError from
// the child becomes the returned error.
func (c *syncConn) expect(t msgType) error {
	var m syncMsg
	if err := c.recv(&m); err != nil {
		if err == io.EOF {
			return fmt.Errorf("container init exited before %s", t)
		}
		return err
	}
	if m.Type == msgError {
		return fmt.Errorf("%s", m.Error)
	}
	if m.Type != t {
		return fmt.Errorf("sync: expected %q, got %q", t, m.Type)
	}
	return nil
}

// waitExec waits for the init's execve of the process: the socket closes
// on a successful one (it is close-on-exec); a message says why it failed.
func (c *syncConn) waitExec() error {
	var m syncMsg
	err := c.recv(&m)
	switch {
	case err == io.EOF:
		return nil
	case err != nil:
		return err
	case m.Type == msgError:
		return errors.New(m.Error)
	}
	return fmt.Errorf("sync: expected the exec, got %q", m.Type)
}

func (c *syncConn) Close() error { return c.f.Close() }
