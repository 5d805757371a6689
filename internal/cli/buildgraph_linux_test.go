package cli_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testutil"
)

// TestBuildParallelStages: two stages that don't depend on each other
// build at the same time. Each writes its marker into a cache mount both
// share and then waits for the other's: built one after the other, the
// first would give up waiting and fail the build. A stage may COPY
// --from a stage defined after it.
func TestBuildParallelStages(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	wait := func(mine, other string) string {
		return `RUN --mount=type=cache,target=/meet,id=meet touch /meet/` + mine +
			` && i=0; while [ ! -e /meet/` + other + ` ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; ` +
			`test -e /meet/` + other + ` && echo ` + mine + ` > /` + mine + "\n"
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": `FROM busybox:test AS final
COPY --from=left /left /left
COPY --from=right /right /right

FROM busybox:test AS left
` + wait("left", "right") + `
FROM busybox:test AS right
` + wait("right", "left") + `
FROM final
`})
	errs := b.buildOK(dir, "-t", "par")
	if got := b.ok(runArgs("--rm", "par", "cat", "/left", "/right")...); got != "left\nright\n" {
		t.Errorf("the stages' files: %q\n%s", got, errs)
	}
	for _, want := range []string{"[left 2/2] RUN --mount=type=cache", "[right 2/2] RUN --mount=type=cache", "[final 2/3] COPY --from=left /left /left"} {
		if !strings.Contains(errs, want) {
			t.Errorf("progress lacks %q:\n%s", want, errs)
		}
	}
}

// TestBuildStageGraphErrors: a cycle between stages and a --from of a
// stage index that does not exist, as BuildKit words them; nothing runs.
func TestBuildStageGraphErrors(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	for _, c := range []struct{ dockerfile, want string }{
		{"FROM busybox:test AS a\nRUN echo ran-a\nCOPY --from=b /x /x\nFROM busybox:test AS b\nCOPY --from=a /y /y\n",
			"Error: failed to solve: circular dependency detected on stage: a\n"},
		{"FROM busybox:test AS a\nRUN --mount=from=a,target=/a echo ran-a\n",
			"Error: failed to solve: circular dependency detected on stage: a\n"},
		{"FROM busybox:test\nRUN echo ran-a\nCOPY --from=3 /x /x\n",
			"Error: failed to solve: invalid stage index 3\n"},
	} {
		writeFiles(t, dir, map[string]string{"Dockerfile": c.dockerfile})
		errs := b.fails(1, buildArgs("-t", "cyc", "--progress", "plain", dir)...)
		if !strings.HasSuffix(errs, c.want) || strings.Contains(errs, "#3 ") {
			t.Errorf("%q: stderr\n%s\nwant it to end with %q and no step started", c.dockerfile, errs, c.want)
		}
	}
	b.untagged("cyc")
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test AS builder\nFROM busybox:test\nCOPY --from=builder /etc/passwd /x\n"})
	if errs := b.fails(1, buildArgs("-q", "--target", "buildr", dir)...); !strings.HasSuffix(errs, `Error: failed to solve: target stage "buildr" could not be found (did you mean builder?)`+"\n") {
		t.Errorf("a mistyped --target: %q", errs)
	}

	// A failing stage stops the one running beside it, and its error is
	// the build's.
	writeFiles(t, dir, map[string]string{"Dockerfile": `FROM busybox:test AS slow
RUN sleep 60
FROM busybox:test AS failing
RUN echo failing; exit 3
FROM busybox:test
COPY --from=slow /etc/passwd /a
COPY --from=failing /etc/passwd /b
`})
	errs := b.fails(1, buildArgs("-t", "cyc", "--progress", "plain", dir)...)
	if !regexp.MustCompile(`(?m)^#(\d+) \[slow 2/2\] RUN sleep 60$`).MatchString(errs) || !strings.Contains(errs, "CANCELED\n") ||
		!strings.HasSuffix(errs, "Error: failed to solve: process \"/bin/sh -c echo failing; exit 3\" did not complete successfully: exit code: 3\n") {
		t.Errorf("a failure beside a running stage:\n%s", errs)
	}
	b.untagged("cyc")
}

// TestBuildOnbuild: the ONBUILD triggers of a base image run in the
// child, first, in the order recorded, and are not inherited; a trigger
// may COPY --from a stage of the child's Dockerfile; a base stage's
// ONBUILD instructions run in the stages built on it; chained ONBUILD,
// ONBUILD FROM and ONBUILD MAINTAINER are refused.
func TestBuildOnbuild(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": `FROM busybox:test
RUN echo parent > /parent
ONBUILD COPY trigger.txt /trigger.txt
ONBUILD RUN echo "onbuild ran in $(cat /trigger.txt)" > /onbuild
ONBUILD COPY --from=assets /asset /asset
`})
	b.buildOK(dir, "-t", "parent:1")
	if got := b.ok("image", "inspect", "--format", "{{json .Config.OnBuild}}", "parent:1"); got != `["COPY trigger.txt /trigger.txt","RUN echo \"onbuild ran in $(cat /trigger.txt)\" > /onbuild","COPY --from=assets /asset /asset"]`+"\n" {
		t.Errorf("the parent's OnBuild: %s", got)
	}
	child := t.TempDir()
	writeFiles(t, child, map[string]string{
		"trigger.txt": "child",
		"Dockerfile":  "FROM busybox:test AS assets\nRUN echo asset > /asset\n\nFROM parent:1\nRUN cat /onbuild /asset > /seen\n",
	})
	errs := b.buildOK(child, "-t", "child:1")
	for _, want := range []string{"[stage-1 2/5] ONBUILD COPY trigger.txt /trigger.txt", "[stage-1 3/5] ONBUILD RUN echo", "[stage-1 5/5] RUN cat /onbuild"} {
		if !strings.Contains(errs, want) {
			t.Errorf("progress lacks %q:\n%s", want, errs)
		}
	}
	if got := b.ok(runArgs("--rm", "child:1", "cat", "/seen")...); got != "onbuild ran in child\nasset\n" {
		t.Errorf("the child's tree: %q", got)
	}
	if got := b.ok("image", "inspect", "--format", "{{json .Config.OnBuild}}", "child:1"); got != "null\n" {
		t.Errorf("the child inherited OnBuild: %s", got)
	}

	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test AS base\nONBUILD RUN echo from-stage > /st\nFROM base\nRUN cat /st > /seen\n"})
	b.buildOK(dir, "-t", "stagetrig")
	if got := b.ok(runArgs("--rm", "stagetrig", "cat", "/seen")...); got != "from-stage\n" {
		t.Errorf("a base stage's trigger: %q", got)
	}

	for df, want := range map[string]string{
		"FROM busybox:test\nONBUILD ONBUILD RUN true\n": "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
		"FROM busybox:test\nONBUILD FROM busybox\n":     "FROM isn't allowed as an ONBUILD trigger",
		"FROM busybox:test\nONBUILD MAINTAINER me\n":    "MAINTAINER isn't allowed as an ONBUILD trigger",
	} {
		writeFiles(t, dir, map[string]string{"Dockerfile": df})
		if errs := b.fails(1, buildArgs("-q", dir)...); !strings.Contains(errs, want) {
			t.Errorf("%q: %q, want %q", df, errs, want)
		}
	}
}

// TestBuildPullAndPlatform: --pull takes a base image from its registry
// even when the store has one of that name, and fails clearly when the
// registry can't be reached; --platform needs an image for the platform
// (the store's host-only one is not); the predefined platform and
// TARGETSTAGE args are set.
func TestBuildPullAndPlatform(t *testing.T) {
	b := containerRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, reg, "test/busybox:1")
	name := reg.Host + "/test/busybox:1"
	dir := t.TempDir()
	// The store's image of that name is another one, with /which.
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nRUN echo local > /which\n"})
	b.buildOK(dir, "-t", name)
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM " + name + "\nRUN (cat /which 2>/dev/null || echo registry) > /from\n"})
	b.buildOK(dir, "-t", "pulled")
	if got := b.ok(runArgs("--rm", "pulled", "cat", "/from")...); got != "local\n" {
		t.Errorf("without --pull: %q", got)
	}
	b.buildOK(dir, "-t", "pulled", "--pull")
	if got := b.ok(runArgs("--rm", "pulled", "cat", "/from")...); got != "registry\n" {
		t.Errorf("with --pull: %q", got)
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM 127.0.0.1:1/nothing:1\n"})
	if errs := b.fails(1, buildArgs("-q", "--pull", dir)...); !strings.Contains(errs, "Error: failed to solve: 127.0.0.1:1/nothing:1: ") || !strings.Contains(errs, "connection refused") {
		t.Errorf("--pull with no registry: %q", errs)
	}

	host, other := "linux/"+runtime.GOARCH, "linux/arm64"
	if runtime.GOARCH == "arm64" {
		host, other = "linux/arm64/v8", "linux/amd64"
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": `FROM --platform=$BUILDPLATFORM busybox:test AS tools
FROM busybox:test AS final
ARG TARGETPLATFORM TARGETOS TARGETARCH BUILDPLATFORM TARGETSTAGE
RUN echo "$TARGETPLATFORM $TARGETOS $TARGETARCH $BUILDPLATFORM $TARGETSTAGE" > /args
`})
	b.buildOK(dir, "-t", "plat", "--platform", host)
	if got, want := b.ok(runArgs("--rm", "plat", "cat", "/args")...), host+" linux "+runtime.GOARCH+" "+host+" final\n"; got != want {
		t.Errorf("the predefined args: %q, want %q", got, want)
	}
	// busybox:test is for the host only, and no registry has it.
	if errs := b.fails(1, buildArgs("-q", "--platform", other, dir)...); !strings.Contains(errs, "Error: failed to solve: busybox:test: ") {
		t.Errorf("--platform %s: %q", other, errs)
	}
	// A single-platform image is taken for any platform (as BuildKit,
	// which warns), the image then says it is for the target.
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM " + name + "\nLABEL x=y\n"})
	b.buildOK(dir, "-t", "relabelled", "--platform", other)
	if got := strings.TrimSpace(b.ok("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", "relabelled")); !strings.HasPrefix(other, got) {
		t.Errorf("--platform %s from a single-platform image: %s", other, got)
	}
}

// TestBuildProgressTTY: --progress tty draws BuildKit's live view (a
// header, a line per step with its time, the running step's last output
// lines, redrawn in place) and ends it with FINISHED; a failure ends
// with the failing step's output and the Dockerfile's lines below it.
func TestBuildProgressTTY(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.txt":      "a",
		"Dockerfile": "FROM busybox:test\nCOPY a.txt /a\nRUN echo hello-tty && sleep 1\n",
	})
	build := func(code int) string {
		t.Helper()
		_, errs, got := b.run("", buildArgs("--progress", "tty", "-t", "tty", dir)...)
		if got != code {
			t.Fatalf("build: exit %d, want %d\n%s", got, code, errs)
		}
		return errs
	}
	errs := build(0)
	for _, want := range []string{
		"\x1b[2K[+] Building ", "\x1b[2K => [internal] load build definition from Dockerfile ",
		"\x1b[2K => [3/3] RUN echo hello-tty && sleep 1 ", "\x1b[2K => => # ", " hello-tty\n",
		" => => writing image sha256:", ") FINISHED\n",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("the view lacks %q:\n%q", want, errs)
		}
	}
	if !regexp.MustCompile(`\x1b\[\d+A`).MatchString(errs) || strings.Contains(errs, "#1 ") {
		t.Errorf("not drawn in place:\n%q", errs)
	}
	if errs := build(0); !strings.Contains(errs, " => CACHED [2/3] COPY a.txt /a ") {
		t.Errorf("a rebuild's view:\n%q", errs)
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nRUN echo doomed; exit 3\n"})
	errs = build(1)
	final := errs[strings.LastIndex(errs, "[+] Building"):]
	for _, want := range []string{
		") FINISHED\n", " => ERROR [2/2] RUN echo doomed; exit 3 ",
		"s\n------\n > [2/2] RUN echo doomed; exit 3:\n", " doomed\n------\nDockerfile:2\n",
		"Error: failed to solve: process \"/bin/sh -c echo doomed; exit 3\" did not complete successfully: exit code: 3\n",
	} {
		if !strings.Contains(final, want) {
			t.Errorf("the failure's last view lacks %q:\n%q", want, final)
		}
	}
}

// TestBuildProgressAutoOnTerminal: with the default --progress (auto),
// a build whose stderr is a terminal shows the live view, sized to it.
func TestBuildProgressAutoOnTerminal(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nRUN true\n"})
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	read := make(chan struct{})
	go func() {
		io.Copy(&out, master) // until EIO, once no one holds the slave
		close(read)
	}()
	cmd := exec.Command(berthBin, append([]string{"--root", b.root}, buildArgs(dir)...)...)
	cmd.Env, cmd.Stderr = b.env, slave
	err = cmd.Run()
	slave.Close()
	<-read
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.ReplaceAll(out.String(), "\r\n", "\n"), "\n")
	var view []string
	for _, l := range lines {
		if strings.HasPrefix(l, "\x1b[2K => [2/2] RUN true") {
			view = append(view, l)
		}
	}
	if len(view) == 0 || len(strings.TrimPrefix(view[len(view)-1], "\x1b[2K")) != 100 || !strings.Contains(out.String(), "FINISHED") {
		t.Errorf("no live view 100 columns wide on the terminal:\n%q", out.String())
	}
}

// untagged fails the test if a (failed) build tagged ref.
func (b *berthRoot) untagged(ref string) {
	b.t.Helper()
	if got := b.ok("images", "-q", ref); got != "" {
		b.t.Errorf("a failed build tagged %s: %q", ref, got)
	}
}

// TestBuildSiblingStages: two stages built on one stage each change only
// their own config (labels, ports), not the base's nor each other's.
func TestBuildSiblingStages(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": `FROM busybox:test AS base
LABEL base=1
EXPOSE 80

FROM base AS one
LABEL one=1
EXPOSE 81
RUN true

FROM base
COPY --from=one /etc/passwd /x
LABEL two=1
`})
	b.buildOK(dir, "-t", "siblings")
	cfg := b.imageConfig("siblings")
	if got := fmt.Sprint(cfg["Labels"], cfg["ExposedPorts"]); got != "map[base:1 two:1] map[80/tcp:map[]]" {
		t.Errorf("the last stage's labels and ports: %s", got)
	}
}

// TestBuildRunHeredoc: a RUN heredoc is the shell's script, or, with a
// #! line, a file run by its interpreter (BuildKit's /dev/pipes/NAME);
// the step's name summarises it; its content is the cache key.
func TestBuildRunHeredoc(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	df := func(word string) string {
		return "FROM busybox:test\nRUN <<EOF\necho plain > /plain\necho two >> /plain\nEOF\n" +
			"RUN <<SCRIPT\n#!/bin/sh -e\necho \"$0 " + word + "\" > /script\nSCRIPT\n"
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": df("ran")})
	errs := b.buildOK(dir, "-t", "heredoc")
	for _, want := range []string{"[2/3] RUN <<EOF (echo plain > /plain...)\n", "[3/3] RUN <<SCRIPT (#!/bin/sh -e...)\n"} {
		if !strings.Contains(errs, want) {
			t.Errorf("progress lacks %q:\n%s", want, errs)
		}
	}
	check := func(want string) {
		t.Helper()
		if got := b.ok(runArgs("--rm", "heredoc", "cat", "/plain", "/script")...); got != want {
			t.Errorf("the image: %q, want %q", got, want)
		}
	}
	check("plain\ntwo\n/dev/pipes/SCRIPT ran\n")
	writeFiles(t, dir, map[string]string{"Dockerfile": df("again")})
	if errs := b.buildOK(dir, "-t", "heredoc"); stepCached(errs, "RUN <<SCRIPT (#!/bin/sh -e...)") || !stepCached(errs, "RUN <<EOF (echo plain > /plain...)") {
		t.Errorf("after the script changed:\n%s", errs)
	}
	check("plain\ntwo\n/dev/pipes/SCRIPT again\n")
}
