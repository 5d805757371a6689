package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/docker/go-units"
)

// progress shows per-layer pull/push status: on a terminal one line per
// layer, redrawn in place with a bar (like docker pull); otherwise a plain
// line whenever a layer's status changes (never per byte).
type progress struct {
	mu     sync.Mutex
	out    io.Writer
	tty    bool
	quiet  bool
	order  []string
	lines  map[string]string
	status map[string]string
	drawn  int
	last   time.Time
}

func newProgress(out io.Writer, tty, quiet bool) *progress {
	return &progress{out: out, tty: tty, quiet: quiet, lines: map[string]string{}, status: map[string]string{}}
}

func (p *progress) Update(id, status string, current, total int64) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.lines[id]; !ok {
		p.order = append(p.order, id)
	}
	line := id + ": " + status
	if (status == "Downloading" || status == "Pushing" || status == "Extracting") && total > 0 {
		line += " " + bar(current, total)
	}
	p.lines[id] = line
	changed := p.status[id] != status
	p.status[id] = status
	if p.tty {
		// Byte counts redraw at most ten times a second.
		if changed || time.Since(p.last) > 100*time.Millisecond {
			p.redraw()
			p.last = time.Now()
		}
	} else if changed {
		fmt.Fprintln(p.out, id+": "+status)
	}
}

func (p *progress) redraw() {
	if p.drawn > 0 {
		fmt.Fprintf(p.out, "\x1b[%dA", p.drawn)
	}
	for _, id := range p.order {
		fmt.Fprintf(p.out, "\x1b[2K%s\n", p.lines[id])
	}
	p.drawn = len(p.order)
}

// println prints a line below the layer lines.
func (p *progress) println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.out, s)
	p.drawn = 0
	p.order = nil
}

func bar(cur, total int64) string {
	const width = 50
	n := int(cur * width / total)
	n = max(0, min(n, width))
	b := strings.Repeat("=", n)
	if n < width {
		b += ">" + strings.Repeat(" ", width-n-1)
	}
	return fmt.Sprintf("[%s] %s/%s", b, units.HumanSizeWithPrecision(float64(cur), 3), units.HumanSizeWithPrecision(float64(total), 3))
}
