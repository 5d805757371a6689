package image

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestParseRefNormalisesLikeDocker(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	for in, want := range map[string]string{
		"busybox":                     "docker.io/library/busybox:latest",
		"busybox:1.36":                "docker.io/library/busybox:1.36",
		"library/busybox":             "docker.io/library/busybox:latest",
		"docker.io/busybox":           "docker.io/library/busybox:latest",
		"user/app":                    "docker.io/user/app:latest",
		"localhost:5000/app":          "localhost:5000/app:latest",
		"127.0.0.1:5000/a/b:v1":       "127.0.0.1:5000/a/b:v1",
		"busybox@" + d:                "docker.io/library/busybox@" + d,
		"quay.io/x/y:1@" + d:          "quay.io/x/y:1@" + d,
		"example.com/deep/er/path:tg": "example.com/deep/er/path:tg",
	} {
		r, err := ParseRef(in)
		if err != nil {
			t.Errorf("ParseRef(%q): %v", in, err)
			continue
		}
		if r.String() != want {
			t.Errorf("ParseRef(%q) = %q, want %q", in, r.String(), want)
		}
	}
	for _, bad := range []string{"", "Upper", "a:b:c", "-x", "x@sha256:123", "a/b:" + strings.Repeat("t", 200)} {
		if _, err := ParseRef(bad); err == nil || !strings.HasPrefix(err.Error(), "invalid reference format") {
			t.Errorf("ParseRef(%q) = %v, want an invalid reference format error", bad, err)
		}
	}
	if _, err := ParseTagRef("busybox@" + d); err == nil {
		t.Error("a tag target with a digest was accepted")
	}
	if got := Familiar("docker.io/library/busybox:latest"); got != "busybox:latest" {
		t.Errorf("Familiar = %q", got)
	}
}

func TestChainIDs(t *testing.T) {
	a, b := digest.FromString("a"), digest.FromString("b")
	got := ChainIDs([]digest.Digest{a, b})
	if got[0] != a || got[1] != digest.FromString(a.String()+" "+b.String()) {
		t.Errorf("ChainIDs = %v", got)
	}
}

func TestParsePlatform(t *testing.T) {
	for in, want := range map[string]string{"linux/amd64": "linux/amd64", "linux/arm64/v8": "linux/arm64/v8", "linux/x86_64": "linux/amd64", "Linux/AARCH64": "linux/arm64"} {
		p, err := ParsePlatform(in)
		if err != nil || FormatPlatform(p) != want {
			t.Errorf("ParsePlatform(%q) = %v %v, want %s", in, FormatPlatform(p), err, want)
		}
	}
	if _, err := ParsePlatform("a/b/c/d"); err == nil {
		t.Error("a/b/c/d accepted")
	}
}
