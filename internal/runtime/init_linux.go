package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/runtime/seccomp"
)

// initEnv names the variable that marks a process as a container init and
// carries the number of its sync socket.
const initEnv = "_BERTH_INIT"

// The container init takes over in this package's start-up, and never
// returns from it. Go initializes a package's imports before it, so all
// the init uses is ready; the packages of the binary it does not use (the
// engine's: image references, digests, SQLite, the Dockerfile parser, …)
// are initialized after this one, if at all, and their start-up (about
// half of the binary's) is not paid by every container start.
func init() {
	if IsInitProcess() {
		// Namespaces joined with setns, capabilities and the working
		// directory change only the calling thread; the init must do all
		// of that, and its final execve, on one thread: the main one.
		goruntime.LockOSThread()
		InitMain()
	}
}

// IsInitProcess reports whether this process was started by the runtime
// as a container init.
func IsInitProcess() bool { return os.Getenv(initEnv) != "" }

// InitMain runs the container init and never returns: it either execs the
// container's process or reports why it could not and exits.
func InitMain() {
	fd, err := strconv.Atoi(os.Getenv(initEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth init: bad", initEnv)
		os.Exit(125)
	}
	conn := newSyncConn(os.NewFile(uintptr(fd), "sync"))
	err = runInit(conn)
	// Only failures get here. Once the parent stopped listening (after
	// create returned), the error can only go to the process's stderr.
	if conn.send(syncMsg{Type: msgError, Error: err.Error()}) != nil {
		fmt.Fprintln(os.Stderr, "berth init:", err)
	}
	os.Exit(127)
}

// runInit is the container init as a straight list of steps.
func runInit(conn *syncConn) error {
	var passed []int
	spare := isSpare()
	if spare {
		warmBootstrap()
		var err error
		if passed, err = recvPassed(conn); err != nil {
			return err
		}
	}
	var b bootstrap
	if err := conn.recv(&b); err != nil {
		return fmt.Errorf("read bootstrap: %w", err)
	}
	os.Clearenv()
	if spare {
		if err := b.takeFds(passed); err != nil {
			return err
		}
	}
	// Device nodes and mount targets get exactly the modes asked for.
	unix.Umask(0)
	if b.UnshareFlags != 0 {
		// Per thread (this one, which execs); CLONE_NEWNS brings CLONE_FS.
		if err := unix.Unshare(int(b.UnshareFlags)); err != nil {
			return &os.SyscallError{Syscall: "unshare", Err: err}
		}
	}
	if b.MntNsFd >= 0 {
		// setns into a mount namespace needs an fs_struct of our own; the
		// Go threads share one, so unshare it for this thread first.
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return &os.SyscallError{Syscall: "unshare(CLONE_FS)", Err: err}
		}
		if err := unix.Setns(b.MntNsFd, unix.CLONE_NEWNS); err != nil {
			return &os.SyscallError{Syscall: "setns(mnt)", Err: err}
		}
		unix.Close(b.MntNsFd)
	}
	if b.UnshareCgroupNS {
		// After the parent moved us into our cgroup, so it is the root.
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return &os.SyscallError{Syscall: "unshare(CLONE_NEWCGROUP)", Err: err}
		}
	}
	if sc := b.Spec.Linux.Seccomp; sc != nil && sc.ListenerPath != "" {
		// Connected now, while the host's paths are still reachable.
		l, err := dialUnix(sc.ListenerPath)
		if err != nil {
			return fmt.Errorf("seccomp listener: %w", err)
		}
		seccompListener = l
	}
	var console *os.File
	if b.ConsoleFd >= 0 {
		console = os.NewFile(uintptr(b.ConsoleFd), "console-socket")
	}
	if b.Mode != "exec" {
		if err := setupContainer(conn, &b, console); err != nil {
			return err
		}
	} else if b.Process.Terminal {
		if err := setupConsole(console, b.Process, false); err != nil {
			return fmt.Errorf("console: %w", err)
		}
	}
	if console != nil {
		console.Close()
	}
	return startProcess(conn, &b)
}

