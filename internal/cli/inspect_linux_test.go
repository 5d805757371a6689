package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLabels: --label and --label-file over the image's labels (the
// container's win), seen by inspect and ps --filter label.
func TestLabels(t *testing.T) {
	b := containerRoot(t)
	b.ok("import", "-c", "LABEL img.a=1 img.b=2", busyboxTar(t), "labelled:1")
	file := filepath.Join(t.TempDir(), "labels")
	os.WriteFile(file, []byte("# comment\n\nfile.a=1\nimg.b=fromfile\n"), 0o644)
	b.ok(runArgs("-d", "--name", "l1", "-l", "img.b=flag", "--label", "bare", "--label-file", file, "labelled:1", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "l2", "busybox:test", "sleep", "60")...)
	if got := b.ok("inspect", "-f", "{{json .Config.Labels}}", "l1"); got != `{"bare":"","file.a":"1","img.a":"1","img.b":"flag"}`+"\n" {
		t.Errorf("container labels: %s", got)
	}
	if got := b.ok("image", "inspect", "-f", "{{json .Config.Labels}}", "labelled:1"); got != `{"img.a":"1","img.b":"2"}`+"\n" {
		t.Errorf("image labels: %s", got)
	}
	if got := b.ok("inspect", "-f", "{{json .Config.Labels}}", "l2"); got != "{}\n" {
		t.Errorf("labels of a container without any: %s", got)
	}
	if got := b.ok("ps", "--filter", "label=img.a=1", "--format", "{{.Names}} {{.Label \"img.b\"}}"); got != "l1 flag\n" {
		t.Errorf("ps --filter label: %q", got)
	}
	if errs := b.fails(125, runArgs("-l", "=x", "busybox:test", "true")...); !strings.Contains(errs, "invalid label '=x': empty name") {
		t.Errorf("-l =x: %q", errs)
	}
	if errs := b.fails(125, runArgs("--label-file", filepath.Join(t.TempDir(), "nope"), "busybox:test", "true")...); !strings.Contains(errs, "no such file") {
		t.Errorf("a missing --label-file: %q", errs)
	}
}

