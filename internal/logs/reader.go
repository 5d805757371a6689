package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// pollInterval is how often a following Read looks for new lines and for
// a rotation. The writer lives in another process and tells the reader
// nothing, so the reader looks; inotify would save a few wake-ups a second
// for a followed log and needs a Linux-only path, so polling it is.
const pollInterval = 100 * time.Millisecond

// ReadOptions selects what Read delivers. Tail comes first (the last Tail
// lines of the log), then Since and Until filter those, as in dockerd.
type ReadOptions struct {
	// Follow keeps reading lines as they are written, across rotations,
	// until ctx is cancelled, Done is closed or a line is past Until.
	Follow bool
	// Tail is how many of the last lines to deliver, counted across the
	// rotated files; -1 means all of them and 0 none (with Follow: only
	// new lines), so the zero ReadOptions reads nothing old. Pieces of a
	// long line count as lines, as in Docker.
	Tail int
	// Since drops lines before it until one is at or after it; after that
	// line nothing more is dropped for Since, as timestamps need not be
	// monotonic (dockerd's forwarder does the same). Zero means no limit.
	Since time.Time
	// Until ends Read (with nil) at the first line after it. A following
	// Read also ends once the clock is past Until and it has read what
	// there is, as a later line would be later than Until anyway. Zero
	// means no limit.
	Until time.Time
	// Done is closed by the caller when the container has exited and its
	// Writer is closed. A following Read then reads what is left and
	// returns nil. nil means the container keeps running.
	Done <-chan struct{}
}

// Message is one line of the log as stored.
type Message struct {
	// Stream is "stdout" or "stderr".
	Stream string
	// Time is when the writer took the line (for pieces of a long line,
	// when it took the first piece).
	Time time.Time
	// Line is the text, with its newline unless Partial. It is the
	// callee's to keep.
	Line []byte
	// Partial is set for a piece of a line longer than 16 KiB, or for text
	// that had no newline when its stream ended; the pieces of one line
	// arrive in order and concatenate to it.
	Partial bool
}

// errUntil stops reading at the first line after ReadOptions.Until.
var errUntil = errors.New("past until")

// Read delivers the log at path to out, oldest line first: path.N … path.1,
// then path. It returns nil when it has delivered what was asked, the
// error out returns, or ctx.Err() when ctx is cancelled. A log that does
// not exist yet reads as empty (a following Read waits for it to appear).
// Lines that are not valid JSON (a crash mid-write leaves one) are skipped.
//
// Following survives rotation: Read keeps the file it reads open, and
// when path names another file it reads the rest of the old one (the
// writer has closed it before renaming) and then every newer file in turn.
// If the writer rotates more than MaxFile-1 times between two looks, the
// files dropped meanwhile are lost to the reader, as with Docker.
func Read(ctx context.Context, path string, o ReadOptions, out func(Message) error) error {
	rd := &reader{ctx: ctx, o: o, out: out, since: o.Since}
	err := rd.run(path)
	if errors.Is(err, errUntil) {
		return nil
	}
	return err
}

type reader struct {
	ctx   context.Context
	o     ReadOptions
	out   func(Message) error
	since time.Time // zero once a line at or after Since has been seen
	lr    lineReader
	e     entry
}

// entry is one decoded line.
type entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// logFile is one file of a log, open for reading.
type logFile struct {
	f       *os.File
	fi      os.FileInfo // at open: its identity, and the size Tail counts in
	current bool        // opened as path: the writer may still append
	start   int64       // where Tail says to begin
	end     int64       // past the last newline when opened
}

func closeFiles(files []logFile) {
	for _, lf := range files {
		lf.f.Close()
	}
}

func (rd *reader) run(path string) error {
	files, err := openChain(path, nil)
	if err != nil {
		return err
	}
	files, err = tail(files, rd.o.Tail)
	if err != nil {
		return err
	}
	var last *logFile // the newest file, kept open to follow
	if len(files) > 0 {
		last = &files[len(files)-1]
	}
	for i := range files {
		lf := &files[i]
		if _, err := lf.f.Seek(lf.start, io.SeekStart); err != nil {
			closeFiles(files[i:])
			return fmt.Errorf("log: %w", err)
		}
		var src io.Reader = lf.f
		if lf.current && !rd.o.Follow {
			// What was there when Read started, not what came after
			// Tail had counted.
			src = io.LimitReader(lf.f, lf.end-lf.start)
		}
		if err := rd.drain(src); err != nil {
			closeFiles(files[i:])
			return err
		}
		if lf != last || !rd.o.Follow {
			lf.f.Close()
		}
	}
	if !rd.o.Follow {
		return nil
	}
	var cur *logFile
	if last != nil {
		cur = &logFile{f: last.f, fi: last.fi}
	}
	defer func() {
		if cur != nil {
			cur.f.Close()
		}
	}()
	return rd.follow(path, &cur)
}

