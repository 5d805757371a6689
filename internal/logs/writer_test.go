package logs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLineSplitting: how writes become entries. want lists each entry's
// "log" text; a piece without a trailing newline is a partial one.
func TestLineSplitting(t *testing.T) {
	k16 := strings.Repeat("x", maxLine)
	long := strings.Repeat("0123456789abcdef", 40*1024/16) // 40 KiB
	chunked := func(s string, n int) []string {
		var out []string
		for len(s) > n {
			out = append(out, s[:n])
			s = s[n:]
		}
		return append(out, s)
	}
	for _, tc := range []struct {
		name   string
		writes []string
		want   []string
	}{
		{"lines", []string{"a\nb\n"}, []string{"a\n", "b\n"}},
		{"crlf kept", []string{"a\r\nb\r\n"}, []string{"a\r\n", "b\r\n"}},
		{"empty lines", []string{"\n\n", "x\n\n"}, []string{"\n", "\n", "x\n", "\n"}},
		{"line across writes", []string{"he", "llo\nwor", "ld\n"}, []string{"hello\n", "world\n"}},
		{"unfinished at close", []string{"a\nbc"}, []string{"a\n", "bc"}},
		{"lone cr", []string{"progress 10%\rprogress 20%\r"}, []string{"progress 10%\rprogress 20%\r"}},
		{"40 KiB line", []string{long + "\nnext\n"}, []string{long[:maxLine], long[maxLine : 2*maxLine], long[2*maxLine:] + "\n", "next\n"}},
		{"40 KiB line in 1000-byte writes", chunked(long+"\n", 1000), []string{long[:maxLine], long[maxLine : 2*maxLine], long[2*maxLine:] + "\n"}},
		{"40 KiB line after a short one", []string{"a\n" + long[:100], long[100:] + "\n"}, []string{"a\n", long[:maxLine], long[maxLine : 2*maxLine], long[2*maxLine:] + "\n"}},
		{"40 KiB without newline", []string{long}, []string{long[:maxLine], long[maxLine : 2*maxLine], long[2*maxLine:]}},
		// A line of exactly 16 KiB fills Docker's buffer before its
		// newline arrives: a full piece, then the newline alone.
		{"16 KiB line", []string{k16 + "\n"}, []string{k16, "\n"}},
		{"16 KiB then more", []string{k16 + "y\n"}, []string{k16, "y\n"}},
		{"16 KiB - 1", []string{k16[1:] + "\n"}, []string{k16[1:] + "\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "json.log")
			w := mustNew(t, path, Options{Now: newClock(time.Second).Now})
			write(t, w, "stdout", tc.writes...)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got := readRaw(t, path)
			if len(got) != len(tc.want) {
				t.Fatalf("%d entries, want %d", len(got), len(tc.want))
			}
			var pieceTime time.Time
			for i, e := range got {
				if e.Log != tc.want[i] {
					t.Errorf("entry %d: log %.40q… (%d bytes), want %.40q… (%d bytes)", i, e.Log, len(e.Log), tc.want[i], len(tc.want[i]))
				}
				if e.Stream != "stdout" {
					t.Errorf("entry %d: stream %q", i, e.Stream)
				}
				// All pieces of one line carry the first piece's time.
				if !pieceTime.IsZero() && !e.Time.Equal(pieceTime) {
					t.Errorf("entry %d: time %v, want the first piece's %v", i, e.Time, pieceTime)
				}
				if strings.HasSuffix(e.Log, "\n") {
					pieceTime = time.Time{}
				} else if pieceTime.IsZero() {
					pieceTime = e.Time
				}
			}
		})
	}
}

// TestPiecesConcatenate reads long lines back through Read: partial
// messages that join to the line. The cut is at 16 KiB whatever the text,
// so a character split by it becomes one U+FFFD per byte, as Docker's
// json-file driver writes it.
func TestPiecesConcatenate(t *testing.T) {
	ascii := strings.Repeat("0123456789abcdef", 40*1024/16)
	euro := strings.Repeat("a€", 40*1024/4) // "€" is 3 bytes; 16384 = 4096×4 cuts no rune
	cut := strings.Repeat("€", 6000)        // 16384 = 5461×3 + 1 cuts one
	cutWant := strings.Repeat("€", 5461) + "\ufffd\ufffd\ufffd" + strings.Repeat("€", 538) + "\n"
	for _, tc := range []struct{ name, line, want string }{
		{"ascii", ascii, ascii + "\n"},
		{"runes at the cut", euro, euro + "\n"},
		{"rune across the cut", cut, cutWant},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "json.log")
			w := mustNew(t, path, Options{})
			write(t, w, "stderr", tc.line+"\n")
			w.Close()
			var joined strings.Builder
			var partial []bool
			err := Read(t.Context(), path, ReadOptions{Tail: -1}, func(m Message) error {
				joined.Write(m.Line)
				partial = append(partial, m.Partial)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if joined.String() != tc.want {
				t.Errorf("pieces join to %d bytes, want %d", joined.Len(), len(tc.want))
			}
			for i, p := range partial {
				if p != (i < len(partial)-1) {
					t.Errorf("partial flags %v, want all but the last", partial)
					break
				}
			}
		})
	}
}