// TestInspect: inspect shows Docker's InspectResponse for containers and
// images (containers first), templates with Docker's functions, sizes
// with -s, and "No such object" for the rest, after the found ones.
func TestInspect(t *testing.T) {
	b := containerRoot(t)
	id := strings.TrimSpace(b.ok(runArgs("-d", "--name", "in1", "busybox:test", "sleep", "60")...))
	b.fails(3, runArgs("--name", "in2", "-e", "A=b", "-w", "/w", "busybox:test", "sh", "-c", "head -c 1000 /dev/zero > /f; exit 3")...)

	var got []struct {
		Id, Name, Path, Image, Driver, LogPath string
		Args                                   []string
		State                                  struct {
			Status          string
			Running, Paused bool
			Pid, ExitCode   int
			StartedAt       string
			FinishedAt      string
		}
		HostConfig struct {
			LogConfig     struct{ Type string }
			RestartPolicy struct{ Name string }
		}
		GraphDriver struct {
			Name string
			Data map[string]string
		}
		Mounts []any
		Config struct {
			Image, Hostname string
			Cmd             []string
			Labels          map[string]string
		}
	}
	if err := json.Unmarshal([]byte(b.ok("inspect", "in1")), &got); err != nil || len(got) != 1 {
		t.Fatalf("inspect in1: %v (%d objects)", err, len(got))
	}
	c := got[0]
	if c.Id != id || c.Name != "/in1" || c.Path != "sleep" || strings.Join(c.Args, " ") != "60" || !strings.HasPrefix(c.Image, "sha256:") {
		t.Errorf("inspect: %+v", c)
	}
	if c.State.Status != "running" || !c.State.Running || c.State.Paused || c.State.Pid <= 0 || c.State.FinishedAt != "0001-01-01T00:00:00Z" {
		t.Errorf("state: %+v", c.State)
	}
	if c.Config.Image != "busybox:test" || c.Config.Hostname != id[:12] || strings.Join(c.Config.Cmd, " ") != "sleep 60" || c.Config.Labels == nil {
		t.Errorf("config: %+v", c.Config)
	}
	if c.HostConfig.LogConfig.Type != "json-file" || c.HostConfig.RestartPolicy.Name != "no" || c.Mounts == nil {
		t.Errorf("host config %+v, mounts %v", c.HostConfig, c.Mounts)
	}
	if _, err := os.Stat(c.LogPath); err != nil {
		t.Errorf("LogPath: %v", err)
	}
	if c.Driver != "overlay2" || c.GraphDriver.Name != "overlay2" {
		t.Errorf("driver %q, graph driver %q", c.Driver, c.GraphDriver.Name)
	}
	for _, k := range []string{"LowerDir", "UpperDir", "WorkDir", "MergedDir"} {
		if d := c.GraphDriver.Data[k]; d == "" {
			t.Errorf("GraphDriver.Data lacks %s: %v", k, c.GraphDriver.Data)
		} else if _, err := os.Stat(strings.Split(d, ":")[0]); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}

	if got := b.ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{json .Config.Env}} {{.Config.WorkingDir}}", "in2"); got != `exited 3 ["A=b"] /w`+"\n" {
		t.Errorf("inspect -f of the exited one: %q", got)
	}
	// .Id is the JSON's name: the template runs on the JSON form then.
	if got := b.ok("container", "inspect", "-f", `{{upper .Name}}|{{join .Args ","}}|{{.Id}}`, "in1"); got != "/IN1|60|"+id+"\n" {
		t.Errorf("container inspect -f: %q", got)
	}
	// -s: what the container wrote, and that plus the image.
	var sizes struct{ SizeRw, SizeRootFs int64 }
	json.Unmarshal([]byte(b.ok("inspect", "-s", "-f", "{{json .}}", "in2")), &sizes)
	if sizes.SizeRw != 1000 || sizes.SizeRootFs <= 1000 {
		t.Errorf("inspect -s: %+v", sizes)
	}
	if got := b.ok("inspect", "-f", "{{.SizeRw}}", "in2"); got != "<nil>\n" {
		t.Errorf("SizeRw without -s: %q", got)
	}

	// A container, an image, and nothing: both printed, then the error.
	out, errs, code := b.run("", "inspect", "-f", "{{.Id}}", "in1", "busybox:test", "nope")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 2 || lines[0] != id || !strings.HasPrefix(lines[1], "sha256:") || errs != "Error: No such object: nope\n" {
		t.Errorf("inspect in1 busybox:test nope: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	out, errs, code = b.run("", "inspect", "--type", "image", "in1")
	if code != 1 || out != "[]\n" || !strings.Contains(errs, "No such image") {
		t.Errorf("inspect --type image of a container: exit %d, %q, %q", code, out, errs)
	}
	if errs := b.fails(1, "inspect", "--type", "network", "x"); !strings.Contains(errs, `unknown type: "network"`) {
		t.Errorf("--type network: %q", errs)
	}
	if errs := b.fails(1, "inspect", "--type", "volume", "x"); errs != "Error: get x: no such volume\n" {
		t.Errorf("--type volume of a missing volume: %q", errs)
	}
	if errs := b.fails(1, "container", "inspect", "busybox:test"); errs != "Error: No such container: busybox:test\n" {
		t.Errorf("container inspect of an image: %q", errs)
	}
	if errs := b.fails(1, "inspect", "-f", "{{.Nope", "in1"); !strings.Contains(errs, "template parsing error") {
		t.Errorf("a bad template: %q", errs)
	}
}

// TestPsOptions: -n/-l, -s, --no-trunc, every --filter key with Docker's
// semantics (one key's values ORed, keys ANDed) and --format placeholders.
func TestPsOptions(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("--name", "psa", "busybox:test", "true")...)
	b.fails(1, runArgs("--name", "psb", "busybox:test", "false")...)
	idc := strings.TrimSpace(b.ok(runArgs("-d", "--name", "psc", "-l", "k=v", "busybox:test", "sh", "-c", "echo hello > /greeting; sleep 60")...))
	b.ok("create", "--name", "psd", "busybox:test", "true")
	idb := strings.TrimSpace(b.ok("inspect", "-f", "{{.Id}}", "psb"))

	names := func(args ...string) string {
		t.Helper()
		return strings.Join(strings.Fields(b.ok(append(append([]string{"ps"}, args...), "--format", "{{.Names}}")...)), " ")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "psc"},
		{[]string{"-a"}, "psd psc psb psa"},
		{[]string{"-n", "2"}, "psd psc"},
		{[]string{"-l"}, "psd"},
		{[]string{"--filter", "status=exited"}, "psb psa"},
		{[]string{"--filter", "status=exited", "--filter", "status=created"}, "psd psb psa"},
		{[]string{"-f", "status=running"}, "psc"},
		{[]string{"-a", "--filter", "exited=1"}, "psb"},
		{[]string{"-a", "--filter", "exited=0"}, "psa"},
		{[]string{"-a", "--filter", "name=^psb$"}, "psb"},
		{[]string{"-a", "--filter", "name=psa", "--filter", "name=psd"}, "psd psa"},
		{[]string{"-a", "--filter", "label=k=v"}, "psc"},
		{[]string{"-a", "--filter", "label=k"}, "psc"},
		{[]string{"-a", "--filter", "label=k=w"}, ""},
		{[]string{"-a", "--filter", "id=" + idb[:10]}, "psb"},
		{[]string{"-a", "--filter", "ancestor=busybox:test"}, "psd psc psb psa"},
		{[]string{"-a", "--filter", "ancestor=nosuch:image"}, ""},
		{[]string{"-a", "--filter", "before=psc"}, "psb psa"},
		{[]string{"-a", "--filter", "since=psb"}, "psd psc"},
		{[]string{"-a", "--filter", "status=exited", "--filter", "name=psa"}, "psa"},
	} {
		if got := names(c.args...); got != c.want {
			t.Errorf("ps %s: %q, want %q", strings.Join(c.args, " "), got, c.want)
		}
	}
	img := strings.TrimPrefix(strings.TrimSpace(b.ok("image", "inspect", "-f", "{{.Id}}", "busybox:test")), "sha256:")
	if got := names("-a", "--filter", "ancestor="+img[:12]); got != "psd psc psb psa" {
		t.Errorf("ancestor by image ID: %q", got)
	}
	if errs := b.fails(1, "ps", "--filter", "foo=bar"); !strings.Contains(errs, "invalid filter 'foo'") {
		t.Errorf("unknown filter: %q", errs)
	}
	if errs := b.fails(1, "ps", "--filter", "status=bogus"); !strings.Contains(errs, "invalid filter 'status=bogus'") {
		t.Errorf("bad status: %q", errs)
	}
	if errs := b.fails(1, "ps", "--filter", "before=nope"); !strings.Contains(errs, "No such container: nope") {
		t.Errorf("before an unknown container: %q", errs)
	}

	if got := b.ok("ps", "-q", "--no-trunc"); got != idc+"\n" {
		t.Errorf("ps -q --no-trunc: %q", got)
	}
	if got := b.ok("ps", "--no-trunc", "--format", "{{.ID}} {{.Command}}"); got != idc+` "sh -c echo hello > /greeting; sleep 60"`+"\n" {
		t.Errorf("ps --no-trunc: %q", got)
	}
	ps := b.ok("ps", "-s")
	if !regexp.MustCompile(`NAMES +SIZE\n`).MatchString(ps) || !regexp.MustCompile(`psc +6B \(virtual [0-9.]+[kM]B\)\n`).MatchString(ps) {
		t.Errorf("ps -s:\n%s", ps)
	}
	if got := b.ok("ps", "--format", "{{.Names}}|{{.Size}}|{{.Labels}}|{{.Label \"k\"}}|{{.State}}|{{.Mounts}}|{{.Networks}}|{{.Ports}}"); !regexp.MustCompile(`^psc\|6B \(virtual .*\)\|k=v\|v\|running\|\|bridge\|\n$`).MatchString(got) {
		t.Errorf("ps --format placeholders: %q", got)
	}
	if got := b.ok("ps", "--format", "table {{.Names}}\t{{.Label \"k\"}}\t{{.CreatedAt}}"); !regexp.MustCompile(`^NAMES +K +CREATED AT\npsc +v +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \S+\n$`).MatchString(got) {
		t.Errorf("ps --format table: %q", got)
	}
	var row map[string]string
	if err := json.Unmarshal([]byte(b.ok("ps", "--format", "json")), &row); err != nil || row["Names"] != "psc" || row["Command"] != `"sh -c echo hello > …"` || row["Labels"] != "k=v" {
		t.Errorf("ps --format json: %v %v", row, err)
	}
}

