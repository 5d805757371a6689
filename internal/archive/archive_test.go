package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// ent is a tar entry to build: its header and, for regular files, body.
type ent struct {
	tar.Header
	body string
}

func file(name, body string) ent {
	return ent{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, body}
}

func dir(name string) ent {
	return ent{Header: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

func symlink(name, target string) ent {
	return ent{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

func hardlink(name, target string) ent {
	return ent{Header: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target}}
}

func whiteout(name string) ent { return file(name, "") }

// buildTar writes ents as a tar stream.
func buildTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.Header
		if h.Format == tar.FormatUnknown && (len(h.PAXRecords) > 0) {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("tar header %q: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatalf("tar body %q: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecompress(t *testing.T) {
	plain := buildTar(t, file("a", "hello"), dir("d/"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	zst := enc.EncodeAll(plain, nil)

	for _, tc := range []struct {
		name    string
		in      []byte
		want    []byte
		wantErr error
	}{
		{"plain tar passes through", plain, plain, nil},
		{"gzip", gz.Bytes(), plain, nil},
		{"empty", nil, nil, nil},
		{"shorter than any magic", []byte{0x1f}, []byte{0x1f}, nil},
		{"zstd", zst, plain, nil},
		{"bzip2 refused", append([]byte("BZh91AY&SY"), make([]byte, 16)...), nil, errors.ErrUnsupported},
		{"xz refused", append([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, make([]byte, 16)...), nil, errors.ErrUnsupported},
		{"a tar whose first name starts BZh is plain", buildTar(t, file("BZh9-notes", "x")), buildTar(t, file("BZh9-notes", "x")), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := Decompress(bytes.NewReader(tc.in))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Decompress: err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(tc.want))
			}
		})
	}
}

func TestDecompressCorruptGzip(t *testing.T) {
	if _, err := Decompress(bytes.NewReader([]byte{0x1f, 0x8b, 0, 0, 0})); err == nil {
		t.Fatal("a truncated gzip header was accepted")
	}
}

// The package doc's promise: archive imports no other berth package, so
// anything may use it and it can be reviewed on its own.
func TestImportsNoBerthPackage(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-test", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	const module = "github.com/berth-dev/berth/"
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, module) && !strings.HasPrefix(dep, module+"internal/archive") {
			t.Errorf("archive depends on %s", dep)
		}
	}
}
