package cgroups

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The real-kernel tests run their workloads in re-executions of the test
// binary, so they need nothing installed. TestMain turns such a child
// into the helper named by helperEnv.
const helperEnv = "BERTH_CGROUPS_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, strings.Fields(os.Getenv(helperEnv+"_ARGS"))))
	}
	os.Exit(m.Run())
}

// runHelper is the child's body. Each mode first waits for a line on
// stdin, so the test can move it into a cgroup before it does anything.
func runHelper(mode string, args []string) int {
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		return 3
	}
	switch mode {
	case "tick":
		// Print a line every few milliseconds, spinning in between so the
		// cgroup accrues CPU time: a frozen cgroup stops ticking.
		for i := 0; ; i++ {
			fmt.Printf("tick %d\n", i)
			for end := time.Now().Add(2 * time.Millisecond); time.Now().Before(end); {
			}
			time.Sleep(3 * time.Millisecond)
		}
	case "devices":
		// Each arg is op:path, op being r, w or rw (open) or mknod-c-MAJ-MIN;
		// print "arg ok" or "arg ERRNO".
		for _, a := range args {
			op, path, _ := strings.Cut(a, ":")
			var err error
			switch {
			case strings.HasPrefix(op, "mknod-"):
				var typ string
				var maj, min uint32
				fmt.Sscanf(op, "mknod-%1s-%d-%d", &typ, &maj, &min)
				mode := uint32(unix.S_IFCHR)
				if typ == "b" {
					mode = unix.S_IFBLK
				}
				err = unix.Mknod(path, mode|0o600, int(unix.Mkdev(maj, min)))
			default:
				flag := map[string]int{"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}[op]
				var f *os.File
				if f, err = os.OpenFile(path, flag, 0); err == nil {
					f.Close()
				}
			}
			if err == nil {
				fmt.Println(a, "ok")
			} else {
				var errno syscall.Errno
				errors.As(err, &errno)
				fmt.Println(a, unix.ErrnoName(errno))
			}
		}
		return 0
	case "alloc":
		// Touch N MiB, then report; an OOM kill stops it before that.
		n, _ := strconv.Atoi(args[0])
		var keep [][]byte
		for i := 0; i < n; i++ {
			b := make([]byte, 1<<20)
			for j := range b {
				b[j] = byte(j)
			}
			keep = append(keep, b)
		}
		fmt.Println("allocated", len(keep))
		return 0
	}
	return 2
}

// helper is a running helper child.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	ticks atomic.Int64
	done  chan struct{}
	err   error // Wait's result, once done is closed
}

func startHelper(t *testing.T, mode string, args ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperEnv+"_ARGS="+strings.Join(args, " "))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, lines: make(chan string, 1024), done: make(chan struct{})}
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "tick ") {
				h.ticks.Add(1)
				continue
			}
			h.lines <- sc.Text()
		}
	}()
	go func() {
		readers.Wait() // Wait closes stdout: read it all first
		h.err = cmd.Wait()
		close(h.lines)
		close(h.done)
	}()
	t.Cleanup(func() { h.kill() })
	return h
}

func (h *helper) pid() int { return h.cmd.Process.Pid }

// start lets the helper go on past its wait for stdin.
func (h *helper) start(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(h.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
}

// kill kills the helper and reaps it. A helper in a frozen v1 cgroup
// cannot die until thawed, which the cgroup's cleanup does later, so the
// wait here is bounded and the reaping left to the background then.
func (h *helper) kill() {
	h.cmd.Process.Kill()
	select {
	case <-h.done:
	case <-time.After(2 * time.Second):
	}
}

// wait waits for the helper to exit by itself.
func (h *helper) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-h.done:
		return h.err
	case <-time.After(20 * time.Second):
		t.Fatal("helper did not exit")
		return nil
	}
}

// output returns every non-tick line once the helper has exited.
func (h *helper) output(t *testing.T) []string {
	t.Helper()
	h.wait(t)
	var out []string
	for l := range h.lines {
		out = append(out, l)
	}
	return out
}

// ticking reports whether the tick count moves within d.
func (h *helper) ticking(d time.Duration) bool {
	before := h.ticks.Load()
	time.Sleep(d)
	return h.ticks.Load() != before
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
}

func hostLayout(t *testing.T) *layout {
	t.Helper()
	l, err := readLayout("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testCgroupName returns a fresh /berth-test-<random> path.
func testCgroupName(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "/berth-test-" + hex.EncodeToString(b)
}

// cleanupCgroup makes sure m's directories are gone when the test ends,
// however it ends: helpers are killed (their own cleanups run first, being
// registered later), then Destroy runs. Whatever survives that fails the
// test and is removed by forceRemove, which shares no code with the
// package, so a bug under test cannot leave cgroups on the host.
func cleanupCgroup(t *testing.T, m Manager, name string) {
	t.Cleanup(func() {
		_ = m.Freeze(false)
		_ = Kill(m)
		if err := m.Destroy(); err != nil {
			t.Errorf("cleanup: Destroy: %v", err)
		}
		for key, dir := range m.Paths() {
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("cleanup: %q: %s survived Destroy", key, dir)
				forceRemove(t, dir, strings.TrimSuffix(dir, name))
			}
		}
	})
}

// forceRemove removes the test cgroup dir and its descendants, thawing
// them and moving any process still inside to the hierarchy root first
// (never killing: a bug could have moved any process there).
func forceRemove(t *testing.T, dir, mountpoint string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			forceRemove(t, filepath.Join(dir, e.Name()), mountpoint)
		}
	}
	_ = os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0)
	_ = os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0)
	for i := 0; i < 100; i++ {
		procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, pid := range strings.Fields(string(procs)) {
			_ = os.WriteFile(filepath.Join(mountpoint, "cgroup.procs"), []byte(pid), 0)
		}
		if err := unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("cleanup: cannot remove %s", dir)
}

// cgroupOf returns the cgroup of pid in each hierarchy, keyed as Paths().
func cgroupOf(t *testing.T, pid int) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := parseProcCgroup(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustRead(t *testing.T, dir, file string) string {
	t.Helper()
	s, err := readFile(dir, file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
