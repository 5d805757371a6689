package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/testutil"
)

// multiArchLayout copies the busybox layout and adds a multi-platform
// index over it: linux/amd64 (the real image) and linux/arm64/v8 (the same
// layers with an arm64 config).
func multiArchLayout(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "oci")
	if out, err := exec.Command("cp", "-a", testutil.BusyboxLayout(t), dir).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	read := func(v any, d digest.Digest) {
		data, err := os.ReadFile(filepath.Join(dir, "blobs/sha256", d.Encoded()))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatal(err)
		}
	}
	write := func(v any) ocispec.Descriptor {
		data, _ := json.Marshal(v)
		d := digest.FromBytes(data)
		if err := os.WriteFile(filepath.Join(dir, "blobs/sha256", d.Encoded()), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return ocispec.Descriptor{Digest: d, Size: int64(len(data))}
	}
	var idx ocispec.Index
	data, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	json.Unmarshal(data, &idx)
	amd := idx.Manifests[0]
	var m ocispec.Manifest
	read(&m, amd.Digest)
	var cfg map[string]any
	read(&cfg, m.Config.Digest)
	cfg["architecture"], cfg["variant"] = "arm64", "v8"
	cd := write(cfg)
	cd.MediaType = ocispec.MediaTypeImageConfig
	m.Config = cd
	arm := write(m)
	arm.MediaType = ocispec.MediaTypeImageManifest
	arm.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	amd.Annotations = nil
	amd.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	inner := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{arm, amd}}
	inner.SchemaVersion = 2
	in := write(inner)
	in.MediaType = ocispec.MediaTypeImageIndex
	in.Annotations = map[string]string{ocispec.AnnotationRefName: "multi"}
	idx.Manifests = append(idx.Manifests, in)
	data, _ = json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, "index.json"), data, 0o644)
	return dir
}

func TestPullPicksThePlatformFromAnIndex(t *testing.T) {
	b := newRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	layout := multiArchLayout(t)
	name := reg.Host + "/test/multi:1"
	testutil.Skopeo(t, "copy", "--all", "--dest-tls-verify=false", "oci:"+layout+":multi", "docker://"+name)

	b.ok("pull", name)
	if got := strings.TrimSpace(b.ok("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", name)); got != "linux/amd64" {
		t.Errorf("default platform: %s", got)
	}
	amdID := strings.TrimSpace(b.ok("images", "-q", name))
	b.ok("pull", "--platform", "linux/arm64", name)
	if got := strings.TrimSpace(b.ok("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}/{{.Variant}}", name)); got != "linux/arm64/v8" {
		t.Errorf("--platform linux/arm64: %s", got)
	}
	// The tag moved; the amd64 image stays, untagged but named by digest.
	if out := b.ok("images", "-q", "--no-trunc"); strings.Count(out, "sha256:") != 2 {
		t.Errorf("want both platforms' images:\n%s", out)
	}
	if got := strings.TrimSpace(b.ok("images", "-q")); !strings.Contains(got, amdID) {
		t.Errorf("amd64 image gone: %s", got)
	}
	if errs := b.fails(1, "pull", "--platform", "linux/s390x", name); !strings.Contains(errs, "no matching manifest for linux/s390x") {
		t.Errorf("missing platform: %q", errs)
	}
}
