package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/shim/spawn"
	"github.com/berth-dev/berth/internal/snapshot"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/volume"
)

const pathFlag = unix.O_PATH

// shortRun is how long the setup phase waits for the container to exit
// before it re-executes into the supervising phase: a container that
// ends sooner (`run --rm … true`) is supervised to its end by the setup
// phase, saving the re-execution.
const shortRun = 30 * time.Millisecond

// exitsWithin reports whether process pid (our child) exits within d,
// without reaping it.
func exitsWithin(pid int, d time.Duration) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(d.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		return err == nil && n == 1
	}
}

// Spawn starts `berth shim` (self is this binary); it waits for its
// Config until Start, or exits when Close comes first. With attach, the
// shim gets a client connection from the start (fd 5, see Config.Client).
// cgroupsPath is the container's linux.cgroupsPath: meanwhile, the shim
// starts the container's init there (see runtime.Spare).
func Spawn(self string, attach bool, cgroupsPath string) (*Process, error) {
	s, err := spawn.Start(self, attach, cgroupsPath)
	if err != nil {
		return nil, err
	}
	return Started(s, cgroupsPath), nil
}

// Started is the Process of shim s, started (by package spawn) for the
// container whose linux.cgroupsPath is cgroupsPath.
func Started(s *spawn.Started, cgroupsPath string) *Process {
	return &Process{cfg: s.Cfg, ready: s.Ready, client: s.Client, cgroupsPath: cgroupsPath, dec: json.NewDecoder(s.Ready)}
}

// Attaching says whether p was spawned with a client connection.
func (p *Process) Attaching() bool { return p.client != nil }

// Close lets a shim that got no config exit.
func (p *Process) Close() {
	for _, f := range []*os.File{p.cfg, p.client} {
		if f != nil {
			f.Close()
		}
	}
	if p.ready != nil && !p.reported {
		p.ready.Close()
	}
}

// Start sends the shim its config and returns once the container runs,
// or with a *StartError when it could not start. p then keeps only what
// Attachment takes: the client's connection and, with cfg.ReportExit,
// the pipe the exit comes on.
//
// prepare, when not nil, runs once the shim has cfg: the shim sets up
// meanwhile what needs neither the network nor the container's config,
// and creates the container only once prepare returned. A prepare that
// fails calls the start off (the shim undoes its part first).
func (p *Process) Start(cfg Config, prepare func() error) (_ *Ready, err error) {
	defer func() {
		switch {
		case err != nil:
			p.Close()
		case !cfg.ReportExit:
			p.ready.Close()
			p.ready = nil
		}
	}()
	// A shim gone (killed) leaves the cgroup of its spare init, unless the
	// container was created.
	gone := func() error {
		(&runtime.Runtime{Root: cfg.RuntimeRoot}).RemoveSpareCgroup(cfg.ID, p.cgroupsPath)
		return &StartError{Msg: "the container's shim exited before the container started", Code: 125}
	}
	// A write that fails finds the shim gone, or failed: its Ready says.
	enc := json.NewEncoder(p.cfg)
	if enc.Encode(cfg) == nil && prepare != nil {
		if err := prepare(); err != nil {
			p.cfg.Close()
			p.dec.Decode(new(Ready)) // the shim's undo done
			return nil, err
		}
	}
	enc.Encode(true) // the go
	p.cfg.Close()
	var r Ready
	if err := p.dec.Decode(&r); err != nil {
		return nil, gone()
	}
	if r.Error != "" {
		return nil, &StartError{Msg: r.Error, Code: r.Code}
	}
	return &r, nil
}

// Attachment is the client connection p was spawned with, attached to
// the container it started (Config.Client); with Config.ReportExit, its
// WaitExit has the exit code. tty says how the output comes.
func (p *Process) Attachment(tty bool) (*Attachment, error) {
	conn, err := net.FileConn(p.client)
	p.client.Close()
	p.client = nil
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("attach: %w", err)
	}
	a := &Attachment{conn: conn, tty: tty}
	if p.ready != nil { // Config.ReportExit
		a.exit = p
	}
	return a, nil
}

