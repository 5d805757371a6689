package build

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"
)

// progress writes BuildKit's plain progress: each vertex (a step, a
// load, the export) a block of lines numbered "#N", separated by a blank
// line:
//
//	#5 [2/4] RUN echo hi
//	#5 0.231 hi
//	#5 DONE 0.3s
//
// A nil writer writes nothing (-q).
type progress struct {
	mu sync.Mutex
	w  io.Writer
	n  int
}

// vertex is one numbered block.
type vertex struct {
	p     *progress
	n     int
	name  string
	start time.Time
	// tail keeps the last lines of output, for the error summary.
	tail []string
}

const tailLines = 10

func (p *progress) vertex(name string) *vertex {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	v := &vertex{p: p, n: p.n, name: name, start: time.Now()}
	if p.w != nil {
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
	if v.p.w != nil {
		fmt.Fprintf(v.p.w, "#%d "+format+"\n", append([]any{v.n}, args...)...)
	}
}

// log writes a line of the step's output, stamped with the seconds since
// it began.
func (v *vertex) log(line string) {
	line = fmt.Sprintf("%.3f %s", time.Since(v.start).Seconds(), line)
	v.tail = append(v.tail, line)
	if len(v.tail) > tailLines {
		v.tail = v.tail[1:]
	}
	v.printf("%s", line)
}

func (v *vertex) done()   { v.printf("DONE %.1fs", time.Since(v.start).Seconds()) }
func (v *vertex) cached() { v.printf("CACHED") }

// failed ends the vertex with its error and BuildKit's summary of the
// failing step: its name and the tail of its output.
func (v *vertex) failed(err error) {
	v.printf("ERROR: %v", err)
	v.p.mu.Lock()
	defer v.p.mu.Unlock()
	if v.p.w == nil {
		return
	}
	fmt.Fprintln(v.p.w, "------")
	fmt.Fprintf(v.p.w, " > %s:\n", v.name)
	for _, l := range v.tail {
		fmt.Fprintln(v.p.w, l)
	}
	fmt.Fprintln(v.p.w, "------")
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
