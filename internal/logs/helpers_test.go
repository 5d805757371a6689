package logs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// t0 is the fake clock's first reading.
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.UTC)

// clock is a fake Options.Now that moves on by step at every reading.
type clock struct {
	mu   sync.Mutex
	next time.Time
	step time.Duration
}

func newClock(step time.Duration) *clock { return &clock{next: t0, step: step} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.next
	c.next = c.next.Add(c.step)
	return t
}

// rawEntry is a line of a log file decoded strictly.
type rawEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// readRaw decodes every line of one file, failing the test on anything
// that is not one JSON object with exactly Docker's keys per line.
func readRaw(t *testing.T, path string) []rawEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []rawEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxEntry)
	for n := 1; sc.Scan(); n++ {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var e rawEntry
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("%s:%d: %v: %q", path, n, err, sc.Bytes())
		}
		if dec.More() {
			t.Fatalf("%s:%d: more than one value: %q", path, n, sc.Bytes())
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end in a newline", path)
	}
	return out
}

// mustNew opens a Writer or fails the test.
func mustNew(t testing.TB, path string, o Options) *Writer {
	t.Helper()
	w, err := New(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// write writes each chunk to one stream of w, failing the test on error.
func write(t testing.TB, w *Writer, stream string, chunks ...string) {
	t.Helper()
	s := w.Stream(stream)
	for _, c := range chunks {
		if n, err := s.Write([]byte(c)); err != nil || n != len(c) {
			t.Fatalf("Write(%q) = %d, %v", c, n, err)
		}
	}
}

// goList lists the packages this one's tests depend on.
func goList(t *testing.T) (string, error) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	out, err := exec.Command(goTool, "list", "-deps", "-test", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		return "", err
	}
	return string(out), nil
}