// waitExit reads the shim's Ready{Exit} (Config.ReportExit). After it,
// Close leaves the pipe open until this process exits: the shim waits
// for that to close the store after us (see reportExit).
func (p *Process) waitExit() (int, bool) {
	var r Ready
	if err := p.dec.Decode(&r); err != nil || r.Exit == nil {
		p.Close()
		return 0, false
	}
	p.cfg.Close()
	p.reported = true
	return *r.Exit, true
}

// Alive reports whether the shim of the container whose bundle is dir
// runs: it holds the bundle's lock until it exits (or is killed).
func Alive(dir string) bool {
	f, err := os.Open(filepath.Join(dir, lockName))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	return false
}

// Wait returns once the shim of bundle dir has exited, or with ctx's
// error: it blocks on the shim's lock (in a goroutine that a cancelled
// ctx leaves behind until the lock goes).
func Wait(ctx context.Context, dir string) error {
	f, err := os.Open(filepath.Join(dir, lockName))
	if err != nil {
		return nil // no shim ever ran
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer f.Close()
		for unix.Flock(int(f.Fd()), unix.LOCK_SH) == unix.EINTR {
		}
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handoffEnv carries the handoff across the shim's re-executions.
const handoffEnv = "BERTH_SHIM_HANDOFF"

// handoff is the shim's state between its phases: the config, the run
// in progress and the descriptors it keeps open (-1 for none).
type handoff struct {
	Config   Config        `json:"config"`
	Pid      int           `json:"pid,omitempty"` // 0: the setup phase is due
	Started  time.Time     `json:"started"`
	Restarts int           `json:"restarts,omitempty"` // by the policy, since the last start by a user
	Backoff  time.Duration `json:"backoff,omitempty"`  // the last restart's delay
	OOMFile  string        `json:"oomFile,omitempty"`  // the cgroup file whose oom_kill counts OOM kills
	Lock     int           `json:"lock"`
	Ready    int           `json:"ready"` // until Ready is sent
	Exit     int           `json:"exit"`  // Config.ReportExit's, after Ready (0: none)
	Listener int           `json:"listener"`
	Stdin    int           `json:"stdin"` // our end: a pipe's write end, or the pty
	Stdout   int           `json:"stdout"`
	Stderr   int           `json:"stderr"`
	Pty      int           `json:"pty"`
	Clients  []int         `json:"clients,omitempty"` // attached before the start (Config.Client)
	Requests []AttachRequest
	Holds    []int `json:"holds,omitempty"` // on Config.Volumes, for the whole run
	// DNS are the UDP and TCP sockets of the container's DNS resolver in
	// its network namespace (see listenResolver); none without one.
	DNS        []int `json:"dns,omitempty"`
	dnsServing bool  // the resolver serves copies of DNS

	db   *store.DB // open between record and closeDB
	dbMu sync.Mutex
	// spare is an init started while the config was on its way, for the
	// first create (see runtime.Spare).
	spare *runtime.Spare
	// await waits for Process.Start's go, before the first create.
	await func() error
}

// RemoveFunc removes container id, which has exited and been cleaned up,
// with the berth store db at root (the engine's rm, for AutoRemove); the
// files it leaves for later go with empty, when not nil.
type RemoveFunc func(db *store.DB, root, id string) (empty func(), err error)

// remove is Main's RemoveFunc.
var remove RemoveFunc

// Main is `berth shim`: started by the engine, it reads its Config on fd
// 3 and reports on fd 4; re-executed by itself, it finds the handoff in
// its environment. rm removes an AutoRemove container at the end.
func Main(rm RemoveFunc) int {
	remove = rm
	var h handoff
	if env := os.Getenv(handoffEnv); env != "" {
		os.Unsetenv(handoffEnv)
		if err := json.Unmarshal([]byte(env), &h); err != nil {
			fmt.Fprintln(os.Stderr, "berth shim: bad handoff:", err)
			return 1
		}
		// Inherited across exec, they must not be inherited further: by
		// the container's init, a probe, nft (the lock would outlive
		// us, the attach socket would be the container's).
		for _, fd := range h.fds() {
			unix.CloseOnExec(fd)
		}
		if h.Pid == 0 {
			return h.setup()
		}
		return h.supervise(true)
	}
	cfgFile := os.NewFile(3, "config")
	ready := os.NewFile(4, "ready")
	if cfgFile == nil || ready == nil {
		fmt.Fprintln(os.Stderr, "berth shim is started by berth run and berth start")
		return 1
	}
	// While the engine creates the container: the init's start, and
	// encoding/json's codecs for the config. The init gets none of
	// the descriptors Spawn gave us.
	for fd := 3; fd <= 5; fd++ {
		unix.CloseOnExec(fd)
	}
	cgroupsPath := os.Getenv(spawn.CgroupEnv)
	os.Unsetenv(spawn.CgroupEnv)
	h.spare, _ = runtime.Prespawn(cgroupsPath) // without it, Create starts an init
	go runtime.WarmUp()
	dec := json.NewDecoder(cfgFile)
	err := dec.Decode(&h.Config)
	h.await = func() error {
		defer cfgFile.Close()
		var start bool
		if err := dec.Decode(&start); err != nil || !start {
			return errors.New("the container's start was called off")
		}
		return nil
	}
	if err != nil {
		cfgFile.Close()
		h.spare.Close()
		json.NewEncoder(ready).Encode(Ready{Error: "shim config: " + err.Error(), Code: 125})
		return 1
	}
	h.Lock, h.Ready, h.Listener = -1, keep(ready), -1
	return h.setup()
}

// startCode is the exit code Docker gives `run` when the container's
// process can't be started: berth's runtime looks the command up before
// start, and reports "executable file not found", "no such file or
// directory" (127) or "permission denied" (126).
func startCode(err error) int {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "is a directory"):
		return 126
	}
	return 125
}

