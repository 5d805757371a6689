package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/snapshot"
	"github.com/berth-dev/berth/internal/testutil"
)

var berthBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-cli-test-")
	if err != nil {
		panic(err)
	}
	berthBin = filepath.Join(dir, "berth")
	build := exec.Command("go", "build", "-o", berthBin, "./cmd/berth")
	build.Dir = testutil.RepoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	testutil.CleanupShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

// berthRoot is one berth instance's state for a test.
type berthRoot struct {
	t    *testing.T
	root string
	env  []string
}

func newRoot(t *testing.T) *berthRoot {
	testutil.RequireRoot(t, "image store: overlay mounts, chown and device nodes in layers")
	home := t.TempDir()
	return &berthRoot{t: t, root: t.TempDir(), env: append(os.Environ(), "HOME="+home, "DOCKER_CONFIG="+filepath.Join(home, ".docker"))}
}

func (b *berthRoot) dockerConfig() string {
	for _, e := range b.env {
		if v, ok := strings.CutPrefix(e, "DOCKER_CONFIG="); ok {
			return v
		}
	}
	return ""
}

// run runs berth and returns stdout, stderr and the exit code.
func (b *berthRoot) run(stdin string, args ...string) (string, string, int) {
	b.t.Helper()
	cmd := exec.Command(berthBin, append([]string{"--root", b.root}, args...)...)
	cmd.Env = b.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		b.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// ok runs berth and fails the test unless it exits 0.
func (b *berthRoot) ok(args ...string) string {
	b.t.Helper()
	out, errs, code := b.run("", args...)
	if code != 0 {
		b.t.Fatalf("berth %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// fails runs berth, expects exit code want, and returns stderr.
func (b *berthRoot) fails(want int, args ...string) string {
	b.t.Helper()
	out, errs, code := b.run("", args...)
	if code != want {
		b.t.Fatalf("berth %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errs)
	}
	return errs
}

// pushBusybox puts the test busybox image into reg as repo:tag with skopeo.
func pushBusybox(t *testing.T, reg *testutil.Registry, repoTag string) {
	layout := testutil.BusyboxLayout(t)
	testutil.Skopeo(t, "copy", "--dest-tls-verify=false", "oci:"+layout+":busybox", "docker://"+reg.Host+"/"+repoTag)
}

func TestPullRunsAgainstARealRegistry(t *testing.T) {
	b := newRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, reg, "test/busybox:1")
	name := reg.Host + "/test/busybox:1"

	out := b.ok("pull", name)
	for _, want := range []string{"1: Pulling from test/busybox", "Pull complete", "Digest: sha256:", "Status: Downloaded newer image for " + name, name} {
		if !strings.Contains(out, want) {
			t.Errorf("pull output lacks %q:\n%s", want, out)
		}
	}
	// Pulled again: nothing downloaded.
	if out := b.ok("pull", name); !strings.Contains(out, "Status: Image is up to date for "+name) {
		t.Errorf("second pull: %s", out)
	}
	if out := b.ok("pull", "-q", name); strings.TrimSpace(out) != name {
		t.Errorf("pull -q printed %q", out)
	}

	// The manifest digest skopeo sees is the one berth recorded.
	var insp struct{ Digest string }
	json.Unmarshal([]byte(testutil.Skopeo(t, "inspect", "--tls-verify=false", "docker://"+name)), &insp)
	if got := strings.TrimSpace(b.ok("image", "inspect", "--format", "{{index .RepoDigests 0}}", name)); got != reg.Host+"/test/busybox@"+insp.Digest {
		t.Errorf("RepoDigests[0] = %q, want %s@%s", got, reg.Host+"/test/busybox", insp.Digest)
	}

	out = b.ok("images")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "REPOSITORY") || !strings.Contains(lines[0], "IMAGE ID") {
		t.Fatalf("images:\n%s", out)
	}
	fields := strings.Fields(lines[1])
	if fields[0] != reg.Host+"/test/busybox" || fields[1] != "1" || len(fields[2]) != 12 {
		t.Errorf("images row: %q", lines[1])
	}
	id := strings.TrimSpace(b.ok("images", "-q"))
	if id != fields[2] {
		t.Errorf("images -q = %q, want %q", id, fields[2])
	}
	if out := b.ok("image", "inspect", "--format", "{{.Config.Cmd}} {{.Config.Labels}} {{.Os}}/{{.Architecture}} {{len .RootFS.Layers}}", id); strings.TrimSpace(out) != "[sh] map[berth.test:busybox] linux/amd64 2" {
		t.Errorf("inspect: %q", out)
	}
	if out := b.ok("history", "-q", id); len(strings.Fields(out)) < 1 {
		t.Errorf("history -q: %q", out)
	}

	// The unpacked layers: the snapshotter's mounts give the image's
	// tree, with the second layer's whiteout hiding /etc/gone.
	tree := mountImage(t, b, id)
	if _, err := os.Stat(filepath.Join(tree, "bin/busybox")); err != nil {
		t.Errorf("bin/busybox: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tree, "etc/gone")); !os.IsNotExist(err) {
		t.Errorf("etc/gone should be deleted by the second layer: %v", err)
	}
	for _, f := range []string{"etc/layer1", "etc/layer2", "data/a"} {
		if _, err := os.Stat(filepath.Join(tree, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// mountImage mounts image id's layers read-only for the test.
func mountImage(t *testing.T, b *berthRoot, id string) string {
	t.Helper()
	e, err := engine.New(engine.Config{Root: b.root})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	img, err := e.Images.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := e.Images.Snapshotter().Mounts(ctx, img.TopLayer)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	umount, err := snapshot.MountAll(mounts, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { umount() })
	return dir
}
