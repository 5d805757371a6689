package seccomp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The tests in this file load real filters. A filter cannot be removed, so
// each runs in a child: the test binary re-executed with childEnv naming a
// function of childModes, which sets no_new_privs, loads a filter, makes
// syscalls and reports on stdout. A child that must die is checked by its
// exit status.

const childEnv = "BERTH_SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(m.Run())
}

var childModes = map[string]func() error{
	"errno":        childErrno,
	"tsync":        childTsync,
	"kill-process": childKillProcess,
	"kill-exec":    childKillExec,
	"notify":       childNotify,
	"docker":       childDocker,
}

func runChild(mode string) int {
	f, ok := childModes[mode]
	if !ok {
		fmt.Printf("FAIL unknown child mode %q\n", mode)
		return 1
	}
	runtime.LockOSThread()
	// Keep a killed child from leaving a core file behind.
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Printf("FAIL no_new_privs: %v\n", err)
		return 1
	}
	if err := f(); err != nil {
		if errors.Is(err, errSkip) {
			fmt.Printf("SKIP %v\n", err)
			return 0
		}
		fmt.Printf("FAIL %v\n", err)
		return 1
	}
	fmt.Println("OK")
	return 0
}

var errSkip = errors.New("seccomp filters cannot be loaded here")

// load is Load for children: a kernel (or sandbox) without seccomp filter
// support skips the test instead of failing it.
func load(cfg *specs.LinuxSeccomp) (int, error) {
	fd, err := Load(cfg)
	if errors.Is(err, unix.ENOSYS) {
		return -1, fmt.Errorf("%w: %v", errSkip, err)
	}
	return fd, err
}

// errnoProfile allows everything but mkdir/mkdirat (EPERM) and getcwd (99).
func errnoProfile(flags ...specs.LinuxSeccompFlag) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchARM},
		Flags:         flags,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
			{Names: []string{"getcwd"}, Action: specs.ActErrno, ErrnoRet: uintp(99)},
		},
	}
}

func checkErrnos() error {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("berth-seccomp-%d", os.Getpid()))
	if err := unix.Mkdirat(unix.AT_FDCWD, dir, 0o755); err != unix.EPERM {
		_ = os.Remove(dir)
		return fmt.Errorf("mkdirat: got %v, want EPERM", err)
	}
	if _, err := unix.Getcwd(make([]byte, 4096)); err != syscall.Errno(99) {
		return fmt.Errorf("getcwd: got %v, want errno 99", err)
	}
	if unix.Getpid() != os.Getpid() {
		return errors.New("getpid is broken")
	}
	return nil
}

func childErrno() error {
	fd, err := load(errnoProfile())
	if err != nil {
		return err
	}
	if fd != -1 {
		return fmt.Errorf("Load returned listener fd %d without a notify rule", fd)
	}
	return checkErrnos()
}

// childTsync loads with TSYNC and checks the filter on another thread.
func childTsync() error {
	if _, err := load(errnoProfile("SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog)); err != nil {
		return err
	}
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // a fresh thread, not the one that loaded
		done <- checkErrnos()
	}()
	return <-done
}

func childKillProcess() error {
	_, err := load(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActKillProcess}},
	})
	if err != nil {
		return err
	}
	unix.Getppid()
	return errors.New("survived getppid")
}

// childKillExec uses SCMP_ACT_KILL (KILL_THREAD), which only ends the whole
// process when it has one thread, so the syscall is made by a
// single-threaded program exec'd under the filter.
func childKillExec() error {
	_, err := load(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActKill}},
	})
	if err != nil {
		return err
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("berth-seccomp-%d", os.Getpid()))
	err = unix.Exec("/bin/mkdir", []string{"mkdir", dir}, os.Environ())
	return fmt.Errorf("exec /bin/mkdir: %v", err)
}