// setup is the setup phase: the shim's own resources the first time
// (lock, rootfs, attach socket), then the container's stdio and the
// runtime's create and start, the running record and Ready; then it
// re-executes into the supervising phase. A first start that fails is
// reported on Ready and undone; a restart that fails is recorded as an
// exit.
func (h *handoff) setup() int {
	first := h.Lock < 0
	undo, err := h.setupRun(first)
	if err == nil {
		if exitsWithin(h.Pid, shortRun) {
			// Not worth a fresh process: supervise the end here.
			return h.supervise(false)
		}
		err = h.reexec()
	}
	// Only a failure gets here.
	for i := len(undo) - 1; i >= 0; i-- {
		undo[i]()
	}
	readySent := h.Ready < 0
	if !readySent {
		h.sendReady(Ready{Error: err.Error(), Code: startCode(err)})
	}
	// A restart, or a start whose client was told it was created: the
	// record must not stay "created" or "restarting".
	if !first || readySent {
		h.record(func(ctx context.Context, cs *container.Store) error {
			return cs.SetExited(ctx, h.Config.ID, 128, time.Now(), false, false)
		})
		h.cleanup(128, false, nil)
	}
	return 1
}

// setupRun does the setup phase's work and returns how to undo it.
func (h *handoff) setupRun(first bool) (undo []func(), err error) {
	cfg := h.Config
	defer h.spare.Close() // when not adopted
	var spec *specs.Spec  // read ahead (preloadSpec), or by the create
	if first {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return undo, &os.SyscallError{Syscall: "prctl(PR_SET_CHILD_SUBREAPER)", Err: err}
		}
		lock, err := os.OpenFile(filepath.Join(cfg.Bundle, lockName), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return undo, err
		}
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			lock.Close()
			return undo, fmt.Errorf("container %s already has a shim", cfg.ID)
		}
		h.Lock = keep(lock)
		for _, name := range cfg.Volumes {
			f, err := h.volumes().Hold(name)
			if err != nil {
				return undo, err
			}
			h.Holds = append(h.Holds, keep(f))
		}
		rootfs := filepath.Join(cfg.Bundle, "rootfs")
		unmount, err := snapshot.MountAll(cfg.Mounts, rootfs)
		if err != nil {
			return undo, err
		}
		undo = append(undo, func() { unmount() })
		if h.Listener, err = listen(cfg.Bundle); err != nil {
			return undo, err
		}
		undo = append(undo, func() { os.Remove(filepath.Join(cfg.Bundle, socketName)) })
		if spec, err = preloadSpec(cfg.Bundle, h.await); err != nil {
			return undo, err
		}
		// Before the container starts, so that its first question finds
		// the resolver there.
		if err := h.listenResolver(); err != nil {
			return undo, err
		}
	}
	var stdin, stdout, stderr, console *os.File
	var local *os.File // our end of the console socket
	defer func() {
		for _, f := range []*os.File{stdin, stdout, stderr, console, local} {
			if f != nil {
				f.Close()
			}
		}
	}()
	h.Stdin, h.Stdout, h.Stderr, h.Pty = -1, -1, -1, -1
	if cfg.Tty {
		if local, console, err = runtime.ConsolePair(); err != nil {
			return undo, err
		}
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			return undo, err
		}
		h.Stdout, stdout = keep(r), w
		if r, w, err = os.Pipe(); err != nil {
			return undo, err
		}
		h.Stderr, stderr = keep(r), w
		if cfg.OpenStdin {
			if r, w, err = os.Pipe(); err != nil {
				return undo, err
			}
			stdin, h.Stdin = r, keep(w)
		} else if stdin, err = os.Open(os.DevNull); err != nil {
			return undo, err
		}
	}
	// Opened while the init starts, for the running record.
	go h.openDB()
	rt := &runtime.Runtime{Root: cfg.RuntimeRoot}
	created, err := rt.CreateHeld(cfg.ID, runtime.CreateOpts{Bundle: cfg.Bundle, Stdin: stdin, Stdout: stdout, Stderr: stderr, Console: console, Spare: h.spare, Spec: spec})
	if err != nil {
		return undo, err
	}
	undo = append(undo, func() { rt.Delete(cfg.ID, true) })
	if cfg.Tty {
		pty, err := runtime.ReceiveConsole(local)
		if err != nil {
			return undo, err
		}
		h.Pty = keep(pty)
		h.Stdin = h.Pty
	}
	h.Pid = created.Pid()
	h.OOMFile = oomFile(h.Pid)
	if cfg.Client != nil && first {
		// Its fd 5 (see Spawn), attached before the container starts.
		h.Clients, h.Requests = []int{keep(os.NewFile(5, "attach"))}, []AttachRequest{*cfg.Client}
		if h.Pty >= 0 && cfg.Client.Height > 0 && cfg.Client.Width > 0 {
			unix.IoctlSetWinsize(h.Pty, unix.TIOCSWINSZ, &unix.Winsize{Row: cfg.Client.Height, Col: cfg.Client.Width})
		}
	}
	started, err := created.Release()
	if err != nil {
		return undo, withInitStatus(err, h.Pid)
	}
	h.Started = time.Now()
	// Recorded while the init executes the process.
	err = h.record(func(ctx context.Context, cs *container.Store) error {
		return cs.SetRunning(ctx, cfg.ID, h.Pid, os.Getpid(), h.Started, h.Restarts)
	})
	started()
	if err != nil {
		return undo, err
	}
	if h.Ready >= 0 {
		h.sendReady(Ready{Pid: h.Pid})
	}
	return undo, nil
}

