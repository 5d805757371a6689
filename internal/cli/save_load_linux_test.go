package cli_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/testutil"
)

// pulledBusybox pulls the busybox fixture into b from a fresh registry and
// returns the registry, the name and the image ID.
func pulledBusybox(t *testing.T, b *berthRoot) (*testutil.Registry, string, string) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, reg, "test/busybox:1")
	name := reg.Host + "/test/busybox:1"
	b.ok("pull", "-q", name)
	return reg, name, imageID(b, name)
}

func imageID(b *berthRoot, name string) string {
	b.t.Helper()
	return strings.TrimSpace(b.ok("image", "inspect", "--format", "{{.Id}}", name))
}

// checkBusyboxTree checks the unpacked busybox fixture: both layers, with
// the second one's whiteout applied.
func checkBusyboxTree(t *testing.T, b *berthRoot, id string) {
	t.Helper()
	tree := mountImage(t, b, id)
	for _, f := range []string{"bin/busybox", "etc/layer1", "etc/layer2", "data/a"} {
		if _, err := os.Stat(filepath.Join(tree, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(tree, "etc/gone")); !os.IsNotExist(err) {
		t.Errorf("etc/gone should be deleted by the second layer: %v", err)
	}
}

// tarEntry is a file for makeTar; typ 0 is a regular file, a symlink's
// target is its body.
type tarEntry struct {
	name, body string
	typ        byte
}

func makeTar(t *testing.T, ents ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		switch e.typ {
		case tar.TypeDir:
			hdr.Typeflag, hdr.Size, hdr.Mode = e.typ, 0, 0o755
		case tar.TypeSymlink:
			hdr.Typeflag, hdr.Size, hdr.Linkname = e.typ, 0, e.body
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			io.WriteString(tw, e.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarFiles reads a tar into a name → content map.
func tarFiles(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out[hdr.Name] = body
	}
}

func gzipped(data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "archive.tar")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed", name)
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestSaveWritesADockerArchiveAndAnOCILayout: what berth save writes is
// read by skopeo as a docker-archive and as an OCI archive, and by umoci
// as an OCI layout; it has Docker 25's shape (blobs once under
// blobs/sha256, uncompressed layers under their diff IDs), and is the same
// bytes each time.
func TestSaveWritesADockerArchiveAndAnOCILayout(t *testing.T) {
	b := newRoot(t)
	_, name, id := pulledBusybox(t, b)
	file := filepath.Join(t.TempDir(), "busybox.tar")
	if out := b.ok("save", "-o", file, name); out != "" {
		t.Errorf("save -o printed %q", out)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// To stdout (not a terminal here): the same bytes.
	out, errs, code := b.run("", "image", "save", name)
	if code != 0 || out != string(data) {
		t.Errorf("save to stdout: exit %d, %d bytes (-o wrote %d): %s", code, len(out), len(data), errs)
	}

	files := tarFiles(t, data)
	var dman []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &dman); err != nil || len(dman) != 1 {
		t.Fatalf("manifest.json: %v %s", err, files["manifest.json"])
	}
	var diffIDs []string
	json.Unmarshal([]byte(b.ok("image", "inspect", "--format", "{{json .RootFS.Layers}}", name)), &diffIDs)
	if dman[0].Config != "blobs/sha256/"+strings.TrimPrefix(id, "sha256:") || !slices.Equal(dman[0].RepoTags, []string{name}) || len(dman[0].Layers) != 2 {
		t.Errorf("manifest.json: %+v", dman[0])
	}
	for i, l := range dman[0].Layers {
		d := digest.FromBytes(files[l])
		if l != "blobs/sha256/"+d.Encoded() || d.String() != diffIDs[i] {
			t.Errorf("layer %d: %s holds %s, diff ID %s", i, l, d, diffIDs[i])
		}
	}
	for _, f := range []string{"oci-layout", "index.json", "repositories"} {
		if files[f] == nil {
			t.Errorf("no %s in the archive", f)
		}
	}
	var idx ocispec.Index
	json.Unmarshal(files["index.json"], &idx)
	if len(idx.Manifests) != 1 || idx.Manifests[0].Annotations["io.containerd.image.name"] != name || idx.Manifests[0].Annotations[ocispec.AnnotationRefName] != "1" {
		t.Errorf("index.json: %s", files["index.json"])
	}

	// skopeo, as a docker-archive.
	var insp struct {
		Layers       []string
		Architecture string
	}
	if err := json.Unmarshal([]byte(testutil.Skopeo(t, "inspect", "docker-archive:"+file)), &insp); err != nil || !slices.Equal(insp.Layers, diffIDs) || insp.Architecture != "amd64" {
		t.Errorf("skopeo inspect docker-archive: %+v (%v)", insp, err)
	}
	ociDir := filepath.Join(t.TempDir(), "oci")
	testutil.Skopeo(t, "copy", "docker-archive:"+file, "oci:"+ociDir+":x")
	if cfg := testutil.Skopeo(t, "inspect", "--config", "oci:"+ociDir+":x"); !strings.Contains(cfg, `"berth.test": "busybox"`) {
		t.Errorf("config after skopeo copy docker-archive: → oci:\n%s", cfg)
	}
	// skopeo, as an OCI archive.
	testutil.Skopeo(t, "copy", "oci-archive:"+file, "oci:"+ociDir+":y")
	if cfg := testutil.Skopeo(t, "inspect", "--config", "oci:"+ociDir+":y"); !strings.Contains(cfg, `"berth.test": "busybox"`) {
		t.Errorf("config after skopeo copy oci-archive: → oci:\n%s", cfg)
	}

	// umoci, as an OCI layout (the tag is the ref.name annotation).
	layout := filepath.Join(t.TempDir(), "layout")
	os.Mkdir(layout, 0o755)
	run(t, "tar", "-xf", file, "-C", layout)
	if out := run(t, "umoci", "stat", "--image", layout+":1"); !strings.Contains(out, "LAYER") {
		t.Errorf("umoci stat:\n%s", out)
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	run(t, "umoci", "unpack", "--image", layout+":1", bundle)
	if _, err := os.Stat(filepath.Join(bundle, "rootfs/bin/busybox")); err != nil {
		t.Errorf("umoci unpack: %v", err)
	}
	if _, err := os.Stat(filepath.Join(bundle, "rootfs/etc/gone")); !os.IsNotExist(err) {
		t.Errorf("umoci unpack: etc/gone: %v", err)
	}

	// Not to a terminal; to /dev/null, as to any file.
	if _, err := exec.LookPath("script"); err == nil {
		cmd := exec.Command("script", "-qec", berthBin+" --root "+b.root+" save "+name, "/dev/null")
		cmd.Env = b.env
		if out, _ := cmd.CombinedOutput(); !strings.Contains(string(out), "Error: cowardly refusing to save to a terminal. Use the -o flag or redirect") {
			t.Errorf("save to a terminal: %q", out)
		}
	}
	null, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	defer null.Close()
	cmd := exec.Command(berthBin, "--root", b.root, "save", name)
	var stderr bytes.Buffer
	cmd.Env, cmd.Stdout, cmd.Stderr = b.env, null, &stderr
	if err := cmd.Run(); err != nil {
		t.Errorf("save > /dev/null: %v %s", err, stderr.String())
	}

	// An unknown name: nothing written, not even a file.
	missing := filepath.Join(t.TempDir(), "none.tar")
	if errs := b.fails(1, "save", "-o", missing, name, "nope:1"); strings.TrimSpace(errs) != "Error: No such image: nope:1" {
		t.Errorf("save of an unknown image: %q", errs)
	}
	if ents, _ := os.ReadDir(filepath.Dir(missing)); len(ents) != 0 {
		t.Errorf("a failed save left %d files", len(ents))
	}
	if out, _, code := b.run("", "save", "nope:1"); code != 1 || out != "" {
		t.Errorf("save of an unknown image to stdout: exit %d, wrote %d bytes", code, len(out))
	}
}

// TestLoadReadsSkopeosDockerArchive: an archive skopeo writes loads with
// its name and the ID a pull gives.
func TestLoadReadsSkopeosDockerArchive(t *testing.T) {
	a := newRoot(t)
	reg, name, id := pulledBusybox(t, a)
	file := filepath.Join(t.TempDir(), "skopeo.tar")
	testutil.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+name, "docker-archive:"+file+":example.com/skopeo/busybox:2")

	b := newRoot(t)
	if out := b.ok("load", "-i", file); out != "Loaded image: example.com/skopeo/busybox:2\n" {
		t.Errorf("load: %q", out)
	}
	if got := b.ok("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"); got != "example.com/skopeo/busybox:2 "+strings.TrimPrefix(id, "sha256:")[:12]+"\n" {
		t.Errorf("images: %q", got)
	}
	if got := imageID(b, "example.com/skopeo/busybox:2"); got != id {
		t.Errorf("loaded ID %s, pulled %s", got, id)
	}
	checkBusyboxTree(t, b, id)
	// Loading it again changes nothing; `image load -q` prints the same.
	if out := b.ok("image", "load", "-q", "-i", file); out != "Loaded image: example.com/skopeo/busybox:2\n" {
		t.Errorf("second load: %q", out)
	}

	// Loaded where it was pulled, the image only gains the tag: it keeps
	// its manifest, so a push sends the same digest.
	pushed := strings.TrimPrefix(strings.TrimSpace(a.ok("image", "inspect", "--format", "{{index .RepoDigests 0}}", name)), reg.Host+"/test/busybox@")
	a.ok("load", "-i", file)
	if out := a.ok("push", name); !strings.Contains(out, "digest: "+pushed) {
		t.Errorf("push after load: want digest %s:\n%s", pushed, out)
	}
	if got := imageID(a, "example.com/skopeo/busybox:2"); got != id {
		t.Errorf("loaded ID %s, pulled %s", got, id)
	}
}

// TestSaveLoadRoundTrip: berth save | berth load into another root keeps
// the ID and the tags, plain or gzip-compressed; an image saved by ID
// takes all its tags.
func TestSaveLoadRoundTrip(t *testing.T) {
	a := newRoot(t)
	_, name, id := pulledBusybox(t, a)
	a.ok("tag", name, "busybox")
	data := a.ok("save", id)

	b := newRoot(t)
	out, errs, code := b.run(data, "load")
	if code != 0 || out != "Loaded image: "+name+"\nLoaded image: busybox:latest\n" {
		t.Fatalf("load: exit %d %q %s", code, out, errs)
	}
	tags := func(r *berthRoot) string {
		return r.ok("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
	}
	if tags(b) != tags(a) {
		t.Errorf("after the round trip:\n%s\nbefore:\n%s", tags(b), tags(a))
	}
	if got := imageID(b, "busybox"); got != id {
		t.Errorf("ID %s, want %s", got, id)
	}
	checkBusyboxTree(t, b, id)
	// What berth loaded, it saves again to the same archive.
	if again := b.ok("save", id); again != data {
		t.Errorf("save after load differs (%d bytes, first %d)", len(again), len(data))
	}

	c := newRoot(t)
	if out, errs, code := c.run(string(gzipped([]byte(a.ok("save", "busybox")))), "load"); code != 0 || out != "Loaded image: busybox:latest\n" {
		t.Errorf("gzip-compressed load: exit %d %q %s", code, out, errs)
	}
	if got := imageID(c, "busybox"); got != id {
		t.Errorf("ID %s, want %s", got, id)
	}
	// Several images in one archive.
	c.ok("import", writeFile(t, makeTar(t, tarEntry{name: "g", body: "y"})), "second:1")
	both := filepath.Join(t.TempDir(), "both.tar")
	c.ok("save", "-o", both, "busybox", "second:1")
	d := newRoot(t)
	if out := d.ok("load", "-i", both); out != "Loaded image: busybox:latest\nLoaded image: second:1\n" {
		t.Errorf("load of two images: %q", out)
	}
	if tags(d) != tags(c) {
		t.Errorf("after the round trip:\n%s\nbefore:\n%s", tags(d), tags(c))
	}
	// A tag that moves to the loaded image is said, as docker does.
	c.ok("import", writeFile(t, makeTar(t, tarEntry{name: "f", body: "x"})), "other:1")
	c.ok("tag", "other:1", "busybox")
	if out := c.ok("load", "-i", writeFile(t, []byte(a.ok("save", "busybox")))); !strings.HasPrefix(out, "The image busybox:latest already exists, renaming the old one with ID sha256:") {
		t.Errorf("load over a tag: %q", out)
	}
}

// TestLoadOCILayouts: a tar of an OCI image layout loads, named from
// ref.name, and from a multi-platform index the host's image is taken.
func TestLoadOCILayouts(t *testing.T) {
	layout := testutil.BusyboxLayout(t)
	var idx ocispec.Index
	data, _ := os.ReadFile(filepath.Join(layout, "index.json"))
	json.Unmarshal(data, &idx)
	var m ocispec.Manifest
	data, _ = os.ReadFile(filepath.Join(layout, "blobs/sha256", idx.Manifests[0].Digest.Encoded()))
	json.Unmarshal(data, &m)
	id := m.Config.Digest.String()

	b := newRoot(t)
	file := filepath.Join(t.TempDir(), "layout.tar")
	run(t, "tar", "-C", layout, "-cf", file, ".")
	if out := b.ok("load", "-i", file); out != "Loaded image: busybox:latest\n" {
		t.Errorf("load: %q", out)
	}
	if got := imageID(b, "busybox"); got != id {
		t.Errorf("ID %s, want %s", got, id)
	}
	checkBusyboxTree(t, b, id)

	// (with the copy storage driver, which takes the scratch directory
	// from a snapshotter too)
	multi := newRoot(t)
	file = filepath.Join(t.TempDir(), "multi.tar.gz")
	run(t, "tar", "-C", multiArchLayout(t), "-czf", file, ".")
	if out := multi.ok("--storage-driver", "vfs", "load", "-i", file); out != "Loaded image: busybox:latest\nLoaded image: multi:latest\n" {
		t.Errorf("load of a multi-platform layout: %q", out)
	}
	if got := multi.ok("image", "inspect", "--format", "{{.Id}} {{.Os}}/{{.Architecture}}", "multi"); got != id+" linux/amd64\n" {
		t.Errorf("multi: %q", got)
	}
}

// TestImport: a rootfs tarball becomes a one-layer image with --change
// applied, a message or Docker's comment in its history, and a gzip layer
// a registry takes.
func TestImport(t *testing.T) {
	b := newRoot(t)
	rootfs := makeTar(t,
		tarEntry{name: "bin/", typ: tar.TypeDir},
		tarEntry{name: "bin/hello", body: "#!/bin/sh\necho hi\n"},
		tarEntry{name: "etc/os-release", body: "ID=imported\n"},
		tarEntry{name: "link", body: "bin/hello", typ: tar.TypeSymlink},
	)
	file := writeFile(t, rootfs)
	out := b.ok("import", "-c", `CMD ["sh"]`, "-c", "ENV A=b", "-m", "msg", file, "example.com/imported:1")
	id := strings.TrimSpace(out)
	if !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		t.Fatalf("import printed %q", out)
	}
	if got := b.ok("image", "inspect", "--format", "{{json .Config.Cmd}} {{json .Config.Env}} {{.Os}}/{{.Architecture}} {{len .RootFS.Layers}} {{.Comment}}", "example.com/imported:1"); got != `["sh"] ["A=b"] linux/`+runtime.GOARCH+" 1 msg\n" {
		t.Errorf("inspect: %q", got)
	}
	if got := b.ok("history", "--format", "{{.CreatedBy}}|{{.Comment}}", id); got != "|msg\n" {
		t.Errorf("history: %q", got)
	}
	tree := mountImage(t, b, id)
	if got, err := os.ReadFile(filepath.Join(tree, "etc/os-release")); err != nil || string(got) != "ID=imported\n" {
		t.Errorf("etc/os-release: %q %v", got, err)
	}
	if fi, err := os.Stat(filepath.Join(tree, "bin/hello")); err != nil || fi.Size() == 0 {
		t.Errorf("bin/hello: %v", err)
	}

	// From stdin, gzip-compressed, with the other instructions.
	stdinOut, errs, code := b.run(string(gzipped(rootfs)), "image", "import",
		"-c", "ENV A=1", "-c", "ENV B=$A/x C=\"two words\"", "-c", "EXPOSE 80 53/udp 8000-8001",
		"-c", `LABEL a=b "c d"=e`, "-c", "WORKDIR /app\nWORKDIR sub", "-c", "USER nobody",
		"-c", `VOLUME ["/data"]`, "-c", "ENTRYPOINT /bin/true", "-c", "STOPSIGNAL SIGINT",
		"-c", "onbuild RUN echo hi", "-c", "HEALTHCHECK --interval=5s --retries=2 CMD [\"true\"]", "--platform", "linux/arm64", "-", "stdin:1")
	if code != 0 {
		t.Fatalf("import -: exit %d %s", code, errs)
	}
	format := `{{json .Config.Env}} {{json .Config.ExposedPorts}} {{json .Config.Labels}} {{.Config.WorkingDir}} {{.Config.User}} {{json .Config.Volumes}} {{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Config.StopSignal}} {{json .Config.OnBuild}} {{json .Config.Healthcheck}} {{.Architecture}} {{.Comment}}`
	want := `["A=1","B=1/x","C=two words"] {"53/udp":{},"80/tcp":{},"8000/tcp":{},"8001/tcp":{}} {"a":"b","c d":"e"} /app/sub nobody {"/data":{}} ["/bin/sh","-c","/bin/true"] null SIGINT ["RUN echo hi"] {"Test":["CMD","true"],"Interval":5000000000,"Retries":2} arm64 Imported from -` + "\n"
	if got := b.ok("image", "inspect", "--format", format, strings.TrimSpace(stdinOut)); got != want {
		t.Errorf("inspect:\n got %s\nwant %s", got, want)
	}

	// The layer is gzip: a registry takes the image as any other.
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	b.ok("tag", id, reg.Host+"/imp/x:1")
	b.ok("push", reg.Host+"/imp/x:1")
	var raw ocispec.Manifest
	json.Unmarshal([]byte(testutil.Skopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+reg.Host+"/imp/x:1")), &raw)
	if len(raw.Layers) != 1 || raw.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Errorf("pushed manifest: %+v", raw)
	}

	before := b.ok("images", "-q")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "-c", "RUN make", file}, "Error: run is not a valid change command"},
		{[]string{"import", "-c", "FROM scratch", file}, "Error: from is not a valid change command"},
		{[]string{"import", "-c", "HEALTHCHECK --interval=bogus CMD true", file}, "interval"},
		{[]string{"import", "https://example.com/rootfs.tar"}, "Error: importing from a URL is not supported"},
		{[]string{"import", writeFile(t, makeTar(t, tarEntry{name: "../x", body: "x"}))}, "path escapes the layer root"},
		{[]string{"import", writeFile(t, []byte("not a tar at all"))}, "Error: import: the input is not a tar archive"},
		{[]string{"import", writeFile(t, rootfs[:700])}, "Error: import: the tar archive is truncated"},
	} {
		errs := b.fails(1, c.args...)
		if !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("berth %s: %q, want one line with %q", strings.Join(c.args, " "), errs, c.want)
		}
	}
	if after := b.ok("images", "-q"); after != before {
		t.Errorf("failed imports changed the images:\n%s\nbefore:\n%s", after, before)
	}
}

