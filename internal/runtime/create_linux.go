package runtime

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/runtime/cgroups"
	"github.com/berth-dev/berth/internal/runtime/nsenter"
	"github.com/berth-dev/berth/internal/runtime/seccomp"
)

// Runtime runs containers whose state lives under Root.
type Runtime struct {
	// Root is the state directory (runc's --root), one subdirectory per
	// container.
	Root string
	// Warn receives warnings, such as a failed poststart hook.
	Warn func(format string, args ...any)
}

// CreateOpts are the flags of `create` and `run`.
type CreateOpts struct {
	Bundle                string
	PidFile               string
	ConsoleSocket         string // path of a unix socket to send the pty master to
	NoPivot               bool
	PreserveFDs           int // pass fds 3..3+PreserveFDs-1 to the process
	Stdin, Stdout, Stderr *os.File

	// Console is a connected socket used instead of ConsoleSocket: the
	// pty master arrives on its other end (see ConsolePair).
	Console *os.File
	// Spare is an init started before the container was known (Prespawn):
	// Create adopts it when the container's namespaces allow, and ends it
	// otherwise.
	Spare *Spare
	// Spec is the bundle's config (LoadSpec) when the caller has read it
	// already.
	Spec *specs.Spec
}

func (r *Runtime) warn(format string, args ...any) {
	if r.Warn != nil {
		r.Warn(format, args...)
	}
}

// LoadSpec reads and checks bundle/config.json.
func LoadSpec(bundle string) (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", bundle, err)
	}
	var l linuxSpec // not specs.Spec: see specjson.go
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("bundle %s: config.json: %w", bundle, err)
	}
	s := l.spec()
	if err := validateSpec(s); err != nil {
		return nil, fmt.Errorf("bundle %s: config.json: %w", bundle, err)
	}
	return s, nil
}

func validateSpec(s *specs.Spec) error {
	switch {
	case s.Root == nil || s.Root.Path == "":
		return errors.New("root.path is required")
	case s.Linux == nil:
		return errors.New("linux is required")
	}
	// Without a process a container can be created, not started (OCI).
	if s.Process != nil {
		if err := validateProcess(s.Process); err != nil {
			return err
		}
	}
	userns := hasNewNamespace(s, specs.UserNamespace)
	if hasMappings := len(s.Linux.UIDMappings)+len(s.Linux.GIDMappings) > 0; hasMappings != userns {
		if userns {
			return errors.New("a new user namespace needs uidMappings and gidMappings")
		}
		return errors.New("uidMappings and gidMappings need a new user namespace")
	}
	if s.Hostname != "" && !hasNamespace(s, specs.UTSNamespace) {
		return errors.New("hostname needs a UTS namespace")
	}
	for key := range s.Linux.Sysctl {
		if err := namespacedSysctl(key, s); err != nil {
			return err
		}
	}
	if p := s.Linux.RootfsPropagation; p != "" {
		if _, ok := propagationOpts[p]; !ok {
			return fmt.Errorf("invalid rootfsPropagation %q", p)
		}
	}
	return nil
}

func validateProcess(p *specs.Process) error {
	if len(p.Args) == 0 {
		return errors.New("process.args must not be empty")
	}
	if !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("process.cwd %q must be an absolute path", p.Cwd)
	}
	for _, l := range p.Rlimits {
		if _, ok := rlimitTypes[l.Type]; !ok {
			return fmt.Errorf("unknown rlimit %q", l.Type)
		}
		if l.Soft > l.Hard {
			return fmt.Errorf("rlimit %s: soft limit %d exceeds hard limit %d", l.Type, l.Soft, l.Hard)
		}
	}
	return checkCaps(p.Capabilities)
}

// Create sets a container up and leaves its init waiting for Start.
func (r *Runtime) Create(id string, o CreateOpts) error {
	_, err := r.CreateHeld(id, o)
	return err
}

// undoStack collects the undo of each setup step; a failure halfway runs
// them newest first.
type undoStack []func()

func (u *undoStack) push(f func()) { *u = append(*u, f) }

func (u undoStack) run() {
	for i := len(u) - 1; i >= 0; i-- {
		u[i]()
	}
}

