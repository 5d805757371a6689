package cli_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testutil"
)

// writeFiles makes a build context: name → content ("/" at the end of a
// name makes a directory).
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// buildArgs is `build` with the test binary's cgroup parent for RUN.
func buildArgs(args ...string) []string {
	return append([]string{"build", "--cgroup-parent", testutil.TestCgroupParent()}, args...)
}

// imageConfig is an image's config as inspect shows it.
func (b *berthRoot) imageConfig(ref string) map[string]any {
	b.t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal([]byte(b.ok("image", "inspect", "--format", "{{json .Config}}", ref)), &cfg); err != nil {
		b.t.Fatal(err)
	}
	return cfg
}

func tarOf(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	return buf.Bytes()
}

// TestBuildInstructions: each instruction's effect on the image's config
// (inspect), its tree (run) and its history.
func TestBuildInstructions(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.txt": "A\n", "src/one.go": "1", "src/two.go": "2", "src/skip.md": "no",
		"Dockerfile": `# a comment
FROM busybox:test
MAINTAINER someone
ARG VERSION=1.0
ARG FROM_CLI
ENV APP=/app \
    MODE="prod mode"
RUN echo "v=$VERSION cli=$FROM_CLI mode=$MODE" > /info && echo from-run
RUN ["/bin/sh", "-c", "echo exec-form > /exec"]
WORKDIR $APP/work
RUN pwd > /pwd
COPY a.txt rel.txt
COPY --chown=1:2 --chmod=600 a.txt /owned
COPY src/*.go /gos/
ADD files.tar /unpacked/
ADD files.tar /as-dir
ADD a.txt /added.txt
USER nobody
LABEL com.example.version=$VERSION other="two words"
EXPOSE 8080 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=7s --retries=2 CMD ["true"]
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /info"]
`,
	})
	if err := os.WriteFile(filepath.Join(dir, "files.tar"), tarOf(t, map[string]string{"x/in-tar": "T"}), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := b.run("", buildArgs("-t", "inst:1", "--build-arg", "FROM_CLI=given", "--label", "extra=lbl", "--progress", "plain", dir)...)
	if code != 0 || out != "" {
		t.Fatalf("build: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	for _, want := range []string{
		"#1 [internal] load build definition from Dockerfile\n",
		"[ 1/11] FROM docker.io/library/busybox:test\n",
		`[ 2/11] RUN echo "v=1.0 cli=given mode=prod mode" > /info && echo from-run` + "\n",
		"[ 4/11] WORKDIR /app/work\n",
		"naming to docker.io/library/inst:1 done\n",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("progress lacks %q:\n%s", want, errs)
		}
	}
	if !regexp.MustCompile(`(?m)^#\d+ \d+\.\d{3} from-run$`).MatchString(errs) || !regexp.MustCompile(`(?m)^#\d+ DONE \d+\.\ds$`).MatchString(errs) {
		t.Errorf("RUN output or DONE lines missing:\n%s", errs)
	}

	cfg := b.imageConfig("inst:1")
	check := func(field string, want string) {
		t.Helper()
		got, _ := json.Marshal(cfg[field])
		if string(got) != want {
			t.Errorf("Config.%s = %s, want %s", field, got, want)
		}
	}
	check("Env", `["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","APP=/app","MODE=prod mode"]`)
	check("WorkingDir", `"/app/work"`)
	check("User", `"nobody"`)
	check("Labels", `{"com.example.version":"1.0","extra":"lbl","other":"two words"}`)
	check("ExposedPorts", `{"53/udp":{},"8080/tcp":{}}`)
	check("Volumes", `{"/data":{}}`)
	check("StopSignal", `"SIGQUIT"`)
	check("Healthcheck", `{"Interval":7000000000,"Retries":2,"Test":["CMD","true"]}`)
	check("Shell", `["/bin/sh","-ec"]`)
	check("Entrypoint", `["/bin/sh","-c"]`)
	check("Cmd", `["cat /info"]`)
	if got := b.ok("image", "inspect", "--format", "{{.Author}}", "inst:1"); got != "someone\n" {
		t.Errorf("Author = %q", got)
	}

	got := b.ok(runArgs("--rm", "inst:1")...)
	if got != "v=1.0 cli=given mode=prod mode\n" {
		t.Errorf("run (CMD over ENTRYPOINT): %q", got)
	}
	got = b.ok(runArgs("--rm", "-u", "0", "inst:1", `cat /exec /pwd; pwd; cat rel.txt; stat -c "%u:%g %a" /owned; ls /gos; cat /unpacked/x/in-tar; echo; ls /as-dir; cat /added.txt`)...)
	want := "exec-form\n/app/work\n/app/work\nA\n1:2 600\none.go\ntwo.go\nT\nx\nA\n"
	if got != want {
		t.Errorf("the image's tree:\n%s\nwant:\n%s", got, want)
	}

	hist := b.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "inst:1")
	for _, want := range []string{
		"CMD [\"cat /info\"]|buildkit.dockerfile.v0\n",
		"USER nobody|",
		"EXPOSE [53/udp 8080/tcp]|",
		"COPY --chown=1:2 --chmod=600 a.txt /owned # buildkit|",
		"WORKDIR /app/work|",
		"RUN |2 VERSION=1.0 FROM_CLI=given /bin/sh -c echo \"v=$VERSION cli=$FROM_CLI mode=$MODE\" > /info && echo from-run # buildkit|",
		"RUN |2 VERSION=1.0 FROM_CLI=given /bin/sh -c echo exec-form > /exec # buildkit|",
		"ENV APP=/app MODE=prod mode|",
		"ARG VERSION=1.0|",
		"MAINTAINER someone|",
	} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
}

