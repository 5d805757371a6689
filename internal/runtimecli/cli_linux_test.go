package runtimecli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/testutil"
)

var berthBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-cli-test-")
	if err != nil {
		panic(err)
	}
	if berthBin, err = testutil.BuildBerth(dir); err != nil {
		panic(err)
	}
	code := m.Run()
	testutil.CleanupShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

// rt runs `berth runtime --root STATE args…` and returns stdout, stderr and
// the exit code.
type rt struct {
	t     *testing.T
	state string
}

func newRT(t *testing.T) *rt {
	testutil.RequireRoot(t, "the runtime creates namespaces and cgroups")
	r := &rt{t: t, state: t.TempDir()}
	t.Cleanup(func() {
		out, _, _ := r.run("list", "-q")
		for _, id := range strings.Fields(out) {
			r.run("delete", "-f", id)
		}
	})
	return r
}

func (r *rt) run(args ...string) (string, string, int) {
	cmd := exec.Command(berthBin, append([]string{"runtime", "--root", r.state}, args...)...)
	// Files, not pipes: a created container's process keeps the runtime's
	// stdio, so a pipe would not reach EOF when the command returns.
	dir := r.t.TempDir()
	outF, _ := os.Create(filepath.Join(dir, "stdout"))
	errF, _ := os.Create(filepath.Join(dir, "stderr"))
	defer outF.Close()
	defer errF.Close()
	cmd.Stdout, cmd.Stderr = outF, errF
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatal(err)
	}
	out, _ := os.ReadFile(outF.Name())
	errs, _ := os.ReadFile(errF.Name())
	return string(out), string(errs), code
}

func (r *rt) ok(args ...string) string {
	r.t.Helper()
	out, errs, code := r.run(args...)
	if code != 0 {
		r.t.Fatalf("berth runtime %v: exit %d: %s", args, code, errs)
	}
	return out
}

// fails asserts a one-line error and exit code 1.
func (r *rt) fails(want string, args ...string) {
	r.t.Helper()
	_, errs, code := r.run(args...)
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if code != 1 || len(lines) != 1 || !strings.Contains(errs, want) {
		r.t.Errorf("berth runtime %v: exit %d, stderr %q; want exit 1 and one line containing %q", args, code, errs, want)
	}
}

func (r *rt) state_(id string) specs.State {
	r.t.Helper()
	var st specs.State
	if err := json.Unmarshal([]byte(r.ok("state", id)), &st); err != nil {
		r.t.Fatal(err)
	}
	return st
}

func TestSpecWritesTemplateOnce(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	r.ok("spec", "--bundle", dir)
	var s specs.Spec
	data, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(data, &s); err != nil || s.Process.Args[0] != "sh" || !s.Root.Readonly {
		t.Fatalf("spec template: %v %+v", err, s.Process)
	}
	r.fails("exists", "spec", "--bundle", dir)
}

func TestRunPassesOutputAndExitCode(t *testing.T) {
	r := newRT(t)
	b := testutil.NewBundle(t, "sh", "-c", "echo out; echo err >&2; exit 3")
	out, errs, code := r.run("run", "-b", b.Dir, "c1")
	if out != "out\n" || errs != "err\n" || code != 3 {
		t.Fatalf("run: stdout %q stderr %q exit %d", out, errs, code)
	}
	if list := r.ok("list", "-q"); list != "" {
		t.Fatalf("run left containers behind: %q", list)
	}
}