// create sets a container up. Unless run, its init then waits for Start
// on the exec fifo. With run (Run's fast path) there is no fifo: the init
// goes on to exec the process as soon as it is ready, and the returned
// child's sync socket stays open for Run to see the exec (waitExec).
func (r *Runtime) create(id string, o CreateOpts, run bool) (_ *Container, ch *child, err error) {
	if err := checkID(id); err != nil {
		return nil, nil, err
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, nil, err
	}
	spec := o.Spec
	if spec == nil {
		if spec, err = LoadSpec(bundle); err != nil {
			return nil, nil, err
		}
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if fi, err := os.Stat(rootfs); err != nil || !fi.IsDir() {
		return nil, nil, fmt.Errorf("rootfs %s is not a directory", rootfs)
	}
	proc := spec.Process
	if proc == nil {
		// Set up, and wait for a start that will refuse to run nothing.
		proc = &specs.Process{Cwd: "/"}
	}
	if proc.Terminal && o.ConsoleSocket == "" && o.Console == nil {
		return nil, nil, errors.New("cannot allocate a tty without --console-socket when the runtime detaches")
	}
	if !hasNamespace(spec, specs.MountNamespace) && len(spec.Mounts)+len(spec.Linux.MaskedPaths)+len(spec.Linux.ReadonlyPaths) > 0 {
		r.warn("container %s has no mount namespace: it shares the host's mounts, so the config's mounts, devices, masked and read-only paths are not applied", id)
	}
	// Compiled while the rest is set up, for the bootstrap (see forInit).
	filter := async(func() (*seccomp.Filter, error) {
		if spec.Linux.Seccomp == nil {
			return nil, nil
		}
		f, err := seccomp.NewFilter(spec.Linux.Seccomp)
		if err != nil {
			return nil, fmt.Errorf("seccomp: %w", err)
		}
		return f, nil
	})
	plan, err := planNamespaces(spec.Linux.Namespaces, nil)
	if err != nil {
		return nil, nil, err
	}
	defer plan.close()
	plan.timeOffsets = spec.Linux.TimeOffsets

	if err := os.MkdirAll(r.Root, 0o711); err != nil {
		return nil, nil, fmt.Errorf("state root: %w", err)
	}
	dir := r.dir(id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, nil, fmt.Errorf("container %q: %w", id, ErrExist)
		}
		return nil, nil, fmt.Errorf("state dir: %w", err)
	}
	var undo undoStack
	defer func() {
		if err != nil {
			undo.run()
		}
	}()
	undo.push(func() { os.RemoveAll(dir) })

	var fifo *os.File
	if !run {
		if err := unix.Mkfifo(r.fifoPath(id), 0o600); err != nil {
			return nil, nil, &os.PathError{Op: "mkfifo", Path: r.fifoPath(id), Err: err}
		}
		// Read-write, so the open doesn't wait for a peer; the init blocks
		// reading it until `start` writes.
		if fifo, err = os.OpenFile(r.fifoPath(id), os.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
			return nil, nil, err
		}
		defer fifo.Close()
	}
	console := o.Console
	if o.ConsoleSocket != "" {
		if console, err = dialUnix(o.ConsoleSocket); err != nil {
			return nil, nil, fmt.Errorf("console socket: %w", err)
		}
		defer console.Close()
	}

	// The cgroup is made first, and the init is born in it (a spare
	// was, in the same place: its cgroup is taken with it).
	cg := o.Spare.cgroup(spec.Linux.CgroupsPath)
	spare := cg != nil && o.Spare.take(plan, o.PreserveFDs)
	if !spare {
		o.Spare.Close()
		if cg, err = cgroups.New(spec.Linux.CgroupsPath, id); err != nil {
			return nil, nil, fmt.Errorf("cgroup: %w", err)
		}
		if err := cg.Apply(-1); err != nil {
			return nil, nil, fmt.Errorf("cgroup: %w", err)
		}
	}
	undo.push(func() { cg.Destroy() })
	plan.cgroup = cg
	hooks := hooksOf(spec)
	mode := "create"
	if run {
		mode = "run"
	}
	b := &bootstrap{
		Mode: mode, ID: id, Bundle: bundle, Rootfs: rootfs, Spec: spec, Process: proc,
		NoPivot: o.NoPivot, ExtraFds: o.PreserveFDs, UnshareCgroupNS: plan.unshareCgroups,
		CgroupPaths: cg.Paths(),
		CreateHooks: len(hooks.Prestart)+len(hooks.CreateRuntime)+len(hooks.CreateContainer) > 0,
	}
	if spare {
		ch, err = o.Spare.adopt(b, plan, fifo, console, o.Stdin, o.Stdout, o.Stderr)
	} else {
		ch, err = startInit(b, plan, fifo, console, o.PreserveFDs, o.Stdin, o.Stdout, o.Stderr)
	}
	if err != nil {
		return nil, nil, err
	}
	conn := ch.conn // not ch, which a failed return sets to nil
	undo.push(func() { conn.Close() })
	undo.push(ch.kill)
	// The limits are set while the bootstrap is made, and are in place
	// before the init sets up: a devices cgroup's rules go through "deny
	// all" first, which a mknod meanwhile would run into.
	limits := async(func() (struct{}, error) {
		if err := cg.Set(containerResources(spec)); err != nil {
			return struct{}{}, fmt.Errorf("cgroup: %w", err)
		}
		return struct{}{}, nil
	})
	undo.push(func() { limits() }) // before the cgroup goes
	// The cgroup hierarchies for its cgroup mount, which its new mount
	// namespace has as ours does.
	if plan.mnt == nil && hasNewNamespace(spec, specs.MountNamespace) && slices.ContainsFunc(spec.Mounts, func(m specs.Mount) bool { return m.Type == "cgroup" }) {
		if b.CgroupMounts, err = cgroupMounts(); err != nil {
			return nil, nil, err
		}
	}
	if err := setOOMScoreAdj(ch.cmd.Process.Pid, proc.OOMScoreAdj); err != nil {
		return nil, nil, err
	}
	b.HostPid = ch.cmd.Process.Pid
	f, err := filter()
	if err != nil {
		return nil, nil, err
	}
	b.forInit(f)
	if _, err := limits(); err != nil {
		return nil, nil, err
	}
	if err := ch.conn.send(b); err != nil {
		return nil, nil, err
	}
	_, start, err := procStat(ch.cmd.Process.Pid)
	if err != nil {
		return nil, nil, fmt.Errorf("container init exited: %w", err)
	}
	state := &Container{
		ID: id, Bundle: bundle, Rootfs: rootfs, Pid: ch.cmd.Process.Pid, Created: time.Now().UTC(),
		Owner: "root", Spec: spec, InitStartTime: start, CgroupPaths: cg.Paths(), cg: cg,
	}
	// Written while the init sets up, put in place once it is ready.
	staged := async(func() (func() error, error) { return r.stage(state) })
	undo.push(func() { staged() }) // before the state dir goes
	if b.CreateHooks {
		if err := runCreateHooks(ch, spec, id, bundle, hooks); err != nil {
			return nil, nil, err
		}
	}
	if err := ch.conn.expect(msgReady); err != nil {
		return nil, nil, err
	}
	commit, err := staged()
	if err == nil {
		err = commit()
	}
	if err != nil {
		return nil, nil, err
	}
	if err := writePidFile(o.PidFile, state.Pid); err != nil {
		return nil, nil, err
	}
	return state, ch, nil
}