// TestBuildMultiStage: COPY --from a stage by name and by index, a base
// named by an ARG before FROM (which a stage's bare ARG inherits), stages
// the target does not need skipped, --target.
func TestBuildMultiStage(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": `ARG BASE=busybox:test
FROM ${BASE} AS builder
RUN mkdir /out && echo built > /out/result && chown 5:6 /out/result

FROM busybox:test AS unused
RUN echo should not run && exit 9

FROM scratch AS files
COPY --from=builder /out/result /copied

FROM $BASE
COPY --from=builder /out /out
COPY --from=2 /copied /from-index
ARG BASE
RUN cat /out/result /from-index && echo "$BASE" > /base
`})
	out, errs, code := b.run("", buildArgs("-t", "multi", dir)...)
	if code != 0 {
		t.Fatalf("build: exit %d\n%s%s", code, out, errs)
	}
	if strings.Contains(errs, "should not run") || strings.Contains(errs, "[unused") {
		t.Errorf("the unused stage was built:\n%s", errs)
	}
	for _, want := range []string{"[builder 2/2] RUN mkdir /out", "[files 1/1] COPY --from=builder /out/result /copied", "[stage-3 4/4] RUN cat /out/result /from-index && echo \"busybox:test\" > /base"} {
		if !strings.Contains(errs, want) {
			t.Errorf("progress lacks %q:\n%s", want, errs)
		}
	}
	if got := b.ok(runArgs("--rm", "multi", "sh", "-c", "stat -c %u:%g /out/result; cat /from-index /base")...); got != "5:6\nbuilt\nbusybox:test\n" {
		t.Errorf("COPY --from: %q", got)
	}
	// --target builds that stage alone: scratch plus one file.
	b.ok(buildArgs("-q", "-t", "files-only", "--target", "files", dir)...)
	if got := b.ok("history", "--format", "{{.CreatedBy}}", "files-only"); got != "COPY /out/result /copied # buildkit\n" {
		t.Errorf("--target files: history %q", got)
	}
}

// TestBuildDockerignore: .dockerignore hides files from COPY, its "!"
// exceptions bring them back, and FILE.dockerignore beside a -f
// Dockerfile takes its place.
func TestBuildDockerignore(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		".dockerignore": "secret.txt\nlogs\n!logs/keep.log\n*.tmp\n",
		"secret.txt":    "s", "public.txt": "p", "x.tmp": "t",
		"logs/drop.log": "d", "logs/keep.log": "k",
		"Dockerfile":                  "FROM busybox:test\nCOPY . /ctx/\n",
		"alt/Dockerfile":              "FROM busybox:test\nCOPY . /ctx/\n",
		"alt/Dockerfile.dockerignore": "public.txt\nalt\n",
	})
	b.ok(buildArgs("-q", "-t", "ign", dir)...)
	got := b.ok(runArgs("--rm", "ign", "find", "/ctx", "-type", "f")...)
	if want := "/ctx/.dockerignore\n/ctx/Dockerfile\n/ctx/alt/Dockerfile\n/ctx/alt/Dockerfile.dockerignore\n/ctx/logs/keep.log\n/ctx/public.txt\n"; sortLines(got) != want {
		t.Errorf("files copied with .dockerignore:\n%s\nwant:\n%s", sortLines(got), want)
	}
	if errs := b.fails(1, buildArgs("-q", dir+"/x")...); !strings.Contains(errs, "unable to prepare context: path") {
		t.Errorf("missing context: %q", errs)
	}
	b.ok(buildArgs("-q", "-t", "ign2", "-f", filepath.Join(dir, "alt", "Dockerfile"), dir)...)
	got = b.ok(runArgs("--rm", "ign2", "find", "/ctx", "-type", "f")...)
	if want := "/ctx/.dockerignore\n/ctx/Dockerfile\n/ctx/logs/drop.log\n/ctx/logs/keep.log\n/ctx/secret.txt\n/ctx/x.tmp\n"; sortLines(got) != want {
		t.Errorf("files copied with alt/Dockerfile.dockerignore:\n%s\nwant:\n%s", sortLines(got), want)
	}
	// A COPY naming an ignored file finds nothing.
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nCOPY secret.txt /\n"})
	if errs := b.fails(1, buildArgs("-q", dir)...); !strings.Contains(errs, `"/secret.txt": not found`) {
		t.Errorf("COPY of an ignored file: %q", errs)
	}
}

func sortLines(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i := 1; i < len(lines); i++ {
		for j := i; j > 0 && lines[j] < lines[j-1]; j-- {
			lines[j], lines[j-1] = lines[j-1], lines[j]
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestBuildCache: a rebuild runs nothing (CACHED, no RUN output, the same
// image); changing one context file reruns only the COPY that reads it
// and the steps after; --no-cache reruns everything.
func TestBuildCache(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.txt": "a1", "b.txt": "b1",
		"Dockerfile": `FROM busybox:test
COPY a.txt /a
RUN echo ran-first && cat /a > /first
COPY b.txt /b
RUN echo ran-second && cat /a /b > /second
`,
	})
	build := func(args ...string) string {
		t.Helper()
		out, errs, code := b.run("", buildArgs(append(append([]string{"-t", "cached"}, args...), dir)...)...)
		if code != 0 {
			t.Fatalf("build: exit %d\n%s%s", code, out, errs)
		}
		return errs
	}
	steps := func(progress string) string {
		// "COPY a.txt:CACHED RUN:ran" for each numbered step.
		var out []string
		for _, m := range regexp.MustCompile(`(?m)^#(\d+) \[\d/5\] (\S+)`).FindAllStringSubmatch(progress, -1) {
			n := "#" + m[1] + " "
			state := "ran"
			if strings.Contains(progress, n+"CACHED\n") {
				state = "CACHED"
			}
			out = append(out, m[2]+":"+state)
		}
		return strings.Join(out, " ")
	}
	first := build()
	id1 := b.ok("image", "inspect", "--format", "{{.Id}}", "cached")
	second := build()
	if got := steps(second); got != "FROM:ran COPY:CACHED RUN:CACHED COPY:CACHED RUN:CACHED" {
		t.Errorf("rebuild: %s\n%s", got, second)
	}
	ranFirst := regexp.MustCompile(`(?m)^#\d+ \d+\.\d{3} ran-first$`)
	if ranFirst.MatchString(second) || !ranFirst.MatchString(first) {
		t.Errorf("RUN output on the rebuild:\n%s", second)
	}
	if id2 := b.ok("image", "inspect", "--format", "{{.Id}}", "cached"); id2 != id1 {
		t.Errorf("a rebuild from the cache made another image: %s, then %s", id1, id2)
	}

	writeFiles(t, dir, map[string]string{"b.txt": "b2"})
	third := build()
	if got := steps(third); got != "FROM:ran COPY:CACHED RUN:CACHED COPY:ran RUN:ran" {
		t.Errorf("after changing b.txt: %s\n%s", got, third)
	}
	if got := b.ok(runArgs("--rm", "cached", "cat", "/second")...); got != "a1b2" {
		t.Errorf("/second = %q", got)
	}
	// The image that lost its tag and the cache survive rmi.
	b.ok("rmi", "cached")
	if got := steps(build()); got != "FROM:ran COPY:CACHED RUN:CACHED COPY:CACHED RUN:CACHED" {
		t.Errorf("after rmi: %s", got)
	}
	if got := steps(build("--no-cache")); got != "FROM:ran COPY:ran RUN:ran COPY:ran RUN:ran" {
		t.Errorf("--no-cache: %s", got)
	}
}

