package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"
)

// TestExec: exec's exit code is the process's; stdout and stderr stay
// apart; the process has the container's environment, user and working
// directory unless -e, --env-file, -u and -w say otherwise; -i passes
// stdin to its end; Docker's errors and codes for a command that isn't
// there (127) or can't run (126), a container that isn't there or doesn't
// run (1).
func TestExec(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("-d", "--name", "ex", "-e", "CE=run", "-w", "/srv", "busybox:test", "sleep", "1000")...)

	out, errs, code := b.run("", "exec", "ex", "sh", "-c", "echo out; echo err >&2; exit 3")
	if out != "out\n" || errs != "err\n" || code != 3 {
		t.Errorf("exec: stdout %q, stderr %q, exit %d; want out, err, 3", out, errs, code)
	}
	show := []string{"sh", "-c", `echo "$CE|$A|$B|$HOSTVAR|$(id -u):$(id -g)|$(pwd)"`}
	if got := b.ok(append([]string{"exec", "ex"}, show...)...); got != "run||||0:0|/srv\n" {
		t.Errorf("the container's env, user and cwd: %q", got)
	}
	envFile := filepath.Join(t.TempDir(), "env")
	os.WriteFile(envFile, []byte("# a comment\n\nB=from file\nHOSTVAR\nA=overridden\n"), 0o644)
	b.env = append(b.env, "HOSTVAR=from host")
	got := b.ok(append([]string{"container", "exec", "--env-file", envFile, "-e", "A=1", "-e", "CE", "-u", "nobody:nogroup", "-w", "/tmp", "ex"}, show...)...)
	if got != "|1|from file|from host|65534:65534|/tmp\n" {
		t.Errorf("exec -e/--env-file/-u/-w: %q", got)
	}

	if out, _, code := b.run("line 1\nline 2\n", "exec", "-i", "ex", "sh", "-c", "cat; echo end"); out != "line 1\nline 2\nend\n" || code != 0 {
		t.Errorf("exec -i: %q, exit %d", out, code)
	}
	if out, _, _ := b.run("not for it\n", "exec", "ex", "cat"); out != "" {
		t.Errorf("exec without -i read our stdin: %q", out)
	}

	errs = b.fails(127, "exec", "ex", "nope")
	if errs != "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown\n" {
		t.Errorf("exec of a missing command: %q", errs)
	}
	if errs := b.fails(126, "exec", "ex", "/etc/passwd"); !strings.Contains(errs, `exec: "/etc/passwd": permission denied`) {
		t.Errorf("exec of a file that isn't executable: %q", errs)
	}
	if errs := b.fails(1, "exec", "nosuch", "true"); errs != "Error response from daemon: No such container: nosuch\n" {
		t.Errorf("exec into a missing container: %q", errs)
	}
	id := strings.TrimSpace(b.ok(runArgs("-d", "--name", "done", "busybox:test", "true")...))
	b.ok("wait", "done")
	if errs := b.fails(1, "exec", "done", "true"); errs != "Error response from daemon: container "+id+" is not running\n" {
		t.Errorf("exec into a stopped container: %q", errs)
	}
	if errs := b.fails(1, "exec", "-it", "ex", "sh"); !strings.Contains(errs, "the input device is not a TTY") {
		t.Errorf("exec -it without a terminal: %q", errs)
	}
}

