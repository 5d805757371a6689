package runtime

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/runtime/cgroups"
)

func (r *Runtime) status(c *Container) specs.ContainerState {
	if !c.alive() {
		return specs.StateStopped
	}
	if _, err := os.Lstat(r.fifoPath(c.ID)); err == nil {
		return specs.StateCreated
	}
	if cg, err := c.cgroup(); err == nil {
		if frozen, _ := cg.Frozen(); frozen {
			return statePaused
		}
	}
	return specs.StateRunning
}

// State returns the OCI state of a container.
func (r *Runtime) State(id string) (*specs.State, error) {
	c, err := r.load(id)
	if err != nil {
		return nil, err
	}
	return r.ociState(c), nil
}

// StateReport is what `state` prints: the OCI state plus the fields runc
// adds, which containerd's runc client reads.
type StateReport struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

// Report returns a container's state as `state` prints it.
func (r *Runtime) Report(id string) (*StateReport, error) {
	c, err := r.load(id)
	if err != nil {
		return nil, err
	}
	return r.report(c), nil
}

func (r *Runtime) report(c *Container) *StateReport {
	return &StateReport{State: *r.ociState(c), Rootfs: c.Rootfs, Created: c.Created, Owner: c.Owner}
}

// Config returns the config.json a container was created with.
func (r *Runtime) Config(id string) (*specs.Spec, error) {
	c, err := r.load(id)
	if err != nil {
		return nil, err
	}
	return c.Spec, nil
}

// Start lets a created container's process run and runs the poststart hooks.
func (r *Runtime) Start(id string) error {
	started, err := r.Release(id)
	if err != nil {
		return err
	}
	started()
	return nil
}

// Release is Start in two: it lets the created container's process run,
// and started waits until the process has been executed and runs the
// poststart hooks. What the caller does in between overlaps the exec.
func (r *Runtime) Release(id string) (started func(), err error) {
	c, err := r.load(id)
	if err != nil {
		return nil, err
	}
	return r.release(c)
}

// Created is a container just created by CreateHeld.
type Created struct {
	r *Runtime
	c *Container
}

// CreateHeld is Create for a caller that starts the container itself
// next (a shim): what it returns has the init's pid and releases it
// without reading the container's state back.
func (r *Runtime) CreateHeld(id string, o CreateOpts) (*Created, error) {
	c, ch, err := r.create(id, o, false)
	if err != nil {
		return nil, err
	}
	ch.conn.Close()
	ch.cmd.Process.Release()
	return &Created{r: r, c: c}, nil
}

// Pid is the container's init, as the host sees it.
func (c *Created) Pid() int { return c.c.Pid }

// Release is Runtime.Release of c.
func (c *Created) Release() (started func(), err error) { return c.r.release(c.c) }

func (r *Runtime) release(c *Container) (started func(), err error) {
	id := c.ID
	switch st := r.status(c); st {
	case specs.StateCreated:
	case specs.StateStopped:
		return nil, fmt.Errorf("cannot start container %s: it has stopped", id)
	default:
		return nil, fmt.Errorf("cannot start container %s: it is already %s", id, st)
	}
	if c.Spec.Process == nil {
		// The init, released, finds nothing to run and exits: the
		// container ends stopped, and start reports the error (OCI).
		r.releaseInit(c)
		return nil, fmt.Errorf("cannot start container %s: its config has no process", id)
	}
	// The init's executable, to see below when it has been replaced.
	var initExe unix.Stat_t
	exeErr := unix.Stat(fmt.Sprintf("/proc/%d/exe", c.Pid), &initExe)
	if err := r.releaseInit(c); err != nil {
		return nil, err
	}
	return func() {
		if exeErr == nil {
			waitExec(c, initExe)
		}
		runHooksWarn("poststart", hooksOf(c.Spec).Poststart, c.state(specs.StateRunning), r.warn)
	}, nil
}