// TestRenameAndPrune: rename with Docker's errors; container prune asks
// first, honours until and label/label! and spares running containers.
func TestRenameAndPrune(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("--name", "r1", "busybox:test", "echo", "one")...)
	b.ok(runArgs("--name", "r2", "-l", "keep=1", "busybox:test", "true")...)
	b.ok(runArgs("-d", "--name", "r3", "busybox:test", "sleep", "60")...)
	id1 := strings.TrimSpace(b.ok("inspect", "-f", "{{.Id}}", "r1"))
	id2 := strings.TrimSpace(b.ok("inspect", "-f", "{{.Id}}", "r2"))
	for args, want := range map[[2]string]string{
		{"r1", "r2"}:       `Error: failed to rename container: Error when allocating new name: Conflict. The container name "/r2" is already in use by container "`,
		{"r1", "bad/name"}: "Error: failed to rename container: Error when allocating new name: Invalid container name (bad/name)",
		{"r1", "r1"}:       "Error: failed to rename container: Renaming a container with the same name as its current name",
		{"nope", "x"}:      "Error: failed to rename container: No such container: nope",
	} {
		if errs := b.fails(1, "rename", args[0], args[1]); !strings.HasPrefix(errs, want) {
			t.Errorf("rename %s %s: %q", args[0], args[1], errs)
		}
	}
	b.ok("rename", "r1", "renamed")
	b.ok("container", "rename", "r3", "/r3b")
	if got := b.ok("ps", "-a", "--format", "{{.Names}}"); got != "r3b\nr2\nrenamed\n" {
		t.Errorf("names after renames: %q", got)
	}
	if got := b.ok("logs", "renamed"); got != "one\n" {
		t.Errorf("logs by the new name: %q", got)
	}
	b.ok(runArgs("--name", "r1", "busybox:test", "true")...) // the old name is free

	out, _, code := b.run("n\n", "container", "prune")
	if code != 0 || !strings.HasPrefix(out, "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ") || strings.Contains(out, "Deleted") {
		t.Errorf("prune answered no: exit %d, %q", code, out)
	}
	if got := b.ok("container", "prune", "-f", "--filter", "until=1h"); got != "Total reclaimed space: 0B\n" {
		t.Errorf("prune --filter until=1h: %q", got)
	}
	if got := b.ok("container", "prune", "-f", "--filter", "label!=keep", "--filter", "until=0s"); !strings.HasPrefix(got, "Deleted Containers:\n") || !strings.Contains(got, id1+"\n") || strings.Contains(got, id2) || !strings.HasSuffix(got, "\nTotal reclaimed space: 0B\n") {
		t.Errorf("prune --filter label!=keep: %q", got)
	}
	if got := b.ok("ps", "-a", "--format", "{{.Names}}"); got != "r3b\nr2\n" {
		t.Errorf("after pruning the unlabelled ones: %q", got)
	}
	out, _, code = b.run("y\n", "container", "prune", "--filter", "label=keep=1")
	if code != 0 || !strings.Contains(out, "Deleted Containers:\n") {
		t.Errorf("prune answered yes: exit %d, %q", code, out)
	}
	if got := b.ok("ps", "-a", "--format", "{{.Names}} {{.State}}"); got != "r3b running\n" {
		t.Errorf("prune left: %q", got)
	}
	if errs := b.fails(1, "container", "prune", "-f", "--filter", "name=x"); !strings.Contains(errs, "invalid filter 'name'") {
		t.Errorf("prune --filter name: %q", errs)
	}
}

