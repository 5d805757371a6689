package build

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// ttyView is BuildKit's live view of a build on a terminal: a header
// with the time and the count of finished vertices, then one line per
// vertex with its time (CACHED or ERROR before the name when so), the
// status lines a vertex printed below it, and the last lines of output
// of the vertices still running. It is drawn again in place (the cursor
// moved up over the lines drawn before) on every change and ten times a
// second while something runs, so that the times tick.
type ttyView struct {
	w        io.Writer
	start    time.Time
	vertices []*vertex
	failures []*vertex
	drawn    int // lines drawn last time
	ticker   *time.Ticker
	quit     chan struct{}
	stopped  chan struct{}
}

// liveLogLines is how many lines of a running step's output the view
// shows.
const liveLogLines = 6

func newTTYView(w io.Writer) *ttyView {
	return &ttyView{w: w, start: time.Now()}
}

// add registers a vertex (p.mu is held) and starts the ticker on the
// first.
func (t *ttyView) add(v *vertex) {
	t.vertices = append(t.vertices, v)
	if t.ticker == nil {
		t.ticker = time.NewTicker(100 * time.Millisecond)
		t.quit, t.stopped = make(chan struct{}), make(chan struct{})
		go t.tick(v.p)
	}
}

func (t *ttyView) tick(p *progress) {
	defer close(t.stopped)
	for {
		select {
		case <-t.ticker.C:
			p.mu.Lock()
			t.draw(false)
			p.mu.Unlock()
		case <-t.quit:
			return
		}
	}
}

// stop draws the final view and the failed vertices' summaries.
func (t *ttyView) stop(p *progress) {
	if t.ticker != nil {
		t.ticker.Stop()
		close(t.quit)
		<-t.stopped
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t.draw(true)
	for _, v := range t.failures {
		v.summary(t.w)
	}
}

// draw writes the view over the one drawn before; p.mu is held.
func (t *ttyView) draw(final bool) {
	width, height := termSize(t.w)
	finished := 0
	for _, v := range t.vertices {
		if v.state != running {
			finished++
		}
	}
	header := fmt.Sprintf("[+] Building %.1fs (%d/%d)", time.Since(t.start).Seconds(), finished, len(t.vertices))
	if final {
		header += " FINISHED"
	}
	lines := []string{header}
	for _, v := range t.vertices {
		end := v.end
		if v.state == running {
			end = time.Now()
		}
		prefix := " => "
		switch v.state {
		case cached:
			prefix += "CACHED "
		case failed:
			prefix += "ERROR "
		case canceled:
			prefix += "CANCELED "
		}
		lines = append(lines, timed(prefix+v.name, end.Sub(v.start), width))
		for _, s := range v.status {
			lines = append(lines, timed(" => => "+strings.TrimSuffix(s, " done"), end.Sub(v.start), width))
		}
		if v.state == running {
			tail := v.tail[max(0, len(v.tail)-liveLogLines):]
			for _, l := range tail {
				lines = append(lines, clip(" => => # "+l, width))
			}
		}
	}
	if height > 2 && len(lines) > height-1 && !final {
		// What fits: the header and the newest lines.
		lines = append(lines[:1], lines[len(lines)-(height-2):]...)
	}
	var b strings.Builder
	if t.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", t.drawn)
	}
	for _, l := range lines {
		b.WriteString("\x1b[2K" + l + "\n")
	}
	// Lines left from a taller view before are cleared.
	for i := len(lines); i < t.drawn; i++ {
		b.WriteString("\x1b[2K\n")
	}
	if extra := t.drawn - len(lines); extra > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", extra)
	}
	io.WriteString(t.w, b.String())
	t.drawn = len(lines)
}

// timed is text with the duration at the right edge.
func timed(text string, d time.Duration, width int) string {
	tm := fmt.Sprintf("%.1fs", d.Seconds())
	text = clip(text, width-len(tm)-1)
	return text + strings.Repeat(" ", max(1, width-len(tm)-len([]rune(text)))) + tm
}

// clip cuts text to width runes, and drops what a terminal would
// interpret.
func clip(text string, width int) string {
	text = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, text)
	if r := []rune(text); width > 0 && len(r) > width {
		return string(r[:width])
	}
	return text
}

// termSize is the terminal's width and height (80 and unlimited when
// unknown).
func termSize(w io.Writer) (int, int) {
	if f, ok := w.(*os.File); ok {
		if cols, rows, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return cols, rows
		}
	}
	return 80, 0
}
