package logs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// line is the text of line i in these tests.
func line(i int) string { return fmt.Sprintf("line %02d\n", i) }

// at is when the 1-second clock stamps line i.
func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

// lines returns line(i) for i in [from, to).
func lines(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, line(i))
	}
	return out
}

// rotatedLog writes 17 lines, one second apart, five to a file: path.3
// holds 0-4, path.2 5-9, path.1 10-14 and path 15-16, then a line cut
// short as a crash leaves it.
func rotatedLog(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "json.log")
	size := int64(len(appendEntry(nil, []byte("line 00"), true, entrySuffix("stdout"), t0)))
	w := mustNew(t, path, Options{MaxSize: 5 * size, MaxFile: 4, Now: newClock(time.Second).Now})
	write(t, w, "stdout", lines(0, 17)...)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{5, 5, 5, 2} {
		name := path
		if i < 3 {
			name = fmt.Sprintf("%s.%d", path, 3-i)
		}
		if n := len(readRaw(t, name)); n != want {
			t.Fatalf("%s has %d lines, want %d", name, n, want)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(`{"log":"torn`); err != nil {
		t.Fatal(err)
	}
	return path
}

// readAll runs a Read that does not follow and returns the lines.
func readAll(t *testing.T, path string, o ReadOptions) []string {
	t.Helper()
	var got []string
	err := Read(t.Context(), path, o, func(m Message) error {
		if m.Stream != "stdout" || m.Partial {
			t.Errorf("message %+v", m)
		}
		got = append(got, string(m.Line))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestReadTail: the last n lines counted across rotated files, the line
// being written (here: torn) not counted, and Since applied after Tail.
func TestReadTail(t *testing.T) {
	path := rotatedLog(t)
	for _, tc := range []struct {
		tail  int
		since time.Time
		want  []string
	}{
		{tail: -1, want: lines(0, 17)},
		{tail: 0, want: nil},
		{tail: 1, want: lines(16, 17)},
		{tail: 2, want: lines(15, 17)},
		{tail: 3, want: lines(14, 17)},  // into path.1
		{tail: 8, want: lines(9, 17)},   // into path.2
		{tail: 17, want: lines(0, 17)},  // exactly all
		{tail: 100, want: lines(0, 17)}, // more than there are
		{tail: 5, since: at(14), want: lines(14, 17)},
		{tail: 5, since: at(3), want: lines(12, 17)},
	} {
		got := readAll(t, path, ReadOptions{Tail: tc.tail, Since: tc.since})
		if !slices.Equal(got, tc.want) {
			t.Errorf("tail %d since %v: %q, want %q", tc.tail, tc.since, got, tc.want)
		}
	}
}

func TestReadSinceUntil(t *testing.T) {
	path := rotatedLog(t)
	for _, tc := range []struct {
		name         string
		since, until time.Time
		want         []string
	}{
		{"since", at(10), time.Time{}, lines(10, 17)},
		{"since between lines", at(10).Add(time.Nanosecond), time.Time{}, lines(11, 17)},
		{"until is inclusive", time.Time{}, at(5), lines(0, 6)},
		{"both", at(3), at(7), lines(3, 8)},
		{"since after the last", at(17), time.Time{}, nil},
		{"until before the first", time.Time{}, at(-1), nil},
	} {
		got := readAll(t, path, ReadOptions{Tail: -1, Since: tc.since, Until: tc.until})
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestSinceNotMonotonic: once a line at or after Since has been seen,
// later lines are not dropped for being earlier, as in dockerd.
func TestSinceNotMonotonic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "json.log")
	times := []int{0, 1, 5, 2, 6}
	now := func() time.Time { tt := at(times[0]); times = times[1:]; return tt }
	w := mustNew(t, path, Options{Now: now})
	write(t, w, "stdout", lines(0, 5)...)
	w.Close()
	got := readAll(t, path, ReadOptions{Tail: -1, Since: at(2)})
	if want := lines(2, 5); !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestReadMissing(t *testing.T) {
	if got := readAll(t, filepath.Join(t.TempDir(), "json.log"), ReadOptions{Tail: -1}); got != nil {
		t.Errorf("read %q from no log", got)
	}
}

func TestReadOutError(t *testing.T) {
	path := rotatedLog(t)
	stop := errors.New("stop")
	n := 0
	err := Read(t.Context(), path, ReadOptions{Tail: -1, Follow: true}, func(Message) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("Read = %v after %d lines, want out's error after 3", err, n)
	}
}

// follower runs a following Read in the background.
type follower struct {
	msgs   chan Message
	result chan error
	done   chan struct{}
	cancel context.CancelFunc
}

func follow(t *testing.T, path string, o ReadOptions) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	f := &follower{msgs: make(chan Message, 10000), result: make(chan error, 1), done: make(chan struct{}), cancel: cancel}
	o.Follow = true
	if o.Done == nil {
		o.Done = f.done
	}
	go func() {
		f.result <- Read(ctx, path, o, func(m Message) error {
			f.msgs <- m
			return nil
		})
		close(f.msgs)
	}()
	t.Cleanup(func() {
		cancel()
		<-f.result
	})
	return f
}

// expect waits for the next lines.
func (f *follower) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case m, ok := <-f.msgs:
			if !ok {
				t.Fatalf("Read ended (%v) waiting for %q", <-f.result, w)
			}
			if string(m.Line) != w {
				t.Fatalf("got %q, want %q", m.Line, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no line %q after 10s", w)
		}
	}
}

// end waits for Read to return, with no more lines.
func (f *follower) end(t *testing.T) error {
	t.Helper()
	select {
	case err := <-f.result:
		f.result <- err // for the cleanup
		if m, ok := <-f.msgs; ok {
			t.Errorf("unexpected line %q", m.Line)
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Read still running after 10s")
		return nil
	}
}

// TestFollowRotation: a following Read sees lines written after it
// started, across rotations: one at a time, two between two looks (the
// file it read now path.2), three (that file dropped meanwhile), and ends
// with the unfinished last line once Done is closed.
func TestFollowRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "json.log")
	w := mustNew(t, path, Options{MaxSize: 1, MaxFile: 3}) // a file per line
	s := w.Stream("stdout")
	write := func(ls ...string) {
		for _, l := range ls {
			if _, err := s.Write([]byte(l)); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(lines(0, 2)...)
	f := follow(t, path, ReadOptions{Tail: -1})
	f.expect(t, lines(0, 2)...)
	n := 2
	for _, burst := range []int{1, 2, 3, 1, 3, 2} {
		write(lines(n, n+burst)...)
		f.expect(t, lines(n, n+burst)...)
		n += burst
	}
	write("bye")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	close(f.done)
	f.expect(t, "bye")
	if err := f.end(t); err != nil {
		t.Errorf("Read = %v, want nil after Done", err)
	}
}

// TestFollowKeepsUp: a writer rotating every few lines while the reader
// follows, the writer never more than 100 lines ahead (so at most ~35
// rotations between two looks, fewer than max-file): every line arrives
// once, in order, whatever the interleaving of renames and reads.
func TestFollowKeepsUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "json.log")
	w := mustNew(t, path, Options{MaxSize: 300, MaxFile: 50})
	s := w.Stream("stdout")
	f := follow(t, path, ReadOptions{Tail: -1})
	const total, window = 1000, 100
	got := 0
	for i := range total {
		for i-got >= window {
			f.expect(t, line(got))
			got++
		}
		if _, err := s.Write([]byte(line(i))); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			time.Sleep(time.Millisecond) // let reads fall between writes
		}
	}
	for ; got < total; got++ {
		f.expect(t, line(got))
	}
	w.Close()
	close(f.done)
	if err := f.end(t); err != nil {
		t.Error(err)
	}
}

// TestFollowDone: Done closed before or after Read starts ends it once
// the log has been read, with nil.
func TestFollowDone(t *testing.T) {
	for _, early := range []bool{true, false} {
		t.Run(fmt.Sprint("early=", early), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "json.log")
			w := mustNew(t, path, Options{})
			write(t, w, "stdout", lines(0, 3)...)
			w.Close()
			done := make(chan struct{})
			if early {
				close(done)
			}
			f := follow(t, path, ReadOptions{Tail: -1, Done: done})
			f.expect(t, lines(0, 3)...)
			if !early {
				close(done)
			}
			if err := f.end(t); err != nil {
				t.Errorf("Read = %v, want nil", err)
			}
		})
	}
}

func TestFollowCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "json.log")
	w := mustNew(t, path, Options{})
	defer w.Close()
	write(t, w, "stdout", line(0))
	f := follow(t, path, ReadOptions{Tail: -1})
	f.expect(t, line(0))
	start := time.Now()
	f.cancel()
	if err := f.end(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Read = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Read took %v to notice the cancel", d)
	}
}

// TestFollowNew: Tail 0 skips what is there and delivers what comes; a
// log that does not exist yet is waited for.
func TestFollowNew(t *testing.T) {
	for _, exists := range []bool{true, false} {
		t.Run(fmt.Sprint("exists=", exists), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "json.log")
			var w *Writer
			if exists {
				w = mustNew(t, path, Options{})
				write(t, w, "stdout", lines(0, 3)...)
			}
			f := follow(t, path, ReadOptions{Tail: 0})
			time.Sleep(2 * pollInterval)
			if w == nil {
				w = mustNew(t, path, Options{})
			}
			write(t, w, "stdout", lines(3, 5)...)
			f.expect(t, lines(3, 5)...)
			w.Close()
			close(f.done)
			if err := f.end(t); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestFollowUnfinishedEntry: an entry seen half written is delivered once
// the rest is there, not skipped as invalid.
func TestFollowUnfinishedEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "json.log")
	entry := string(appendEntry(nil, []byte("slow"), true, entrySuffix("stderr"), t0))
	fw, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	fw.WriteString(entry[:20])
	f := follow(t, path, ReadOptions{Tail: -1})
	time.Sleep(3 * pollInterval)
	fw.WriteString(entry[20:])
	f.expect(t, "slow\n")
	close(f.done)
	if err := f.end(t); err != nil {
		t.Error(err)
	}
}