// setupContainer builds the container's world: mounts, devices, root,
// console, hostname, sysctls and the masked and read-only paths.
func setupContainer(conn *syncConn, b *bootstrap, console *os.File) error {
	spec := b.Spec
	if !hasNamespace(spec, specs.MountNamespace) {
		return setupChroot(conn, b, console)
	}
	s := &rootfsSetup{
		spec: spec, bundle: b.Bundle, rootfs: b.Rootfs,
		userns: hasNamespace(spec, specs.UserNamespace), cgroupns: hasNamespace(spec, specs.CgroupNamespace),
		cgroupPaths: b.CgroupPaths, cgroupMounts: b.CgroupMounts,
	}
	if err := s.prepare(); err != nil {
		return err
	}
	s.root.Close()
	// The create-time hooks run now: after the mounts, before pivot_root.
	if err := createHooks(conn, b); err != nil {
		return err
	}
	if b.NoPivot {
		if err := moveRoot(b.Rootfs); err != nil {
			return err
		}
	} else if err := pivotRoot(b.Rootfs); err != nil {
		return err
	}
	if b.Process.Terminal {
		if err := setupConsole(console, b.Process, true); err != nil {
			return fmt.Errorf("console: %w", err)
		}
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return &os.SyscallError{Syscall: "sethostname", Err: err}
		}
	}
	if spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return &os.SyscallError{Syscall: "setdomainname", Err: err}
		}
	}
	if err := writeSysctls(spec); err != nil {
		return err
	}
	if err := readonlyPaths(spec.Linux.ReadonlyPaths); err != nil {
		return err
	}
	if err := maskPaths(spec.Linux.MaskedPaths); err != nil {
		return err
	}
	if spec.Root.Readonly {
		if err := remountReadonly("/"); err != nil {
			return err
		}
	}
	if p := spec.Linux.RootfsPropagation; p != "" {
		if err := unix.Mount("", "/", "", propagationOpts[p], ""); err != nil {
			return mountErr("set propagation of", "", "/", err)
		}
	}
	return nil
}

// setupChroot is setupContainer for a config without a mount namespace:
// the container shares the host's mount table, so nothing is mounted (the
// parent warned about that) and the rootfs becomes the root by chroot.
func setupChroot(conn *syncConn, b *bootstrap, console *os.File) error {
	if err := createHooks(conn, b); err != nil {
		return err
	}
	if err := unix.Chroot(b.Rootfs); err != nil {
		return &os.PathError{Op: "chroot", Path: b.Rootfs, Err: err}
	}
	if err := unix.Chdir("/"); err != nil {
		return &os.SyscallError{Syscall: "chdir", Err: err}
	}
	if b.Process.Terminal {
		if err := setupConsole(console, b.Process, false); err != nil {
			return fmt.Errorf("console: %w", err)
		}
	}
	if b.Spec.Hostname != "" {
		if err := unix.Sethostname([]byte(b.Spec.Hostname)); err != nil {
			return &os.SyscallError{Syscall: "sethostname", Err: err}
		}
	}
	return nil
}

// createHooks has the parent run the create-time hooks, if there are any,
// and waits until it has.
func createHooks(conn *syncConn, b *bootstrap) error {
	if !b.CreateHooks {
		return nil
	}
	if err := conn.send(syncMsg{Type: msgHooks}); err != nil {
		return err
	}
	return conn.expect(msgHooksDone)
}