// TestExecPrivileged: exec --privileged gives the process every
// capability, even in a --cap-drop ALL container whose plain exec has none.
func TestExecPrivileged(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("-d", "--name", "pe", "--cap-drop", "ALL", "busybox:test", "sleep", "1000")...)
	capEff := func(args ...string) string {
		out := b.ok(append(append([]string{"exec"}, args...), "pe", "grep", "CapEff", "/proc/self/status")...)
		return strings.TrimSpace(strings.TrimPrefix(out, "CapEff:"))
	}
	if got := capEff(); got != "0000000000000000" {
		t.Errorf("exec in a --cap-drop ALL container: CapEff %s", got)
	}
	got, err := strconv.ParseUint(capEff("--privileged"), 16, 64)
	if err != nil || got&(1<<unix.CAP_SYS_ADMIN) == 0 || got&(1<<unix.CAP_NET_ADMIN) == 0 {
		t.Errorf("exec --privileged: CapEff %x (%v), want every capability", got, err)
	}
	// The capabilities work (the container's seccomp profile stays, as
	// Docker's: mount is still refused there).
	b.ok("exec", "pe", "touch", "/tmp/f")
	if _, errs, code := b.run("", "exec", "pe", "chown", "1000", "/tmp/f"); code == 0 {
		t.Errorf("chown without CAP_CHOWN worked: %q", errs)
	}
	if out := b.ok("exec", "--privileged", "pe", "sh", "-c", "chown 1000 /tmp/f && stat -c %u /tmp/f"); out != "1000\n" {
		t.Errorf("exec --privileged chown: %q", out)
	}
}

// TestExecDetached: exec -d returns at once, the process runs on (a
// second exec's ps sees it) as the child of its exec shim, which reaps it
// and goes away when it ends.
func TestExecDetached(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("-d", "--name", "bg", "busybox:test", "sleep", "1000")...)
	if out := b.ok("exec", "-d", "bg", "sh", "-c", "echo started > /started; exec sleep 777"); out != "" {
		t.Errorf("exec -d printed %q", out)
	}
	waitFor(t, "the detached process", func() bool {
		out, _, _ := b.run("", "exec", "bg", "ps", "-o", "args")
		return strings.Contains(out, "sleep 777")
	})
	if got := b.ok("exec", "bg", "cat", "/started"); got != "started\n" {
		t.Errorf("the detached process's file: %q", got)
	}
	pid := hostPid(t, "sleep\x00777\x00")
	parent := ppid(t, pid)
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", parent)); !bytes.HasSuffix(cmdline, []byte("\x00exec-shim\x00")) {
		t.Fatalf("the parent of the detached process is %q, want berth's exec shim", cmdline)
	}
	if errs := b.fails(1, "exec", "-d", "bg", "nope"); !strings.HasPrefix(errs, "Error response from daemon: OCI runtime exec failed: ") {
		t.Errorf("exec -d of a missing command: %q", errs)
	}
	b.ok("exec", "bg", "killall", "sleep")
	// The shim reaps the process and exits; nothing is left as a zombie.
	waitFor(t, "the exec shim to exit", func() bool { return gone(pid) && (gone(parent) || isZombie(parent)) })
	if got := b.ok("ps", "--format", "{{.Names}} {{.State}}"); got != "bg running\n" {
		t.Errorf("the container after its exec ended: %q", got)
	}
}

// TestExecTTY drives `exec -it` from a real terminal: a pty whose slave is
// the CLI's stdio and controlling terminal. The process gets a pty of the
// terminal's size, follows its resizes, reads what is typed and exits with
// the code exec then exits with.
func TestExecTTY(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("-d", "--name", "tt", "busybox:test", "sleep", "1000")...)
	tty := startOnPty(t, b, console.WinSize{Height: 30, Width: 100}, "exec", "-it", "tt", "sh")
	tty.waitOutput(t, "# ")
	tty.write(t, "stty size; echo $TERM; tty\n")
	tty.waitOutput(t, "\r\n30 100\r\nxterm\r\n/dev/pts/")
	// A resize of our terminal reaches the process's.
	if err := tty.master.Resize(console.WinSize{Height: 40, Width: 120}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resize", func() bool {
		tty.write(t, "stty size\n")
		time.Sleep(50 * time.Millisecond)
		return strings.Contains(tty.output(), "\r\n40 120\r\n")
	})
	tty.write(t, "echo h''i; exit 3\n")
	if code := tty.wait(t); code != 3 {
		t.Errorf("exec -it exited %d, want 3; output %q", code, tty.output())
	}
	if !regexp.MustCompile(`\r\nhi\r\n`).MatchString(tty.output()) {
		t.Errorf("exec -it output lacks hi: %q", tty.output())
	}
}