// TestConcurrentStreams: stdout and stderr written at once, in ragged
// chunks, with rotation going on, give only whole, valid JSON lines, each
// stream's lines complete and in order.
func TestConcurrentStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "json.log")
	w := mustNew(t, path, Options{MaxSize: 8 * 1024, MaxFile: 1000})
	const lines = 2000
	var wg sync.WaitGroup
	for _, name := range []string{"stdout", "stderr"} {
		wg.Go(func() {
			var text strings.Builder
			for i := range lines {
				fmt.Fprintf(&text, "%s line %d %s\n", name, i, strings.Repeat("-", i%50))
			}
			s := w.Stream(name)
			r := rand.New(rand.NewPCG(1, uint64(len(name))))
			for b := text.String(); len(b) > 0; {
				n := min(len(b), 1+r.IntN(300))
				if _, err := s.Write([]byte(b[:n])); err != nil {
					t.Error(err)
					return
				}
				b = b[n:]
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	files, _ := filepath.Glob(path + "*")
	next := map[string]int{}
	for i := len(files) - 1; i >= 0; i-- { // every file is checked…
		name := path
		if i > 0 {
			name = fmt.Sprintf("%s.%d", path, i)
		}
		for _, e := range readRaw(t, name) { // …oldest first
			want := fmt.Sprintf("%s line %d %s\n", e.Stream, next[e.Stream], strings.Repeat("-", next[e.Stream]%50))
			if e.Log != want {
				t.Fatalf("%s: got %q, want %q", name, e.Log, want)
			}
			next[e.Stream]++
		}
	}
	if next["stdout"] != lines || next["stderr"] != lines {
		t.Errorf("read %v lines, want %d of each", next, lines)
	}
}

// TestRotation: how many files max-size and max-file leave, that each
// rotated file went at most one line past max-size, and that the oldest
// lines are the ones dropped.
func TestRotation(t *testing.T) {
	const lineLen = 100 // bytes of JSON per entry, see entry below
	entry := func(i int) string { return fmt.Sprintf("line %04d %s\n", i, strings.Repeat("x", 19)) }
	if n := len(appendEntry(nil, []byte(strings.TrimSuffix(entry(0), "\n")), true, entrySuffix("stdout"), t0)); n != lineLen {
		t.Fatalf("an entry is %d bytes, the test assumes %d", n, lineLen)
	}
	for _, tc := range []struct {
		name      string
		o         Options
		lines     int
		files     int // path and path.1 … path.files-1
		firstKept int // the oldest line left
	}{
		{"no limit", Options{}, 50, 1, 0},
		{"under max-size", Options{MaxSize: 10 * lineLen, MaxFile: 3}, 10, 1, 0},
		// The 11th line finds the file at max-size and rotates it.
		{"one rotation", Options{MaxSize: 10 * lineLen, MaxFile: 3}, 11, 2, 0},
		{"files full", Options{MaxSize: 10 * lineLen, MaxFile: 3}, 30, 3, 0},
		{"oldest dropped", Options{MaxSize: 10 * lineLen, MaxFile: 3}, 31, 3, 10},
		{"many rotations", Options{MaxSize: 10 * lineLen, MaxFile: 3}, 95, 3, 70},
		// Not a multiple of the line length: a file goes one line over.
		{"max-size between lines", Options{MaxSize: 10*lineLen + 1, MaxFile: 2}, 40, 2, 22},
		{"max-file 1 truncates", Options{MaxSize: 10 * lineLen, MaxFile: 1}, 25, 1, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "json.log")
			tc.o.Now = func() time.Time { return t0 }
			w := mustNew(t, path, tc.o)
			s := w.Stream("stdout")
			for i := range tc.lines {
				if _, err := s.Write([]byte(entry(i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			names, _ := filepath.Glob(path + "*")
			if len(names) != tc.files {
				t.Fatalf("files %v, want %d", names, tc.files)
			}
			next := tc.firstKept
			for i := tc.files - 1; i >= 0; i-- {
				name := path
				if i > 0 {
					name = fmt.Sprintf("%s.%d", path, i)
				}
				st, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				if i > 0 && tc.o.MaxSize > 0 && (st.Size() < tc.o.MaxSize || st.Size() >= tc.o.MaxSize+lineLen) {
					t.Errorf("%s: %d bytes, want max-size %d plus less than a line", name, st.Size(), tc.o.MaxSize)
				}
				for _, e := range readRaw(t, name) {
					if e.Log != entry(next) {
						t.Fatalf("%s: %q, want %q", name, e.Log, entry(next))
					}
					next++
				}
			}
			if next != tc.lines {
				t.Errorf("last line read %d, want %d", next-1, tc.lines-1)
			}
		})
	}
}

// TestReopen: a new Writer appends to the log, counts what is there
// towards max-size, and ends a line a crash left unfinished.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "json.log")
	torn := `{"log":"cut sho`
	if err := os.WriteFile(path, []byte(`{"log":"a\n","stream":"stdout","time":"2026-11-23T12:00:00Z"}`+"\n"+torn), 0o640); err != nil {
		t.Fatal(err)
	}
	w := mustNew(t, path, Options{MaxSize: 1, MaxFile: 2})
	write(t, w, "stdout", "b\n")
	w.Close()
	rotated, err := os.ReadFile(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(rotated), torn+"\n") {
		t.Errorf("the torn line was not ended: %q", rotated)
	}
	var got []string
	err = Read(t.Context(), path, ReadOptions{Tail: -1}, func(m Message) error {
		got = append(got, string(m.Line))
		return nil
	})
	if err != nil || fmt.Sprint(got) != "[a\n b\n]" {
		t.Errorf("read %q, %v; want a, b and the torn line skipped", got, err)
	}
}

func TestClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "json.log")
	w := mustNew(t, path, Options{})
	s := w.Stream("stdout")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Write([]byte("late\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v, want os.ErrClosed", err)
	}
}

func TestNewRejects(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{{Compress: true, MaxSize: 1, MaxFile: 2}, {MaxSize: -1}, {MaxFile: -1}} {
		if _, err := New(filepath.Join(dir, "json.log"), o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
	if _, err := New(filepath.Join(dir, "missing", "json.log"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("New in a missing directory: %v", err)
	}
}
