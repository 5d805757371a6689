package shim

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// The attach socket, <bundle>/attach.sock (mode 0600, root only).
//
// A client sends one JSON line, an AttachRequest, and then frames: a
// kind byte, a big-endian uint32 length and that many bytes (frameData:
// stdin; frameEOF: the client's stdin ended; frameResize: height and
// width, two big-endian uint16). Closing the connection without frameEOF
// is a detach: the container's stdin stays open.
//
// The shim sends the container's output: the pty's bytes as they are
// with a terminal, else stdout and stderr multiplexed in Docker's stdcopy
// frames (the attach stream of the Docker Engine API). It closes the
// connection when the container exits, once its output is drained.
type AttachRequest struct {
	// Op is "" to attach, or "stop": a user stops the container, so the
	// restart policy must not restart it (and a back-off ends now); or
	// "resolver": serve the container's DNS resolver now if it has none
	// (see RequestResolver).
	Op     string `json:"op,omitempty"`
	Stdin  bool   `json:"stdin,omitempty"`
	Stdout bool   `json:"stdout,omitempty"`
	Stderr bool   `json:"stderr,omitempty"`
	// Height and Width size the pty when the client attaches (-t).
	Height uint16 `json:"height,omitempty"`
	Width  uint16 `json:"width,omitempty"`
}

const (
	frameData   = 'd'
	frameEOF    = 'e'
	frameResize = 'r'
	maxFrame    = 1 << 20
)

// Attachment is a client's connection to a shim's attach socket.
type Attachment struct {
	conn net.Conn
	tty  bool
	mu   sync.Mutex // one frame at a time
	exit *Process   // the shim's, with Config.ReportExit (Process.Attach)
}

// Attach connects to the shim of the container whose bundle is dir.
// tty says how the output comes (see the socket's description).
func Attach(dir string, req AttachRequest, tty bool) (*Attachment, error) {
	conn, err := dialSocket(dir)
	if err != nil {
		return nil, err
	}
	line, _ := json.Marshal(req)
	if _, err := conn.Write(append(line, '\n')); err != nil {
		conn.Close()
		return nil, fmt.Errorf("attach: %w", err)
	}
	return &Attachment{conn: conn, tty: tty}, nil
}

// RequestStop tells the shim of bundle dir that a user stops its
// container (AttachRequest.Op "stop"); a shim that is gone is no error.
func RequestStop(dir string) error {
	conn, err := dialSocket(dir)
	if err != nil {
		return nil
	}
	defer conn.Close()
	line, _ := json.Marshal(AttachRequest{Op: "stop"})
	conn.Write(append(line, '\n'))
	// The shim closes the connection once it has taken the request.
	io.Copy(io.Discard, conn)
	return nil
}

func (a *Attachment) frame(kind byte, p []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, err := a.conn.Write(hdr[:]); err != nil {
		return err
	}
	_, err := a.conn.Write(p)
	return err
}

// Write sends p to the container's stdin.
func (a *Attachment) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += maxFrame {
		end := min(off+maxFrame, len(p))
		if err := a.frame(frameData, p[off:end]); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

// CloseStdin says the client's stdin ended; with StdinOnce the shim
// closes the container's.
func (a *Attachment) CloseStdin() error { return a.frame(frameEOF, nil) }

// Resize sets the container's terminal size.
func (a *Attachment) Resize(height, width uint16) error {
	var p [4]byte
	binary.BigEndian.PutUint16(p[:2], height)
	binary.BigEndian.PutUint16(p[2:], width)
	return a.frame(frameResize, p[:])
}

// Output copies the container's output to stdout and stderr until the
// shim closes the connection (the container exited) or Close.
func (a *Attachment) Output(stdout, stderr io.Writer) error {
	var err error
	if a.tty {
		_, err = io.Copy(stdout, a.conn)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, a.conn)
	}
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// WaitExit returns the exit code the container's shim reports once the
// container is gone (Config.ReportExit); ok is false without one: no
// ReportExit, or a shim that died first.
func (a *Attachment) WaitExit() (code int, ok bool) {
	if a.exit == nil {
		return 0, false
	}
	return a.exit.waitExit()
}

// Close detaches.
func (a *Attachment) Close() error {
	if a.exit != nil {
		a.exit.Close()
	}
	return a.conn.Close()
}

// readRequest reads a client's AttachRequest line; r keeps what follows.
func readRequest(r *bufio.Reader) (AttachRequest, error) {
	var req AttachRequest
	line, err := r.ReadBytes('\n')
	if err != nil {
		return req, err
	}
	return req, json.Unmarshal(line, &req)
}

// readFrame reads one client frame.
func readFrame(r *bufio.Reader, buf []byte) (kind byte, p []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("attach: a frame of %d bytes", n)
	}
	if int(n) > len(buf) {
		buf = make([]byte, n)
	}
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		return 0, nil, err
	}
	return hdr[0], buf[:n], nil
}

// socketAddr returns an address for dir's attach socket that fits in
// sun_path (108 bytes): the path itself, or for a long one the path
// through an O_PATH descriptor of dir, which the caller closes after
// connecting or binding.
func socketAddr(dir string) (addr string, closeDir func(), err error) {
	path := filepath.Join(dir, socketName)
	if len(path) < 100 {
		return path, func() {}, nil
	}
	d, err := os.OpenFile(dir, os.O_RDONLY|pathFlag, 0)
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", d.Fd(), socketName), func() { d.Close() }, nil
}

func dialSocket(dir string) (net.Conn, error) {
	addr, closeDir, err := socketAddr(dir)
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	defer closeDir()
	conn, err := net.Dial("unix", addr)
	if err != nil {
		return nil, fmt.Errorf("attach: the container's shim does not answer: %w", err)
	}
	return conn, nil
}

// RequestResolver asks the shim of bundle dir to serve its container's
// DNS resolver when the bundle has a resolver file (named conf) and the
// shim serves none yet (AttachRequest.Op "resolver"), and waits until it
// does; no shim, or no file, is no error.
func RequestResolver(dir, conf string) error {
	if _, err := os.Stat(filepath.Join(dir, conf)); err != nil {
		return nil
	}
	conn, err := dialSocket(dir)
	if err != nil {
		return nil
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, _ := json.Marshal(AttachRequest{Op: "resolver"})
	if _, err := conn.Write(append(line, '\n')); err != nil {
		return nil
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err == nil && reply != "ok\n" {
		return fmt.Errorf("the container's DNS resolver: %s", strings.TrimSpace(reply))
	}
	return nil
}