// follow reads *cur as it grows and moves on when path is rotated.
// *cur is nil while there is no log file yet.
func (rd *reader) follow(path string, cur **logFile) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	done := rd.o.Done
	final := false
	for {
		if *cur != nil {
			if err := rd.drain((*cur).f); err != nil {
				return err
			}
		}
		moved, err := rd.rotated(path, cur)
		if err != nil {
			return err
		}
		if moved {
			continue // it may have moved again meanwhile
		}
		if final {
			return nil
		}
		if !rd.o.Until.IsZero() && time.Now().After(rd.o.Until) {
			return nil
		}
		select {
		case <-rd.ctx.Done():
			return rd.ctx.Err()
		case <-done:
			// The writer is closed: one more pass reads what it left.
			final, done = true, nil
		case <-tick.C:
		}
	}
}

// rotated checks whether path still names *cur. If it names another file,
// *cur is read to its end and closed, and the files newer than it are read
// in order; the newest becomes *cur.
func (rd *reader) rotated(path string, cur **logFile) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // between a rotation's rename and create
	}
	if err != nil {
		return false, fmt.Errorf("log: %w", err)
	}
	var after os.FileInfo
	if *cur != nil {
		if os.SameFile(fi, (*cur).fi) {
			return false, nil
		}
		// Renamed: the writer closed it first, so this is its end.
		if err := rd.drain((*cur).f); err != nil {
			return false, err
		}
		after = (*cur).fi
	}
	files, err := openChain(path, after)
	if err != nil {
		return false, err
	}
	if len(files) == 0 {
		return false, nil // path went away again before we opened it
	}
	if *cur != nil {
		(*cur).f.Close()
		*cur = nil
	}
	for i := range files {
		if err := rd.drain(files[i].f); err != nil {
			closeFiles(files[i:])
			return false, err
		}
		if i < len(files)-1 {
			files[i].f.Close()
		}
	}
	*cur = &files[len(files)-1]
	return true, nil
}

// openChain opens the files of the log at path, oldest first: path.N …
// path.1, path. With after set, it stops at that file and returns only the
// newer ones. It opens newest first, so a rotation while it opens can make
// it see a file twice (skipped: same inode) but not skip one; the one name
// a rotation leaves missing for a moment is stepped over, and two missing
// names in a row end the log. Two rotations during one scan would put a
// newer file behind an older one, so a scan after which path names
// another file is done again (a few times at most: a writer that rotates
// faster than that loses a reader its lines anyway).
func openChain(path string, after os.FileInfo) ([]logFile, error) {
	for try := 0; ; try++ {
		out, newest, err := scanChain(path, after)
		if err != nil || try == 10 {
			return out, err
		}
		fi, err := os.Stat(path)
		if newest == nil && errors.Is(err, fs.ErrNotExist) || newest != nil && err == nil && os.SameFile(fi, newest) {
			return out, nil
		}
		closeFiles(out)
	}
}

// scanChain is one pass of openChain; newest is what path named when it
// began (nil for nothing).
func scanChain(path string, after os.FileInfo) (out []logFile, newest os.FileInfo, err error) {
	missing := 0
	for i := 0; missing < 2; i++ {
		name := path
		if i > 0 {
			name = path + "." + strconv.Itoa(i)
		}
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			missing++
			continue
		}
		if err != nil {
			closeFiles(out)
			return nil, nil, fmt.Errorf("log: %w", err)
		}
		missing = 0
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			closeFiles(out)
			return nil, nil, fmt.Errorf("log: %w", err)
		}
		if i == 0 {
			newest = fi
		}
		if after != nil && os.SameFile(fi, after) {
			f.Close()
			break
		}
		if slices.ContainsFunc(out, func(lf logFile) bool { return os.SameFile(lf.fi, fi) }) {
			f.Close()
			continue
		}
		out = append(out, logFile{f: f, fi: fi, current: i == 0})
	}
	slices.Reverse(out)
	return out, newest, nil
}

