package build

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ dockerfile, want string }{
		{"", "the Dockerfile cannot be empty"},
		{"FROM a\nRUNN x\n", "dockerfile parse error on line 2: unknown instruction: RUNN (did you mean RUN?)"},
		{"RUN x\n", "dockerfile parse error on line 1: no build stage in current context"},
		{"FROM a b c d\n", "dockerfile parse error on line 1: FROM requires either one or three arguments"},
		{"ARG X=1\n", "dockerfile contains no stages to build"},
		{"FROM a\nCOPY x\n", "dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"},
	} {
		_, err := parseDockerfile("Dockerfile", []byte(c.dockerfile))
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: error %v, want %q", c.dockerfile, err, c.want)
		}
	}
}

func TestPrintSource(t *testing.T) {
	df, err := parseDockerfile("Dockerfile", []byte("FROM a\nRUN one \\\n  two\nCMD x\n"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	df.printSource(&buf, 2, 3)
	want := "Dockerfile:2-3\n--------------------\n   1 |     FROM a\n   2 | >>> RUN one \\\n   3 | >>>   two\n   4 |     CMD x\n--------------------\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestFindStage(t *testing.T) {
	df, err := parseDockerfile("Dockerfile", []byte("FROM a AS Build\nFROM b\nFROM build\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := df.findStage("BUILD", -1); s == nil || s.index != 0 {
		t.Errorf("by name, any case: %v", s)
	}
	if s := df.findStage("1", -1); s == nil || s.index != 1 {
		t.Errorf("by index: %v", s)
	}
	if s := df.findStage("1", 1); s != nil {
		t.Errorf("a stage at or after the limit: %v", s)
	}
	if df.stages[1].label != "stage-1" || df.stages[0].label != "build" {
		t.Errorf("labels: %q %q", df.stages[0].label, df.stages[1].label)
	}
}

func TestRunCommandString(t *testing.T) {
	v := "1"
	args := []instructions.KeyValuePairOptional{{Key: "A", Value: &v}, {Key: "B"}, {Key: "A", Value: &v}}
	got := runCommandString([]string{"/bin/sh", "-c", "echo hi"}, args, shell.EnvsFromSlice([]string{"A=2"}))
	if want := "|2 A=2 B= /bin/sh -c echo hi"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := runCommandString([]string{"echo", "hi"}, nil, shell.EnvsFromSlice(nil)); got != "echo hi" {
		t.Errorf("no args: %q", got)
	}
}

func TestFillHistoryTimes(t *testing.T) {
	t1, t2 := time.Unix(100, 0), time.Unix(200, 0)
	h := fillHistoryTimes([]ocispec.History{{Created: &t1}, {}, {Created: &t2}, {}})
	var got []string
	for _, e := range h {
		got = append(got, e.Created.Format("05"))
	}
	// The base's entry keeps its time; new entries take the first new
	// layer's time, then the time of the layer before them.
	if strings.Join(got, " ") != "40 20 20 20" {
		t.Errorf("times: %v", got)
	}
}

func TestCacheKeyDependsOnEveryInput(t *testing.T) {
	base := cacheKey("run", "sha256:p", []string{"sh", "-c", "x"}, []string{"A=1"}, "", "/")
	for _, other := range []any{
		cacheKey("copy", "sha256:p", []string{"sh", "-c", "x"}, []string{"A=1"}, "", "/"),
		cacheKey("run", "sha256:q", []string{"sh", "-c", "x"}, []string{"A=1"}, "", "/"),
		cacheKey("run", "sha256:p", []string{"sh", "-c", "y"}, []string{"A=1"}, "", "/"),
		cacheKey("run", "sha256:p", []string{"sh", "-c", "x"}, []string{"A=2"}, "", "/"),
		cacheKey("run", "sha256:p", []string{"sh", "-c", "x"}, []string{"A=1"}, "nobody", "/"),
	} {
		if other == base {
			t.Errorf("key unchanged: %v", other)
		}
	}
	if cacheKey("run", "sha256:p", []string{"sh", "-c", "x"}, []string{"A=1"}, "", "/") != base {
		t.Error("the same inputs gave another key")
	}
}