func TestLifecycleThroughTheCLI(t *testing.T) {
	r := newRT(t)
	b := testutil.NewBundle(t, "sleep", "300")
	pidFile := filepath.Join(t.TempDir(), "pid")
	r.ok("create", "--bundle", b.Dir, "--pid-file", pidFile, "c1")
	st := r.state_("c1")
	pid, _ := os.ReadFile(pidFile)
	if st.Status != "created" || st.ID != "c1" || st.Bundle != b.Dir || st.Pid == 0 || string(pid) != itoa(st.Pid) {
		t.Fatalf("state after create: %+v (pid file %q)", st, pid)
	}
	r.fails("already exists", "create", "--bundle", b.Dir, "c1")
	r.ok("start", "c1")
	if st := r.state_("c1"); st.Status != "running" {
		t.Fatalf("state after start: %s", st.Status)
	}
	var pids []int
	json.Unmarshal([]byte(r.ok("ps", "--format", "json", "c1")), &pids)
	if len(pids) != 1 || pids[0] != st.Pid {
		t.Fatalf("ps: %v, want [%d]", pids, st.Pid)
	}
	if out := r.ok("exec", "c1", "sh", "-c", "echo $$ >/dev/null; hostname"); out != "berth\n" {
		t.Fatalf("exec: %q", out)
	}
	if _, _, code := r.run("exec", "c1", "sh", "-c", "exit 5"); code != 5 {
		t.Fatalf("exec exit code %d, want 5", code)
	}
	r.ok("update", "--pids-limit", "50", "c1")
	var ev struct {
		Type string
		ID   string
		Data struct {
			Pids struct{ Current, Limit uint64 }
		}
	}
	if err := json.Unmarshal([]byte(r.ok("events", "--stats", "c1")), &ev); err != nil || ev.Type != "stats" || ev.Data.Pids.Limit != 50 || ev.Data.Pids.Current != 1 {
		t.Fatalf("events --stats: %+v (%v)", ev, err)
	}
	r.ok("pause", "c1")
	if st := r.state_("c1"); st.Status != "paused" {
		t.Fatalf("state after pause: %s", st.Status)
	}
	r.ok("resume", "c1")
	var list []map[string]any
	json.Unmarshal([]byte(r.ok("list", "--format", "json")), &list)
	if len(list) != 1 || list[0]["id"] != "c1" || list[0]["status"] != "running" {
		t.Fatalf("list: %v", list)
	}
	r.fails("not stopped", "delete", "c1")
	r.fails("unknown signal", "kill", "c1", "SIGNOPE")
	r.ok("kill", "c1", "KILL")
	for i := 0; i < 100 && r.state_("c1").Status != "stopped"; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	r.ok("delete", "c1")
	r.fails("does not exist", "state", "c1")
}

func TestBadInputIsOneLineAndLeavesNothing(t *testing.T) {
	r := newRT(t)
	r.fails("no such file", "create", "--bundle", filepath.Join(t.TempDir(), "nope"), "c1")
	b := testutil.NewBundle(t)
	os.WriteFile(filepath.Join(b.Dir, "config.json"), []byte("{not json"), 0o644)
	r.fails("config.json", "create", "--bundle", b.Dir, "c1")
	r.fails("does not exist", "start", "ghost")
	r.fails("does not exist", "kill", "ghost", "9")
	r.fails("does not exist", "delete", "ghost")
	r.fails("invalid container id", "state", "../x")
	if entries, _ := os.ReadDir(r.state); len(entries) != 0 {
		t.Fatalf("state dir not empty after failures: %v", entries)
	}
}

func TestLogFileJSON(t *testing.T) {
	r := newRT(t)
	log := filepath.Join(t.TempDir(), "log.json")
	r.run("--log", log, "--log-format", "json", "state", "ghost")
	data, _ := os.ReadFile(log)
	var line struct{ Level, Msg string }
	if err := json.Unmarshal(data, &line); err != nil || line.Level != "error" || !strings.Contains(line.Msg, "ghost") {
		t.Fatalf("log file %q: %v", data, err)
	}
}