// TestLoadRefusesBadArchives: a truncated archive, a layer that is not
// what the config says, an entry climbing out, garbage: each a one-line
// error, and the store stays empty with no scratch directory left.
func TestLoadRefusesBadArchives(t *testing.T) {
	a := newRoot(t)
	_, name, _ := pulledBusybox(t, a)
	good := []byte(a.ok("save", name))

	layer := makeTar(t, tarEntry{name: "f", body: "layer"})
	config := func(diffID digest.Digest) string {
		return `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + diffID.String() + `"]}}`
	}
	manifest := `[{"Config":"config.json","RepoTags":["bad:1"],"Layers":["layer.tar"]}]`
	// The saved archive with one layer's bytes changed.
	var tampered bytes.Buffer
	tw := tar.NewWriter(&tampered)
	tr := tar.NewReader(bytes.NewReader(good))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		body, _ := io.ReadAll(tr)
		if hdr.Size > 1<<20 {
			body[len(body)/2] ^= 1
		}
		tw.WriteHeader(hdr)
		tw.Write(body)
	}
	tw.Close()
	garbage := make([]byte, 4096)
	rand.Read(garbage)

	b := newRoot(t)
	for _, c := range []struct {
		what string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)/2], "truncated"},
		{"truncated gzip", gzipped(good)[:len(good)/4], "truncated"},
		{"layer not matching its diff ID", makeTar(t,
			tarEntry{name: "manifest.json", body: manifest},
			tarEntry{name: "config.json", body: config(digest.FromString("something else"))},
			tarEntry{name: "layer.tar", body: string(layer)}), "the image's config says"},
		{"tampered layer", tampered.Bytes(), "the content has digest"},
		{"entry named ../x", makeTar(t,
			tarEntry{name: "manifest.json", body: manifest},
			tarEntry{name: "config.json", body: config(digest.FromBytes(layer))},
			tarEntry{name: "../x", body: string(layer)}), `"../x"`},
		{"absolute entry", makeTar(t, tarEntry{name: "/manifest.json", body: manifest}), "absolute"},
		{"layer missing", makeTar(t,
			tarEntry{name: "manifest.json", body: manifest},
			tarEntry{name: "config.json", body: config(digest.FromBytes(layer))}), "lacks layer.tar"},
		{"not an image archive", makeTar(t, tarEntry{name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n"}), "neither manifest.json nor index.json"},
		{"garbage", garbage, "not a tar archive"},
		{"short garbage", []byte("hello"), "not a tar archive"},
		{"empty", nil, "empty"},
	} {
		out, errs, code := b.run("", "load", "-i", writeFile(t, c.data))
		if code != 1 || out != "" || !strings.HasPrefix(errs, "Error: load: ") || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want one line with %q", c.what, code, out, errs, c.want)
		}
	}
	// The same layer with a matching config loads: the cases above
	// failed for the reason they name.
	if out := b.ok("load", "-i", writeFile(t, makeTar(t,
		tarEntry{name: "manifest.json", body: manifest},
		tarEntry{name: "config.json", body: config(digest.FromBytes(layer))},
		tarEntry{name: "layer.tar", body: string(layer)}))); out != "Loaded image: bad:1\n" {
		t.Errorf("good hand-made archive: %q", out)
	}
	b.ok("rmi", "bad:1")
	// Older docker saves: a directory per layer, a repeated layer as a
	// symlink to its first copy; a gzip layer as Docker 25 may write.
	d := digest.FromBytes(layer).String()
	legacy := makeTar(t,
		tarEntry{name: "manifest.json", body: `[{"Config":"cfg.json","RepoTags":null,"Layers":["a/layer.tar","b/layer.tar","c/layer.tar"]}]`},
		tarEntry{name: "cfg.json", body: `{"os":"linux","rootfs":{"type":"layers","diff_ids":["` + d + `","` + d + `","` + d + `"]}}`},
		tarEntry{name: "a/", typ: tar.TypeDir},
		tarEntry{name: "a/layer.tar", body: string(layer)},
		tarEntry{name: "b/layer.tar", body: "../a/layer.tar", typ: tar.TypeSymlink},
		tarEntry{name: "c/layer.tar", body: string(gzipped(layer))})
	out := b.ok("load", "-i", writeFile(t, legacy))
	if !strings.HasPrefix(out, "Loaded image ID: sha256:") {
		t.Errorf("legacy archive: %q", out)
	}
	id := strings.TrimSpace(strings.TrimPrefix(out, "Loaded image ID: "))
	if got := b.ok("image", "inspect", "--format", "{{len .RootFS.Layers}}", id); got != "3\n" {
		t.Errorf("legacy archive: %s layers", got)
	}
	b.ok("rmi", id)
	if out := b.ok("images", "-q"); out != "" {
		t.Errorf("images after the bad loads: %q", out)
	}
	if n := countDirs(t, filepath.Join(b.root, "snapshots")); n != 0 {
		t.Errorf("%d snapshot directories left", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(b.root, "content/blobs/sha256")); len(ents) != 0 {
		t.Errorf("%d blobs left", len(ents))
	}
}
