// Package shim is berth's per-container supervisor, `berth shim`: one
// small process per running container that outlives the command that
// started it. It mounts the container's root filesystem, creates and
// starts the container with berth's runtime, copies its stdout and stderr
// into the json-file log, reaps it, records its exit in the metadata
// store, and cleans up (runtime state, cgroup, rootfs mount).
//
// The engine starts it (Start) and talks to it over two inherited pipes:
//
//	engine (berth run/start)                 shim (setsid, stdio /dev/null)
//	  | spawn `berth shim`, fd 3 = config,      |
//	  |   fd 4 = ready                          |
//	  | Config JSON on fd 3, close ----------->  | PR_SET_CHILD_SUBREAPER
//	  |                                          | flock <bundle>/shim.lock (held until exit)
//	  |                                          | mount rootfs, open log, pipes
//	  |                                          | runtime Create + Start
//	  |                                          | record running (pid, started)
//	  | <------------ Ready JSON on fd 4, close  |   (or the error and an exit code)
//	  | return                                   | copy pipes -> log; reap until the
//	  |                                          |   init exits; record exited;
//	  |                                          |   runtime Delete; unmount; exit
//
// The lock is how everyone else knows the shim is alive, even after a
// kill -9 (the kernel drops it with the process): Alive tries it, Wait
// waits for it.
//
// It may import the runtime; the CLI must not import it.
package shim

import "github.com/berth-dev/berth/internal/snapshot"

// Config is everything the shim needs, sent as JSON on fd 3.
type Config struct {
	ID          string           `json:"id"`
	Root        string           `json:"root"`        // the berth root (for --rm)
	Bundle      string           `json:"bundle"`      // holds config.json; rootfs/ is mounted there
	Mounts      []snapshot.Mount `json:"mounts"`      // the container's snapshot
	RuntimeRoot string           `json:"runtimeRoot"` // the runtime's state directory
	DB          string           `json:"db"`          // meta.db
	LogPath     string           `json:"logPath"`
	LogMaxSize  int64            `json:"logMaxSize"`
	LogMaxFile  int              `json:"logMaxFile"`
	// AutoRemove removes the container (`berth rm -f`) once it exited.
	AutoRemove bool `json:"autoRemove,omitempty"`
}

// Ready is the shim's one message on fd 4.
type Ready struct {
	Pid   int    `json:"pid,omitempty"`   // the container init's host pid
	Error string `json:"error,omitempty"` // why the container did not start
	Code  int    `json:"code,omitempty"`  // with Error: 125, 126 or 127, as Docker exits
}

// StartError is a container that could not be started; Code is the exit
// code `run` should give (126 not executable, 127 not found, 125 else).
type StartError struct {
	Msg  string
	Code int
}

func (e *StartError) Error() string { return e.Msg }

const lockName = "shim.lock"