// startProcess turns the init into the container's process: working
// directory, user, capabilities, no_new_privs and seccomp, in the order
// their privileges require, then (for create) the wait for `start`, the
// rlimits and execve.
func startProcess(conn *syncConn, b *bootstrap) error {
	p := b.Process
	umask := 0o022
	if p.User.Umask != nil {
		umask = int(*p.User.Umask)
	}
	unix.Umask(umask)
	if err := unix.Chdir(p.Cwd); err != nil {
		return &os.PathError{Op: "chdir", Path: p.Cwd, Err: err}
	}
	// A cwd reached through a descriptor to the host would sit outside our
	// root; getcwd reports that as "(unreachable)" (CVE-2024-21626).
	if _, err := unix.Getwd(); err != nil {
		return fmt.Errorf("cwd %s is outside the container root", p.Cwd)
	}
	env := withHome(p.Env, int(p.User.UID))
	var path string
	if len(p.Args) > 0 { // else a config without a process: nothing to start
		var err error
		if path, err = lookPath(p.Args[0], env); err != nil {
			return err
		}
	}
	// No descriptor of ours may reach the process: everything above the
	// preserved ones closes on exec (CVE-2024-21626). Done before seccomp,
	// whose filter may not allow close_range.
	if err := closeOnExecFrom(3 + b.ExtraFds); err != nil {
		return err
	}
	if p.Capabilities != nil {
		if err := applyCapsBounding(p.Capabilities); err != nil {
			return err
		}
	}
	sc := b.Spec.Linux.Seccomp
	// Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it
	// while we still have it. With it, as late as possible, so the filter
	// has to allow fewer of the runtime's own syscalls.
	if sc != nil && !p.NoNewPrivileges {
		if err := loadSeccomp(sc, b); err != nil {
			return err
		}
	}
	if err := setUser(p.User, b.Spec); err != nil {
		return err
	}
	if p.Capabilities != nil {
		if err := applyCaps(p.Capabilities); err != nil {
			return err
		}
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return &os.SyscallError{Syscall: "prctl(PR_SET_NO_NEW_PRIVS)", Err: err}
		}
		if sc != nil {
			if err := loadSeccomp(sc, b); err != nil {
				return err
			}
		}
	}
	if err := conn.send(syncMsg{Type: msgReady}); err != nil {
		return err
	}
	switch {
	case b.Mode == "create":
		if err := waitForStart(b.FifoFd); err != nil {
			return err
		}
	case b.Mode == "run" && len(hooksOf(b.Spec).StartContainer) > 0:
		if err := conn.expect(msgStart); err != nil {
			return err
		}
	}
	if b.Mode != "exec" {
		if err := runHooks("startContainer", hooksOf(b.Spec).StartContainer, &specs.State{
			Version: specs.Version, ID: b.ID, Status: specs.StateCreated, Pid: os.Getpid(),
			Bundle: b.Bundle, Annotations: b.Spec.Annotations,
		}); err != nil {
			return err
		}
	}
	if path == "" {
		return errors.New("the container's config has no process to run")
	}
	// Last: a low RLIMIT_AS or RLIMIT_DATA would otherwise starve the Go
	// runtime of this init before it gets here.
	if err := setRlimits(p.Rlimits); err != nil {
		return err
	}
	err := unix.Exec(path, p.Args, env)
	return &os.PathError{Op: "exec", Path: p.Args[0], Err: err}
}

// seccompListener is the connection to linux.seccomp.listenerPath.
var seccompListener *os.File

// loadSeccomp installs the filter; with SCMP_ACT_NOTIFY rules it sends the
// listener to the agent at listenerPath with the container process state,
// as the OCI spec describes.
func loadSeccomp(sc *specs.LinuxSeccomp, b *bootstrap) error {
	var fd int
	var err error
	if b.Seccomp != nil {
		fd, err = b.Seccomp.Install()
	} else {
		fd, err = seccomp.Load(sc)
	}
	if err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	if fd < 0 {
		return nil
	}
	listener := os.NewFile(uintptr(fd), "seccomp-listener")
	defer listener.Close()
	if seccompListener == nil {
		return nil
	}
	defer seccompListener.Close()
	state, err := json.Marshal(specs.ContainerProcessState{
		Version: specs.Version, Fds: []string{specs.SeccompFdName}, Pid: b.HostPid, Metadata: sc.ListenerMetadata,
		State: specs.State{Version: specs.Version, ID: b.ID, Status: specs.StateCreating, Pid: b.HostPid,
			Bundle: b.Bundle, Annotations: b.Spec.Annotations},
	})
	if err != nil {
		return err
	}
	if err := sendFd(seccompListener, string(state), listener); err != nil {
		return fmt.Errorf("seccomp listener: %w", err)
	}
	return nil
}