// preloadSpec reads the bundle's config, then waits for the go (await,
// for a first start; nil else: then there is nothing to do). The network
// set up meanwhile may have rewritten the config (a joined namespace,
// links): it is nil then, for the create to read again.
func preloadSpec(bundle string, await func() error) (*specs.Spec, error) {
	if await == nil {
		return nil, nil
	}
	path := filepath.Join(bundle, "config.json")
	before, err := os.Stat(path)
	spec, lerr := runtime.LoadSpec(bundle)
	if err := await(); err != nil {
		return nil, err
	}
	after, aerr := os.Stat(path)
	if err != nil || lerr != nil || aerr != nil || !os.SameFile(before, after) ||
		!after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		return nil, nil // the create reads it, and reports what is wrong with it
	}
	return spec, nil
}

// withInitStatus adds to err how the container's init pid (our child)
// ended, when it did: a start that found it gone says why.
func withInitStatus(err error, pid int) error {
	var ws unix.WaitStatus
	for i := 0; i < 20; i++ {
		if n, _ := unix.Wait4(pid, &ws, unix.WNOHANG, nil); n == pid {
			switch {
			case ws.Signaled():
				return fmt.Errorf("%w (the init was killed by signal %d)", err, ws.Signal())
			case ws.Exited():
				return fmt.Errorf("%w (the init exited with status %d)", err, ws.ExitStatus())
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return err
}

// keep returns a descriptor of f's to hand over, and closes f (whose
// finalizer would close its own descriptor). The descriptor is
// non-blocking, so that the supervising phase reads and writes it
// through Go's poller rather than a thread per blocked call.
func keep(f *os.File) int {
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		panic(err) // out of descriptors in a fresh process
	}
	f.Close()
	unix.CloseOnExec(fd)
	unix.SetNonblock(fd, true)
	return fd
}

// sendReady sends r on fd 4 and closes it, but with ReportExit keeps a
// successful start's for reportExit.
func (h *handoff) sendReady(r Ready) {
	f := os.NewFile(uintptr(h.Ready), "ready")
	json.NewEncoder(f).Encode(r)
	if h.Config.ReportExit && r.Error == "" {
		h.Exit = keep(f)
	} else {
		f.Close()
	}
	h.Ready = -1
}

// reportExit sends ReportExit's message, the exit code, when it is due,
// and waits (a little) for the client to hang up: it has the store open,
// and the last to close it checkpoints it, which is then us rather than
// the client that a user waits for.
func (h *handoff) reportExit(code int) {
	if h.Exit <= 0 {
		return
	}
	f := os.NewFile(uintptr(h.Exit), "exit")
	defer f.Close()
	h.Exit = 0
	if json.NewEncoder(f).Encode(Ready{Exit: &code}) != nil {
		return
	}
	// A pipe's write end polls POLLERR once its reader is gone.
	fds := []unix.PollFd{{Fd: int32(f.Fd())}}
	for {
		if _, err := unix.Poll(fds, int(clientHangup.Milliseconds())); err != unix.EINTR {
			return
		}
	}
}

// clientHangup bounds reportExit's wait.
const clientHangup = time.Second

// reexec replaces this process by `berth shim` with the handoff: the
// same pid, so the container stays our child, and a fresh heap.
// fds are the descriptors the handoff carries (-1 for none).
func (h *handoff) fds() []int {
	fds := slices.Concat([]int{h.Lock, h.Listener, h.Stdin, h.Stdout, h.Stderr, h.Pty, h.Ready}, h.DNS, h.Clients, h.Holds)
	if h.Exit > 0 {
		fds = append(fds, h.Exit)
	}
	return fds
}

func (h *handoff) reexec() error {
	h.closeDB()
	for _, fd := range h.fds() {
		if fd >= 0 {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
				return &os.SyscallError{Syscall: "fcntl", Err: err}
			}
		}
	}
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	// One P is all a shim needs, and fewer Ps are less memory; no
	// collection unless it grows (see collectOnlyWhenNeeded).
	env := []string{handoffEnv + "=" + string(data), "GOMAXPROCS=1", "GOGC=off"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") && !strings.HasPrefix(kv, "GOGC=") {
			env = append(env, kv)
		}
	}
	err = unix.Exec("/proc/self/exe", []string{"berth", "shim"}, env)
	return fmt.Errorf("re-execute the shim: %w", err)
}

