package build

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// dockerfile is a parsed Dockerfile: its stages and the ARGs before the
// first FROM, read by BuildKit's parser and instruction packages so that
// syntax, escapes, continuations and directives mean what they mean in
// Docker.
type dockerfile struct {
	name     string // the file's base name, for messages
	lines    []string
	stages   []*stage
	metaArgs []instructions.ArgCommand
	lex      *shell.Lex
}

// stage is one FROM and its commands.
type stage struct {
	instructions.Stage
	index int
	// label names the stage in progress lines of a multi-stage build:
	// its name, or stage-N.
	label string
	// lex expands the stage's words: a Lex is not safe for concurrent
	// use, and stages build in parallel.
	lex *shell.Lex
	// baseName is FROM's name, expanded; base is the stage it names,
	// nil for an image or scratch.
	baseName string
	base     *stage
	// deps are the stages this one reads (base, COPY --from, RUN
	// --mount from=, its triggers' --from), each with the instruction
	// that reads it; see graph.go.
	deps []dep
	// triggers are the ONBUILD instructions that run first: the base
	// stage's (known when the graph is linked), then the base image's.
	triggers []instructions.Command
	// total is the number of progress-numbered steps (BuildKit's count:
	// FROM an image, then RUN, COPY, ADD and WORKDIR).
	total int

	// Set by the scheduler: done is closed once built or err is set.
	once  sync.Once
	done  chan struct{}
	built *state
	err   error
}

// sourceError is an error at lines of the Dockerfile: the message Docker
// prints and the lines to show around it.
type sourceError struct {
	err        error
	start, end int // 1-based, inclusive; 0 when unknown
}

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

func atLines(err error, loc []parser.Range) error {
	if err == nil {
		return nil
	}
	var se *sourceError
	if errors.As(err, &se) || len(loc) == 0 {
		return err
	}
	return &sourceError{err: err, start: loc[0].Start.Line, end: loc[len(loc)-1].End.Line}
}

// parseDockerfile parses data. Errors name the line, as Docker's do.
func parseDockerfile(name string, data []byte) (*dockerfile, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the Dockerfile cannot be empty")
	}
	df := &dockerfile{name: name, lines: strings.Split(string(data), "\n")}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return df, lineError(err)
	}
	df.lex = shell.NewLex(res.EscapeToken)
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return df, lineError(err)
	}
	if len(stages) == 0 {
		return df, errors.New("dockerfile contains no stages to build")
	}
	df.metaArgs = metaArgs
	for i, s := range stages {
		st := &stage{Stage: s, index: i, label: s.Name, lex: shell.NewLex(res.EscapeToken), done: make(chan struct{})}
		if st.label == "" {
			st.label = "stage-" + strconv.Itoa(i)
		}
		df.stages = append(df.stages, st)
	}
	return df, nil
}

// lineError turns the parser's errors (which carry a location) into
// sourceErrors with Docker's "dockerfile parse error on line N" text.
func lineError(err error) error {
	var le *parser.LocationError
	if !errors.As(err, &le) || len(le.Locations) == 0 || len(le.Locations[0]) == 0 {
		return err
	}
	r := le.Locations[0]
	msg := err.Error()
	if !strings.HasPrefix(msg, "dockerfile parse error") {
		msg = fmt.Sprintf("dockerfile parse error on line %d: %s", r[0].Start.Line, msg)
	}
	return &sourceError{err: errors.New(msg), start: r[0].Start.Line, end: r[len(r)-1].End.Line}
}

// findStage resolves a stage reference (a name, any case, or an index)
// among the stages before limit (-1 for all).
func (df *dockerfile) findStage(ref string, limit int) *stage {
	for _, s := range df.stages {
		if limit >= 0 && s.index >= limit {
			break
		}
		if s.Name != "" && strings.EqualFold(s.Name, ref) {
			return s
		}
	}
	if n, err := strconv.Atoi(ref); err == nil && n >= 0 && n < len(df.stages) && (limit < 0 || n < limit) {
		return df.stages[n]
	}
	return nil
}

// printSource writes Docker's excerpt of the lines of a failing
// instruction:
//
//	Dockerfile:2
//	--------------------
//	   1 |     FROM busybox
//	   2 | >>> RUN exit 3
//	--------------------
func (df *dockerfile) printSource(w io.Writer, start, end int) {
	if df == nil || start < 1 || start > len(df.lines) {
		return
	}
	if end < start {
		end = start
	}
	from, to := max(1, start-4), min(len(df.lines), end+2)
	for to > end && strings.TrimSpace(df.lines[to-1]) == "" {
		to--
	}
	if start == end {
		fmt.Fprintf(w, "%s:%d\n", df.name, start)
	} else {
		fmt.Fprintf(w, "%s:%d-%d\n", df.name, start, end)
	}
	fmt.Fprintln(w, "--------------------")
	for i := from; i <= to; i++ {
		mark := "    "
		if i >= start && i <= end {
			mark = ">>> "
		}
		fmt.Fprintf(w, " %3d | %s%s\n", i, mark, df.lines[i-1])
	}
	fmt.Fprintln(w, "--------------------")
}