// waitForStart blocks until `start` writes its byte to the exec fifo. The
// fifo was opened by the parent before any chroot or pivot_root, so this
// needs no path and no /proc.
func waitForStart(fifoFd int) error {
	defer unix.Close(fifoFd)
	buf := make([]byte, 1)
	for {
		_, err := unix.Read(fifoFd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "read", Path: "exec fifo", Err: err}
		}
		return nil
	}
}

var rlimitTypes = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

func setRlimits(limits []specs.POSIXRlimit) error {
	for _, l := range limits {
		res, ok := rlimitTypes[l.Type]
		if !ok {
			return fmt.Errorf("unknown rlimit %q", l.Type)
		}
		// syscall.Setrlimit (not a raw prlimit) so that Go forgets the
		// RLIMIT_NOFILE it raised at startup and doesn't restore it on exec.
		if err := syscall.Setrlimit(res, &syscall.Rlimit{Cur: l.Soft, Max: l.Hard}); err != nil {
			return fmt.Errorf("setrlimit %s %d:%d: %w", l.Type, l.Soft, l.Hard, err)
		}
	}
	return nil
}

// setUser switches to the process's uid, gid and supplementary groups,
// keeping the permitted capabilities so applyCaps can set them after.
func setUser(u specs.User, spec *specs.Spec) error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return &os.SyscallError{Syscall: "prctl(PR_SET_KEEPCAPS)", Err: err}
	}
	if setgroupsAllowed() {
		gids := make([]int, len(u.AdditionalGids))
		for i, g := range u.AdditionalGids {
			gids[i] = int(g)
		}
		if err := unix.Setgroups(gids); err != nil {
			return &os.SyscallError{Syscall: "setgroups", Err: err}
		}
	} else if len(u.AdditionalGids) > 0 {
		return fmt.Errorf("additional gids need setgroups, which this user namespace denies")
	}
	// Raw, for this thread only, as setgroups above and capset after: it is
	// the one that execs, and the execve ends the others. (Go's Setresuid
	// stops every thread of the process to change them all.)
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setresgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setresuid %d: %w", u.UID, e)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return &os.SyscallError{Syscall: "prctl(PR_SET_KEEPCAPS)", Err: err}
	}
	return nil
}

func setgroupsAllowed() bool {
	data, err := os.ReadFile("/proc/self/setgroups")
	return err != nil || strings.TrimSpace(string(data)) != "deny"
}

// withHome adds HOME from the container's /etc/passwd when the config
// leaves it unset, as runc does.
func withHome(env []string, uid int) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "HOME=") {
			return env
		}
	}
	home := "/"
	if data, err := os.ReadFile("/etc/passwd"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Split(line, ":")
			if len(f) >= 6 && f[2] == strconv.Itoa(uid) {
				home = f[5]
				break
			}
		}
	}
	return append(env[:len(env):len(env)], "HOME="+home)
}

// lookPath finds file in the PATH of the process's environment, inside the
// container (the init has already pivoted into its root).
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		if err := checkExecutable(file); err != nil {
			return "", fmt.Errorf("exec: %q: %w", file, err)
		}
		return file, nil
	}
	path := ""
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			path = e[len("PATH="):]
		}
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		if p := dir + "/" + file; checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", file)
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return os.ErrPermission
	}
	return nil
}

// closeOnExecFrom marks every open descriptor >= min close-on-exec.
func closeOnExecFrom(min int) error {
	err := unix.CloseRange(uint(min), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Before Linux 5.11: walk /proc/self/fd.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list fds: %w", err)
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < min {
			continue
		}
		unix.CloseOnExec(fd)
	}
	return nil
}

func hasNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

func hasNewNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == t && ns.Path == "" {
			return true
		}
	}
	return false
}
