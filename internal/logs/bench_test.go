package logs

import (
	"bytes"
	"path/filepath"
	"testing"
)

// BenchmarkWrite: one 100-byte line per Write, as a program writing line
// by line produces them, with berth's default rotation (10 MB × 3).
func BenchmarkWrite(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 99), '\n')
	w := mustNew(b, filepath.Join(b.TempDir(), "json.log"), Options{MaxSize: DefaultMaxSize, MaxFile: DefaultMaxFile})
	defer w.Close()
	s := w.Stream("stdout")
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Write(line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteChunks: 100-byte lines arriving 40 to a Write, as a busy
// pipe delivers them; ns/op is per line.
func BenchmarkWriteChunks(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 99), '\n')
	chunk := bytes.Repeat(line, 40)
	w := mustNew(b, filepath.Join(b.TempDir(), "json.log"), Options{MaxSize: DefaultMaxSize, MaxFile: DefaultMaxFile})
	defer w.Close()
	s := w.Stream("stdout")
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%40 == 0 {
			if _, err := s.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
	}
}