// seccompNotif and seccompNotifResp are struct seccomp_notif and
// seccomp_notif_resp from <linux/seccomp.h>; x/sys/unix does not have them.
type seccompNotif struct {
	id    uint64
	pid   uint32
	flags uint32
	data  struct {
		nr   int32
		arch uint32
		ip   uint64
		args [6]uint64
	}
}

type seccompNotifResp struct {
	id    uint64
	val   int64
	error int32
	flags uint32
}

// childNotify answers getppid from a supervisor goroutine on another thread
// (the filter is on the loading thread only).
func childNotify() error {
	fd, err := load(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Flags:         []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActNotify}},
	})
	if errors.Is(err, unix.EINVAL) {
		// WAIT_KILLABLE_RECV needs Linux 5.19; try without it.
		fd, err = load(&specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActNotify}},
		})
	}
	if err != nil {
		return err
	}
	if fd < 0 {
		return fmt.Errorf("no listener fd (%d)", fd)
	}
	supervisor := make(chan error, 1)
	go func() {
		var n seccompNotif
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n))); e != 0 {
			supervisor <- fmt.Errorf("NOTIF_RECV: %v", e)
			return
		}
		if n.data.nr != unix.SYS_GETPPID {
			supervisor <- fmt.Errorf("notified of syscall %d, want getppid", n.data.nr)
		}
		r := seccompNotifResp{id: n.id, val: 4242}
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&r))); e != 0 {
			supervisor <- fmt.Errorf("NOTIF_SEND: %v", e)
			return
		}
		supervisor <- nil
	}()
	got := unix.Getppid()
	if err := <-supervisor; err != nil {
		return err
	}
	if got != 4242 {
		return fmt.Errorf("getppid returned %d, want the supervisor's 4242", got)
	}
	return nil
}

// childDocker loads Docker's default profile for a container without
// CAP_SYS_ADMIN (this process has it, being root: the filter must deny
// anyway) and checks a few decisions.
func childDocker() error {
	p, err := profiles.GetDefaultProfile(&specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}})
	if err != nil {
		return err
	}
	if _, err := load(p); err != nil {
		return err
	}
	if err := unix.Unshare(unix.CLONE_NEWUSER); err != unix.EPERM {
		return fmt.Errorf("unshare(CLONE_NEWUSER): got %v, want EPERM", err)
	}
	if err := unix.Mount("none", "/", "tmpfs", 0, ""); err != unix.EPERM {
		return fmt.Errorf("mount: got %v, want EPERM", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0); e != unix.ENOSYS {
		return fmt.Errorf("clone3: got %v, want ENOSYS", e)
	}
	if _, err := unix.Getcwd(make([]byte, 4096)); err != nil {
		return fmt.Errorf("getcwd: %v", err)
	}
	return unix.Uname(&unix.Utsname{})
}

// runInChild runs mode in a child and returns its stdout and exit state.
func runInChild(t *testing.T, mode string) (string, *os.ProcessState) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	_ = cmd.Wait()
	if strings.HasPrefix(out.String(), "SKIP") {
		t.Skip(strings.TrimSpace(out.String()))
	}
	return out.String(), cmd.ProcessState
}

func TestKernel(t *testing.T) {
	for _, mode := range []string{"errno", "tsync", "notify", "docker"} {
		t.Run(mode, func(t *testing.T) {
			out, st := runInChild(t, mode)
			if !st.Success() || strings.TrimSpace(out) != "OK" {
				t.Fatalf("child %s: %v\n%s", mode, st, out)
			}
		})
	}
	for _, mode := range []string{"kill-process", "kill-exec"} {
		t.Run(mode, func(t *testing.T) {
			out, st := runInChild(t, mode)
			ws, ok := st.Sys().(syscall.WaitStatus)
			if !ok || !ws.Signaled() || ws.Signal() != unix.SIGSYS {
				t.Fatalf("child %s: %v, want killed by SIGSYS\n%s", mode, st, out)
			}
		})
	}
}
