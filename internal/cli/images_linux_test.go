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
	if berthBin, err = testutil.BuildBerth(dir); err != nil {
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
	if got := strings.TrimSpace(b.ok("image", "inspect", "--format", "{{.GraphDriver.Name}}", id)); got != "overlay2" {
		t.Errorf("storage driver on this host: %q, want overlay2 (Docker's name)", got)
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

func TestCopyStorageDriverUnpacksTheSameTree(t *testing.T) {
	b := newRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, reg, "test/busybox:1")
	name := reg.Host + "/test/busybox:1"
	b.ok("--storage-driver", "vfs", "pull", name)
	if got := strings.TrimSpace(b.ok("image", "inspect", "--format", "{{.GraphDriver.Name}}", name)); got != "vfs" {
		t.Errorf("GraphDriver.Name = %q, want vfs (Docker's name for copy)", got)
	}
	if errs := b.fails(1, "--storage-driver", "overlay", "images"); !strings.Contains(errs, "uses the copy storage driver") {
		t.Errorf("switching drivers: %q", errs)
	}
	tree := mountImage(t, b, name)
	if _, err := os.Stat(filepath.Join(tree, "etc/gone")); !os.IsNotExist(err) {
		t.Errorf("etc/gone should be deleted by the second layer: %v", err)
	}
	for _, f := range []string{"bin/busybox", "etc/layer1", "etc/layer2", "data/a"} {
		if _, err := os.Stat(filepath.Join(tree, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	// Removing the image removes both layer copies.
	b.ok("rmi", name)
	if n := countDirs(t, filepath.Join(b.root, "snapshots")); n != 0 {
		t.Errorf("%d snapshot directories left after rmi", n)
	}
}

func TestRmiTagAndListingFollowDocker(t *testing.T) {
	b := newRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, reg, "test/busybox:1")
	name := reg.Host + "/test/busybox:1"
	b.ok("pull", name)
	id := strings.TrimSpace(b.ok("images", "-q"))
	b.ok("tag", name, "busybox")
	b.ok("tag", id, "example.com/team/app:v2")

	// Docker's normalisation: busybox is docker.io/library/busybox:latest.
	if got := b.ok("images", "--format", "{{.Repository}} {{.Tag}}", "busybox"); strings.TrimSpace(got) != "busybox latest" {
		t.Errorf("images busybox: %q", got)
	}
	if got := strings.TrimSpace(b.ok("image", "inspect", "--format", "{{.Id}}", "docker.io/library/busybox:latest")); !strings.HasSuffix(got, id) && !strings.Contains(got, id) {
		t.Errorf("docker.io/library/busybox:latest resolves to %q, want %s", got, id)
	}
	out := b.ok("images", "--filter", "reference=example.com/*/*", "--format", "{{.Repository}}:{{.Tag}}")
	if strings.TrimSpace(out) != "example.com/team/app:v2" {
		t.Errorf("reference filter: %q", out)
	}
	if out := b.ok("images", "--filter", "label=berth.test=busybox", "-q"); strings.TrimSpace(out) != id {
		t.Errorf("label filter: %q", out)
	}
	if out := b.ok("images", "--filter", "label=nope", "-q"); out != "" {
		t.Errorf("label filter nope: %q", out)
	}
	if out := b.ok("images", "--filter", "dangling=true", "-q"); out != "" {
		t.Errorf("dangling filter: %q", out)
	}
	var row struct{ Repository, Tag, ID string }
	line := strings.Split(strings.TrimSpace(b.ok("images", "--format", "json", "busybox")), "\n")[0]
	if err := json.Unmarshal([]byte(line), &row); err != nil || row.Repository != "busybox" || row.ID != id {
		t.Errorf("--format json: %q (%v)", line, err)
	}
	if out := b.ok("images", "--digests", "--format", "table {{.Repository}}\t{{.Digest}}", name); !strings.Contains(out, "DIGEST") || !strings.Contains(out, "sha256:") {
		t.Errorf("--digests table:\n%s", out)
	}
	b.fails(1, "images", "--filter", "bogus=1")
	b.fails(1, "images", "--format", "{{.Nope")

	// Removing by ID while several repositories name it needs -f.
	if errs := b.fails(1, "rmi", id); !strings.Contains(errs, "must be forced") {
		t.Errorf("rmi by ID: %q", errs)
	}
	// Removing one name only untags.
	if out := b.ok("rmi", "busybox"); strings.TrimSpace(out) != "Untagged: busybox:latest" {
		t.Errorf("rmi busybox: %q", out)
	}
	out = b.ok("rmi", "-f", id)
	for _, want := range []string{"Untagged: example.com/team/app:v2", "Untagged: " + name, "Deleted: sha256:" + id} {
		if !strings.Contains(out, want) {
			t.Errorf("rmi -f lacks %q:\n%s", want, out)
		}
	}
	if out := b.ok("images", "-q"); out != "" {
		t.Errorf("images after rmi -f: %q", out)
	}
	ents, _ := os.ReadDir(filepath.Join(b.root, "content/blobs/sha256"))
	if len(ents) != 0 || countDirs(t, filepath.Join(b.root, "snapshots")) != 0 {
		t.Errorf("rmi left %d blobs and %d snapshots", len(ents), countDirs(t, filepath.Join(b.root, "snapshots")))
	}
}

// TestImageMountRunsAContainer: an image pulled from a registry, mounted
// read-only, is the root filesystem of a container run by berth's runtime.
func TestImageMountRunsAContainer(t *testing.T) {
	b := newRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, reg, "test/busybox:1")
	name := reg.Host + "/test/busybox:1"
	b.ok("pull", name)
	dir := strings.TrimSpace(b.ok("image", "mount", name))
	t.Cleanup(func() { b.run("", "image", "unmount", name) })
	if !snapshot.IsMountPoint(dir) {
		t.Fatalf("%s is not a mount point", dir)
	}
	bundle := testutil.NewBundle(t, "cat", "/etc/layer1", "/etc/layer2")
	bundle.Spec.Root.Path = dir
	bundle.Spec.Root.Readonly = true
	bundle.Save(t)
	out := b.ok("runtime", "--root", filepath.Join(b.root, "run"), "run", "--bundle", bundle.Dir, "img-"+filepath.Base(bundle.Dir))
	if out != "1\n2\n" {
		t.Errorf("container output %q, want the two layers' files", out)
	}
	b.ok("image", "unmount", name)
	if snapshot.IsMountPoint(dir) {
		t.Errorf("%s still mounted", dir)
	}
	b.fails(1, "image", "unmount", name)
}

func TestPruneHistoryAndDiskUsage(t *testing.T) {
	b := newRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, reg, "test/busybox:1")
	name := reg.Host + "/test/busybox:1"
	b.ok("pull", name)

	out := b.ok("history", name)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "IMAGE") || !strings.Contains(lines[0], "CREATED BY") || len(lines) < 3 {
		t.Errorf("history:\n%s", out)
	}
	if !strings.Contains(out, "umoci") {
		t.Errorf("history lacks the layers' created_by:\n%s", out)
	}
	if !strings.Contains(lines[len(lines)-1], "<missing>") {
		t.Errorf("older history rows should be <missing>:\n%s", out)
	}

	df := b.ok("system", "df")
	if !strings.Contains(df, "TYPE") || !strings.Contains(df, "Images") {
		t.Errorf("system df:\n%s", df)
	}
	fields := strings.Fields(strings.Split(strings.TrimSpace(df), "\n")[1])
	if fields[1] != "1" || !strings.HasSuffix(fields[3], "MB") {
		t.Errorf("system df images row: %q", fields)
	}

	// Untagged: the image becomes dangling; prune removes it.
	b.ok("tag", name, "keep:1")
	b.ok("rmi", name)
	if out := b.ok("image", "prune", "-f"); !strings.Contains(out, "Total reclaimed space: 0B") {
		t.Errorf("prune with no dangling images: %q", out)
	}
	b.ok("rmi", "keep:1")
	if out := b.ok("images", "-q"); out != "" {
		t.Errorf("images: %q", out)
	}
	b.ok("pull", name)
	if out := b.ok("image", "prune", "-a", "-f"); !strings.Contains(out, "deleted: sha256:") || strings.Contains(out, "Total reclaimed space: 0B") {
		t.Errorf("prune -a:\n%s", out)
	}
	if out := b.ok("images", "-q"); out != "" {
		t.Errorf("images after prune -a: %q", out)
	}
	// Without -f, prune asks; "n" keeps everything.
	b.ok("pull", name)
	if out, _, code := b.run("n\n", "image", "prune", "-a"); code != 0 || !strings.Contains(out, "Are you sure") {
		t.Errorf("prune prompt: %d %q", code, out)
	}
	if out := b.ok("images", "-q"); out == "" {
		t.Error("prune without confirmation removed images")
	}
}

