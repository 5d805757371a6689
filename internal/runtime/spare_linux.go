package runtime

import (
	"fmt"
	"os"
	"slices"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/runtime/cgroups"
)

// spareEnv marks an init started by Prespawn: its descriptors come on the
// sync socket, ahead of its bootstrap (see Spare.adopt and takeFds).
const spareEnv = "_BERTH_SPARE"

// Spare is a container init started before its container is known, so
// that its start (an exec and a Go runtime's, a few milliseconds) is done
// by the time the container's config arrives: a shim starts one while it
// waits for its config. Create adopts it (CreateOpts.Spare).
//
// A spare is born in a new pid namespace only, which no process can enter
// after its birth, and in the container's cgroup, which is known ahead
// (moving a process there later would cost an RCU grace period, see
// cgroups.EnterThread). When adopted, it gets its stdio and other
// descriptors over the sync socket, joins the namespaces given by path
// and unshares the new ones itself, on the thread that will exec the
// process. Its mount namespace is therefore a copy of the host's at that
// moment, with the rootfs and volumes mounted since the spare started.
type Spare struct {
	ch          *child
	cg          cgroups.Manager
	cgroupsPath string // what cg was made for
}

// Prespawn starts a spare init in the cgroup at cgroupsPath (see
// cgroups.New), which it creates: only a container with that cgroup can
// adopt it.
func Prespawn(cgroupsPath string) (_ *Spare, err error) {
	cg, err := cgroups.New(cgroupsPath, "")
	if err != nil {
		return nil, err
	}
	if err := cg.Apply(-1); err != nil {
		return nil, err
	}
	plan := &nsPlan{cloneFlags: unix.CLONE_NEWPID, cgroup: cg}
	ch, err := startInit(&bootstrap{}, plan, nil, nil, 0, nil, nil, nil, spareEnv+"=1")
	if err != nil {
		cg.Destroy()
		return nil, err
	}
	return &Spare{ch: ch, cg: cg, cgroupsPath: cgroupsPath}, nil
}

// Close ends s unless it was adopted. A nil Spare does nothing.
func (s *Spare) Close() {
	if s == nil || s.ch == nil {
		return
	}
	s.ch.conn.Close()
	s.ch.kill()
	s.cg.Destroy()
	s.ch = nil
}

// RemoveSpareCgroup removes the cgroup at cgroupsPath that a shim made for
// its spare init (see Prespawn) and that container id did not take over:
// what a shim leaves when it dies before the container's create. It waits
// (a little) for the spare, which exits once its shim is gone.
func (r *Runtime) RemoveSpareCgroup(id, cgroupsPath string) error {
	if _, err := os.Stat(r.dir(id)); err == nil {
		return nil // created: Delete removes it with the rest
	}
	cg, err := cgroups.New(cgroupsPath, "")
	if err != nil {
		return err
	}
	return cg.Destroy()
}

// spareJoins are the namespaces a spare can join by path: those a thread
// enters alone. Not pid or time (a process enters those only at its
// birth), nor user (which a multi-threaded process cannot enter) or
// mount (which the init joins itself anyway, see MntNsFd).
var spareJoins = map[specs.LinuxNamespaceType]bool{
	specs.NetworkNamespace: true, specs.IPCNamespace: true,
	specs.UTSNamespace: true, specs.CgroupNamespace: true,
}

// cgroup is s's cgroup when the container's linux.cgroupsPath is the one
// s was started in (nil else): only such a container can adopt s, and
// its create then need not read the cgroup hierarchies again.
func (s *Spare) cgroup(cgroupsPath string) cgroups.Manager {
	if s == nil || s.ch == nil || cgroupsPath == "" || cgroupsPath != s.cgroupsPath {
		return nil
	}
	return s.cg
}

// take makes s the init of the container with plan, if it can: when the
// init has a new pid namespace, no user namespace, no new time namespace,
// only namespaces it can join itself and no preserved descriptors. The
// caller has checked the cgroup (see cgroup). A nil Spare cannot.
func (s *Spare) take(plan *nsPlan, preserve int) bool {
	if s == nil || s.ch == nil || preserve > 0 || plan.user != nil || plan.newTime ||
		plan.cloneFlags&unix.CLONE_NEWPID == 0 || plan.cloneFlags&unix.CLONE_NEWUSER != 0 {
		return false
	}
	for _, j := range plan.joins {
		if !spareJoins[j.typ] {
			return false
		}
	}
	return true
}