// TestExecDetachKeys: ctrl-p ctrl-q (or --detach-keys) ends `exec -it`
// as Docker's does (exit 1, "read escape sequence") and leaves the process
// running, its terminal open: a command typed before the detach finishes.
func TestExecDetachKeys(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("-d", "--name", "dk", "busybox:test", "sleep", "1000")...)
	for i, c := range []struct {
		flags []string
		keys  string
	}{{nil, "\x10\x11"}, {[]string{"--detach-keys", "ctrl-a,x"}, "\x01x"}} {
		args := append(append([]string{"exec", "-it"}, c.flags...), "dk", "sh")
		tty := startOnPty(t, b, console.WinSize{Height: 24, Width: 80}, args...)
		tty.waitOutput(t, "# ")
		tty.write(t, fmt.Sprintf("sleep 1; echo alive > /alive%d\n", i))
		tty.write(t, c.keys)
		if code := tty.wait(t); code != 1 || !strings.Contains(tty.output(), "read escape sequence") {
			t.Errorf("%v: exit %d, output %q; want 1 and read escape sequence", c.flags, code, tty.output())
		}
		waitFor(t, "the detached shell's command", func() bool {
			out, _, _ := b.run("", "exec", "dk", "cat", fmt.Sprintf("/alive%d", i))
			return out == "alive\n"
		})
	}
	if errs := b.fails(1, "exec", "--detach-keys", "ctrl-1", "dk", "true"); !strings.Contains(errs, "invalid detach keys (ctrl-1)") {
		t.Errorf("bad --detach-keys: %q", errs)
	}
}

// ptyRun is berth running with a pty's slave as its terminal.
type ptyRun struct {
	cmd    *exec.Cmd
	master console.Console
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{}
}

func startOnPty(t *testing.T, b *berthRoot, size console.WinSize, args ...string) *ptyRun {
	t.Helper()
	master, slavePath, err := console.NewPty()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	if err := master.Resize(size); err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	r := &ptyRun{master: master, done: make(chan struct{})}
	r.cmd = exec.Command(berthBin, append([]string{"--root", b.root}, args...)...)
	r.cmd.Env = b.env
	r.cmd.Stdin, r.cmd.Stdout, r.cmd.Stderr = slave, slave, slave
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.cmd.Process.Kill(); <-r.done })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			r.mu.Lock()
			r.out.Write(buf[:n])
			r.mu.Unlock()
			if err != nil {
				break
			}
		}
	}()
	go func() {
		r.cmd.Wait()
		close(r.done)
	}()
	return r
}

func (r *ptyRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

func (r *ptyRun) write(t *testing.T, s string) {
	t.Helper()
	if _, err := r.master.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func (r *ptyRun) waitOutput(t *testing.T, want string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%q on the terminal", want), func() bool { return strings.Contains(r.output(), want) })
}

// wait returns berth's exit code once it has exited and its last output
// has been read.
func (r *ptyRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("berth %v did not exit; terminal: %q", r.cmd.Args, r.output())
	}
	// What it wrote last may still be on its way through the master:
	// read on until nothing more comes.
	for last, deadline := -1, time.Now().Add(2*time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		n := len(r.output())
		if n == last {
			break
		}
		last = n
	}
	return r.cmd.ProcessState.ExitCode()
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline (a hang, not a timing expectation).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// hostPid finds the host process whose /proc/<pid>/cmdline is cmdline.
func hostPid(t *testing.T, cmdline string) int {
	t.Helper()
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil && string(data) == cmdline {
			pid, _ := strconv.Atoi(strings.Split(f, "/")[2])
			return pid
		}
	}
	t.Fatalf("no process runs %q", cmdline)
	return 0
}

func ppid(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	n, _ := strconv.Atoi(f[1])
	return n
}

// gone: no such process, not even a zombie.
func gone(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return os.IsNotExist(err)
}