// async runs f in a goroutine; the function it returns waits for f's
// result (and may be called again for it).
func async[T any](f func() (T, error)) func() (T, error) {
	type result struct {
		v   T
		err error
	}
	c := make(chan result, 1)
	go func() {
		v, err := f()
		c <- result{v, err}
	}()
	return sync.OnceValues(func() (T, error) {
		r := <-c
		return r.v, r.err
	})
}

// runCreateHooks runs the prestart, createRuntime and createContainer
// hooks when the init asks for them: after its mounts, before pivot_root.
func runCreateHooks(ch *child, spec *specs.Spec, id, bundle string, hooks *specs.Hooks) error {
	if err := ch.conn.expect(msgHooks); err != nil {
		return err
	}
	st := &specs.State{Version: specs.Version, ID: id, Status: specs.StateCreating, Pid: ch.cmd.Process.Pid, Bundle: bundle, Annotations: spec.Annotations}
	// The legacy prestart hooks see the container as created (what the
	// conformance suite checks); the newer ones run while it is being created.
	prestart := *st
	prestart.Status = specs.StateCreated
	if err := runHooks("prestart", hooks.Prestart, &prestart); err != nil {
		return err
	}
	for _, h := range []struct {
		kind  string
		hooks []specs.Hook
	}{{"createRuntime", hooks.CreateRuntime}, {"createContainer", hooks.CreateContainer}} {
		if err := runHooks(h.kind, h.hooks, st); err != nil {
			return err
		}
	}
	return ch.conn.send(syncMsg{Type: msgHooksDone})
}

// containerResources is the config's resources plus the device rules the
// container needs on top of them: its own device nodes (but those the
// config has a rule of its own for, which may allow less, as Docker's
// --device /dev/x:/dev/x:r), then the defaults.
func containerResources(spec *specs.Spec) *specs.LinuxResources {
	res := &specs.LinuxResources{}
	if spec.Linux.Resources != nil {
		copy := *spec.Linux.Resources
		res = &copy
	}
	res.Devices = append([]specs.LinuxDeviceCgroup(nil), res.Devices...)
	own := res.Devices
	for _, d := range spec.Linux.Devices {
		typ := d.Type
		switch typ {
		case "p": // a fifo is no device to the device controller
			continue
		case "u":
			typ = "c"
		}
		major, minor := d.Major, d.Minor
		if slices.ContainsFunc(own, func(r specs.LinuxDeviceCgroup) bool {
			return r.Type == typ && r.Major != nil && *r.Major == major && r.Minor != nil && *r.Minor == minor
		}) {
			continue
		}
		res.Devices = append(res.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: "rwm"})
	}
	res.Devices = append(res.Devices, defaultDeviceRules()...)
	return res
}

