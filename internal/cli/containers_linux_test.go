package cli_test

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testutil"
)

// containerRoot is a berth root with the busybox rootfs imported as
// busybox:test. Every container left at the end is removed with rm -f
// and whatever stayed mounted under the root is detached, so a failed
// test leaves nothing behind.
func containerRoot(t *testing.T) *berthRoot { return containerRootEnv(t) }

// containerRootEnv is containerRoot with env added to berth's
// environment (BERTH_STORAGE_DRIVER=copy, say).
func containerRootEnv(t *testing.T, env ...string) *berthRoot {
	b := newRoot(t)
	testutil.RequireRoot(t, "containers: namespaces, mounts and cgroups")
	b.env = append(b.env, testBridgeEnv(t)...) // network_linux_test.go
	b.env = append(b.env, env...)
	b.ok("import", "-c", `CMD ["sh"]`, busyboxTar(t), "busybox:test")
	t.Cleanup(func() {
		out, _, _ := b.run("", "ps", "-aq", "--no-trunc")
		for _, id := range strings.Fields(out) {
			b.run("", "rm", "-f", id)
		}
		for _, m := range mountsUnder(b.root) {
			unix.Unmount(m, unix.MNT_DETACH)
		}
	})
	return b
}

// busyboxTar is the busybox rootfs as a tar, for import.
func busyboxTar(t *testing.T) string {
	tarball := filepath.Join(t.TempDir(), "busybox.tar")
	if out, err := exec.Command("tar", "-C", testutil.BusyboxRootfs(t), "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	return tarball
}

// runArgs is `run` with the test binary's cgroup parent, which TestMain
// removes even when a test fails halfway.
func runArgs(args ...string) []string {
	return append([]string{"run", "--cgroup-parent", testutil.TestCgroupParent()}, args...)
}

func mountsUnder(dir string) []string {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// cgroupsOf lists the cgroup directories container id has on this host.
func cgroupsOf(id string) []string {
	parent := testutil.TestCgroupParent()
	v1, _ := filepath.Glob("/sys/fs/cgroup/*" + parent + "/" + id)
	v2, _ := filepath.Glob("/sys/fs/cgroup" + parent + "/" + id)
	return append(v1, v2...)
}

// assertGone checks that nothing of container id is left: no record, no
// bundle directory, no mount under the root, no cgroup.
func (b *berthRoot) assertGone(id string) {
	b.t.Helper()
	if out := b.ok("ps", "-aq", "--no-trunc"); strings.Contains(out, id) {
		b.t.Errorf("ps -a still lists %s", id)
	}
	if _, err := os.Stat(filepath.Join(b.root, "containers", id)); !os.IsNotExist(err) {
		b.t.Errorf("containers/%s is still there (%v)", id, err)
	}
	if m := mountsUnder(b.root); len(m) > 0 {
		b.t.Errorf("mounts left under the root: %v", m)
	}
	if cg := cgroupsOf(id); len(cg) > 0 {
		b.t.Errorf("cgroups left: %v", cg)
	}
}

// TestRunAttached: run without -d prints the command's stdout and stderr
// on ours, separately, and exits with its code; --rm leaves nothing.
func TestRunAttached(t *testing.T) {
	b := containerRoot(t)
	out, errs, code := b.run("", runArgs("busybox:test", "sh", "-c", "echo out; echo err >&2; exit 3")...)
	if out != "out\n" || errs != "err\n" || code != 3 {
		t.Fatalf("run: stdout %q, stderr %q, exit %d; want out, err, 3", out, errs, code)
	}
	if got := b.ok("ps", "-a", "--format", "{{.Status}}|{{.Command}}|{{.Image}}"); !strings.HasPrefix(got, `Exited (3) `) || !strings.Contains(got, `|"sh -c echo out; ech…"|busybox:test`) {
		t.Errorf("ps -a: %q", got)
	}
	out, errs, code = b.run("", runArgs("--rm", "-e", "A=b", "-w", "/work", "-u", "nobody", "--hostname", "hh",
		"busybox:test", "sh", "-c", "echo $A $(pwd) $(id -u) $(hostname)")...)
	if out != "b /work 65534 hh\n" || code != 0 {
		t.Fatalf("run --rm: stdout %q, stderr %q, exit %d", out, errs, code)
	}
	if got := b.ok("ps", "-aq"); len(strings.Fields(got)) != 1 {
		t.Errorf("run --rm left a container: %q", got)
	}
	out, _, code = b.run("", runArgs("--rm", "--entrypoint", "echo", "busybox:test", "via", "entrypoint")...)
	if out != "via entrypoint\n" || code != 0 {
		t.Errorf("--entrypoint: %q, exit %d", out, code)
	}
	if errs := b.fails(1, "rmi", "busybox:test"); !strings.Contains(errs, "image is being used by a container") {
		t.Errorf("rmi of an image a container uses: %q", errs)
	}
}

// TestRunDetached: run -d prints the ID; logs, wait and ps -a see the
// container; rm removes all of it.
func TestRunDetached(t *testing.T) {
	b := containerRoot(t)
	id := strings.TrimSpace(b.ok(runArgs("-d", "--name", "det", "busybox:test", "sh", "-c", "echo hi; echo oops >&2; sleep 0.5; echo bye; exit 4")...))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("run -d printed %q", id)
	}
	if got := b.ok("ps", "--format", "{{.Names}} {{.State}}"); got != "det running\n" {
		t.Errorf("ps while running: %q", got)
	}
	if got := b.ok("wait", "det"); got != "4\n" {
		t.Errorf("wait: %q", got)
	}
	out, errs, _ := b.run("", "logs", id[:8])
	if out != "hi\nbye\n" || errs != "oops\n" {
		t.Errorf("logs: stdout %q stderr %q", out, errs)
	}
	if got := b.ok("logs", "--tail", "1", "det"); got != "bye\n" {
		t.Errorf("logs --tail 1: %q", got)
	}
	if got := b.ok("logs", "-t", "det"); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\S+Z hi\n`).MatchString(got) {
		t.Errorf("logs -t: %q", got)
	}
	if got := b.ok("ps"); strings.Contains(got, "det") {
		t.Errorf("ps (running only) lists the exited container:\n%s", got)
	}
	ps := b.ok("ps", "-a")
	if !strings.HasPrefix(ps, "CONTAINER ID   IMAGE          COMMAND") || !regexp.MustCompile(id[:12]+` +busybox:test +"sh -c echo hi; echo…" +.* ago +Exited \(4\) .* ago +det\n`).MatchString(ps) {
		t.Errorf("ps -a:\n%s", ps)
	}
	if got := b.ok("rm", "det"); got != "det\n" {
		t.Errorf("rm: %q", got)
	}
	b.assertGone(id)
	if errs := b.fails(1, "rm", "det"); !strings.Contains(errs, "No such container: det") {
		t.Errorf("rm of a removed container: %q", errs)
	}
}

// TestRunNameConflict: 20 concurrent runs with one name leave one
// container and 19 of Docker's conflict errors.
func TestRunNameConflict(t *testing.T) {
	b := containerRoot(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	var conflicts int
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(berthBin, append([]string{"--root", b.root}, runArgs("-d", "--name", "same", "busybox:test", "sleep", "30")...)...)
			cmd.Env = b.env
			var errb strings.Builder
			cmd.Stderr = &errb
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			mu.Lock()
			defer mu.Unlock()
			codes[code]++
			if regexp.MustCompile(`^Error: Conflict\. The container name "/same" is already in use by container "[0-9a-f]{64}"\. You have to remove \(or rename\) that container to be able to reuse that name\.\n$`).MatchString(errb.String()) {
				conflicts++
			} else if code != 0 {
				t.Errorf("exit %d: %s", code, errb.String())
			}
		}()
	}
	wg.Wait()
	if codes[0] != 1 || codes[125] != 19 || conflicts != 19 {
		t.Errorf("exit codes %v, %d conflict messages; want one 0 and 19 × 125", codes, conflicts)
	}
	if got := b.ok("ps", "-a", "--format", "{{.Names}}"); got != "same\n" {
		t.Errorf("ps -a: %q", got)
	}
	if errs := b.fails(125, runArgs("--name", "same", "busybox:test", "true")...); !strings.Contains(errs, `The container name "/same" is already in use`) {
		t.Errorf("run --name same: %q", errs)
	}
}

// TestRmRunning: rm refuses a running container; rm -f kills it and
// removes everything.
func TestRmRunning(t *testing.T) {
	b := containerRoot(t)
	id := strings.TrimSpace(b.ok(runArgs("-d", "busybox:test", "sleep", "60")...))
	errs := b.fails(1, "rm", id[:12])
	if !strings.Contains(errs, "container is running: stop the container before removing or force remove") {
		t.Errorf("rm: %q", errs)
	}
	if got := b.ok("ps", "-q"); got != id[:12]+"\n" {
		t.Errorf("ps -q after the refused rm: %q", got)
	}
	if len(cgroupsOf(id)) == 0 {
		t.Errorf("no cgroup under %s for the running container", testutil.TestCgroupParent())
	}
	b.ok("rm", "-f", id)
	b.assertGone(id)
}

// TestShimKilled: after kill -9 of a container's shim, ps -a reports the
// container exited (137), not running, and rm -f cleans everything up.
func TestShimKilled(t *testing.T) {
	b := containerRoot(t)
	id := strings.TrimSpace(b.ok(runArgs("-d", "busybox:test", "sleep", "60")...))
	shim := lockHolder(t, filepath.Join(b.root, "containers", id, "shim.lock"))
	if err := unix.Kill(shim, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); unix.Kill(shim, 0) == nil && !isZombie(shim); {
		if time.Now().After(deadline) {
			t.Fatal("the shim survived SIGKILL")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := b.ok("ps", "-a", "--format", "{{.State}} {{.Status}}"); !strings.HasPrefix(got, "exited Exited (137) ") {
		t.Errorf("ps -a after the shim was killed: %q", got)
	}
	if got := b.ok("ps", "-q"); got != "" {
		t.Errorf("ps lists a container whose shim is dead: %q", got)
	}
	if got := b.ok("wait", id); got != "137\n" {
		t.Errorf("wait: %q", got)
	}
	b.ok("rm", "-f", id)
	b.assertGone(id)
}

// lockHolder finds the process that has path open (the shim and its lock).
func lockHolder(t *testing.T, path string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		if target, err := os.Readlink(fd); err == nil && target == path {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid
		}
	}
	t.Fatalf("no process holds %s", path)
	return 0
}

func isZombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] == 'Z'
}

// TestRunErrors: Docker's exit codes for what goes wrong before the
// container runs: 125 for berth's own errors, 127 for a command that
// isn't there, 126 for one that can't be executed.
func TestRunErrors(t *testing.T) {
	b := containerRoot(t)
	errs := b.fails(125, runArgs("nosuch:image", "true")...)
	if !strings.HasPrefix(errs, "Unable to find image 'nosuch:image' locally\n") || !strings.Contains(errs, "\nError: ") {
		t.Errorf("unknown image: %q", errs)
	}
	if errs := b.fails(127, runArgs("--rm", "busybox:test", "nosuchcommand")...); !strings.Contains(errs, `"nosuchcommand": executable file not found in $PATH`) {
		t.Errorf("unknown command: %q", errs)
	}
	if errs := b.fails(126, runArgs("--rm", "busybox:test", "/etc/passwd")...); !strings.Contains(errs, "permission denied") {
		t.Errorf("not executable: %q", errs)
	}
	if errs := b.fails(1, runArgs("-it", "busybox:test", "true")...); !strings.Contains(errs, "the input device is not a TTY") {
		t.Errorf("-it without a terminal: %q", errs)
	}
	if errs := b.fails(125, runArgs("--restart", "sometimes", "busybox:test", "true")...); !strings.Contains(errs, "invalid restart policy") {
		t.Errorf("--restart sometimes: %q", errs)
	}
	if errs := b.fails(125, runArgs("--rm", "--restart", "always", "busybox:test", "true")...); !strings.Contains(errs, "cannot specify both --restart and --rm") {
		t.Errorf("--rm --restart: %q", errs)
	}
	if errs := b.fails(125, runArgs("--name", "bad/name", "busybox:test", "true")...); !strings.Contains(errs, "Invalid container name") {
		t.Errorf("bad name: %q", errs)
	}
	if got := b.ok("ps", "-aq"); got != "" {
		t.Errorf("failed runs left containers: %q", got)
	}
	if m := mountsUnder(b.root); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
}

// TestKillStopStart: kill sends a signal, stop escalates to SIGKILL after
// its timeout, start runs an exited container again (start -a shows only
// the new run's output), and an attached run forwards our signals.
func TestKillStopStart(t *testing.T) {
	b := containerRoot(t)
	trap := `trap "echo got; exit 5" TERM; echo ready; while true; do sleep 0.1; done`
	b.ok(runArgs("-d", "--name", "kk", "busybox:test", "sh", "-c", trap)...)
	waitForLog(t, b, "kk", "ready\n")
	b.ok("kill", "-s", "TERM", "kk") // Docker's short form
	if got := b.ok("wait", "kk"); got != "5\n" {
		t.Errorf("wait after kill --signal TERM: %q", got)
	}
	if errs := b.fails(1, "kill", "kk"); !strings.Contains(errs, "is not running") {
		t.Errorf("kill of an exited container: %q", errs)
	}
	b.ok("start", "kk")
	waitForLog(t, b, "kk", "ready\ngot\nready\n")
	b.ok("stop", "-t", "5", "kk")
	if got := b.ok("ps", "-a", "--format", "{{.Status}}"); !strings.HasPrefix(got, "Exited (5) ") {
		t.Errorf("after stop: %q", got)
	}

	b.ok(runArgs("-d", "--name", "ss", "busybox:test", "sleep", "60")...)
	start := time.Now()
	b.ok("stop", "-t", "1", "ss")
	if d := time.Since(start); d < time.Second || d > 10*time.Second {
		t.Errorf("stop -t 1 of a process ignoring SIGTERM took %v", d)
	}
	if got := b.ok("wait", "ss"); got != "137\n" {
		t.Errorf("wait after stop: %q", got)
	}

	b.ok(runArgs("-d", "--name", "twice", "busybox:test", "echo", "hello")...)
	b.ok("wait", "twice")
	if out := b.ok("start", "-a", "twice"); out != "hello\n" {
		t.Errorf("start -a: %q", out)
	}
	if out := b.ok("logs", "twice"); out != "hello\nhello\n" {
		t.Errorf("logs after two runs: %q", out)
	}

	// An attached run passes SIGTERM on to the container.
	cmd := exec.Command(berthBin, append([]string{"--root", b.root}, runArgs("--name", "proxy", "busybox:test", "sh", "-c", trap)...)...)
	cmd.Env = b.env
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, b, "proxy", "ready\n")
	cmd.Process.Signal(unix.SIGTERM)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 || out.String() != "ready\ngot\n" {
		t.Errorf("attached run after SIGTERM: %v, output %q; want exit 5, ready and got", err, out.String())
	}
}

// waitForLog waits until container ref has logged exactly want.
func waitForLog(t *testing.T, b *berthRoot, ref, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, _, _ = b.run("", "logs", ref); got == want {
			return
		}
	}
	t.Fatalf("logs of %s: %q, want %q", ref, got, want)
}

// TestRunCLIKilled: kill -9 of an attached `run` leaves the container
// running under its shim, truthfully listed, and removable.
func TestRunCLIKilled(t *testing.T) {
	b := containerRoot(t)
	cmd := exec.Command(berthBin, append([]string{"--root", b.root}, runArgs("--name", "orphan", "busybox:test", "sh", "-c", "echo ready; sleep 60")...)...)
	cmd.Env = b.env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, b, "orphan", "ready\n")
	cmd.Process.Kill()
	cmd.Wait()
	if got := b.ok("ps", "--format", "{{.Names}} {{.State}}"); got != "orphan running\n" {
		t.Errorf("ps after the CLI was killed: %q", got)
	}
	id := strings.TrimSpace(b.ok("ps", "-q", "--no-trunc"))
	b.ok("rm", "-f", "orphan")
	b.assertGone(id)
}

// TestExport: export gives the container's tree (image plus its changes,
// deletions applied) as a tar, stopped or running, and import takes it
// back as an image.
func TestExport(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("--name", "ex", "busybox:test", "sh", "-c", "echo made > /made; rm /bin/ls")...)
	out := filepath.Join(t.TempDir(), "ex.tar")
	b.ok("export", "-o", out, "ex")
	names := tarNames(t, out)
	if !names["made"] || !names["bin/busybox"] || names["bin/ls"] {
		t.Errorf("export of a stopped container: made=%v bin/busybox=%v bin/ls=%v", names["made"], names["bin/busybox"], names["bin/ls"])
	}
	// Running: the live tree.
	b.ok(runArgs("-d", "--name", "live", "busybox:test", "sh", "-c", "echo now > /now; echo ready; sleep 60")...)
	waitForLog(t, b, "live", "ready\n")
	out2 := filepath.Join(t.TempDir(), "live.tar")
	b.ok("container", "export", "-o", out2, "live")
	if !tarNames(t, out2)["now"] {
		t.Error("export of a running container lacks the file it wrote")
	}
	// Back in as an image.
	if id := strings.TrimSpace(b.ok("import", out, "exported:1")); !strings.HasPrefix(id, "sha256:") {
		t.Errorf("import of the export: %q", id)
	}
	if got := b.ok(runArgs("--rm", "exported:1", "cat", "/made")...); got != "made\n" {
		t.Errorf("a container of the re-imported export: %q", got)
	}
	b.fails(1, "export", "-o", filepath.Join(t.TempDir(), "x.tar"), "no-such-container")
}

func tarNames(t *testing.T, file string) map[string]bool {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[strings.TrimSuffix(h.Name, "/")] = true
	}
	return names
}
