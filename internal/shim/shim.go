// Package shim is berth's per-container supervisor, `berth shim`: one
// small process per running container that outlives the command that
// started it. It mounts the container's root filesystem, creates and
// starts the container with berth's runtime, owns its stdio (pipes, or a
// pty with -t), copies its output into the json-file log and to attached
// clients, serves attach and resize on a unix socket, reaps it, records
// its exit (and an OOM kill) in the metadata store, restarts it as its
// restart policy says, and cleans up (runtime state, cgroup, rootfs mount).
//
// The engine starts it (Start) and talks to it over two inherited pipes
// and, for an attached start, a socket:
//
//	engine (berth run/start)                 shim (setsid, stdio /dev/null)
//	  | spawn `berth shim`, fd 3 = config,      |
//	  |   fd 4 = ready (attached: fd 5 = the    |
//	  |   client's connection), the container's |
//	  |   cgroupsPath in its environment        | start a spare container init in
//	  |                                          |   that cgroup (runtime.Spare)
//	  | Config JSON on fd 3 ------------------>  | PR_SET_CHILD_SUBREAPER
//	  | (set the network up)                     | flock <bundle>/shim.lock (held until exit)
//	  |                                          | mount rootfs, listen on attach.sock,
//	  |                                          |   read config.json
//	  | true (the go) on fd 3, close --------->  | stdio, runtime Create (adopting the
//	  |                                          |   spare), the client on fd 5
//	  |                                          |   attached, Start, record running
//	  | <------------ Ready JSON on fd 4, close  |
//	  | (the output comes on fd 5)               | re-exec itself to supervise
//	  | (ReportExit: fd 4 stays open)            |
//	  | <------------- Ready{Exit} on fd 4, close| the container exited, is cleaned
//	  |                                          |   up (AutoRemove: removed); exit
//
// `berth run` spawns its shim first thing, with the container's ID chosen
// then, so that the shim's start and its spare init's overlap the
// container's creation. A close of fd 3 instead of the go calls the start
// off: the shim undoes its part, reports on fd 4 and exits.
//
// Two phases, one process. Setting a container up (the runtime, the
// metadata store) touches megabytes of code and heap that an idle shim
// never uses again, and a shim's memory is paid once per running
// container. So once the container runs, the shim re-executes itself
// (same pid, so still the container's parent and subreaper, with its
// descriptors handed over: see handoff) into a fresh process that only
// supervises: copies output, serves attach, reaps. When the container
// exits, that process records it and either exits or, for a restart,
// re-executes into the setup phase again.
//
// The lock is how everyone else knows the shim is alive, even after a
// kill -9 (the kernel drops it with the process): Alive tries it, Wait
// waits for it.
//
// It may import the runtime; the CLI must not import it.
package shim

import (
	"encoding/json"
	"os"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/snapshot"
)

// Config is everything the shim needs, sent as JSON on fd 3.
type Config struct {
	ID          string           `json:"id"`
	Root        string           `json:"root"`        // the berth root (for --rm)
	Bundle      string           `json:"bundle"`      // holds config.json; rootfs/ is mounted there
	Mounts      []snapshot.Mount `json:"mounts"`      // the container's snapshot
	RuntimeRoot string           `json:"runtimeRoot"` // the runtime's state directory
	DB          string           `json:"db"`          // meta.db
	LogPath     string           `json:"logPath"`     // "" for --log-driver none
	LogMaxSize  int64            `json:"logMaxSize"`
	LogMaxFile  int              `json:"logMaxFile"`
	// AutoRemove removes the container (as `berth rm`) once it exited.
	AutoRemove bool `json:"autoRemove,omitempty"`
	// ReportExit keeps fd 4 open after Ready: once the container's run
	// has ended and it is cleaned up (with AutoRemove: removed), the
	// shim sends Ready{Exit} there (an attached `run --rm`, which then
	// needs the store no more).
	ReportExit bool                    `json:"reportExit,omitempty"`
	Restart    container.RestartPolicy `json:"restart,omitempty"`
	Tty        bool                    `json:"tty,omitempty"`       // a pty for stdio
	OpenStdin  bool                    `json:"openStdin,omitempty"` // a stdin pipe attach writes to
	StdinOnce  bool                    `json:"stdinOnce,omitempty"` // close it when an attached stdin ends
	// Health is the container's healthcheck (the image's with the run
	// flags over it); nil for none.
	Health *dockerspec.HealthcheckConfig `json:"health,omitempty"`
	// Client is the request of the client whose connection the shim has
	// from its spawn on fd 5 (Spawn with attach): the container starts
	// with it attached, so that it sees all of its output.
	Client *AttachRequest `json:"client,omitempty"`
	// Volumes are the container's volumes whose driver mounts a
	// filesystem (tmpfs): the shim holds each (volume.Store.Hold) while
	// it supervises and releases them at the end, so the last user's
	// stop unmounts it.
	Volumes []string `json:"volumes,omitempty"`
}

// Process is a `berth shim` started ahead of its config (Spawn), so that
// its start overlaps the container's creation.
type Process struct {
	cfg, ready  *os.File      // our ends of its fds 3 and 4
	client      *os.File      // of fd 5, with attach (Spawn)
	cgroupsPath string        // the container's, where the shim starts its init (Spawn)
	dec         *json.Decoder // of ready
	reported    bool          // ready brought Ready{Exit}
}

// Ready is the shim's message on fd 4 (and, with ReportExit, its last).
type Ready struct {
	Pid   int    `json:"pid,omitempty"`   // the container init's host pid
	Error string `json:"error,omitempty"` // why the container did not start
	Code  int    `json:"code,omitempty"`  // with Error: 125, 126 or 127, as Docker exits
	Exit  *int   `json:"exit,omitempty"`  // ReportExit's message: the exit code
}

// StartError is a container that could not be started; Code is the exit
// code `run` should give (126 not executable, 127 not found, 125 else).
type StartError struct {
	Msg  string
	Code int
}

func (e *StartError) Error() string { return e.Msg }

const (
	lockName   = "shim.lock"
	socketName = "attach.sock"
)
