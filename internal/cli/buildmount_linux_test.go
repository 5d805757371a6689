package cli_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// buildOK builds dir with args and fails the test unless it succeeds;
// it returns the progress.
func (b *berthRoot) buildOK(dir string, args ...string) string {
	b.t.Helper()
	out, errs, code := b.run("", buildArgs(append(append([]string{"--progress", "plain"}, args...), dir)...)...)
	if code != 0 {
		b.t.Fatalf("build %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errs)
	}
	return errs
}

// TestBuildRunMountCache: a cache mount keeps what a RUN writes into it
// across builds (a --no-cache rebuild sees the first build's file), is
// not in the image, is not part of the cache key; `builder prune -a`
// removes it with the cache.
func TestBuildRunMountCache(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": `FROM busybox:test
RUN --mount=type=cache,target=/var/cache/app,id=app,uid=7,mode=0750 echo run >> /var/cache/app/log && wc -l < /var/cache/app/log > /count && stat -c "%u %a" /var/cache/app > /owner
RUN --mount=type=cache,target=/c2,sharing=locked --mount=type=cache,target=/c3,sharing=private --mount=type=cache,target=/c4,id=/c2,sharing=locked touch /c2/x /c3/y && test -e /c4/x
`})
	b.buildOK(dir, "-t", "cm")
	check := func(want string) {
		t.Helper()
		got := b.ok(runArgs("--rm", "cm", "sh", "-c", `cat /count /owner; ls -d /var/cache/app /c2 /c3 /c4 2>&1 | wc -l`)...)
		if got != want {
			t.Errorf("image: %q, want %q", got, want)
		}
	}
	// No mount point is left either: ls finds none of the four.
	check("1\n7 750\n4\n")
	if errs := b.buildOK(dir, "-t", "cm"); strings.Count(errs, "CACHED") != 2 {
		t.Errorf("a rebuild runs again:\n%s", errs)
	}
	b.buildOK(dir, "-t", "cm", "--no-cache")
	check("2\n7 750\n4\n")

	out := b.ok("builder", "prune", "-f")
	if !strings.Contains(out, "Total reclaimed space: ") {
		t.Errorf("builder prune: %q", out)
	}
	if errs := b.buildOK(dir, "-t", "cm"); strings.Contains(errs, "CACHED") {
		t.Errorf("the cache survived builder prune:\n%s", errs)
	}
	check("3\n7 750\n4\n") // the cache mount survives prune without -a
	b.ok("builder", "prune", "-af")
	if _, err := os.Stat(filepath.Join(b.root, "build", "cache-mounts")); err == nil {
		ents, _ := os.ReadDir(filepath.Join(b.root, "build", "cache-mounts"))
		if len(ents) > 0 {
			t.Errorf("cache mounts left after prune -a: %v", ents)
		}
	}
	b.buildOK(dir, "-t", "cm")
	check("1\n7 750\n4\n")
	if got := b.ok("system", "df", "--format", "{{.Type}} {{.TotalCount}}"); !strings.Contains(got, "Build Cache 5\n") {
		t.Errorf("system df:\n%s", got)
	}
}

// layerBytes is every file's content in a saved image, layers unpacked,
// and the names in the layers.
func layerBytes(t *testing.T, saved []byte) ([]byte, []string) {
	t.Helper()
	var all bytes.Buffer
	var names []string
	var scan func(r io.Reader, depth int)
	scan = func(r io.Reader, depth int) {
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if err != nil {
				return
			}
			all.WriteString(h.Name + "\n")
			if depth > 0 {
				names = append(names, h.Name)
			}
			data, _ := io.ReadAll(tr)
			all.Write(data)
			if depth > 0 {
				continue
			}
			if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
				if plain, err := io.ReadAll(zr); err == nil {
					data = plain
				}
			}
			scan(bytes.NewReader(data), depth+1)
		}
	}
	scan(bytes.NewReader(saved), 0)
	return all.Bytes(), names
}

// TestBuildRunMountSecret: --secret's value is readable in RUN at
// /run/secrets/<id> (or target=, or as env=), and in no layer of the
// image nor its filesystem; a required secret that is not given fails.
func TestBuildRunMountSecret(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	// The Dockerfile (and so the history) has the secret's digest only.
	const value = "s3cr3t-Value-4711"
	sum := fmt.Sprintf("%x", sha256.Sum256([]byte(value)))
	secret := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(secret, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": `FROM busybox:test
RUN --mount=type=secret,id=tok test "$(sha256sum < /run/secrets/tok)" = "` + sum + `  -" && stat -c "%a %u" /run/secrets/tok > /mode && ! touch /run/secrets/tok 2>/dev/null
RUN --mount=type=secret,id=tok,target=/etc/app/key,mode=0440,uid=3 --mount=type=secret,id=tok,env=TOK test "$(printf %s "$TOK" | sha256sum)" = "` + sum + `  -" && stat -c "%a %u" /etc/app/key > /mode2 && cat /etc/app/key | wc -c > /len
RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && touch /no-absent
`})
	b.buildOK(dir, "-t", "sec", "--secret", "id=tok,src="+secret)
	got := b.ok(runArgs("--rm", "-e", "V="+value, "sec", "sh", "-c", `cat /mode /mode2 /len; ls /no-absent; ls -d /run/secrets /etc/app/key 2>&1 | wc -l; grep -rl "$V" /etc /mode /len /root; echo $?`)...)
	if got != "400 0\n440 3\n"+"17\n/no-absent\n2\n1\n" {
		t.Errorf("image: %q", got)
	}
	var saved bytes.Buffer
	{
		out, errs, code := b.run("", "save", "sec")
		if code != 0 {
			t.Fatalf("save: %d %s", code, errs)
		}
		saved.WriteString(out)
	}
	all, names := layerBytes(t, saved.Bytes())
	if bytes.Contains(all, []byte(value)) {
		t.Errorf("the secret is in the saved image")
	}
	if !slices.Contains(names, "no-absent") {
		t.Errorf("the layers were not read: %v", names)
	}
	for _, n := range names {
		if strings.HasPrefix(n, "run/") || strings.HasPrefix(n, "etc/app") {
			t.Errorf("a secret's mount point is in a layer: %s", n)
		}
	}

	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nRUN --mount=type=secret,id=missing,required true\n"})
	if errs := b.fails(1, buildArgs("-q", dir)...); !strings.Contains(errs, "Error: failed to solve: secret missing: not found") {
		t.Errorf("a missing required secret: %q", errs)
	}
	if errs := b.fails(1, buildArgs("-q", "--secret", "id=x,src=/nonexistent/file", dir)...); !strings.Contains(errs, "Error: failed to read secret x: open /nonexistent/file: no such file or directory") {
		t.Errorf("an unreadable --secret: %q", errs)
	}
}

// TestBuildRunMountTmpfsBind: a tmpfs mount, bind mounts from the context
// (read-only), a stage and, writable, the whole context; none of them nor
// their mount points is in the image, the bound context file is part of
// the cache key, and unsupported options name the line.
func TestBuildRunMountTmpfsBind(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"ctx.txt": "ctx-1",
		"Dockerfile": `FROM busybox:test AS src
RUN mkdir /stuff && echo from-stage > /stuff/f
FROM busybox:test
RUN --mount=type=tmpfs,target=/t,size=1m grep " /t tmpfs" /proc/mounts | grep -c size=1024k > /tmpfs && echo x > /t/x
RUN --mount=type=bind,source=ctx.txt,target=/in/ctx.txt cat /in/ctx.txt > /got-ctx && ! touch /in/ctx.txt 2>/dev/null
RUN --mount=type=bind,from=src,source=/stuff,target=/s cat /s/f > /got-stage
RUN --mount=type=bind,target=/w,rw echo new > /w/written && cat /w/ctx.txt > /got-rw
`,
	})
	b.buildOK(dir, "-t", "tb")
	script := `cat /tmpfs /got-ctx /got-stage /got-rw; echo; ls -d /t /in /s /w 2>&1 | wc -l`
	if got := b.ok(runArgs("--rm", "tb", "sh", "-c", script)...); got != "1\nctx-1from-stage\nctx-1\n4\n" {
		t.Errorf("image: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "written")); err == nil {
		t.Errorf("a rw bind mount wrote into the context")
	}
	writeFiles(t, dir, map[string]string{"ctx.txt": "ctx-2"})
	b.buildOK(dir, "-t", "tb")
	if got := b.ok(runArgs("--rm", "tb", "cat", "/got-ctx")...); got != "ctx-2" {
		t.Errorf("after changing the bound file: %q", got)
	}

	for _, c := range []struct{ line, want string }{
		{"RUN --mount=type=cache,target=/c,from=busybox:test,source=/nope true", "mount type=cache: source /nope: no such file or directory"},
		{"RUN --mount=type=tmpfs,target=/t,mode=0700 true", `mode not allowed for "tmpfs" type mounts`},
		{"RUN --mount=type=bind,source=nope,target=/n true", `"/nope": not found`},
		{"RUN --mount=type=cache true", "mount type=cache: target is required"},
		{"RUN --network=bogus true", `invalid network mode "bogus"`},
	} {
		writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\n" + c.line + "\n"})
		errs := b.fails(1, buildArgs(dir)...)
		if !strings.Contains(errs, c.want) || !strings.Contains(errs, "Dockerfile:2\n") {
			t.Errorf("%s: stderr lacks %q or the line:\n%s", c.line, c.want, errs)
		}
	}
}

// TestBuildRunNetwork: RUN has the host's network by default and an
// empty network namespace (loopback only) with --network=none, from the
// instruction or from build --network none.
func TestBuildRunNetwork(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": `FROM busybox:test
RUN --network=none tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " > /none
RUN --network=host tail -n +3 /proc/net/dev | wc -l > /host
RUN tail -n +3 /proc/net/dev | wc -l > /default
`})
	hostIfaces := 0
	if data, err := os.ReadFile("/proc/net/dev"); err == nil {
		hostIfaces = len(strings.Split(strings.TrimSpace(string(data)), "\n")) - 2
	}
	if hostIfaces < 2 {
		t.Skip("the host has no interface besides lo")
	}
	b.buildOK(dir, "-t", "net")
	got := b.ok(runArgs("--rm", "net", "sh", "-c", "cat /none /host /default")...)
	f := strings.Fields(got)
	// The host's interfaces come and go with other tests: only "more
	// than lo" is stable.
	if len(f) != 3 || f[0] != "lo" || f[1] == "1" || f[2] == "1" {
		t.Errorf("none / host / default: %q (the host has %d)", got, hostIfaces)
	}
	b.buildOK(dir, "-t", "net", "--network", "none")
	got = b.ok(runArgs("--rm", "net", "sh", "-c", "cat /none /host /default")...)
	if f := strings.Fields(got); len(f) != 3 || f[2] != "1" || f[1] == "1" {
		t.Errorf("build --network none: none / host / default: %q", got)
	}
	if errs := b.fails(1, buildArgs("--network", "bridge", dir)...); !strings.Contains(errs, `Error: network mode "bridge" not supported`) {
		t.Errorf("--network bridge: %q", errs)
	}
}

// TestBuildRunMountCacheFromAndIgnore: a cache mount with from= starts
// as a copy of source in that stage (owners kept) and then keeps what
// RUNs add; a bind mount of the context hides what .dockerignore hides,
// read-only or rw.
func TestBuildRunMountCacheFromAndIgnore(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		".dockerignore": "secret.txt\nlogs\n!logs/keep.log\n",
		"secret.txt":    "s", "public.txt": "p", "logs/drop.log": "d", "logs/keep.log": "k",
		"Dockerfile": `FROM busybox:test AS seed
RUN mkdir -p /seed/sub && echo seeded > /seed/sub/f && chown -R 7:8 /seed/sub

FROM busybox:test
RUN --mount=type=bind,target=/ctx find /ctx -type f | sort > /seen-ro
RUN --mount=type=bind,target=/ctx,rw rm /ctx/public.txt && find /ctx -type f | sort > /seen-rw
RUN --mount=type=cache,target=/c,from=seed,source=/seed,id=seeded cat /c/sub/f > /cache-seen && stat -c %u:%g /c/sub/f >> /cache-seen && echo more > /c/added
RUN --mount=type=cache,target=/c,from=seed,source=/seed,id=seeded ls /c > /cache-again
`})
	b.buildOK(dir, "-t", "mounts2")
	got := b.ok(runArgs("--rm", "mounts2", "cat", "/seen-ro", "/seen-rw", "/cache-seen", "/cache-again")...)
	want := "/ctx/.dockerignore\n/ctx/Dockerfile\n/ctx/logs/keep.log\n/ctx/public.txt\n" +
		"/ctx/.dockerignore\n/ctx/Dockerfile\n/ctx/logs/keep.log\n" +
		"seeded\n7:8\n" + "added\nsub\n"
	if got != want {
		t.Errorf("what the RUNs saw:\n%s\nwant:\n%s", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "public.txt")); err != nil {
		t.Errorf("a rw bind mount changed the context: %v", err)
	}
}

// agentLister is a static program that asks the agent at $SSH_AUTH_SOCK
// for its identities and prints how many it has ("2 keys").
const agentLister = `package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	c, err := net.Dial("unix", os.Getenv("SSH_AUTH_SOCK"))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	c.Write([]byte{0, 0, 0, 1, 11}) // SSH_AGENTC_REQUEST_IDENTITIES
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[4] != 12 {
		fmt.Println("no identities answer", err)
		os.Exit(1)
	}
	fmt.Printf("%d keys\n", binary.BigEndian.Uint32(hdr[5:]))
}
`

// TestBuildRunMountSSH: --ssh forwards keys (served by berth) or an
// agent's socket; a RUN's type=ssh mount reaches it at its target
// (default /run/buildkit/ssh_agent.0, named by SSH_AUTH_SOCK) with its
// mode and owner; an id not forwarded is left out, or fails the build
// when required; nothing of it is in the image.
func TestBuildRunMountSSH(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"go.mod": "module agentls\n\ngo 1.21\n", "main.go": agentLister})
	gobuild := exec.Command("go", "build", "-o", filepath.Join(dir, "agentls"), ".")
	gobuild.Dir, gobuild.Env = src, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	newKey := func() []byte {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		blk, err := ssh.MarshalPrivateKey(priv, "test")
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(blk)
	}
	keyFile := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(keyFile, newKey(), 0o600); err != nil {
		t.Fatal(err)
	}
	// An agent of the test's own with two keys, on a socket.
	kr := agent.NewKeyring()
	for range 2 {
		k, _ := ssh.ParseRawPrivateKey(newKey())
		kr.Add(agent.AddedKey{PrivateKey: k})
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(kr, c); c.Close() }()
		}
	}()

	writeFiles(t, dir, map[string]string{"Dockerfile": `FROM busybox:test
RUN --mount=type=bind,source=agentls,target=/agentls --mount=type=ssh echo "$SSH_AUTH_SOCK" > /sock && stat -c "%a %u" $SSH_AUTH_SOCK >> /sock && /agentls > /default-keys
RUN --mount=type=bind,source=agentls,target=/agentls --mount=type=ssh,id=other,target=/other.sock,mode=0660,uid=5 SSH_AUTH_SOCK=/other.sock /agentls > /other-keys && stat -c "%a %u" /other.sock >> /other-keys
RUN --mount=type=ssh,id=absent (ls /run/buildkit 2>/dev/null || echo none) > /absent
`})
	b.buildOK(dir, "-t", "sshm", "--ssh", "default="+keyFile, "--ssh", "other="+sock)
	got := b.ok(runArgs("--rm", "sshm", "sh", "-c", "cat /sock /default-keys /other-keys /absent; ls /run/buildkit /other.sock /agentls 2>&1 | wc -l")...)
	if want := "/run/buildkit/ssh_agent.0\n600 0\n1 keys\n2 keys\n660 5\nnone\n3\n"; got != want {
		t.Errorf("what the RUNs saw:\n%s\nwant:\n%s", got, want)
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nRUN --mount=type=ssh,id=nope,required true\n"})
	if errs := b.fails(1, buildArgs("-q", dir)...); !strings.Contains(errs, `Error: failed to solve: no SSH key "nope" forwarded from the client`) {
		t.Errorf("a required ssh id not forwarded: %q", errs)
	}
}

// TestBuilderPruneUntil: builder prune --filter until=D removes only the
// cache (and, with -a, the cache mounts) not used within D.
func TestBuilderPruneUntil(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nRUN --mount=type=cache,target=/c echo x >> /c/log\nRUN echo two > /two\n"})
	b.buildOK(dir, "-t", "pr")
	if out := b.ok("builder", "prune", "-af", "--filter", "until=1h"); out != "Total reclaimed space: 0B\n" {
		t.Errorf("prune of what was used within the hour: %q", out)
	}
	if errs := b.buildOK(dir, "-t", "pr"); strings.Count(errs, "CACHED") != 2 {
		t.Errorf("the cache after prune until=1h:\n%s", errs)
	}
	if out := b.ok("builder", "prune", "-af", "--filter", "until=0s"); !strings.Contains(out, "Deleted build cache objects:\n") {
		t.Errorf("prune until=0s: %q", out)
	}
	if ents, _ := os.ReadDir(filepath.Join(b.root, "build", "cache-mounts")); len(ents) != 0 {
		t.Errorf("cache mounts left: %v", ents)
	}
	if errs := b.buildOK(dir, "-t", "pr"); strings.Contains(errs, "CACHED") {
		t.Errorf("the cache after prune until=0s:\n%s", errs)
	}
	if errs := b.fails(1, "builder", "prune", "-f", "--filter", "label=x"); !strings.Contains(errs, "invalid filter 'label'") {
		t.Errorf("an unknown filter: %q", errs)
	}
}

// TestBuildRunSecurityInsecure: with --allow security.insecure, a RUN
// --security=insecure runs privileged (every capability, the host's
// devices); other RUNs don't.
func TestBuildRunSecurityInsecure(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": `FROM busybox:test
RUN --security=insecure grep CapEff /proc/self/status > /insecure && ls /dev | wc -l >> /insecure
RUN grep CapEff /proc/self/status > /sandbox && ls /dev | wc -l >> /sandbox
`})
	b.buildOK(dir, "-t", "insecure", "--allow", "security.insecure")
	got := strings.Fields(b.ok(runArgs("--rm", "insecure", "cat", "/insecure", "/sandbox")...))
	// Privileged: the capabilities this (root) test has.
	status, _ := os.ReadFile("/proc/self/status")
	var own string
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			own = strings.TrimSpace(v)
		}
	}
	devs := func(s string) int { n, _ := strconv.Atoi(s); return n }
	if len(got) != 6 || got[1] != own || got[4] == own || devs(got[2]) <= devs(got[5]) {
		t.Errorf("CapEff and the count of /dev entries, insecure then sandbox: %v (own CapEff %s)", got, own)
	}
	if errs := b.fails(1, buildArgs("-q", "--allow", "nonsense", dir)...); !strings.Contains(errs, "invalid entitlement: nonsense") {
		t.Errorf("--allow nonsense: %q", errs)
	}
}