func TestPullAllTags(t *testing.T) {
	b := newRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, reg, "test/busybox:1")
	pushBusybox(t, reg, "test/busybox:2")
	if errs := b.fails(1, "pull", "-a", reg.Host+"/test/busybox:1"); !strings.Contains(errs, "tag can't be used with --all-tags") {
		t.Errorf("pull -a with a tag: %q", errs)
	}
	b.ok("pull", "-a", reg.Host+"/test/busybox")
	if got := b.ok("images", "--format", "{{.Tag}}"); got != "1\n2\n" {
		t.Errorf("tags after pull -a: %q", got)
	}
}

// TestPullProgressOnATerminal: on a terminal, pull redraws one line per
// layer in place with a bar, as docker pull does; into a pipe it prints
// plain status lines (checked in TestPullRunsAgainstARealRegistry).
func TestPullProgressOnATerminal(t *testing.T) {
	b := newRoot(t)
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script (util-linux) is not installed")
	}
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, reg, "test/busybox:1")
	cmd := exec.Command("script", "-qec", berthBin+" --root "+b.root+" pull "+reg.Host+"/test/busybox:1", "/dev/null")
	cmd.Env = b.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pull on a pty: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"\x1b[2K", "\x1b[2A", "Downloading [", "B/1.09MB", "Pull complete", "Status: Downloaded newer image"} {
		if !strings.Contains(s, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, s)
		}
	}
}