// tail sets each file's start and end for ReadOptions.Tail n and drops
// (closing them) the files older than the last n lines, newest always
// kept for following.
func tail(files []logFile, n int) ([]logFile, error) {
	for i := len(files) - 1; i >= 0; i-- {
		lf := &files[i]
		if n == 0 && i < len(files)-1 {
			closeFiles(files[:i+1])
			return files[i+1:], nil
		}
		start, end, got, err := lastLines(lf.f, lf.fi.Size(), n)
		if err != nil {
			closeFiles(files)
			return nil, fmt.Errorf("log %s: %w", lf.f.Name(), err)
		}
		lf.start, lf.end = start, end
		if n > 0 {
			n -= got
		}
	}
	return files, nil
}

// lastLines scans r backwards from size. end is the offset just past the
// last newline (text after it is a line still being written); start is
// where the last n lines before end begin, got how many of them there are
// (fewer than n if the file has fewer; then start is 0). n < 0 asks for
// all lines: start is 0 and got is not counted.
func lastLines(r io.ReaderAt, size int64, n int) (start, end int64, got int, err error) {
	end = -1
	var buf [32 * 1024]byte
	for pos := size; pos > 0; {
		chunk := min(pos, int64(len(buf)))
		pos -= chunk
		b := buf[:chunk]
		if _, err := r.ReadAt(b, pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				continue
			}
			off := pos + int64(i)
			if end < 0 {
				end = off + 1
				if n < 0 {
					return 0, end, 0, nil
				}
			}
			if got == n {
				return off + 1, end, got, nil
			}
			got++
		}
	}
	return 0, max(end, 0), got, nil
}

// drain delivers every complete line src has now. A line still being
// written stays in the line reader for the next call with the same src.
func (rd *reader) drain(src io.Reader) error {
	if rd.lr.src != src {
		rd.lr.reset(src)
	}
	for {
		line, err := rd.lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("log: %w", err)
		}
		if err := rd.ctx.Err(); err != nil {
			return err
		}
		if err := rd.deliver(line); err != nil {
			return err
		}
	}
}

// deliver decodes one line, applies Since and Until, and calls out.
func (rd *reader) deliver(line []byte) error {
	rd.e = entry{}
	if err := json.Unmarshal(line, &rd.e); err != nil {
		return nil // a torn or foreign line: skipped
	}
	if !rd.since.IsZero() {
		if rd.e.Time.Before(rd.since) {
			return nil
		}
		rd.since = time.Time{}
	}
	if !rd.o.Until.IsZero() && rd.e.Time.After(rd.o.Until) {
		return errUntil
	}
	return rd.out(Message{
		Stream:  rd.e.Stream,
		Time:    rd.e.Time,
		Line:    []byte(rd.e.Log),
		Partial: !strings.HasSuffix(rd.e.Log, "\n"),
	})
}

// maxEntry bounds one encoded line the reader will hold: the writer's are
// at most about 100 KiB (16 KiB of text, each byte escaped to six).
// Anything longer is not ours and is skipped.
const maxEntry = 1 << 20

// lineReader splits a file that may still be growing into lines. Unlike
// bufio.Scanner it keeps an unfinished last line at EOF and completes it
// on a later call, once the writer has written the rest.
type lineReader struct {
	src      io.Reader
	buf      []byte
	r, w     int  // buf[r:w] is unread
	scanned  int  // buf[r:r+scanned] holds no newline
	skipping bool // dropping an over-long line up to its newline
}

func (l *lineReader) reset(src io.Reader) {
	l.src = src
	l.r, l.w, l.scanned, l.skipping = 0, 0, 0, false
}

// next returns the next line with its newline, valid until the next call,
// or io.EOF when src has no complete line now.
func (l *lineReader) next() ([]byte, error) {
	for {
		if i := bytes.IndexByte(l.buf[l.r+l.scanned:l.w], '\n'); i >= 0 {
			end := l.r + l.scanned + i + 1
			line := l.buf[l.r:end]
			l.r, l.scanned = end, 0
			if l.skipping {
				l.skipping = false
				continue
			}
			return line, nil
		}
		l.scanned = l.w - l.r
		if l.r > 0 {
			copy(l.buf, l.buf[l.r:l.w])
			l.w -= l.r
			l.r = 0
		}
		if l.w == len(l.buf) {
			if len(l.buf) >= maxEntry {
				l.w, l.scanned, l.skipping = 0, 0, true
			} else {
				nb := make([]byte, max(2*len(l.buf), 64*1024))
				copy(nb, l.buf[:l.w])
				l.buf = nb
			}
		}
		n, err := l.src.Read(l.buf[l.w:])
		l.w += n
		if n == 0 {
			if err == nil || err == io.EOF {
				return nil, io.EOF
			}
			return nil, err
		}
	}
}