// freezerState reads the container's freezer: FROZEN, THAWED, or "" when
// it has no cgroup.
func freezerState(id string) string {
	for _, dir := range cgroupsOf(id) {
		if data, err := os.ReadFile(filepath.Join(dir, "freezer.state")); err == nil {
			return strings.TrimSpace(string(data))
		}
		if data, err := os.ReadFile(filepath.Join(dir, "cgroup.freeze")); err == nil {
			if strings.TrimSpace(string(data)) == "1" {
				return "FROZEN"
			}
			return "THAWED"
		}
	}
	return ""
}

// TestPauseUnpause: pause freezes the container's cgroup and is recorded
// (ps's "(Paused)", inspect's "paused", info's count); stop, kill and
// rm -f still work on a paused container; Docker's errors otherwise.
func TestPauseUnpause(t *testing.T) {
	b := containerRoot(t)
	id := strings.TrimSpace(b.ok(runArgs("-d", "--name", "p1", "busybox:test", "sleep", "60")...))
	if got := b.ok("pause", "p1"); got != "p1\n" {
		t.Errorf("pause: %q", got)
	}
	if st := freezerState(id); st != "FROZEN" {
		t.Errorf("freezer after pause: %q", st)
	}
	if got := b.ok("ps", "--format", "{{.Status}}|{{.State}}"); !regexp.MustCompile(`^Up .* \(Paused\)\|paused\n$`).MatchString(got) {
		t.Errorf("ps of a paused container: %q", got)
	}
	if got := b.ok("inspect", "-f", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", "p1"); got != "paused true true\n" {
		t.Errorf("inspect of a paused container: %q", got)
	}
	if got := b.ok("ps", "-a", "--filter", "status=paused", "-q"); got != id[:12]+"\n" {
		t.Errorf("ps --filter status=paused: %q", got)
	}
	if got := b.ok("info", "-f", "{{.ContainersPaused}} {{.ContainersRunning}}"); got != "1 0\n" {
		t.Errorf("info counts: %q", got)
	}
	if errs := b.fails(1, "pause", "p1"); !strings.Contains(errs, "Container "+id+" is already paused") {
		t.Errorf("pause twice: %q", errs)
	}
	b.ok("container", "unpause", "p1")
	if st := freezerState(id); st != "THAWED" {
		t.Errorf("freezer after unpause: %q", st)
	}
	if errs := b.fails(1, "unpause", "p1"); !strings.Contains(errs, "Container "+id+" is not paused") {
		t.Errorf("unpause of a running container: %q", errs)
	}
	// stop of a paused container: SIGTERM (ignored by sleep as pid 1),
	// thawed, then SIGKILL after the timeout.
	b.ok("pause", "p1")
	b.ok("stop", "-t", "1", "p1")
	if got := b.ok("inspect", "-f", "{{.State.Status}} {{.State.Paused}} {{.State.ExitCode}}", "p1"); got != "exited false 137\n" {
		t.Errorf("after stop of a paused container: %q", got)
	}
	if errs := b.fails(1, "pause", "p1"); !strings.Contains(errs, "Container "+id+" is not running") {
		t.Errorf("pause of an exited container: %q", errs)
	}
	b.ok(runArgs("-d", "--name", "p2", "busybox:test", "sleep", "60")...)
	b.ok("pause", "p2")
	b.ok("kill", "p2")
	if got := b.ok("wait", "p2"); got != "137\n" {
		t.Errorf("wait after kill of a paused container: %q", got)
	}
	id3 := strings.TrimSpace(b.ok(runArgs("-d", "--name", "p3", "busybox:test", "sleep", "60")...))
	b.ok("pause", "p3")
	b.ok("rm", "-f", "p3")
	b.assertGone(id3)
}

