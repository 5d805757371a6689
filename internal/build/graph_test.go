package build

import (
	"errors"
	"strings"
	"testing"
)

// link parses a Dockerfile and links its stage graph.
func link(t *testing.T, dockerfile string) (*run, error) {
	t.Helper()
	df, err := parseDockerfile("Dockerfile", []byte(dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	r := &run{df: df}
	if err := r.metaArgs(df.stages[len(df.stages)-1]); err != nil {
		t.Fatal(err)
	}
	return r, r.link()
}

func TestLinkErrors(t *testing.T) {
	for _, c := range []struct{ dockerfile, want string }{
		{"FROM a AS x\nCOPY --from=y / /\nFROM b AS y\nCOPY --from=x / /\n", "circular dependency detected on stage: x"},
		{"FROM a AS x\nRUN --mount=from=x,target=/m true\n", "circular dependency detected on stage: x"},
		{"FROM a AS x\nFROM x AS y\nFROM b\nCOPY --from=y / /\nFROM c AS z\nCOPY --from=z / /\n", "circular dependency detected on stage: z"},
		{"FROM a\nCOPY --from=5 / /\n", "invalid stage index 5"},
		{"ARG B\nFROM $B\n", "base name ($B) should not be blank"},
		{"FROM a AS x\nONBUILD RUN true\nFROM x\n", ""},
	} {
		_, err := link(t, c.dockerfile)
		if got := ""; err != nil {
			got = err.Error()
			if got != c.want {
				t.Errorf("%q: %q, want %q", c.dockerfile, got, c.want)
			}
		} else if c.want != "" {
			t.Errorf("%q: no error, want %q", c.dockerfile, c.want)
		}
	}
}

func TestLinkDeps(t *testing.T) {
	r, err := link(t, `ARG IMG=img
FROM $IMG AS base
ONBUILD COPY --from=assets /a /a
FROM base AS app
RUN --mount=type=bind,from=tools,target=/t true
FROM scratch AS assets
FROM $IMG AS tools
COPY --from=other:image / /
FROM app
COPY --from=later / /
FROM scratch AS later
`)
	if err != nil {
		t.Fatal(err)
	}
	deps := func(i int) string {
		var out []string
		for _, d := range r.df.stages[i].deps {
			out = append(out, d.s.label)
		}
		return strings.Join(out, " ")
	}
	// app: its base, the base's ONBUILD --from, its mount's from=; an
	// image named by --from is no stage; a --from may name a later stage.
	for i, want := range []string{"", "base assets tools", "", "", "app later", ""} {
		if got := deps(i); got != want {
			t.Errorf("stage %d (%s) depends on %q, want %q", i, r.df.stages[i].label, got, want)
		}
	}
	if r.df.stages[0].baseName != "img" || len(r.df.stages[1].triggers) != 1 {
		t.Errorf("base name %q, triggers %v", r.df.stages[0].baseName, r.df.stages[1].triggers)
	}
}

func TestParseTrigger(t *testing.T) {
	for expr, want := range map[string]string{
		"ONBUILD RUN x":  "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
		"from busybox":   "FROM isn't allowed as an ONBUILD trigger",
		"MAINTAINER me":  "MAINTAINER isn't allowed as an ONBUILD trigger",
		"RUN a\nRUN b":   "onbuild trigger should be a single expression",
		"COPY a.txt /a/": "",
	} {
		_, err := parseTrigger(expr)
		if (err == nil && want != "") || (err != nil && err.Error() != want) {
			t.Errorf("%q: %v, want %q", expr, err, want)
		}
	}
}

func TestUnknownRefSuggests(t *testing.T) {
	r, err := link(t, "FROM a AS builder\nFROM b\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		images bool
		want   string
	}{
		{"buildr", false, "x (did you mean builder?)"},
		{"busybx", true, "x (did you mean busybox?)"},
		{"busybx", false, "x"},
		{"zzz", true, "x"},
	} {
		if got := r.unknownRef(errors.New("x"), c.name, c.images).Error(); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