// TestBuildErrors: a failing RUN (its output, exit 1, no tag, the
// earlier steps cached), a syntax error with its line, a COPY of a
// missing file, an unknown --target, an unsupported RUN flag, bad flags.
func TestBuildErrors(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nRUN echo before > /before\nRUN echo doomed; echo to-stderr >&2; exit 3\n"})
	out, errs, code := b.run("", buildArgs("-t", "broken", dir)...)
	if code != 1 || out != "" {
		t.Fatalf("failing RUN: exit %d, stdout %q", code, out)
	}
	for _, want := range []string{
		"[3/3] RUN echo doomed; echo to-stderr >&2; exit 3\n",
		" doomed\n", " to-stderr\n",
		`ERROR: process "/bin/sh -c echo doomed; echo to-stderr >&2; exit 3" did not complete successfully: exit code: 3`,
		"Dockerfile:3\n",
		" >>> RUN echo doomed",
		"Error: failed to solve: process \"/bin/sh -c echo doomed; echo to-stderr >&2; exit 3\" did not complete successfully: exit code: 3\n",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("failing RUN: stderr lacks %q:\n%s", want, errs)
		}
	}
	if got := b.ok("images", "-q", "broken"); got != "" {
		t.Errorf("a failed build tagged an image: %q", got)
	}
	if m := mountsUnder(b.root); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	if ents, _ := os.ReadDir(filepath.Join(b.root, "build")); len(ents) > 0 {
		t.Errorf("build state left: %v", ents)
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nRUN echo before > /before\nRUN true\n"})
	if _, errs, _ = b.run("", buildArgs(dir)...); !strings.Contains(errs, "[2/3] RUN echo before > /before\n#4 CACHED") {
		t.Errorf("the step before the failure is not cached:\n%s", errs)
	}

	for _, c := range []struct{ dockerfile, args, want string }{
		{"FROM busybox:test\nRUNN echo\n", "", "Error: failed to solve: dockerfile parse error on line 2: unknown instruction: RUNN"},
		{"FROM busybox:test\nCOPY missing.txt /\n", "", `"/missing.txt": not found`},
		{"FROM busybox:test\n", "--target nope", `Error: failed to solve: target stage "nope" could not be found`},
		{"FROM busybox:test\nRUN --mount=type=ssh,required true\n", "", `Error: failed to solve: no SSH key "default" forwarded from the client`},
		{"FROM busybox:test\nRUN --security=insecure true\n", "", "Error: failed to solve: granting entitlement security.insecure is not allowed by build daemon configuration"},
		{"FROM nosuchimage:test\n", "", "nosuchimage"},
		{"", "", "the Dockerfile cannot be empty"},
		{"FROM busybox:test\n", "-t Bad:tag", `Error: invalid tag "Bad:tag"`},
	} {
		writeFiles(t, dir, map[string]string{"Dockerfile": c.dockerfile})
		args := append(strings.Fields(c.args), "-q", dir)
		if errs := b.fails(1, buildArgs(args...)...); !strings.Contains(errs, c.want) {
			t.Errorf("%q %s: stderr %q, want %q", c.dockerfile, c.args, errs, c.want)
		}
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nRUNN echo\n"})
	if _, errs, _ := b.run("", buildArgs(dir)...); !strings.Contains(errs, "Dockerfile:2\n--------------------\n   1 |     FROM busybox:test\n   2 | >>> RUNN echo\n") {
		t.Errorf("syntax error excerpt:\n%s", errs)
	}
}

// TestBuildStdin: `build -` takes a tar of the context, or a Dockerfile
// alone; -q prints the ID and --iidfile writes it.
func TestBuildStdin(t *testing.T) {
	b := containerRoot(t)
	ctx := tarOf(t, map[string]string{"Dockerfile": "FROM busybox:test\nCOPY f /f\n", "f": "from-tar"})
	iid := filepath.Join(t.TempDir(), "iid")
	out, errs, code := b.run(string(ctx), buildArgs("-q", "--iidfile", iid, "-t", "stdin-tar", "-")...)
	if code != 0 || !regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`).MatchString(out) {
		t.Fatalf("build - (tar): exit %d, stdout %q, stderr %s", code, out, errs)
	}
	if data, _ := os.ReadFile(iid); string(data) != strings.TrimSpace(out) {
		t.Errorf("--iidfile: %q, stdout %q", data, out)
	}
	if got := b.ok(runArgs("--rm", "stdin-tar", "cat", "/f")...); got != "from-tar" {
		t.Errorf("COPY from a stdin context: %q", got)
	}
	out, errs, code = b.run("FROM busybox:test\nRUN echo dockerfile-only > /x\n", buildArgs("-q", "-t", "stdin-df", "-")...)
	if code != 0 {
		t.Fatalf("build - (Dockerfile): exit %d\n%s", code, errs)
	}
	if got := b.ok(runArgs("--rm", "stdin-df", "cat", "/x")...); got != "dockerfile-only\n" {
		t.Errorf("Dockerfile from stdin: %q", got)
	}
}

// TestBuildDeletionsAndCopyDriver: a RUN that deletes what an earlier
// layer holds leaves it deleted in the image (overlay's whiteouts, the
// copy driver's tree diff), on both storage drivers; RUN's host name and
// /etc/hosts are BuildKit's sandbox's.
func TestBuildDeletionsAndCopyDriver(t *testing.T) {
	for _, driver := range []string{"overlay", "copy"} {
		t.Run(driver, func(t *testing.T) {
			b := containerRootEnv(t, "BERTH_STORAGE_DRIVER="+driver)
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{
				"gone.txt": "g", "tree/a": "a", "tree/b": "b",
				"Dockerfile": "FROM busybox:test\nCOPY gone.txt /gone\nCOPY tree /tree/\nRUN rm /gone /tree/a && hostname > /tree/c && grep -q buildkitsandbox /etc/hosts\n",
			})
			b.ok(buildArgs("-q", "-t", "del", dir)...)
			if got := b.ok(runArgs("--rm", "del", "sh", "-c", "ls /tree; cat /tree/c; test -e /gone && echo still-there; true")...); got != "b\nc\nbuildkitsandbox\n" {
				t.Errorf("after RUN rm: %q", got)
			}
			// RUN's /etc/resolv.conf mount point (the image has none) is
			// not left in the layer. (Looked at in the image itself: a
			// container on a network gets one of its own.)
			mnt := strings.TrimSpace(b.ok("image", "mount", "del"))
			_, err := os.Lstat(filepath.Join(mnt, "etc", "resolv.conf"))
			b.ok("image", "unmount", "del")
			if err == nil {
				t.Error("the image holds RUN's /etc/resolv.conf mount point")
			}
			if _, errs, _ := b.run("", buildArgs("-t", "del", dir)...); strings.Count(errs, "CACHED") != 3 {
				t.Errorf("rebuild on %s:\n%s", driver, errs)
			}
		})
	}
}

// TestBuildKilledMidRun: a build killed (-9) while a RUN runs leaves its
// container, mount and snapshot, which the next build removes.
func TestBuildKilledMidRun(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nRUN echo started; sleep 60\n"})
	cmd := exec.Command(berthBin, append([]string{"--root", b.root}, buildArgs(dir)...)...)
	cmd.Env = b.env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.HasSuffix(sc.Text(), " started") {
	}
	cmd.Process.Kill()
	cmd.Wait()
	if ents, _ := os.ReadDir(filepath.Join(b.root, "build")); len(ents) != 1 {
		t.Fatalf("the killed build's state: %v", ents)
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nRUN true\n"})
	b.ok(buildArgs("-q", dir)...)
	if ents, _ := os.ReadDir(filepath.Join(b.root, "build")); len(ents) != 0 {
		t.Errorf("build state left: %v", ents)
	}
	if ents, _ := os.ReadDir(filepath.Join(b.root, "run", "runtime")); len(ents) != 0 {
		t.Errorf("runtime state left: %v", ents)
	}
	if m := mountsUnder(b.root); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
}