// TestTop: top runs the host's ps and keeps the container's processes.
func TestTop(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("-d", "--name", "t1", "busybox:test", "sh", "-c", "sleep 61 & echo ready; wait")...)
	waitForLog(t, b, "t1", "ready\n")
	out := b.ok("top", "t1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^UID +PID +PPID +C +STIME +TTY +TIME +CMD$`).MatchString(lines[0]) {
		t.Fatalf("top:\n%s", out)
	}
	if !strings.HasSuffix(lines[1], "sh -c sleep 61 & echo ready; wait") || !strings.HasSuffix(lines[2], "sleep 61") {
		t.Errorf("top rows:\n%s", out)
	}
	if got := b.ok("container", "top", "t1", "-o", "pid,comm"); !regexp.MustCompile(`^PID +COMMAND\n\d+ +sh\n\d+ +sleep\n$`).MatchString(got) {
		t.Errorf("top -o pid,comm:\n%s", got)
	}
	b.ok("kill", "t1")
	b.ok("wait", "t1")
	if errs := b.fails(1, "top", "t1"); !strings.Contains(errs, "is not running") {
		t.Errorf("top of an exited container: %q", errs)
	}
	if errs := b.fails(1, "top", "nope"); !strings.Contains(errs, "No such container: nope") {
		t.Errorf("top of nothing: %q", errs)
	}
}

