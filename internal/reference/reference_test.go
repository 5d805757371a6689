package reference

import (
	"math/rand"
	"strings"
	"testing"

	dref "github.com/distribution/reference"
)

// Inputs that exercise each part of the grammar; the random ones below
// recombine their pieces.
var cases = []string{
	"", "busybox", "busybox:latest", "busybox:1.36.1-musl", "library/busybox", "docker.io/busybox",
	"docker.io/library/busybox:1", "index.docker.io/busybox", "index.docker.io/team/app:x",
	"team/app", "team/app/sub", "localhost/app", "localhost:5000/app:1", "127.0.0.1:5000/team/app:v1",
	"example.com/app", "Example.com/app", "EXAMPLE/app", "Foo/bar", "foo/Bar", "BUSYBOX", "busybox:TAG",
	"[::1]:5000/app", "[::1]/app", "[fe80::1%eth0]:5000/app", "[]:5000/app", "host:/app", "host:x/app",
	"a.b_c/d", "a_b/c", "a__b", "a___b", "a..b", "a.b", "a-b", "a--b", "a-", "-a", "a_", "_a", "a/", "/a", "a//b",
	"app@sha256:" + strings.Repeat("a", 64), "app:1@sha256:" + strings.Repeat("0", 64),
	"app@sha256:" + strings.Repeat("A", 64), "app@sha256:" + strings.Repeat("a", 63), "app@sha256:" + strings.Repeat("a", 32),
	"app@sha512:" + strings.Repeat("b", 128), "app@md5:" + strings.Repeat("c", 32), "app@foo+bar.b-z_q:" + strings.Repeat("d", 40),
	"app@+x:" + strings.Repeat("d", 40), "app@x+:" + strings.Repeat("d", 40), "app@x++y:" + strings.Repeat("d", 40),
	"app@1x:" + strings.Repeat("d", 40), "app@@sha256:" + strings.Repeat("a", 64), "@sha256:" + strings.Repeat("a", 64),
	strings.Repeat("a", 64), strings.Repeat("A", 64), strings.Repeat("a", 63), "sha256:" + strings.Repeat("a", 64),
	"app:" + strings.Repeat("t", 128), "app:" + strings.Repeat("t", 129), "app:.x", "app:-x", "app:_x", "app:x.y-z_",
	"a/" + strings.Repeat("b", 250), "a/" + strings.Repeat("b", 260), "app:", "app::1", ":tag", "app:1:2", "a:1/b",
	"ex-ample.com:443/a/b:c", "ex-.com/a", "a.-b.com/a", "a:b:c/d", "a@b", "UPPER:tag", "x/y:Tag@sha256:" + strings.Repeat("e", 64),
}

func compare(t *testing.T, s string) {
	t.Helper()
	want, wantErr := dref.ParseNormalizedNamed(s)
	got, gotErr := ParseNormalizedNamed(s)
	if (wantErr == nil) != (gotErr == nil) || wantErr != nil && wantErr.Error() != gotErr.Error() {
		t.Fatalf("%q: error %v, distribution/reference: %v", s, gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	_, wantTagged := want.(dref.NamedTagged)
	_, gotTagged := got.(NamedTagged)
	_, wantCanonical := want.(dref.Canonical)
	_, gotCanonical := got.(Canonical)
	checks := [][2]string{
		{got.String(), want.String()},
		{got.Name(), want.Name()},
		{FamiliarString(got), dref.FamiliarString(want)},
		{FamiliarName(got), dref.FamiliarName(want)},
		{Domain(got), dref.Domain(want)},
		{Path(got), dref.Path(want)},
		{TagNameOnly(got).String(), dref.TagNameOnly(want).String()},
		{FamiliarString(TagNameOnly(got)), dref.FamiliarString(dref.TagNameOnly(want))},
	}
	for i, c := range checks {
		if c[0] != c[1] {
			t.Fatalf("%q: check %d: %q, distribution/reference: %q", s, i, c[0], c[1])
		}
	}
	if gotTagged != wantTagged || gotCanonical != wantCanonical || IsNameOnly(got) != dref.IsNameOnly(want) {
		t.Fatalf("%q: tagged %v canonical %v, distribution/reference: %v %v", s, gotTagged, gotCanonical, wantTagged, wantCanonical)
	}
}

func TestSameAsDistribution(t *testing.T) {
	for _, s := range cases {
		compare(t, s)
	}
}

// TestRandomSameAsDistribution recombines pieces of the grammar into
// many near-valid references.
func TestRandomSameAsDistribution(t *testing.T) {
	pieces := []string{"a", "b", "z9", "A", "0", ".", "_", "__", "-", "--", "/", ":", "@", "5000", "localhost",
		"docker.io", "index.docker.io", "library", "example.com", "[::1]", "[", "]", "sha256", "+",
		strings.Repeat("f", 32), strings.Repeat("0", 64), "latest", "Tag", " ", "%"}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 200000; i++ {
		var b strings.Builder
		for n := 1 + rng.Intn(8); n > 0; n-- {
			b.WriteString(pieces[rng.Intn(len(pieces))])
		}
		compare(t, b.String())
	}
}

func FuzzSameAsDistribution(f *testing.F) {
	for _, s := range cases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { compare(t, s) })
}
