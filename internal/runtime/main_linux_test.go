package runtime

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/internal/testutil"
)

func TestMain(m *testing.M) {
	// The runtime re-executes its own binary as the container init (in
	// tests, the test binary), which this package's init() turns into one
	// before TestMain runs.
	code := m.Run()
	testutil.CleanupShared()
	os.Exit(code)
}

var idSeq atomic.Int64

// newTestRuntime returns a Runtime with a private state root, and a fresh
// container id; whatever the test leaves is deleted at cleanup.
func newTestRuntime(t *testing.T) (*Runtime, string) {
	t.Helper()
	testutil.RequireRoot(t, "containers need namespaces, mounts and cgroups")
	r := &Runtime{Root: t.TempDir(), Warn: t.Logf}
	id := fmt.Sprintf("t%d-%d", os.Getpid(), idSeq.Add(1))
	t.Cleanup(func() {
		if _, err := r.load(id); err == nil {
			if err := r.Delete(id, true); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return r, id
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs the bundle's container in the foreground and collects its output.
func run(t *testing.T, r *Runtime, id string, b *testutil.Bundle) result {
	t.Helper()
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	var out, errb bytes.Buffer
	done := make(chan struct{}, 2)
	go func() { io.Copy(&out, outR); done <- struct{}{} }()
	go func() { io.Copy(&errb, errR); done <- struct{}{} }()
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	code, err := r.Run(id, CreateOpts{Bundle: b.Dir, Stdin: devnull, Stdout: outW, Stderr: errW}, false)
	outW.Close()
	errW.Close()
	<-done
	<-done
	if err != nil {
		t.Fatalf("run: %v (stderr: %s)", err, errb.String())
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// runSh runs a shell script in a fresh busybox container, edited by edit.
func runSh(t *testing.T, script string, edit func(b *testutil.Bundle)) result {
	t.Helper()
	r, id := newTestRuntime(t)
	b := testutil.NewBundle(t, "sh", "-c", script)
	if edit != nil {
		edit(b)
	}
	b.Save(t)
	return run(t, r, id, b)
}

func mustOK(t *testing.T, res result) string {
	t.Helper()
	if res.code != 0 {
		t.Fatalf("exit %d; stdout %q; stderr %q", res.code, res.stdout, res.stderr)
	}
	return strings.TrimSpace(res.stdout)
}

// assertNoLeftovers checks that nothing of container id remains: no state
// directory and no mounts under the bundle.
func assertNoLeftovers(t *testing.T, r *Runtime, id string, bundle string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(r.Root, id)); !os.IsNotExist(err) {
		t.Errorf("state dir of %s still exists (err %v)", id, err)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if bundle != "" && strings.Contains(string(mi), bundle) {
		t.Errorf("mounts under %s remain on the host", bundle)
	}
}
