package cli_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/testutil"
)

// foreignArchLayout is multiArchLayout with a real linux/arm64 image:
// its busybox binary's ELF header says AArch64, which an amd64 kernel
// refuses to run ("exec format error") without a binfmt_misc handler.
func foreignArchLayout(t *testing.T) string {
	dir := multiArchLayout(t)
	blob := func(d digest.Digest) string { return filepath.Join(dir, "blobs/sha256", d.Encoded()) }
	read := func(v any, d digest.Digest) {
		data, err := os.ReadFile(blob(d))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatal(err)
		}
	}
	write := func(data []byte) ocispec.Descriptor {
		d := digest.FromBytes(data)
		if err := os.WriteFile(blob(d), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return ocispec.Descriptor{Digest: d, Size: int64(len(data))}
	}
	writeJSON := func(v any) ocispec.Descriptor { data, _ := json.Marshal(v); return write(data) }

	// The layer: bin/busybox with e_machine (offset 18) = EM_AARCH64.
	bin, err := os.ReadFile(filepath.Join(testutil.BusyboxRootfs(t), "bin", "busybox"))
	if err != nil {
		t.Fatal(err)
	}
	bin[18], bin[19] = 0xb7, 0x00
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg})
	tw.Write(bin)
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tb.Bytes())
	zw.Close()
	layer := write(gz.Bytes())
	layer.MediaType = ocispec.MediaTypeImageLayerGzip

	var idx ocispec.Index
	data, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	json.Unmarshal(data, &idx)
	multi := idx.Manifests[len(idx.Manifests)-1]
	var inner ocispec.Index
	read(&inner, multi.Digest)
	arm := inner.Manifests[0]
	var m ocispec.Manifest
	read(&m, arm.Digest)
	var cfg map[string]any
	read(&cfg, m.Config.Digest)
	rootfs := cfg["rootfs"].(map[string]any)
	rootfs["diff_ids"] = append(rootfs["diff_ids"].([]any), digest.FromBytes(tb.Bytes()).String())
	delete(cfg, "history")
	cd := writeJSON(cfg)
	cd.MediaType = ocispec.MediaTypeImageConfig
	m.Config = cd
	m.Layers = append(m.Layers, layer)
	nd := writeJSON(m)
	nd.MediaType, nd.Platform = arm.MediaType, arm.Platform
	inner.Manifests[0] = nd
	in := writeJSON(inner)
	in.MediaType, in.Annotations = multi.MediaType, multi.Annotations
	idx.Manifests[len(idx.Manifests)-1] = in
	data, _ = json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, "index.json"), data, 0o644)
	return dir
}

// TestBuildForeignPlatform: FROM --platform and build --platform pick the
// platform's image from a multi-platform index (without moving the
// name's tag), TARGET*/BUILD* args say which, a stage that only copies
// and sets config builds, the image records the target platform, and a
// RUN of the foreign binaries fails as Docker's without QEMU.
func TestBuildForeignPlatform(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the foreign platform here is arm64: an amd64 host is needed")
	}
	b := containerRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	name := reg.Host + "/test/multi:1"
	testutil.Skopeo(t, "copy", "--all", "--dest-tls-verify=false", "oci:"+foreignArchLayout(t)+":multi", "docker://"+name)

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"f": "data", "Dockerfile": "FROM " + name + `
ARG TARGETPLATFORM TARGETARCH TARGETVARIANT BUILDPLATFORM
COPY f /f
ENV T=$TARGETPLATFORM A=$TARGETARCH V=$TARGETVARIANT B=$BUILDPLATFORM
LABEL arch=$TARGETARCH
`})
	b.buildOK(dir, "--platform", "linux/arm64", "-t", "armimg")
	if got := strings.TrimSpace(b.ok("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}/{{.Variant}} {{.Config.Env}} {{.Config.Labels}}", "armimg")); got !=
		"linux/arm64/v8 [PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin T=linux/arm64 A=arm64 V= B=linux/amd64] map[arch:arm64 berth.test:busybox]" {
		t.Errorf("the arm64 image: %s", got)
	}
	if got := strings.TrimSpace(b.ok("image", "inspect", "--format", "{{len .RootFS.Layers}}", "armimg")); got != "4" {
		t.Errorf("layers: busybox's two, the arm64 binary's and COPY's; got %s", got)
	}
	// The name was not tagged by the build (the host's image would go).
	if out := b.ok("images", "--format", "{{.Repository}}:{{.Tag}}"); strings.Contains(out, "test/multi:1") {
		t.Errorf("the base image's tag was set:\n%s", out)
	}

	// A foreign stage copied into a host one; $BUILDPLATFORM in FROM.
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM --platform=linux/arm64 " + name + ` AS arm
COPY f /f
FROM --platform=$BUILDPLATFORM busybox:test
COPY --from=arm /f /g
RUN cat /g > /h
`})
	b.buildOK(dir, "-t", "mixed")
	if got := b.ok(runArgs("--rm", "mixed", "cat", "/h")...); got != "data" {
		t.Errorf("a host stage with a foreign stage's file: %q", got)
	}
	if got := strings.TrimSpace(b.ok("image", "inspect", "--format", "{{.Architecture}}", "mixed")); got != "amd64" {
		t.Errorf("the host stage's image: %s", got)
	}

	// scratch takes the stage's platform.
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM --platform=linux/arm64/v8 scratch\nCOPY f /f\n"})
	b.buildOK(dir, "-t", "armscratch")
	if got := strings.TrimSpace(b.ok("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}/{{.Variant}}", "armscratch")); got != "linux/arm64/v8" {
		t.Errorf("FROM --platform=linux/arm64/v8 scratch: %s", got)
	}

	// RUN of the arm64 shell: the kernel's refusal, as Docker shows it.
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-aarch64"); err == nil {
		t.Skip("this host emulates arm64 (binfmt_misc qemu-aarch64)")
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM " + name + "\nRUN uname -m\n"})
	errs := b.fails(1, buildArgs("--progress", "plain", "--platform", "linux/arm64", dir)...)
	for _, want := range []string{"exec /bin/sh: exec format error\n", `Error: failed to solve: process "/bin/sh -c uname -m" did not complete successfully: exit code: 255`} {
		if !strings.Contains(errs, want) {
			t.Errorf("a foreign RUN: want %q in\n%s", want, errs)
		}
	}
}
