package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// progress shows a build's vertices (a step, a load, the export) as
// BuildKit does. Plain: each vertex a block of lines numbered "#N",
// separated by a blank line:
//
//	#5 [2/4] RUN echo hi
//	#5 0.231 hi
//	#5 DONE 0.3s
//
// On a terminal (tty), a view redrawn in place (see progress_tty.go):
//
//	[+] Building 1.2s (5/6)
//	 => CACHED [2/4] COPY a.txt /a                                  0.0s
//	 => [3/4] RUN make                                              0.8s
//	 => => # the last lines of its output
//
// A nil writer writes nothing (-q).
type progress struct {
	mu sync.Mutex
	w  io.Writer
	n  int
	// tty is the live view, nil for plain lines.
	tty *ttyView
}

// newProgress writes to w, as a live view when tty.
func newProgress(w io.Writer, tty bool) *progress {
	p := &progress{w: w}
	if tty && w != nil {
		p.tty = newTTYView(w)
	}
	return p
}

// vertex is one numbered block.
type vertex struct {
	p     *progress
	n     int
	name  string
	start time.Time
	// Guarded by p.mu:
	end    time.Time
	state  vertexState
	status []string // lines printf wrote ("transferring dockerfile: 74B done")
	// tail keeps the last lines of output, for the error summary.
	tail []string
}

type vertexState int

const (
	running vertexState = iota
	done
	cached
	failed
	canceled
)

const tailLines = 10

func (p *progress) vertex(name string) *vertex {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	v := &vertex{p: p, n: p.n, name: name, start: time.Now()}
	switch {
	case p.tty != nil:
		p.tty.add(v)
	case p.w != nil:
		if p.n > 1 {
			fmt.Fprintln(p.w)
		}
		fmt.Fprintf(p.w, "#%d %s\n", v.n, name)
	}
	return v
}

func (v *vertex) printf(format string, args ...any) {
	v.p.mu.Lock()
	defer v.p.mu.Unlock()
	v.status = append(v.status, fmt.Sprintf(format, args...))
	v.line(fmt.Sprintf(format, args...))
}

// line writes "#N text" in plain mode; p.mu is held.
func (v *vertex) line(text string) {
	if v.p.tty == nil && v.p.w != nil {
		fmt.Fprintf(v.p.w, "#%d %s\n", v.n, text)
	}
}

// log writes a line of the step's output, stamped with the seconds since
// it began.
func (v *vertex) log(line string) {
	line = fmt.Sprintf("%.3f %s", time.Since(v.start).Seconds(), line)
	v.p.mu.Lock()
	defer v.p.mu.Unlock()
	v.tail = append(v.tail, line)
	if len(v.tail) > tailLines {
		v.tail = v.tail[1:]
	}
	v.line(line)
}

func (v *vertex) finish(s vertexState, text string) {
	v.p.mu.Lock()
	defer v.p.mu.Unlock()
	v.state, v.end = s, time.Now()
	v.line(text)
}

func (v *vertex) done() {
	v.finish(done, fmt.Sprintf("DONE %.1fs", time.Since(v.start).Seconds()))
}

func (v *vertex) cached() { v.finish(cached, "CACHED") }

// failed ends the vertex with its error and BuildKit's summary of the
// failing step: its name and the tail of its output (on a terminal,
// below the view once it is closed).
func (v *vertex) failed(err error) {
	if errors.Is(err, context.Canceled) {
		// Another stage failed (or the build was interrupted).
		v.finish(canceled, "CANCELED")
		return
	}
	v.finish(failed, fmt.Sprintf("ERROR: %v", err))
	v.p.mu.Lock()
	defer v.p.mu.Unlock()
	switch {
	case v.p.tty != nil:
		v.p.tty.failures = append(v.p.tty.failures, v)
	case v.p.w != nil:
		v.summary(v.p.w)
	}
}

// summary writes BuildKit's excerpt of a failed vertex; p.mu is held.
func (v *vertex) summary(w io.Writer) {
	fmt.Fprintln(w, "------")
	fmt.Fprintf(w, " > %s:\n", v.name)
	for _, l := range v.tail {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w, "------")
}

// close ends the live view (its last state, then the summaries of the
// failed vertices); plain progress has nothing to close.
func (p *progress) close() {
	if p.tty != nil {
		p.tty.stop(p)
	}
}

// lineWriter splits what a step writes into lines for its vertex.
type lineWriter struct {
	v   *vertex
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.v.log(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineWriter) flush() {
	if len(l.buf) > 0 {
		l.v.log(string(l.buf))
		l.buf = nil
	}
}
