package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// maxLine is where a line without a newline is cut into a partial
// message: dockerd's copier buffer (defaultBufSize), 16 KiB.
const maxLine = 16 * 1024

// flushAt bounds the encoded lines a Writer holds before writing them
// out, so one large Write does not grow the buffer without limit.
const flushAt = 64 * 1024

// filePerm is what dockerd creates json-file logs with.
const filePerm = 0o640

// Writer appends a container's output to a json-file log. The streams it
// hands out share one lock, one encoding buffer and one file: each Write
// encodes its complete lines into the buffer and writes them with one
// write(2), so lines never interleave mid-line and a Write costs no
// allocation once the buffers have grown.
type Writer struct {
	path string
	opts Options
	now  func() time.Time

	mu      sync.Mutex
	f       *os.File // nil after a failed rotation until reopened
	size    int64    // bytes in f, written or buffered in buf excluded
	buf     []byte   // encoded lines not yet written to f
	streams []*stream
	closed  bool
}

// New opens (creating it if needed) the log at path and appends to it;
// path's directory must exist. A line torn by a crash of a previous
// writer is terminated first, so the next line does not run into it; a
// reader skips it as it skips any line that is not valid JSON.
func New(path string, o Options) (*Writer, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.MaxFile == 0 {
		o.MaxFile = 1
	}
	w := &Writer{path: path, opts: o, now: o.Now}
	if w.now == nil {
		w.now = time.Now
	}
	f, size, err := openLog(path, 0)
	if err != nil {
		return nil, err
	}
	if size > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], size-1); err != nil {
			f.Close()
			return nil, fmt.Errorf("log %s: %w", path, err)
		}
		if last[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				f.Close()
				return nil, fmt.Errorf("log %s: %w", path, err)
			}
			size++
		}
	}
	w.f, w.size = f, size
	return w, nil
}

// openLog opens path for appending (read access is for New's look at the
// last byte) and returns its size.
func openLog(path string, flag int) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|flag, filePerm)
	if err != nil {
		return nil, 0, fmt.Errorf("log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("log: %w", err)
	}
	return f, st.Size(), nil
}

// Stream returns the writer for one of the container's streams, named as
// the "stream" key records it: "stdout" or "stderr". Each Stream writer
// splits what it is given into lines on its own, so the two may be written
// from two goroutines; one Stream writer should not be shared by two
// goroutines, or their bytes mix within lines (as they would on a pipe).
// Call it once per stream: Close flushes every writer it handed out.
//
// A Write that fails (a full disk, a failed rotation) returns the error
// with n == len(p): those bytes are dropped, as dockerd drops a message it
// cannot log, and the next Write tries again. A supervisor should keep
// reading the container's pipe after an error, or the container blocks.
func (w *Writer) Stream(name string) io.Writer {
	s := &stream{w: w, suffix: entrySuffix(name)}
	w.mu.Lock()
	w.streams = append(w.streams, s)
	w.mu.Unlock()
	return s
}

// stream is the line splitter for one source. Its fields are guarded by
// w.mu, which Close also takes to flush pending.
type stream struct {
	w      *Writer
	suffix []byte // from entrySuffix

	// pending is the start of a line whose newline has not come yet,
	// less than maxLine bytes. Its array (maxLine bytes) is kept.
	pending []byte
	// partialAt is the time of the first piece of a line being written
	// in pieces; Docker gives all of a line's pieces that time.
	partialAt time.Time
	inPartial bool
}

func (s *stream) Write(p []byte) (int, error) {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, fmt.Errorf("log %s: %w", w.path, os.ErrClosed)
	}
	n := len(p)
	var err error
	for len(p) > 0 && err == nil {
		if len(s.pending) == 0 {
			// The common case: lines straight from p, no copy.
			i := bytes.IndexByte(p, '\n')
			switch {
			case i >= 0 && i < maxLine:
				err = s.emit(p[:i], true)
				p = p[i+1:]
			case i < 0 && len(p) < maxLine:
				s.pending = append(s.pendingBuf(), p...)
				p = nil
			default: // 16 KiB without a newline
				err = s.emit(p[:maxLine], false)
				p = p[maxLine:]
			}
			continue
		}
		room := maxLine - len(s.pending)
		i := bytes.IndexByte(p, '\n')
		switch {
		case i >= 0 && i < room:
			s.pending = append(s.pending, p[:i]...)
			err = s.emit(s.pending, true)
			s.pending = s.pending[:0]
			p = p[i+1:]
		case i < 0 && len(p) < room:
			s.pending = append(s.pending, p...)
			p = nil
		default:
			s.pending = append(s.pending, p[:room]...)
			err = s.emit(s.pending, false)
			s.pending = s.pending[:0]
			p = p[room:]
		}
	}
	if ferr := w.flush(); err == nil {
		err = ferr
	}
	if err != nil {
		// The rest of p is dropped; keep no half line from before the
		// failure either.
		s.pending = s.pending[:0]
		s.inPartial = false
	}
	return n, err
}

