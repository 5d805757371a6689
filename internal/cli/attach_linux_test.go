package cli_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/shim"
	"github.com/berth-dev/berth/internal/snapshot"
	"github.com/berth-dev/berth/internal/testutil"
)

// TestRunInteractiveTTY: run -it gives the container a terminal of our
// size, ctrl-p ctrl-q detaches (exit 0) and leaves it running, attach
// comes back to it, and the container's exit code is attach's.
func TestRunInteractiveTTY(t *testing.T) {
	b := containerRoot(t)
	tty := startOnPty(t, b, console.WinSize{Height: 30, Width: 100}, runArgs("-it", "--name", "it", "busybox:test", "sh")...)
	tty.waitOutput(t, "# ")
	tty.write(t, "stty size; echo $TERM; tty\n")
	tty.waitOutput(t, "\r\n30 100\r\nxterm\r\n/dev/pts/0\r\n")
	tty.write(t, "\x10\x11")
	if code := tty.wait(t); code != 0 {
		t.Fatalf("detach: exit %d, output %q", code, tty.output())
	}
	if got := b.ok("inspect", "-f", "{{.State.Status}} {{.Config.Tty}} {{.Config.OpenStdin}}", "it"); got != "running true true\n" {
		t.Fatalf("after the detach: %q", got)
	}
	again := startOnPty(t, b, console.WinSize{Height: 40, Width: 120}, "attach", "it")
	again.write(t, "stty size; echo b''ack; exit 4\n")
	if code := again.wait(t); code != 4 {
		t.Fatalf("attach: exit %d, want 4; output %q", code, again.output())
	}
	if out := again.output(); !strings.Contains(out, "\r\n40 120\r\n") || !strings.Contains(out, "\r\nback\r\n") {
		t.Errorf("attach output %q", out)
	}
	if got := b.ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "it"); got != "exited 4\n" {
		t.Errorf("after exit 4: %q", got)
	}
	// A tty's output is logged as stdout.
	if logs := b.ok("logs", "it"); !strings.Contains(logs, "back") {
		t.Errorf("logs: %q", logs)
	}
	if errs := b.fails(1, "attach", "it"); !strings.Contains(errs, "You cannot attach to a stopped container") {
		t.Errorf("attach to a stopped container: %q", errs)
	}
}

// TestRunInteractivePipes: run -i without a terminal feeds our stdin to
// the container and closes its stdin at our EOF; stdout and stderr stay
// apart; attach -a style start gets the output of a second run.
func TestRunInteractivePipes(t *testing.T) {
	b := containerRoot(t)
	out, errs, code := b.run("hello\nworld\n", runArgs("-i", "--rm", "busybox:test", "sh", "-c", "cat; echo done >&2; exit 2")...)
	if out != "hello\nworld\n" || errs != "done\n" || code != 2 {
		t.Errorf("run -i: stdout %q stderr %q exit %d", out, errs, code)
	}
	// Without -i the container's stdin is empty.
	if out := b.ok(runArgs("--rm", "busybox:test", "cat")...); out != "" {
		t.Errorf("run without -i read %q", out)
	}
	b.ok(append([]string{"create", "--cgroup-parent", testutil.TestCgroupParent(), "-i", "--name", "si"}, "busybox:test", "sh", "-c", "read x; echo got $x")...)
	if out, _, code := b.run("line\n", "start", "-ai", "si"); out != "got line\n" || code != 0 {
		t.Errorf("start -ai: %q exit %d", out, code)
	}
}