// record writes to the store, which it opens on first use and keeps
// until closeDB: the shim holds no database while it supervises.
func (h *handoff) record(fn func(context.Context, *container.Store) error) error {
	if err := h.openDB(); err != nil {
		return err
	}
	cs := container.New(h.db)
	cs.NetworkEvents = network.NewStore(h.db).ContainerEvents
	return fn(context.Background(), cs)
}

func (h *handoff) openDB() error {
	h.dbMu.Lock()
	defer h.dbMu.Unlock()
	if h.db == nil {
		db, err := store.Open(h.Config.DB)
		if err != nil {
			return err
		}
		h.db = db
	}
	return nil
}

// closeDB closes the store record opened, before the shim re-executes
// itself or goes idle.
func (h *handoff) closeDB() {
	h.dbMu.Lock()
	defer h.dbMu.Unlock()
	if h.db != nil {
		h.db.Close()
		h.db = nil
	}
}

// cleanup removes what the container's run left (runtime state, cgroup,
// rootfs mount, network) and, with AutoRemove, the container; then it
// reports code (see reportExit) and closes the store. reaped says that
// the container's init has been waited for. record, when not nil, runs
// along the teardowns, before the removal.
func (h *handoff) cleanup(code int, reaped bool, record func()) {
	m := &network.Manager{Root: h.Config.Root}
	if m.HasState(h.Config.ID) && h.openDB() == nil {
		m.Store = network.NewStore(h.db)
	}
	// Three independent teardowns, at once.
	var wg sync.WaitGroup
	if record != nil {
		wg.Go(record)
	}
	wg.Go(func() {
		rt := &runtime.Runtime{Root: h.Config.RuntimeRoot}
		if reaped {
			rt.DeleteExited(h.Config.ID)
		} else {
			rt.Delete(h.Config.ID, true)
		}
	})
	// The rootfs, a --ipc shareable container's /dev/shm, volume subpaths.
	wg.Go(func() { snapshot.UnmountBelow(h.Config.Bundle) })
	// The container's network (veth, published ports, address) goes
	// with its run; none without one.
	if m.Store != nil {
		wg.Go(func() { m.Teardown(context.Background(), h.Config.ID) })
	}
	wg.Wait()
	// A tmpfs volume goes with its last user's run.
	for _, fd := range h.Holds {
		unix.Close(fd)
	}
	for _, name := range h.Config.Volumes {
		h.volumes().Release(name)
	}
	os.Remove(filepath.Join(h.Config.Bundle, socketName))
	var empty func()
	if h.Config.AutoRemove && remove != nil && h.openDB() == nil {
		var err error
		if empty, err = remove(h.db, h.Config.Root, h.Config.ID); err != nil {
			fmt.Fprintf(os.Stderr, "berth shim: remove %s: %v\n", h.Config.ID, err)
		}
	}
	h.reportExit(code)
	if empty != nil {
		empty()
	}
	h.closeDB()
}