// pendingBuf returns pending's kept array, emptied.
func (s *stream) pendingBuf() []byte {
	if s.pending == nil {
		s.pending = make([]byte, 0, maxLine)
	}
	return s.pending[:0]
}

// emit encodes one line (complete: written with its newline) or one piece
// of a long or unfinished line (without) into w.buf, rotating first if the
// file is full. It must be called with w.mu held.
func (s *stream) emit(line []byte, complete bool) error {
	w := s.w
	var t time.Time
	if s.inPartial {
		t = s.partialAt
	} else {
		t = w.now()
	}
	if complete {
		s.inPartial = false
	} else if !s.inPartial {
		s.inPartial, s.partialAt = true, t
	}
	if w.opts.MaxSize > 0 && w.size+int64(len(w.buf)) >= w.opts.MaxSize {
		if err := w.flush(); err != nil {
			return err
		}
		if err := w.rotate(); err != nil {
			return err
		}
	}
	w.buf = appendEntry(w.buf, line, complete, s.suffix, t)
	if len(w.buf) >= flushAt {
		return w.flush()
	}
	return nil
}

// flush writes w.buf to the file. On failure the buffered lines are
// dropped. It must be called with w.mu held.
func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	defer func() { w.buf = w.buf[:0] }()
	if w.f == nil {
		f, size, err := openLog(w.path, 0)
		if err != nil {
			return err
		}
		w.f, w.size = f, size
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("log %s: %w", w.path, err)
	}
	return nil
}

// rotate moves the full file out of the way, as dockerd's LogFile.rotate
// does, and starts a new one. It must be called with w.mu held and w.buf
// flushed.
func (w *Writer) rotate() error {
	if w.f != nil {
		err := w.f.Close()
		w.f = nil
		if err != nil {
			return fmt.Errorf("log %s: %w", w.path, err)
		}
	}
	if err := shift(w.path, w.opts.MaxFile); err != nil {
		// Keep appending to the full file rather than lose it; the
		// next line tries the rotation again.
		return err
	}
	f, size, err := openLog(w.path, os.O_TRUNC)
	if err != nil {
		return err
	}
	w.f, w.size = f, size
	return nil
}

// shift renames path.maxFile-2 … path.1 up by one, dropping path.maxFile-1,
// and path to path.1; with maxFile 1 it removes path. A reader holding a
// file open keeps reading it whatever its name becomes.
func shift(path string, maxFile int) error {
	if maxFile < 2 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("log rotate: %w", err)
		}
		return nil
	}
	name := func(i int) string { return path + "." + strconv.Itoa(i) }
	if err := os.Remove(name(maxFile - 1)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("log rotate: removing the oldest file: %w", err)
	}
	for i := maxFile - 1; i > 1; i-- {
		if err := os.Rename(name(i-1), name(i)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("log rotate: %w", err)
		}
	}
	if err := os.Rename(path, name(1)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("log rotate: %w", err)
	}
	return nil
}

// Close writes out what each stream holds without a newline, as a partial
// line (dockerd does the same when a stream ends), and closes the file.
// Writes after Close fail with os.ErrClosed; a second Close does nothing.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	var errs []error
	for _, s := range w.streams {
		if len(s.pending) > 0 {
			errs = append(errs, s.emit(s.pending, false))
			s.pending = s.pending[:0]
		}
	}
	errs = append(errs, w.flush())
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("log %s: %w", w.path, err))
		}
		w.f = nil
	}
	return errors.Join(errs...)
}