// releaseInit writes one byte to the exec fifo, which the init is blocked
// reading, and waits until the init has taken it: after that the init only
// runs the startContainer hooks and execs. Nobody reading the fifo (ENXIO)
// means the init is gone.
func (r *Runtime) releaseInit(c *Container) error {
	path := r.fifoPath(c.ID)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == unix.ENXIO {
		return fmt.Errorf("container %s: init exited before start", c.ID)
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte{0}); err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	for {
		n, err := unix.IoctlGetInt(fd, unix.TIOCINQ) // FIONREAD: bytes not yet read
		if err != nil {
			return &os.SyscallError{Syscall: "ioctl(FIONREAD)", Err: err}
		}
		if n == 0 {
			break
		}
		if !c.alive() {
			return fmt.Errorf("container %s: init exited before start", c.ID)
		}
		pause()
	}
	// The fifo's absence is what makes the container "running".
	return os.Remove(path)
}

// pause waits 50µs for a polling loop: nanosleep, precise, where a
// time.Sleep that short takes up to a millisecond (Go's timers wake
// through epoll, whose timeout counts in milliseconds).
func pause() { unix.Nanosleep(&unix.Timespec{Nsec: 50_000}, nil) }

// waitExec waits, for a bounded time, until the released init has
// executed the container's process (its /proc/<pid>/exe is no longer the
// init's) or is gone, so that poststart hooks run after the process
// starts, as the spec says. The startContainer hooks run before the exec,
// hence the generous bound; past it, start goes on.
func waitExec(c *Container, init unix.Stat_t) {
	exe := fmt.Sprintf("/proc/%d/exe", c.Pid)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		var st unix.Stat_t
		if unix.Stat(exe, &st) != nil || st.Dev != init.Dev || st.Ino != init.Ino || !c.alive() {
			return
		}
		pause()
	}
}

// Kill sends sig to the container's init, or with all to every process in
// its cgroup.
func (r *Runtime) Kill(id string, sig unix.Signal, all bool) error {
	c, err := r.load(id)
	if err != nil {
		return err
	}
	if all {
		cg, err := cgroups.Load(c.CgroupPaths)
		if err != nil {
			return fmt.Errorf("container %s: %w", id, err)
		}
		return signalAll(cg, sig)
	}
	if !c.alive() {
		return fmt.Errorf("container %s is not running", id)
	}
	if err := unix.Kill(c.Pid, sig); err != nil {
		return fmt.Errorf("kill %d: %w", c.Pid, err)
	}
	return nil
}

// signalAll sends sig to every process in the cgroup.
func signalAll(cg cgroups.Manager, sig unix.Signal) error {
	pids, err := cg.Pids()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if pid == os.Getpid() {
			// A thread of ours that spawned a process into the cgroup
			// and is ending (see nsPlan.spawn): not the container's.
			continue
		}
		if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
			return fmt.Errorf("kill %d: %w", pid, err)
		}
	}
	if sig == unix.SIGKILL {
		if frozen, _ := cg.Frozen(); frozen {
			return cg.Freeze(false)
		}
	}
	return nil
}

// Delete removes a stopped (or, with force, any) container: its processes,
// cgroup and state, then runs the poststop hooks.
func (r *Runtime) Delete(id string, force bool) error {
	c, err := r.load(id)
	if err != nil {
		return err
	}
	if st := r.status(c); st != specs.StateStopped && !force {
		return fmt.Errorf("cannot delete container %s that is not stopped: %s", id, st)
	}
	return r.remove(c, false)
}

// DeleteExited is Delete of a container whose init the caller (its
// parent) has reaped. With a pid namespace of its own, the kernel killed
// and reaped everything else in it first, so there is nothing to signal
// or wait for.
func (r *Runtime) DeleteExited(id string) error {
	c, err := r.load(id)
	if err != nil {
		return err
	}
	return r.remove(c, hasNewNamespace(c.Spec, specs.PIDNamespace))
}

