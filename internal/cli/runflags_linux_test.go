package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testutil"
)

// TestRunEnvFileGroupAddReadOnly: --env-file in Docker's format, with
// -e after it; --group-add by name and number; --read-only.
func TestRunEnvFileGroupAddReadOnly(t *testing.T) {
	b := containerRoot(t)
	envFile := filepath.Join(t.TempDir(), "env")
	os.WriteFile(envFile, []byte("# comment\n\n  K=v w \nHOSTVAR\nNOTSET\nX=from file\n"), 0o644)
	b.env = append(b.env, "HOSTVAR=host value")
	out := b.ok(runArgs("--rm", "--env-file", envFile, "-e", "X=flag", "busybox:test", "sh", "-c", `echo "$K|$HOSTVAR|${NOTSET-unset}|$X"`)...)
	if out != "v w |host value|unset|flag\n" {
		t.Errorf("--env-file: %q", out)
	}
	if errs := b.fails(125, runArgs("--env-file", "/no/such/file", "busybox:test", "true")...); !strings.Contains(errs, "no such file or directory") {
		t.Errorf("missing --env-file: %q", errs)
	}

	out = b.ok(runArgs("--rm", "--group-add", "audio", "--group-add", "4242", "-u", "nobody", "busybox:test", "id", "-G")...)
	if gids := strings.Fields(out); !contains(gids, "29") || !contains(gids, "4242") || !contains(gids, "65534") {
		t.Errorf("--group-add audio --group-add 4242: id -G says %q", out)
	}
	if errs := b.fails(125, runArgs("--group-add", "nosuchgroup", "busybox:test", "true")...); !strings.Contains(errs, "Unable to find group nosuchgroup") {
		t.Errorf("--group-add of an unknown group: %q", errs)
	}
	if got := b.ok("ps", "-aq"); got != "" {
		t.Errorf("the failed create left a container: %q", got)
	}
	if m := mountsUnder(b.root); len(m) > 0 {
		t.Errorf("the failed create left mounts: %v", m)
	}

	_, errs, code := b.run("", runArgs("--rm", "--read-only", "busybox:test", "touch", "/x")...)
	if code != 1 || !strings.Contains(errs, "Read-only file system") {
		t.Errorf("--read-only: touch /x exit %d, %q", code, errs)
	}
	b.ok(runArgs("--rm", "--read-only", "busybox:test", "touch", "/dev/shm/x")...)
	b.ok(runArgs("--rm", "busybox:test", "touch", "/x")...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestStopSignalAndTimeout: stop sends --stop-signal (else the image's
// STOPSIGNAL, else SIGTERM) and waits --stop-timeout (0: kills at once)
// unless -t or -s say otherwise; restart is stop then start.
func TestStopSignalAndTimeout(t *testing.T) {
	b := containerRoot(t)
	trap := func(sig string, code int) string {
		return "trap 'echo got " + sig + "; exit " + strconv.Itoa(code) + "' " + sig + "; echo ready; while true; do sleep 0.1; done"
	}
	b.ok(runArgs("-d", "--name", "usr1", "--stop-signal", "SIGUSR1", "busybox:test", "sh", "-c", trap("USR1", 7))...)
	waitForLog(t, b, "usr1", "ready\n")
	if out := b.ok("stop", "usr1"); out != "usr1\n" {
		t.Errorf("stop printed %q", out)
	}
	if got := b.ok("wait", "usr1"); got != "7\n" {
		t.Errorf("stop of a --stop-signal USR1 container: exit %q, logs %q", got, b.ok("logs", "usr1"))
	}

	// The image's STOPSIGNAL, and stop -s over it.
	rootfs := filepath.Join(t.TempDir(), "rootfs.tar")
	b.ok("export", "-o", rootfs, "usr1")
	b.ok("import", "-c", "STOPSIGNAL USR2", rootfs, "stopsig:1")
	b.ok(runArgs("-d", "--name", "usr2", "stopsig:1", "sh", "-c", trap("USR2", 8))...)
	waitForLog(t, b, "usr2", "ready\n")
	b.ok("stop", "usr2")
	if got := b.ok("wait", "usr2"); got != "8\n" {
		t.Errorf("stop of an image with STOPSIGNAL USR2: exit %q", got)
	}
	b.ok("start", "usr2")
	waitForLog(t, b, "usr2", "ready\ngot USR2\nready\n")
	b.ok("stop", "-s", "KILL", "usr2")
	if got := b.ok("wait", "usr2"); got != "137\n" {
		t.Errorf("stop -s KILL: exit %q", got)
	}

	// --stop-timeout 0: killed without the signal; -t overrides it.
	b.ok(runArgs("-d", "--name", "quick", "--stop-timeout", "0", "busybox:test", "sh", "-c", trap("TERM", 5))...)
	waitForLog(t, b, "quick", "ready\n")
	b.ok("stop", "quick")
	if got := b.ok("wait", "quick"); got != "137\n" || b.ok("logs", "quick") != "ready\n" {
		t.Errorf("stop of a --stop-timeout 0 container: exit %q, logs %q", got, b.ok("logs", "quick"))
	}
	if out := b.ok("restart", "quick"); out != "quick\n" {
		t.Errorf("restart printed %q", out)
	}
	waitForLog(t, b, "quick", "ready\nready\n")
	b.ok("stop", "-t", "30", "quick")
	if got := b.ok("wait", "quick"); got != "5\n" {
		t.Errorf("stop -t 30 of a --stop-timeout 0 container: exit %q", got)
	}

	if errs := b.fails(125, runArgs("--stop-signal", "NOPE", "busybox:test", "true")...); !strings.Contains(errs, "Invalid signal: NOPE") {
		t.Errorf("--stop-signal NOPE: %q", errs)
	}
	if errs := b.fails(1, "restart", "quick", "nosuch"); errs != "Error response from daemon: No such container: nosuch\n" {
		t.Errorf("restart of a missing container: %q", errs)
	}
	if got := b.ok("ps", "--format", "{{.Names}}"); got != "quick\n" {
		t.Errorf("after restart of quick and nosuch, running: %q", got)
	}
	b.ok("container", "restart", "-t", "0", "usr1", "quick")
	if got := b.ok("ps", "--format", "{{.Names}}"); !strings.Contains(got, "quick") || !strings.Contains(got, "usr1") {
		t.Errorf("after container restart usr1 quick, running: %q", got)
	}
}

// TestRunCidfile: --cidfile gets the ID; an existing file is refused
// before anything is created.
func TestRunCidfile(t *testing.T) {
	b := containerRoot(t)
	cid := filepath.Join(t.TempDir(), "cid")
	id := strings.TrimSpace(b.ok(runArgs("-d", "--cidfile", cid, "busybox:test", "true")...))
	if data, _ := os.ReadFile(cid); string(data) != id {
		t.Errorf("--cidfile holds %q, want %q", data, id)
	}
	errs := b.fails(125, runArgs("--cidfile", cid, "busybox:test", "true")...)
	if errs != "Error: Container ID file found, make sure the other container isn't running or delete "+cid+"\n" {
		t.Errorf("existing --cidfile: %q", errs)
	}
	if got := b.ok("ps", "-aq"); len(strings.Fields(got)) != 1 {
		t.Errorf("the refused run left a container: %q", got)
	}
	// A failed create leaves no file.
	cid2 := filepath.Join(t.TempDir(), "cid2")
	b.fails(125, "create", "--pull", "never", "--cidfile", cid2, "nosuch")
	if _, err := os.Stat(cid2); !os.IsNotExist(err) {
		t.Errorf("a failed create left its --cidfile (%v)", err)
	}
	id = strings.TrimSpace(b.ok("create", "--cidfile", cid2, "busybox:test", "true"))
	if data, _ := os.ReadFile(cid2); string(data) != id {
		t.Errorf("create --cidfile holds %q, want %q", data, id)
	}
}

// TestRunPull: a missing image is pulled (progress on stderr, as Docker
// shows it), --pull always pulls anyway, --pull never refuses.
func TestRunPull(t *testing.T) {
	b := containerRoot(t)
	errs := b.fails(125, runArgs("--pull", "never", "nosuch", "true")...)
	if errs != "Error: No such image: nosuch:latest\n" {
		t.Errorf("--pull never of a missing image: %q", errs)
	}
	if errs := b.fails(125, runArgs("--pull", "sometimes", "busybox:test", "true")...); !strings.Contains(errs, `invalid pull option: 'sometimes'`) {
		t.Errorf("--pull sometimes: %q", errs)
	}
	b.ok(runArgs("--rm", "--pull", "never", "busybox:test", "true")...)

	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, reg, "test/bb:1")
	name := reg.Host + "/test/bb:1"
	out, errs, code := b.run("", runArgs("--rm", name, "echo", "hi")...)
	if out != "hi\n" || code != 0 || !strings.HasPrefix(errs, "Unable to find image '"+name+"' locally\n1: Pulling from test/bb\n") ||
		!strings.Contains(errs, "Status: Downloaded newer image for "+name+"\n") {
		t.Errorf("run of a missing image: stdout %q, exit %d, stderr:\n%s", out, code, errs)
	}
	out, errs, _ = b.run("", runArgs("--rm", "--pull", "always", name, "echo", "again")...)
	if out != "again\n" || strings.Contains(errs, "Unable to find") || !strings.Contains(errs, "Status: Image is up to date for "+name+"\n") {
		t.Errorf("run --pull always: stdout %q, stderr:\n%s", out, errs)
	}
}

// TestLogDriverAndOpts: --log-driver none keeps no log and logs says
// so, as Docker's; --log-opt max-size/max-file rotate the json-file log.
func TestLogDriverAndOpts(t *testing.T) {
	b := containerRoot(t)
	id := strings.TrimSpace(b.ok(runArgs("-d", "--log-driver", "none", "busybox:test", "echo", "hi")...))
	b.ok("wait", id)
	if errs := b.fails(1, "logs", id); errs != "Error response from daemon: configured logging driver does not support reading\n" {
		t.Errorf("logs with --log-driver none: %q", errs)
	}
	if logs, _ := filepath.Glob(filepath.Join(b.root, "containers", id, "*.log*")); len(logs) > 0 {
		t.Errorf("--log-driver none left log files: %v", logs)
	}
	if errs := b.fails(125, runArgs("--log-driver", "syslogx", "busybox:test", "true")...); !strings.Contains(errs, "logger: no log driver named 'syslogx' is registered") {
		t.Errorf("unknown --log-driver: %q", errs)
	}
	if errs := b.fails(125, runArgs("--log-opt", "max-size=-1", "busybox:test", "true")...); !strings.Contains(errs, "invalid size: '-1'") {
		t.Errorf("bad --log-opt: %q", errs)
	}
	if errs := b.fails(125, runArgs("--log-opt", "nosuch=1", "busybox:test", "true")...); !strings.Contains(errs, "unknown log opt 'nosuch' for json-file log driver") {
		t.Errorf("unknown --log-opt: %q", errs)
	}

	id = strings.TrimSpace(b.ok(runArgs("-d", "--log-driver", "json-file", "--log-opt", "max-size=1k", "--log-opt", "max-file=2", "busybox:test",
		"sh", "-c", "for i in $(seq 1 100); do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done")...))
	b.ok("wait", id)
	logs, _ := filepath.Glob(filepath.Join(b.root, "containers", id, id+"-json.log*"))
	if len(logs) != 2 {
		t.Errorf("max-file=2 kept %v", logs)
	}
	if got := b.ok("logs", "--tail", "1", id); !regexp.MustCompile(`^line-100-x+\n$`).MatchString(got) {
		t.Errorf("logs --tail 1 after rotation: %q", got)
	}
	for _, l := range logs {
		if fi, err := os.Stat(l); err != nil || fi.Size() > 2048 {
			t.Errorf("%s: %v bytes (max-size=1k)", l, fi.Size())
		}
	}
}