func TestBerthRuntimeLinkIsTheRuntime(t *testing.T) {
	testutil.RequireRoot(t, "runs a container")
	link := filepath.Join(t.TempDir(), "berth-runtime")
	if err := os.Symlink(berthBin, link); err != nil {
		t.Fatal(err)
	}
	b := testutil.NewBundle(t, "echo", "hi")
	out, err := exec.Command(link, "--root", t.TempDir(), "run", "-b", b.Dir, "x").CombinedOutput()
	if err != nil || string(out) != "hi\n" {
		t.Fatalf("berth-runtime run: %v %q", err, out)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// CVE-2019-5736: a container process that reaches the runtime's binary
// through /proc/<pid>/exe must not be able to overwrite it once no runtime
// process runs it ("text file busy" no longer protects it then). The
// attack: while the init (the runtime's binary) waits for start, open
// /proc/1/exe; after start, when no berth process is left, reopen that
// descriptor for writing. A copy of berth is the victim, so a regression
// can't break the other tests.
func TestRuntimeBinaryCannotBeOverwritten(t *testing.T) {
	r := newRT(t)
	victim := filepath.Join(t.TempDir(), "berth")
	data, err := os.ReadFile(berthBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, data, 0o755); err != nil {
		t.Fatal(err)
	}
	runVictim := func(args ...string) {
		t.Helper()
		// Output to a file: a detached process keeps it open.
		out, _ := os.Create(filepath.Join(t.TempDir(), "out"))
		defer out.Close()
		cmd := exec.Command(victim, append([]string{"runtime", "--root", r.state}, args...)...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			data, _ := os.ReadFile(out.Name())
			t.Fatalf("%v: %v: %s", args, err, data)
		}
	}
	b := testutil.NewBundle(t, "sleep", "300")
	tmp := filepath.Join(b.Dir, "rootfs", "tmp")
	runVictim("create", "--bundle", b.Dir, "c1")
	runVictim("exec", "-d", "c1", "sh", "-c", `
		exec 3</proc/1/exe; echo yes > /tmp/opened
		while ! grep -q sleep /proc/1/cmdline; do sleep 0.02; done; sleep 0.3
		(echo pwned > /proc/self/fd/3 && echo WROTE || echo refused) > /tmp/result 2>&1`)
	waitFile := func(name string) string {
		for i := 0; i < 500; i++ {
			if data, err := os.ReadFile(filepath.Join(tmp, name)); err == nil && len(data) > 0 {
				return string(data)
			}
			time.Sleep(10 * time.Millisecond)
		}
		files, _ := os.ReadDir(tmp)
		t.Fatalf("%s never appeared (in %s: %v)", name, tmp, files)
		return ""
	}
	waitFile("opened")
	runVictim("start", "c1")
	if got := waitFile("result"); !strings.Contains(got, "refused") {
		t.Fatalf("writing the runtime binary from the container: %q", got)
	}
	after, _ := os.ReadFile(victim)
	if string(after) != string(data) {
		t.Fatal("the runtime binary was overwritten from inside the container")
	}
}

// BERTH_ROOT keeps independent instances apart: the runtime's state goes
// under it unless --root is given.
func TestBerthRootHoldsRuntimeState(t *testing.T) {
	testutil.RequireRoot(t, "runs a container")
	root := t.TempDir()
	b := testutil.NewBundle(t, "sleep", "300")
	cmd := exec.Command(berthBin, "runtime", "create", "-b", b.Dir, "c1")
	cmd.Env = append(os.Environ(), "BERTH_ROOT="+root)
	// No pipes: the created container keeps the runtime's stdio.
	if err := cmd.Run(); err != nil {
		t.Fatalf("create: %v", err)
	}
	state := filepath.Join(root, "run", "runtime")
	t.Cleanup(func() { exec.Command(berthBin, "runtime", "--root", state, "delete", "-f", "c1").Run() })
	if _, err := os.Stat(filepath.Join(state, "c1", "state.json")); err != nil {
		t.Fatalf("state not under BERTH_ROOT: %v", err)
	}
}

// runc's create/run flags: --preserve-fds passes fds 3… to the process,
// --no-pivot roots it with MS_MOVE and chroot.
func TestPreserveFdsAndNoPivot(t *testing.T) {
	r := newRT(t)
	b := testutil.NewBundle(t, "sh", "-c", "echo via-fd3 >&3; grep -c ' / ' /proc/self/mountinfo")
	extra, err := os.Create(filepath.Join(t.TempDir(), "fd3"))
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	out, _ := os.Create(filepath.Join(t.TempDir(), "out"))
	defer out.Close()
	cmd := exec.Command(berthBin, "runtime", "--root", r.state, "run", "--preserve-fds", "1", "--no-pivot", "-b", b.Dir, "c1")
	cmd.ExtraFiles = []*os.File{extra}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		data, _ := os.ReadFile(out.Name())
		t.Fatalf("run: %v: %s", err, data)
	}
	if data, _ := os.ReadFile(extra.Name()); string(data) != "via-fd3\n" {
		t.Fatalf("fd 3 got %q", data)
	}
	if data, _ := os.ReadFile(out.Name()); strings.TrimSpace(string(data)) == "" {
		t.Fatalf("no output from the --no-pivot container")
	}
}

// exec's flags (-e, --cwd, -u, --process) and kill --all.
func TestExecFlagsAndKillAll(t *testing.T) {
	r := newRT(t)
	b := testutil.NewBundle(t, "sleep", "300")
	r.ok("run", "-d", "-b", b.Dir, "c1")
	if out := r.ok("exec", "-e", "GREETING=hi", "--cwd", "/tmp", "-u", "65534:65534", "c1", "sh", "-c", "echo $GREETING; pwd; id -u; id -g"); out != "hi\n/tmp\n65534\n65534\n" {
		t.Fatalf("exec with flags: %q", out)
	}
	proc := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(proc, []byte(`{"args": ["sh", "-c", "echo from-process-json"], "cwd": "/", "env": ["PATH=/bin"]}`), 0o644)
	if out := r.ok("exec", "--process", proc, "c1"); out != "from-process-json\n" {
		t.Fatalf("exec --process: %q", out)
	}
	r.ok("exec", "-d", "c1", "sleep", "300")
	var pids []int
	json.Unmarshal([]byte(r.ok("ps", "--format", "json", "c1")), &pids)
	if len(pids) != 2 {
		t.Fatalf("ps after exec -d: %v, want 2 processes", pids)
	}
	r.ok("kill", "--all", "c1", "9")
	for i := 0; i < 100 && r.state_("c1").Status != "stopped"; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	json.Unmarshal([]byte(r.ok("ps", "--format", "json", "c1")), &pids)
	if len(pids) != 0 {
		t.Fatalf("processes left after kill --all: %v", pids)
	}
}