// TestRestartPolicy: on-failure:N restarts N times with the back-off,
// counts the restarts, and leaves the last exit; always keeps restarting
// until stop, which holds even during a back-off.
func TestRestartPolicy(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("-d", "--name", "of", "--restart", "on-failure:2", "busybox:test", "sh", "-c", "echo run; exit 3")...)
	waitFor(t, "on-failure:2 to give up", func() bool {
		return b.ok("inspect", "-f", "{{.State.Status}}", "of") == "exited\n"
	})
	if got := b.ok("inspect", "-f", "{{.RestartCount}} {{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "of"); got != "2 3 on-failure:2\n" {
		t.Errorf("on-failure:2: %q", got)
	}
	if logs := b.ok("logs", "of"); logs != "run\nrun\nrun\n" {
		t.Errorf("on-failure:2 ran: %q", logs)
	}
	now := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
	events := b.ok("events", "--since", "1h", "--until", now, "--filter", "container=of", "--format", "{{.Action}}")
	if strings.Count(events, "start\n") != 3 || strings.Count(events, "die\n") != 3 {
		t.Errorf("events of on-failure:2: %q, want 3 starts and 3 dies", events)
	}
	// update --restart reaches a running container's shim.
	b.ok(runArgs("-d", "--name", "up", "busybox:test", "sh", "-c", "sleep 1; exit 1")...)
	b.ok("update", "--restart", "on-failure:1", "up")
	waitFor(t, "the restart update --restart asked for", func() bool {
		return b.ok("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "up") == "exited 1\n"
	})
	// A success is not a failure.
	b.ok(runArgs("-d", "--name", "ok", "--restart", "on-failure", "busybox:test", "true")...)
	if code := b.ok("wait", "ok"); code != "0\n" {
		t.Errorf("wait: %q", code)
	}

	b.ok(runArgs("-d", "--name", "al", "--restart", "always", "busybox:test", "sh", "-c", "exit 1")...)
	waitFor(t, "three restarts", func() bool {
		n, _ := strconv.Atoi(strings.TrimSpace(b.ok("inspect", "-f", "{{.RestartCount}}", "al")))
		return n >= 3
	})
	b.ok("stop", "al")
	got := b.ok("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "al")
	if !strings.HasPrefix(got, "exited ") {
		t.Fatalf("after stop: %q", got)
	}
	time.Sleep(time.Second)
	if again := b.ok("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "al"); again != got {
		t.Errorf("restarted after stop: %q, then %q", got, again)
	}
	// A start by a user resets the count; kill -9 of the process (not a
	// user's kill) is a failure the policy restarts.
	b.ok("rm", "al")
	b.ok(runArgs("-d", "--name", "k9", "--restart", "always", "busybox:test", "sleep", "1000")...)
	pid := strings.TrimSpace(b.ok("inspect", "-f", "{{.State.Pid}}", "k9"))
	n, _ := strconv.Atoi(pid)
	if err := syscallKill(n); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restart after kill -9", func() bool {
		got := b.ok("inspect", "-f", "{{.State.Status}} {{.State.Pid}} {{.RestartCount}}", "k9")
		return strings.HasPrefix(got, "running ") && !strings.Contains(got, " "+pid+" ") && strings.HasSuffix(got, " 1\n")
	})
	// The restarted container was created by a re-executed shim: it holds
	// none of the shim's descriptors (the lock, the attach socket).
	newPid := strings.TrimSpace(b.ok("inspect", "-f", "{{.State.Pid}}", "k9"))
	if fds, _ := os.ReadDir("/proc/" + newPid + "/fd"); len(fds) != 3 {
		var names []string
		for _, fd := range fds {
			target, _ := os.Readlink("/proc/" + newPid + "/fd/" + fd.Name())
			names = append(names, fd.Name()+"->"+target)
		}
		t.Errorf("the restarted container has descriptors beyond its stdio: %v", names)
	}
	b.ok("rm", "-f", "k9")
	b.assertGone("k9")
}