// remove is Delete of a loaded container. reaped says that its init was
// the init of a pid namespace of its own and has been waited for (Run):
// the kernel killed and reaped everything else in the namespace before it
// reported the init's exit, so nothing is left to signal or wait for.
func (r *Runtime) remove(c *Container, reaped bool) error {
	if cg, err := c.cgroup(); err == nil {
		if !reaped {
			if err := signalAll(cg, unix.SIGKILL); err != nil && c.alive() {
				unix.Kill(c.Pid, unix.SIGKILL)
			}
			if err := waitEmpty(cg, c); err != nil {
				return err
			}
		}
		if err := cg.Destroy(); err != nil {
			return fmt.Errorf("container %s: %w", c.ID, err)
		}
	} else if c.alive() {
		unix.Kill(c.Pid, unix.SIGKILL)
	}
	st := c.state(specs.StateStopped)
	st.Pid = 0
	runHooksWarn("poststop", hooksOf(c.Spec).Poststop, st, r.warn)
	return os.RemoveAll(r.dir(c.ID))
}

// waitEmpty waits (up to 10s) until the cgroup has no processes and the
// init is gone.
func waitEmpty(cg cgroups.Manager, c *Container) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := cg.Pids()
		if (err != nil || len(pids) == 0) && !c.alive() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("container %s: processes %v still running after SIGKILL", c.ID, pids)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// List returns the state of every container under Root, sorted by id.
func (r *Runtime) List() ([]*StateReport, error) {
	entries, err := os.ReadDir(r.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*StateReport
	for _, e := range entries {
		if c, err := r.load(e.Name()); err == nil {
			out = append(out, r.report(c))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Pause freezes every process of a running container.
func (r *Runtime) Pause(id string) error { return r.freeze(id, true) }

// Resume thaws a paused container.
func (r *Runtime) Resume(id string) error { return r.freeze(id, false) }

func (r *Runtime) freeze(id string, frozen bool) error {
	c, cg, err := r.loadWithCgroup(id)
	if err != nil {
		return err
	}
	st := r.status(c)
	if frozen && st != specs.StateRunning {
		return fmt.Errorf("container %s is %s, not running", id, st)
	}
	if !frozen && st != statePaused {
		return fmt.Errorf("container %s is %s, not paused", id, st)
	}
	return cg.Freeze(frozen)
}

func (r *Runtime) loadWithCgroup(id string) (*Container, cgroups.Manager, error) {
	c, err := r.load(id)
	if err != nil {
		return nil, nil, err
	}
	cg, err := cgroups.Load(c.CgroupPaths)
	if err != nil {
		return nil, nil, fmt.Errorf("container %s: %w", id, err)
	}
	return c, cg, nil
}

// Pids lists the processes in the container's cgroup.
func (r *Runtime) Pids(id string) ([]int, error) {
	_, cg, err := r.loadWithCgroup(id)
	if err != nil {
		return nil, err
	}
	return cg.Pids()
}

// Update changes a container's resource limits and records them.
func (r *Runtime) Update(id string, res *specs.LinuxResources) error {
	c, cg, err := r.loadWithCgroup(id)
	if err != nil {
		return err
	}
	if err := cg.Set(res); err != nil {
		return err
	}
	c.Spec.Linux.Resources = mergeResources(c.Spec.Linux.Resources, res)
	return r.save(c)
}

// mergeResources overlays the set fields of upd on cur (for the record in
// state.json; the cgroup already has them).
func mergeResources(cur, upd *specs.LinuxResources) *specs.LinuxResources {
	if cur == nil {
		return upd
	}
	out := *cur
	if upd.Memory != nil {
		out.Memory = upd.Memory
	}
	if upd.CPU != nil {
		out.CPU = upd.CPU
	}
	if upd.Pids != nil {
		out.Pids = upd.Pids
	}
	if upd.BlockIO != nil {
		out.BlockIO = upd.BlockIO
	}
	if upd.Unified != nil {
		out.Unified = upd.Unified
	}
	return &out
}

// Stats reads the container's cgroup usage.
func (r *Runtime) Stats(id string) (*cgroups.Stats, error) {
	_, cg, err := r.loadWithCgroup(id)
	if err != nil {
		return nil, err
	}
	return cg.Stats()
}
