package term

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/containerd/console"
	xterm "golang.org/x/term"
)

func TestParseDetachKeys(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []byte
		err  string
	}{
		{"", []byte{16, 17}, ""},
		{"ctrl-p,ctrl-q", []byte{16, 17}, ""},
		{"ctrl-a,x", []byte{1, 'x'}, ""},
		{"ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", []byte{0, 27, 28, 29, 30, 31}, ""},
		{"DEL", []byte{127}, ""},
		{"ctrl-1", nil, "invalid detach keys (ctrl-1): Unknown character: 'ctrl-1'"},
		{"ab", nil, "invalid detach keys (ab): Unknown character: 'ab'"},
	} {
		got, err := ParseDetachKeys(c.in)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("ParseDetachKeys(%q): %v, want error %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("ParseDetachKeys(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

// TestDetachReader: the sequence is swallowed and ends the stream with
// ErrDetached, also when it is split across reads; a partial sequence
// that turns out not to be one is passed on.
func TestDetachReader(t *testing.T) {
	keys, _ := ParseDetachKeys("")
	for _, c := range []struct {
		name, in, want string
		detached       bool
	}{
		{"plain", "echo hi\n", "echo hi\n", false},
		{"detach", "ls\n\x10\x11after", "ls\n", true},
		{"partial then other", "a\x10b\x11", "a\x10b\x11", false},
		{"at start", "\x10\x11", "", true},
	} {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(c.in)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			got, err := io.ReadAll(DetachReader(r, keys))
			if string(got) != c.want || IsDetached(err) != c.detached {
				t.Errorf("%s (one byte reads %v): read %q, %v; want %q, detached %v", c.name, oneByte, got, err, c.want, c.detached)
			}
		}
	}
	if ErrDetached.Error() != "read escape sequence" {
		t.Errorf("ErrDetached says %q", ErrDetached)
	}
}

// TestRawAndSize drives a real pty: raw mode clears echo and canonical
// input and restore brings them back; SetSize on the master is what
// GetSize reads on the slave.
func TestRawAndSize(t *testing.T) {
	master, slavePath, err := console.NewPty()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	slave, err := os.OpenFile(slavePath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	if !IsTerminal(slave) {
		t.Fatal("the pty slave is not a terminal")
	}
	mf := os.NewFile(master.Fd(), "master")
	if err := SetSize(mf, Size{Width: 91, Height: 17}); err != nil {
		t.Fatal(err)
	}
	if s, err := GetSize(slave); err != nil || s != (Size{Width: 91, Height: 17}) {
		t.Errorf("GetSize = %v, %v; want 91x17", s, err)
	}
	before, _ := xterm.GetState(int(slave.Fd()))
	restore, err := SetRaw(slave)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := xterm.GetState(int(slave.Fd()))
	if *raw == *before {
		t.Error("SetRaw changed nothing")
	}
	restore()
	restore()
	after, _ := xterm.GetState(int(slave.Fd()))
	if *after != *before {
		t.Error("restore did not bring the terminal back")
	}
}