// TestDiff: diff lists what the container added, changed and deleted, in
// Docker's order, with the overlay driver (upper directory) and the copy
// driver (its tree against the image's).
func TestDiff(t *testing.T) {
	want := "C /bin\nD /bin/ls\nC /etc\nA /etc/foo\nC /etc/group\nA /new\nA /new/dir\nA /new/dir/f\n"
	script := "echo x > /etc/foo; echo g:x:5: >> /etc/group; rm /bin/ls; mkdir -p /new/dir; echo f > /new/dir/f"
	for _, driver := range []string{"overlay", "copy"} {
		t.Run(driver, func(t *testing.T) {
			b := containerRootEnv(t, "BERTH_STORAGE_DRIVER="+driver)
			b.ok(runArgs("--name", "d1", "busybox:test", "sh", "-c", script)...)
			if got := b.ok("diff", "d1"); got != want {
				t.Errorf("diff:\n%s\nwant:\n%s", got, want)
			}
			// Running, too; and a container that changed nothing.
			b.ok(runArgs("-d", "--name", "d2", "busybox:test", "sleep", "60")...)
			if got := b.ok("container", "diff", "d2"); got != "" {
				t.Errorf("diff of a container that changed nothing:\n%s", got)
			}
			if got := b.ok("ps", "-a", "-s", "--filter", "name=d1", "--format", "{{.Size}}"); !regexp.MustCompile(`^\d+B \(virtual [0-9.]+[kM]B\)\n$`).MatchString(got) {
				t.Errorf("ps -s with %s: %q", driver, got)
			}
		})
	}
}

// TestInfoVersion: info's sections and --format, version's Client and
// Server and --format; --version stays.
func TestInfoVersion(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("-d", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("busybox:test", "true")...)
	cgroup := "1"
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		cgroup = "2"
	}
	info := b.ok("info")
	for _, want := range []string{
		"Client:\n Version:    ",
		"\nServer:\n Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 1\n Server Version: ",
		"\n Storage Driver: overlay2\n  Backing Filesystem: ",
		"\n Logging Driver: json-file\n Cgroup Driver: cgroupfs\n Cgroup Version: " + cgroup + "\n",
		"\n Kernel Version: ", "\n Operating System: ", "\n OSType: linux\n Architecture: ",
		"\n CPUs: ", "\n Total Memory: ", "\n Docker Root Dir: " + b.root + "\n",
	} {
		if !strings.Contains(info, want) {
			t.Errorf("info lacks %q:\n%s", want, info)
		}
	}
	if got := b.ok("system", "info", "--format", "{{.Containers}} {{.Driver}} {{.OSType}} {{json .CgroupVersion}} {{.DockerRootDir}}"); got != "2 overlay2 linux \""+cgroup+"\" "+b.root+"\n" {
		t.Errorf("info --format: %q", got)
	}
	id := b.ok("info", "-f", "{{.ID}}")
	if id2 := b.ok("info", "-f", "{{.ID}}"); id != id2 || len(id) < 30 {
		t.Errorf("info ID %q then %q", id, id2)
	}

	v := b.ok("version")
	for _, want := range []string{"Client:\n Version:           ", "\n API version:       ", "\n OS/Arch:           linux/", "\n\nServer: berth\n Engine:\n  Version:          "} {
		if !strings.Contains(v, want) {
			t.Errorf("version lacks %q:\n%s", want, v)
		}
	}
	cv := strings.TrimSpace(b.ok("version", "--format", "{{.Client.Version}}"))
	if got := b.ok("--version"); got != "berth version "+cv+"\n" {
		t.Errorf("--version %q, version --format %q", got, cv)
	}
	if got := b.ok("version", "-f", "{{.Server.Version}}"); got != cv+"\n" {
		t.Errorf("server version: %q", got)
	}
	if errs := b.fails(1, "version", "-f", "{{.Nope}}"); !strings.Contains(errs, "can't evaluate field Nope") {
		t.Errorf("version -f with a bad field: %q", errs)
	}
}
