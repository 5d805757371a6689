package runtime

import (
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/runtime/cgroups"
)

var nsCloneFlags = map[specs.LinuxNamespaceType]int{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// nsProcNames are the names under /proc/<pid>/ns/.
var nsProcNames = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.MountNamespace: "mnt",
	specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.UserNamespace: "user",
	specs.CgroupNamespace: "cgroup", specs.TimeNamespace: "time",
}

// nsJoin is an existing namespace the init is born into.
type nsJoin struct {
	file *os.File
	flag int
	typ  specs.LinuxNamespaceType
}

// nsPlan is how the init gets its namespaces. How each kind is joined:
//
//   - new namespaces come from clone flags (Go's SysProcAttr), except the
//     cgroup namespace, which the init unshares itself once it is in its
//     cgroup, so that cgroup is the namespace's root;
//   - pid, net, ipc, uts, cgroup (and time) namespaces given by path are
//     joined by the parent with setns on a locked OS thread just before it
//     forks the init from that same thread: these kinds may be joined by one
//     thread of a multi-threaded process, and the child inherits them (for
//     pid, as pid_for_children);
//   - a mount namespace by path is joined by the init, on its locked main
//     thread after unshare(CLONE_FS), so that the init binary itself is
//     still found in the host's mount namespace;
//   - a user namespace by path can be joined only by a single-threaded
//     process, which a Go process never is: the child first runs the
//     nsenter trampoline, which joins it and execs the init. New namespaces
//     must then belong to the joined user namespace, so instead of clone
//     flags the init unshares them itself (all but pid, which only a fork
//     could enter).
//   - a new time namespace is unshared by the parent's spawning thread
//     (it applies to that thread's children), which writes the clock
//     offsets before the init, its first member, is forked.
type nsPlan struct {
	cloneFlags     uintptr
	joins          []nsJoin
	mnt            *os.File // mount namespace to join, or nil
	user           *os.File // user namespace to join (by the trampoline), or nil
	unshareFlags   uintptr  // new namespaces the init unshares (with user)
	unshareCgroups bool
	newTime        bool
	timeOffsets    map[string]specs.LinuxTimeOffset
	// cgroup is where the init is born (see cgroups.EnterThread).
	cgroup cgroups.Manager
}

func (p *nsPlan) close() {
	for _, j := range p.joins {
		j.file.Close()
	}
	for _, f := range []*os.File{p.mnt, p.user} {
		if f != nil {
			f.Close()
		}
	}
}

// planNamespaces turns the config's namespaces into a plan. paths overrides
// each namespace's path (exec joins the container's, from /proc/<pid>/ns).
func planNamespaces(nss []specs.LinuxNamespace, paths map[specs.LinuxNamespaceType]string) (*nsPlan, error) {
	p := &nsPlan{}
	// A time namespace by path is joined like the others; the offsets
	// (linux.timeOffsets) apply to a new one.
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range nss {
		flag, ok := nsCloneFlags[ns.Type]
		if !ok {
			p.close()
			return nil, fmt.Errorf("unknown namespace type %q", ns.Type)
		}
		if seen[ns.Type] {
			p.close()
			return nil, fmt.Errorf("namespace %q listed twice", ns.Type)
		}
		seen[ns.Type] = true
		path := ns.Path
		if paths != nil {
			path = paths[ns.Type]
		}
		if path == "" {
			switch ns.Type {
			case specs.CgroupNamespace:
				p.unshareCgroups = true
			case specs.TimeNamespace:
				p.newTime = true
			default:
				p.cloneFlags |= uintptr(flag)
			}
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("%s namespace: %w", ns.Type, err)
		}
		switch ns.Type {
		case specs.MountNamespace:
			p.mnt = f
			continue
		case specs.UserNamespace:
			p.user = f
			continue
		}
		p.joins = append(p.joins, nsJoin{file: f, flag: flag, typ: ns.Type})
	}
	if p.user != nil && p.cloneFlags != 0 {
		if p.cloneFlags&unix.CLONE_NEWPID != 0 {
			p.close()
			return nil, fmt.Errorf("a new pid namespace inside a joined user namespace is not supported")
		}
		p.unshareFlags, p.cloneFlags = p.cloneFlags, 0
	}
	return p, nil
}

// spawn starts cmd from a locked thread that has first entered p's cgroup
// and joined p's namespaces, so the child is born in all of them. That
// thread is never unlocked: Go terminates it when its goroutine ends, and
// its namespaces and cgroups go with it.
func (p *nsPlan) spawn(cmd *exec.Cmd) error {
	// The caller keeps its thread meanwhile: when that is the main thread
	// (as in `berth runtime run`, whose one P it shares), the spawning
	// goroutine then starts elsewhere rather than there.
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	errc := make(chan error, 1)
	go p.spawnOffMain(cmd, errc)
	return <-errc
}

// spawnOffMain makes sure the work runs on a thread Go may discard: the
// main thread never is, so when the goroutine lands there it holds the main
// thread (locked, untouched) while another goroutine, which therefore runs
// elsewhere, does the work.
func (p *nsPlan) spawnOffMain(cmd *exec.Cmd, errc chan<- error) {
	goruntime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		inner := make(chan error, 1)
		go p.spawnOffMain(cmd, inner)
		err := <-inner
		goruntime.UnlockOSThread()
		errc <- err
		return
	}
	errc <- p.spawnLocked(cmd)
}

func (p *nsPlan) spawnLocked(cmd *exec.Cmd) error {
	if p.cgroup != nil {
		cgroup2, err := cgroups.EnterThread(p.cgroup)
		if err != nil {
			return err
		}
		if cgroup2 != nil {
			defer cgroup2.Close()
			cmd.SysProcAttr.UseCgroupFD = true
			cmd.SysProcAttr.CgroupFD = int(cgroup2.Fd())
		}
	}
	for _, j := range p.joins {
		if err := unix.Setns(int(j.file.Fd()), j.flag); err != nil {
			return fmt.Errorf("join %s namespace %s: %w", j.typ, j.file.Name(), err)
		}
	}
	if p.newTime {
		if err := unshareTime(p.timeOffsets); err != nil {
			return err
		}
	}
	return cmd.Start()
}

// unshareTime gives the calling thread's future children a new time
// namespace with the given clock offsets ("monotonic", "boottime").
func unshareTime(offsets map[string]specs.LinuxTimeOffset) error {
	if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
		return &os.SyscallError{Syscall: "unshare(CLONE_NEWTIME)", Err: err}
	}
	var b strings.Builder
	for clock, o := range offsets {
		if clock != "monotonic" && clock != "boottime" {
			return fmt.Errorf("time offset for unknown clock %q", clock)
		}
		fmt.Fprintf(&b, "%s %d %d\n", clock, o.Secs, o.Nanosecs)
	}
	if b.Len() == 0 {
		return nil
	}
	// Not /proc/self: that is the main thread's. /proc/<tid> is this one.
	path := fmt.Sprintf("/proc/%d/timens_offsets", unix.Gettid())
	if err := os.WriteFile(path, []byte(b.String()), 0); err != nil {
		return fmt.Errorf("time offsets: %w", err)
	}
	return nil
}