// adopt sends the init s, once taken, its descriptors: b's (which create
// has filled in, as for startInit) and plan's. The bootstrap is for the
// caller to send, as to startInit's child. s is spent, whatever the
// outcome.
func (s *Spare) adopt(b *bootstrap, plan *nsPlan, fifo, console, stdin, stdout, stderr *os.File) (_ *child, err error) {
	ch := s.ch
	s.ch = nil
	defer func() {
		if err != nil {
			ch.conn.Close()
			ch.kill()
		}
	}()
	b.UnshareFlags = plan.cloneFlags &^ unix.CLONE_NEWPID
	b.FifoFd, b.ConsoleFd, b.MntNsFd = -1, -1, -1
	var fds []int
	add := func(role string, f *os.File) {
		if f != nil {
			b.Passed = append(b.Passed, role)
			fds = append(fds, int(f.Fd()))
		}
	}
	// Stdio left out stays the spare's /dev/null.
	add("stdin", stdin)
	add("stdout", stdout)
	add("stderr", stderr)
	add("console", console)
	add("fifo", fifo)
	add("mnt", plan.mnt)
	for _, j := range plan.joins {
		add(string(j.typ), j.file)
	}
	// One byte to carry them; the spare reads it before the bootstrap.
	var rights []byte
	if len(fds) > 0 {
		rights = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(int(ch.conn.f.Fd()), []byte{0}, rights, nil, 0); err != nil {
		return nil, fmt.Errorf("start container init: %w", &os.SyscallError{Syscall: "sendmsg", Err: err})
	}
	return ch, nil
}

// maxPassed is the most descriptors adopt sends: stdio, console, fifo,
// mount namespace and the namespaces of spareJoins.
const maxPassed = 6 + 4

// recvPassed is the spare's receipt of adopt's descriptors, which come
// close-on-exec.
func recvPassed(conn *syncConn) ([]int, error) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4*maxPassed))
	for {
		_, oobn, _, _, err := unix.Recvmsg(int(conn.f.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.SyscallError{Syscall: "recvmsg", Err: err}
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, fmt.Errorf("descriptors: %w", err)
		}
		var fds []int
		for i := range msgs {
			got, err := unix.ParseUnixRights(&msgs[i])
			if err != nil {
				return nil, fmt.Errorf("descriptors: %w", err)
			}
			fds = append(fds, got...)
		}
		return fds, nil
	}
}

// takeFds puts the descriptors a spare received where b says they go: the
// stdio on 0-2, the others in b's fields; it joins the namespaces among
// them, on this thread, before anything is unshared.
func (b *bootstrap) takeFds(fds []int) error {
	if len(fds) != len(b.Passed) {
		return fmt.Errorf("descriptors: got %d, expected %d", len(fds), len(b.Passed))
	}
	for i, role := range b.Passed {
		fd := fds[i]
		switch role {
		case "stdin", "stdout", "stderr":
			target := slices.Index([]string{"stdin", "stdout", "stderr"}, role)
			if err := unix.Dup3(fd, target, 0); err != nil {
				return &os.SyscallError{Syscall: "dup3", Err: err}
			}
			unix.Close(fd)
		case "console":
			b.ConsoleFd = fd
		case "fifo":
			b.FifoFd = fd
		case "mnt":
			b.MntNsFd = fd
		default:
			typ := specs.LinuxNamespaceType(role)
			if !spareJoins[typ] {
				return fmt.Errorf("descriptors: unknown role %q", role)
			}
			if err := unix.Setns(fd, nsCloneFlags[typ]); err != nil {
				return fmt.Errorf("join %s namespace: %w", typ, err)
			}
			unix.Close(fd)
		}
	}
	return nil
}

// isSpare says whether this init is a spare (see spareEnv).
func isSpare() bool {
	v, _ := strconv.ParseBool(os.Getenv(spareEnv))
	return v
}
