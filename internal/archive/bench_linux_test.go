package archive

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// benchTar names the tar BenchmarkApply unpacks: BERTH_ARCHIVE_BENCH_TAR, or
// /tmp/berth-archive-bench.tar, made for instance with
//
//	tar -C / -cf /tmp/berth-archive-bench.tar usr/share/doc usr/lib/python3.11 \
//	    usr/share/perl usr/share/zoneinfo usr/share/i18n etc
//
// (207 MB, 11.6k entries on a Debian host). BERTH_ARCHIVE_BENCH_DIR says
// where to unpack (default: the temporary directory; /dev/shm takes the
// disk out).
func benchTar(b *testing.B) (string, string) {
	tarPath := os.Getenv("BERTH_ARCHIVE_BENCH_TAR")
	if tarPath == "" {
		tarPath = "/tmp/berth-archive-bench.tar"
	}
	if _, err := os.Stat(tarPath); err != nil {
		b.Skipf("no benchmark tar: %v", err)
	}
	dir := os.Getenv("BERTH_ARCHIVE_BENCH_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	return tarPath, dir
}

// BenchmarkApply compares Apply with GNU tar -x on the same tar, both into
// a fresh directory, both setting owners, modes and times.
func BenchmarkApply(b *testing.B) {
	tarPath, parent := benchTar(b)
	st, err := os.Stat(tarPath)
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, unpack func(dst string) error) {
		b.SetBytes(st.Size())
		for b.Loop() {
			b.StopTimer()
			dst, err := os.MkdirTemp(parent, "berth-bench-")
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			err = unpack(dst)
			b.StopTimer()
			os.RemoveAll(dst)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.Run("berth", func(b *testing.B) {
		run(b, func(dst string) error {
			f, err := os.Open(tarPath)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = Apply(context.Background(), dst, f, Options{})
			return err
		})
	})
	b.Run("tar-x", func(b *testing.B) {
		if _, err := exec.LookPath("tar"); err != nil {
			b.Skip("no tar")
		}
		run(b, func(dst string) error {
			cmd := exec.Command("tar", "-C", dst, "-xpf", tarPath)
			cmd.Stderr = os.Stderr
			return cmd.Run()
		})
	})
}

// BenchmarkTar writes back the tree of the benchmark tar.
func BenchmarkTar(b *testing.B) {
	tarPath, parent := benchTar(b)
	f, err := os.Open(tarPath)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	src := filepath.Join(b.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		b.Fatal(err)
	}
	_ = parent
	if _, err := Apply(context.Background(), src, f, Options{}); err != nil {
		b.Fatal(err)
	}
	st, _ := f.Stat()
	b.SetBytes(st.Size())
	for b.Loop() {
		if err := Tar(context.Background(), src, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
