package cli_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil"
)

// flakyProxy stands between berth and a registry. The first GET of each
// large blob is cut after half its bytes (the connection drops); every
// Range header berth sends is recorded. With stall set, blob bodies are
// sent slowly instead, so that a test can kill berth halfway.
type flakyProxy struct {
	upstream string
	host     string
	stall    time.Duration

	mu     sync.Mutex
	cut    map[string]bool
	ranges []string
}

func startProxy(t *testing.T, upstream string) *flakyProxy {
	p := &flakyProxy{upstream: upstream, cut: map[string]bool{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.host = l.Addr().String()
	srv := &http.Server{Handler: p}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return p
}

var blobPath = regexp.MustCompile(`/blobs/sha256:[0-9a-f]{64}$`)

func (p *flakyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, _ := http.NewRequest(r.Method, "http://"+p.upstream+r.URL.RequestURI(), nil)
	for k, v := range r.Header {
		req.Header[k] = v
	}
	isBlob := r.Method == http.MethodGet && blobPath.MatchString(r.URL.Path)
	if isBlob {
		p.mu.Lock()
		if rg := r.Header.Get("Range"); rg != "" {
			p.ranges = append(p.ranges, rg)
		}
		p.mu.Unlock()
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	if !isBlob || resp.ContentLength < 100000 {
		io.Copy(w, resp.Body)
		return
	}
	if p.stall > 0 {
		for {
			if _, err := io.CopyN(w, resp.Body, 16<<10); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(p.stall)
		}
	}
	p.mu.Lock()
	first := !p.cut[r.URL.Path]
	p.cut[r.URL.Path] = true
	p.mu.Unlock()
	if first && r.Header.Get("Range") == "" {
		io.CopyN(w, resp.Body, resp.ContentLength/2)
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	io.Copy(w, resp.Body)
}

func TestInterruptedPullResumesWhereItStopped(t *testing.T) {
	b := newRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, reg, "test/busybox:1")
	p := startProxy(t, reg.Host)
	name := p.host + "/test/busybox:1"

	b.fails(1, "pull", name)
	if out := b.ok("images", "-q"); out != "" {
		t.Fatalf("an interrupted pull registered an image: %q", out)
	}
	b.ok("pull", name)
	p.mu.Lock()
	ranges := append([]string{}, p.ranges...)
	p.mu.Unlock()
	if len(ranges) == 0 || !strings.HasPrefix(ranges[0], "bytes=") || ranges[0] == "bytes=0-" {
		t.Fatalf("the second pull did not resume with a Range request: %q", ranges)
	}
	tree := mountImage(t, b, name)
	if _, err := os.Stat(filepath.Join(tree, "bin/busybox")); err != nil {
		t.Error(err)
	}
}

// TestKill9DuringPullLeavesNothingHalfDone kills berth pull at several
// points; each time, the store must hold either the whole image or none
// of it, and system prune must find every leftover directory.
func TestKill9DuringPullLeavesNothingHalfDone(t *testing.T) {
	b := newRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, reg, "test/busybox:1")
	p := startProxy(t, reg.Host)
	p.stall = 5 * time.Millisecond
	name := p.host + "/test/busybox:1"
	for i, delay := range []time.Duration{20, 60, 120, 200, 300, 500} {
		cmd := exec.Command(berthBin, "--root", b.root, "pull", name)
		cmd.Env = b.env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		ids := strings.Fields(b.ok("images", "-q"))
		t.Logf("killed after %v: %d image(s), %d snapshot dir(s), %d partial ingest(s)", delay*time.Millisecond, len(ids),
			countDirs(t, filepath.Join(b.root, "snapshots")), countDirs(t, filepath.Join(b.root, "content/ingest")))
		if len(ids) > 1 {
			t.Fatalf("kill %d: %d images", i, len(ids))
		}
		if len(ids) == 1 {
			// Registered means complete: every layer mounts.
			tree := mountImage(t, b, ids[0])
			if _, err := os.Stat(filepath.Join(tree, "etc/layer2")); err != nil {
				t.Fatalf("kill %d: registered image is incomplete: %v", i, err)
			}
			b.ok("rmi", name)
		}
		b.ok("system", "prune", "-f")
		if n := countDirs(t, filepath.Join(b.root, "snapshots")); n != 0 {
			t.Fatalf("kill %d after %v: %d snapshot directories left after prune", i, delay, n)
		}
	}
	// Ctrl-C is not kill -9: berth cleans up on its way out, no prune needed.
	b.run("", "rmi", "-f", name)
	b.ok("system", "prune", "-f")
	os.RemoveAll(filepath.Join(b.root, "content/ingest"))
	os.MkdirAll(filepath.Join(b.root, "content/ingest"), 0o700)
	cmd := exec.Command(berthBin, "--root", b.root, "pull", name)
	cmd.Env = b.env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err == nil {
		t.Error("an interrupted pull exited 0")
	}
	if n := countDirs(t, filepath.Join(b.root, "snapshots")); n != 0 {
		t.Errorf("after Ctrl-C: %d snapshot directories left", n)
	}
	p.stall = 0
	b.ok("pull", name)
	if n := countDirs(t, filepath.Join(b.root, "snapshots")); n != 2 {
		t.Errorf("after a clean pull: %d snapshot directories, want 2", n)
	}
}

func countDirs(t *testing.T, dir string) int {
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(ents)
}

// TestConcurrentCommandsKeepTheStoreConsistent runs pulls, tags and
// removals from several berth processes at once.
func TestConcurrentCommandsKeepTheStoreConsistent(t *testing.T) {
	b := newRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, reg, "test/busybox:1")
	name := reg.Host + "/test/busybox:1"
	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, errOut, code := b.run("", "pull", "-q", name); code != 0 {
				errs <- fmt.Sprintf("pull %d: %s %s", i, out, errOut)
			}
		}()
	}
	wg.Wait()
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, errOut, code := b.run("", "tag", name, fmt.Sprintf("copy/%d:x", i)); code != 0 {
				errs <- fmt.Sprintf("tag %d: %s", i, errOut)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	out := b.ok("images", "--format", "{{.Repository}}:{{.Tag}}")
	if n := len(strings.Fields(out)); n != 9 {
		t.Errorf("want 9 names, got %d:\n%s", n, out)
	}
	if n := countDirs(t, filepath.Join(b.root, "snapshots")); n != 2 {
		t.Errorf("concurrent pulls of one image: %d snapshot directories, want 2", n)
	}
	if n := len(strings.Fields(b.ok("images", "-q"))); n != 1 {
		t.Errorf("images -q: %d IDs, want 1", n)
	}
}