// TestOOMKilled: a container whose memory cgroup's limit is exceeded is
// killed by the kernel (137) and inspect says OOMKilled.
func TestOOMKilled(t *testing.T) {
	b := containerRoot(t)
	parent := testutil.TestCgroupParent() + "/oom"
	if v1 := "/sys/fs/cgroup/memory"; dirExists(v1) {
		dir := filepath.Join(v1, parent)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeCgroup(t, filepath.Join(dir, "memory.limit_in_bytes"), "33554432")
		if dirExists(filepath.Join(dir, "memory.memsw.limit_in_bytes")) {
			writeCgroup(t, filepath.Join(dir, "memory.memsw.limit_in_bytes"), "33554432")
		}
	} else {
		top := filepath.Join("/sys/fs/cgroup", testutil.TestCgroupParent())
		if err := os.MkdirAll(filepath.Join(top, "oom"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeCgroup(t, filepath.Join(top, "cgroup.subtree_control"), "+memory")
		writeCgroup(t, filepath.Join(top, "oom", "memory.max"), "33554432")
		writeCgroup(t, filepath.Join(top, "oom", "memory.swap.max"), "0")
	}
	_, _, code := b.run("", "run", "--cgroup-parent", parent, "--name", "hog", "busybox:test", "sh", "-c", "head -c 300m /dev/zero | tail")
	if code != 137 {
		t.Errorf("memory hog exited %d, want 137", code)
	}
	if got := b.ok("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "hog"); got != "true 137\n" {
		t.Errorf("inspect after the OOM kill: %q", got)
	}
	b.ok("rm", "hog")
}

func dirExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func writeCgroup(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func syscallKill(pid int) error { return unix.Kill(pid, unix.SIGKILL) }

// TestSystemBoot: after everything died (a reboot: shims and containers
// killed), `system boot` starts the containers whose policy says so:
// always even after a user's stop, unless-stopped unless a user stopped
// it, on-failure since it was running; never the others.
func TestSystemBoot(t *testing.T) {
	b := containerRoot(t)
	for _, c := range []struct{ name, policy string }{
		{"al", "always"}, {"us", "unless-stopped"}, {"usx", "unless-stopped"}, {"of", "on-failure"}, {"no", "no"}, {"alx", "always"},
	} {
		b.ok(runArgs("-d", "--name", c.name, "--restart", c.policy, "busybox:test", "sleep", "1000")...)
	}
	b.ok("stop", "-t", "0", "usx", "alx")
	for _, name := range []string{"al", "us", "of", "no"} {
		id := strings.TrimSpace(b.ok("inspect", "-f", "{{.Id}}", name))
		pid, _ := strconv.Atoi(strings.TrimSpace(b.ok("inspect", "-f", "{{.State.Pid}}", name)))
		shim := lockHolder(t, filepath.Join(b.root, "containers", id, "shim.lock"))
		unix.Kill(shim, unix.SIGKILL)
		unix.Kill(pid, unix.SIGKILL)
		waitFor(t, "the shim's death", func() bool { return unix.Kill(shim, 0) != nil || isZombie(shim) })
	}
	got := strings.Fields(b.ok("system", "boot"))
	sort.Strings(got)
	if strings.Join(got, " ") != "al alx of us" {
		t.Errorf("system boot started %v, want al alx of us", got)
	}
	for name, want := range map[string]string{"al": "running", "alx": "running", "of": "running", "us": "running", "usx": "exited", "no": "exited"} {
		if st := strings.TrimSpace(b.ok("inspect", "-f", "{{.State.Status}}", name)); st != want {
			t.Errorf("%s after boot: %s, want %s", name, st, want)
		}
	}
	// Booting again starts nothing more.
	if again := b.ok("system", "boot"); again != "" {
		t.Errorf("a second boot started %q", again)
	}
}

// TestInit: --init runs berth's minimal init as PID 1: it passes stop's
// SIGTERM on to the command (which, as PID 1, would have ignored it and
// waited for the SIGKILL), reaps orphans, and exits with the command's
// code.
func TestInit(t *testing.T) {
	b := containerRoot(t)
	out := b.ok(runArgs("--rm", "--init", "busybox:test", "sh", "-c", "(sleep 0.1 &); sleep 0.5; ps -o pid,stat,comm")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.Contains(lines[1], "docker-init") || !strings.HasPrefix(strings.TrimSpace(lines[1]), "1 ") {
		t.Errorf("PID 1 is not the init:\n%s", out)
	}
	if strings.Contains(out, " Z ") {
		t.Errorf("a zombie was left:\n%s", out)
	}
	if _, _, code := b.run("", runArgs("--rm", "--init", "busybox:test", "sh", "-c", "exit 7")...); code != 7 {
		t.Errorf("--init exit code %d, want 7", code)
	}
	b.ok(runArgs("-d", "--init", "--name", "in", "busybox:test", "sleep", "1000")...)
	b.ok(runArgs("-d", "--name", "noin", "busybox:test", "sleep", "1000")...)
	b.ok("stop", "-t", "2", "in", "noin")
	if got := b.ok("inspect", "-f", "{{.State.ExitCode}}", "in", "noin"); got != "143\n137\n" {
		t.Errorf("exit codes after stop with and without --init: %q, want 143 and 137", got)
	}
}

// TestHealthcheck: the shim probes the container through exec as Docker's
// health monitor does: starting, unhealthy after the retries, healthy
// after a success, a probe over its timeout fails; the image's
// HEALTHCHECK applies unless --no-healthcheck; ps shows and filters it.
func TestHealthcheck(t *testing.T) {
	b := containerRoot(t)
	b.ok("import", "-c", `HEALTHCHECK --interval=100ms --retries=1 CMD ["false"]`, busyboxTar(t), "busybox:hc")
	b.ok(runArgs("-d", "--name", "hc", "--health-cmd", "echo probed; test -e /tmp/ok", "--health-interval", "150ms", "--health-retries", "2", "busybox:test", "sleep", "1000")...)
	if st := b.ok("ps", "--format", "{{.Status}}", "--filter", "name=hc"); !strings.HasSuffix(st, "(health: starting)\n") {
		t.Errorf("a new container's status: %q", st)
	}
	health := func(ref string) string {
		return strings.TrimSpace(b.ok("inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}} {{.State.Health.FailingStreak}}{{else}}none{{end}}", ref))
	}
	waitFor(t, "unhealthy", func() bool { return strings.HasPrefix(health("hc"), "unhealthy ") })
	b.ok("exec", "hc", "touch", "/tmp/ok")
	waitFor(t, "healthy", func() bool { return health("hc") == "healthy 0" })
	if got := b.ok("inspect", "-f", "{{(index .State.Health.Log 0).Output}}", "hc"); got != "probed\n\n" {
		t.Errorf("probe output %q", got)
	}
	if got := b.ok("ps", "-q", "--filter", "health=healthy"); strings.TrimSpace(got) == "" {
		t.Error("ps --filter health=healthy lists nothing")
	}
	if st := b.ok("ps", "--format", "{{.Status}}", "--filter", "name=hc"); !strings.HasSuffix(st, "(healthy)\n") {
		t.Errorf("a healthy container's status: %q", st)
	}
	now := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
	if events := b.ok("events", "--since", "1h", "--until", now, "--filter", "container=hc", "--filter", "event=health_status", "--format", "{{.Action}}"); events != "health_status: unhealthy\nhealth_status: healthy\n" {
		t.Errorf("health_status events: %q", events)
	}

	b.ok(runArgs("-d", "--name", "slow", "--health-cmd", "sleep 5", "--health-interval", "100ms", "--health-timeout", "200ms", "--health-retries", "1", "busybox:test", "sleep", "1000")...)
	waitFor(t, "a timed-out probe", func() bool { return strings.HasPrefix(health("slow"), "unhealthy ") })
	if got := b.ok("inspect", "-f", "{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}", "slow"); got != "-1 Health check exceeded timeout (200ms)\n" {
		t.Errorf("timed-out probe: %q", got)
	}

	b.ok(runArgs("-d", "--name", "img", "busybox:hc", "sleep", "1000")...)
	b.ok(runArgs("-d", "--name", "off", "--no-healthcheck", "busybox:hc", "sleep", "1000")...)
	waitFor(t, "the image's healthcheck", func() bool { return strings.HasPrefix(health("img"), "unhealthy ") })
	if got := health("off"); got != "none" {
		t.Errorf("--no-healthcheck: %q", got)
	}
	if errs := b.fails(125, runArgs("--no-healthcheck", "--health-cmd", "true", "busybox:test")...); !strings.Contains(errs, "--no-healthcheck conflicts with --health-* options") {
		t.Errorf("conflicting flags: %q", errs)
	}
}

// TestLogsSinceUntil: logs --since and --until take Docker's times
// (here Unix timestamps with a fraction, and a duration).
func TestLogsSinceUntil(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("--name", "lg", "busybox:test", "sh", "-c", "echo early; sleep 1; echo late")...)
	ts := b.ok("logs", "-t", "lg")
	lines := strings.Split(strings.TrimSpace(ts), "\n")
	if len(lines) != 2 {
		t.Fatalf("logs -t: %q", ts)
	}
	late, err := time.Parse(time.RFC3339Nano, strings.Fields(lines[1])[0])
	if err != nil {
		t.Fatal(err)
	}
	mid := strconv.FormatFloat(float64(late.Add(-500*time.Millisecond).UnixNano())/1e9, 'f', 6, 64)
	if got := b.ok("logs", "--since", mid, "lg"); got != "late\n" {
		t.Errorf("--since %s: %q", mid, got)
	}
	if got := b.ok("logs", "--until", mid, "lg"); got != "early\n" {
		t.Errorf("--until %s: %q", mid, got)
	}
	if got := b.ok("logs", "--since", "1h", "lg"); got != "early\nlate\n" {
		t.Errorf("--since 1h: %q", got)
	}
	if errs := b.fails(1, "logs", "--since", "yesterday", "lg"); !strings.Contains(errs, "failed to parse value as time or duration") {
		t.Errorf("bad --since: %q", errs)
	}
}

// TestRunFailureLeavesNoShim: run starts the container's shim while it
// creates the container; when the creation fails, that shim, which never
// got its config, exits.
func TestRunFailureLeavesNoShim(t *testing.T) {
	b := containerRoot(t)
	if errs := b.fails(125, runArgs("--pull", "never", "no/such:image", "true")...); !strings.Contains(errs, "No such image") {
		t.Fatalf("run of a missing image: %q", errs)
	}
	b.fails(125, runArgs("--entrypoint", "", "busybox:test")...) // no command
	waitFor(t, "the spare shims to exit", func() bool { return len(spareShims(t)) == 0 })
	// With the container init each started, and its cgroup.
	if cgs := containerCgroups(); len(cgs) > 0 {
		t.Errorf("cgroups left: %v", cgs)
	}
}

// containerCgroups are the containers' cgroups (named by their IDs) under
// this test binary's cgroup parent, in any hierarchy.
func containerCgroups() []string {
	parent := testutil.TestCgroupParent()
	v1, _ := filepath.Glob("/sys/fs/cgroup/*" + parent + "/*/cgroup.procs")
	v2, _ := filepath.Glob("/sys/fs/cgroup" + parent + "/*/cgroup.procs")
	var out []string
	for _, f := range append(v1, v2...) {
		if dir := filepath.Dir(f); len(filepath.Base(dir)) == 64 {
			out = append(out, dir)
		}
	}
	return out
}

// TestShimKilledBeforeItsConfig: a shim starts its container's init, in
// the container's cgroup, before it has its config (runtime.Spare). Killed
// then, it leaves no cgroup (the start that finds it dead removes it) and
// no init (which exits once its shim is gone).
func TestShimKilledBeforeItsConfig(t *testing.T) {
	b := containerRoot(t)
	id := container.NewID()
	p, err := shim.Spawn(berthBin, false, oci.CgroupsPath(testutil.TestCgroupParent(), id))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	spare := 0
	waitFor(t, "the spare init in the container's cgroup", func() bool {
		for _, dir := range containerCgroups() {
			data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			if f := strings.Fields(string(data)); len(f) == 1 && strings.Contains(dir, id) {
				spare, _ = strconv.Atoi(f[0])
				return true
			}
		}
		return false
	})
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", spare))
	if err != nil {
		t.Fatal(err)
	}
	var shimPid int
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			shimPid, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if !slices.Contains(spareShims(t), shimPid) {
		t.Fatalf("the spare's parent %d is not the shim (%v)", shimPid, spareShims(t))
	}
	unix.Kill(shimPid, unix.SIGKILL)
	_, err = p.Start(shim.Config{ID: id, Root: b.root, Bundle: t.TempDir(), RuntimeRoot: filepath.Join(b.root, "runtime")}, nil)
	var se *shim.StartError
	if !errors.As(err, &se) || se.Code != 125 {
		t.Fatalf("start with a dead shim: %v", err)
	}
	if cgs := containerCgroups(); len(cgs) > 0 {
		t.Errorf("cgroups left: %v", cgs)
	}
	waitFor(t, "the spare init to exit", func() bool { return unix.Kill(spare, 0) == unix.ESRCH })
}

// spareShims are the processes of this test binary's berth that are a
// shim still waiting for its config: started as `BERTH shim` (a shim
// that re-executed itself is `berth shim`), the config pipe still fd 3.
func spareShims(t *testing.T) []int {
	t.Helper()
	var out []int
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		exe, _ := os.Readlink(p + "/exe")
		cmdline, _ := os.ReadFile(p + "/cmdline")
		fd3, _ := os.Readlink(p + "/fd/3")
		if exe == berthBin && string(cmdline) == berthBin+"\x00shim\x00" && strings.HasPrefix(fd3, "pipe:") {
			pid, _ := strconv.Atoi(filepath.Base(p))
			out = append(out, pid)
		}
	}
	return out
}

// TestShimMemoryBounded: the supervising shim runs without the
// collector's pacing (GOGC=off, a memory limit a few MB over its idle
// use), so a container that logs a lot must still leave its shim small:
// 60 MB of output go through it to a rotated log, and its anonymous
// memory stays under 16 MB.
func TestShimMemoryBounded(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("-d", "--name", "chatty", "--log-opt", "max-size=1m", "--log-opt", "max-file=2", "busybox:test",
		"sh", "-c", "yes $(head -c 1000 /dev/zero | tr '\\0' x) | head -c 60000000; echo; echo done; sleep 600")...)
	t.Cleanup(func() { b.run("", "rm", "-f", "chatty") })
	waitFor(t, "the output to be logged", func() bool {
		out, _, _ := b.run("", "logs", "--tail", "1", "chatty")
		return out == "done\n"
	})
	pid := strings.TrimSpace(b.ok("inspect", "-f", "{{.State.Pid}}", "chatty"))
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The shim is the container init's parent: "pid (comm) state ppid …".
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	rollup, err := os.ReadFile("/proc/" + fields[1] + "/smaps_rollup")
	if err != nil {
		t.Fatal(err)
	}
	var anonKB int
	for _, line := range strings.Split(string(rollup), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "Anonymous:" {
			anonKB, _ = strconv.Atoi(f[1])
		}
	}
	t.Logf("the shim's anonymous memory after 60 MB of output: %d kB", anonKB)
	if anonKB == 0 || anonKB > 16<<10 {
		t.Errorf("the shim of a container that logged 60 MB has %d kB of anonymous memory, want under 16 MB", anonKB)
	}
}

// TestRunRmRemovedByShim: an attached `run --rm` gets its exit code from
// the shim, which removes the container before it reports: nothing of
// it is left when run returns, and the name is free at once. The
// container goes even when the run command is killed (as Docker's
// daemon removes it), its rootfs is mounted volatile where the kernel
// can, and one whose shim was killed can still be started again.
func TestRunRmRemovedByShim(t *testing.T) {
	b := containerRoot(t)
	cid := filepath.Join(t.TempDir(), "cid")
	out, _, code := b.run("", runArgs("--rm", "--cidfile", cid, "--name", "rmq", "busybox:test", "sh", "-c", "echo a; exit 5")...)
	if out != "a\n" || code != 5 {
		t.Fatalf("run --rm: %q exit %d, want a, 5", out, code)
	}
	id, err := os.ReadFile(cid)
	if err != nil {
		t.Fatal(err)
	}
	b.assertGone(string(id))
	// Its files go once the run has its exit code (see RemoveExited).
	waitFor(t, "the trash to be emptied", func() bool {
		entries, err := os.ReadDir(filepath.Join(b.root, "trash"))
		return err == nil && len(entries) == 0
	})
	if out := b.ok(runArgs("--rm", "--name", "rmq", "busybox:test", "cat", "/proc/self/mountinfo")...); !strings.Contains(strings.SplitN(out, "\n", 2)[0], "volatile") && snapshot.VolatileSupported() {
		t.Errorf("the rootfs of a --rm container is not volatile: %q", strings.SplitN(out, "\n", 2)[0])
	}

	// The CLI killed: the container is still removed when it exits.
	cmd := exec.Command(berthBin, append([]string{"--root", b.root}, runArgs("--rm", "--name", "orphan", "busybox:test", "sh", "-c", "sleep 1")...)...)
	cmd.Env = b.env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the container to run", func() bool {
		out, _, _ := b.run("", "inspect", "-f", "{{.State.Status}}", "orphan")
		return out == "running\n"
	})
	orphan := strings.TrimSpace(b.ok("inspect", "-f", "{{.Id}}", "orphan"))
	cmd.Process.Kill()
	cmd.Wait()
	waitFor(t, "the container's removal", func() bool {
		return !strings.Contains(b.ok("ps", "-aq", "--no-trunc"), orphan)
	})
	b.assertGone(orphan)

	// A killed shim leaves the container exited; its volatile upper
	// directory mounts again.
	b.ok(runArgs("-d", "--rm", "--name", "again", "busybox:test", "sleep", "100")...)
	b.killShim("again")
	if got := b.ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "again"); got != "exited 137\n" {
		t.Fatalf("after the shim's kill: %q", got)
	}
	b.ok("start", "again")
	if got := b.ok("inspect", "-f", "{{.State.Status}}", "again"); got != "running\n" {
		t.Fatalf("started again: %q", got)
	}
	b.ok("rm", "-f", "again")
}