// TestFollowUntil: a line past Until ends a following Read, and so does
// the clock passing Until.
func TestFollowUntil(t *testing.T) {
	t.Run("line after until", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "json.log")
		// An hour from now, so that the clock passing Until plays no part.
		c := &clock{next: time.Now().Add(time.Hour), step: time.Second}
		until := c.next.Add(2 * time.Second)
		w := mustNew(t, path, Options{Now: c.Now})
		defer w.Close()
		write(t, w, "stdout", lines(0, 2)...)
		f := follow(t, path, ReadOptions{Tail: -1, Until: until})
		f.expect(t, lines(0, 2)...)
		write(t, w, "stdout", lines(2, 4)...)
		f.expect(t, line(2))
		if err := f.end(t); err != nil {
			t.Error(err)
		}
	})
	t.Run("until passed", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "json.log")
		w := mustNew(t, path, Options{})
		defer w.Close()
		write(t, w, "stdout", line(0))
		f := follow(t, path, ReadOptions{Tail: -1, Until: time.Now().Add(3 * pollInterval)})
		f.expect(t, line(0))
		if err := f.end(t); err != nil {
			t.Error(err)
		}
	})
}

// TestImportsNoBerthPackage: the package stands alone (see its doc).
func TestImportsNoBerthPackage(t *testing.T) {
	out, err := goList(t)
	if err != nil {
		t.Skip(err)
	}
	for _, dep := range strings.Fields(out) {
		if strings.HasPrefix(dep, "github.com/berth-dev/berth/") && !strings.HasPrefix(dep, "github.com/berth-dev/berth/internal/logs") {
			t.Errorf("internal/logs depends on %s", dep)
		}
	}
}

// TestRotatedReadsOldEnd: lines the writer added to a file after the
// reader's last look, just before rotating it, are read from the renamed
// file before the new one. (Through Read this needs a write to land between
// two system calls of the reader, so the step is tested on its own.)
func TestRotatedReadsOldEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "json.log")
	size := int64(len(appendEntry(nil, []byte("line 00"), true, entrySuffix("stdout"), t0)))
	w := mustNew(t, path, Options{MaxSize: 2 * size, MaxFile: 3, Now: newClock(time.Second).Now})
	defer w.Close()
	s := w.Stream("stdout")
	s.Write([]byte(line(0)))

	var got []string
	rd := &reader{ctx: t.Context(), o: ReadOptions{Follow: true}, out: func(m Message) error {
		got = append(got, string(m.Line))
		return nil
	}}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	cur := &logFile{f: f, fi: fi}
	defer func() { cur.f.Close() }()
	if err := rd.drain(cur.f); err != nil {
		t.Fatal(err)
	}

	s.Write([]byte(line(1))) // fills the file
	s.Write([]byte(line(2))) // rotates it first
	moved, err := rd.rotated(path, &cur)
	if err != nil || !moved {
		t.Fatalf("rotated = %v, %v", moved, err)
	}
	if want := lines(0, 3); !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
	if st, _ := os.Stat(path); !os.SameFile(st, cur.fi) {
		t.Error("the reader does not hold the new file")
	}
}