// volumes is the volume store, for its mounts only.
func (h *handoff) volumes() *volume.Store {
	return volume.New(nil, filepath.Join(h.Config.Root, "volumes"))
}

// listen creates the attach socket, mode 0600.
func listen(dir string) (int, error) {
	addr, closeDir, err := socketAddr(dir)
	if err != nil {
		return -1, err
	}
	defer closeDir()
	os.Remove(filepath.Join(dir, socketName))
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, &os.SyscallError{Syscall: "socket", Err: err}
	}
	old := unix.Umask(0o177)
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: addr})
	unix.Umask(old)
	if err == nil {
		err = unix.Listen(fd, 16)
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("attach socket: %w", err)
	}
	return fd, nil
}

// oomFile is the file of pid's memory cgroup that counts OOM kills
// (cgroup v2 memory.events, v1 memory.oom_control), or "".
func oomFile(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				return filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.oom_control")
			}
		}
	}
	for _, line := range strings.Split(string(data), "\n") {
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			f := filepath.Join("/sys/fs/cgroup", path, "memory.events")
			if _, err := os.Stat(f); err == nil {
				return f
			}
		}
	}
	return ""
}

// oomKilled reads the count in file (see oomFile).
func oomKilled(file string) bool {
	if file == "" {
		return false
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if n, ok := strings.CutPrefix(line, "oom_kill "); ok {
			return strings.TrimSpace(n) != "0"
		}
	}
	return false
}