func setOOMScoreAdj(pid int, adj *int) error {
	if adj == nil {
		return nil
	}
	path := fmt.Sprintf("/proc/%d/oom_score_adj", pid)
	if err := os.WriteFile(path, []byte(strconv.Itoa(*adj)), 0); err != nil {
		return fmt.Errorf("set oomScoreAdj %d: %w", *adj, err)
	}
	return nil
}

func writePidFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(abs, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// dialUnix connects to a unix stream socket (the console socket, the
// seccomp agent) and returns the connection as a file.
func dialUnix(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &os.SyscallError{Syscall: "socket", Err: err}
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "connect", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// child is a started init and our end of its sync socket.
type child struct {
	cmd  *exec.Cmd
	conn *syncConn
}

func (c *child) kill() {
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// startInit re-executes this binary (through a read-only handle) as the init for
// b, in the namespaces of plan. The child's descriptors are, in order: the
// preserved ones (3…), then the binary, the sync socket, the exec fifo, the
// console socket and the mount namespace to join. env is added to its
// environment.
func startInit(b *bootstrap, plan *nsPlan, fifo, console *os.File, preserve int, stdin, stdout, stderr *os.File, env ...string) (*child, error) {
	exe, err := protectedSelf()
	if err != nil {
		return nil, err
	}
	defer exe.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &os.SyscallError{Syscall: "socketpair", Err: err}
	}
	// Our end non-blocking, so that Go waits on it in its poller: a
	// blocking read parks a thread, and Go wakes others to take over.
	unix.SetNonblock(fds[0], true)
	parentEnd, childEnd := os.NewFile(uintptr(fds[0]), "sync"), os.NewFile(uintptr(fds[1]), "sync")
	defer childEnd.Close()

	var extra []*os.File
	for i := 0; i < preserve; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved"))
	}
	add := func(f *os.File) int {
		if f == nil {
			return -1
		}
		extra = append(extra, f)
		return 2 + len(extra)
	}
	exeFd := add(exe)
	syncFd := add(childEnd)
	b.FifoFd = add(fifo)
	b.ConsoleFd = add(console)
	b.MntNsFd = add(plan.mnt)

	b.UnshareFlags = plan.unshareFlags
	path, args := "/proc/self/fd/"+strconv.Itoa(exeFd), []string{"berth", "init"}
	if plan.user != nil {
		tramp, ok := nsenter.Binary()
		if !ok {
			parentEnd.Close()
			return nil, fmt.Errorf("joining a user namespace is not supported on %s yet", goruntime.GOARCH)
		}
		tf, err := sealedBytes("berth-nsenter", tramp)
		if err != nil {
			parentEnd.Close()
			return nil, err
		}
		defer tf.Close()
		trampFd, userFd := add(tf), add(plan.user)
		args = append([]string{"berth-nsenter", strconv.Itoa(userFd), "1", path}, args...)
		path = "/proc/self/fd/" + strconv.Itoa(trampFd)
	}
	// GOMAXPROCS=1: the init does one thing after another on one thread;
	// with one P its Go runtime starts fewer threads, which cost their
	// creation and, at the execve, the wait for each to be killed. (The
	// init clears its environment before the process runs.)
	cmd := &exec.Cmd{
		Path:        path,
		Args:        args,
		Env:         append([]string{initEnv + "=" + strconv.Itoa(syncFd), "GOMAXPROCS=1"}, env...),
		ExtraFiles:  extra,
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: plan.cloneFlags},
	}
	// The init's fds 0-2 are never closed (its Go runtime would need
	// /dev/null): what is missing is /dev/null, opened here, on the host, as
	// root, and not by os/exec on the thread that forks, which is in the
	// container's cgroups by then.
	if stdin == nil || stdout == nil || stderr == nil {
		null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			parentEnd.Close()
			return nil, err
		}
		defer null.Close()
		stdin, stdout, stderr = cmp.Or(stdin, null), cmp.Or(stdout, null), cmp.Or(stderr, null)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if plan.cloneFlags&unix.CLONE_NEWUSER != 0 {
		cmd.SysProcAttr.UidMappings = idMaps(b.Spec.Linux.UIDMappings)
		cmd.SysProcAttr.GidMappings = idMaps(b.Spec.Linux.GIDMappings)
		cmd.SysProcAttr.GidMappingsEnableSetgroups = true
		// Born as the host's root, which the new namespace may not map:
		// become the namespace's root, so the init keeps its capabilities
		// across the execve.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	if err := plan.spawn(cmd); err != nil {
		parentEnd.Close()
		return nil, fmt.Errorf("start container init: %w", err)
	}
	return &child{cmd: cmd, conn: newSyncConn(parentEnd)}, nil
}

func idMaps(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	var out []syscall.SysProcIDMap
	for _, e := range m {
		out = append(out, syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)})
	}
	return out
}
