package runtime

import (
	"bytes"
	"cmp"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testutil"
)

// createWithSpare creates b's container with a spare started before the
// rootfs got a mount at /mnt, feeding it stdin, and returns the spare's
// pid, the container's pid, and its stdout and stderr once it has run.
func createWithSpare(t *testing.T, r *Runtime, id string, b *testutil.Bundle, stdin, spareCgroup string) (sparePid, pid int, stdout, stderr string) {
	t.Helper()
	spare, err := Prespawn(cmp.Or(spareCgroup, b.Spec.Linux.CgroupsPath))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(spare.Close)
	sparePid = spare.ch.cmd.Process.Pid
	// A mount made after the spare started: the container must see it.
	mnt := filepath.Join(b.Dir, "rootfs", "mnt")
	os.MkdirAll(mnt, 0o755)
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	os.WriteFile(filepath.Join(mnt, "marker"), []byte("mounted-later"), 0o644)

	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	io.WriteString(inW, stdin)
	inW.Close()
	var out, errb bytes.Buffer
	done := make(chan struct{}, 2)
	go func() { io.Copy(&out, outR); done <- struct{}{} }()
	go func() { io.Copy(&errb, errR); done <- struct{}{} }()
	err = r.Create(id, CreateOpts{Bundle: b.Dir, Stdin: inR, Stdout: outW, Stderr: errW, Spare: spare})
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.State(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(id); err != nil {
		t.Fatal(err)
	}
	<-done
	<-done
	for i := 0; i < 200 && func() bool { s, _ := r.State(id); return s.Status != specs.StateStopped }(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if err := r.Delete(id, false); err != nil {
		t.Fatal(err)
	}
	unix.Unmount(mnt, unix.MNT_DETACH)
	return sparePid, st.Pid, out.String(), errb.String()
}

func TestSpareIsAdopted(t *testing.T) {
	r, id := newTestRuntime(t)
	nsPath := netnsHolder(t)
	want, _ := os.Readlink(nsPath)
	b := testutil.NewBundle(t, "sh", "-c", `read line; echo "stdin:$line"; echo to-stderr >&2
		echo "pid:$$"; hostname; readlink /proc/self/ns/net; cat /mnt/marker`)
	b.Spec.Hostname = "spare-host"
	for i, ns := range b.Spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			b.Spec.Linux.Namespaces[i].Path = nsPath
		}
	}
	b.Save(t)
	sparePid, pid, out, errOut := createWithSpare(t, r, id, b, "hello\n", "")
	if pid != sparePid {
		t.Errorf("the container's init is pid %d, not the spare %d", pid, sparePid)
	}
	wantOut := strings.Join([]string{"stdin:hello", "pid:1", "spare-host", want, "mounted-later"}, "\n")
	if strings.TrimSpace(out) != wantOut || strings.TrimSpace(errOut) != "to-stderr" {
		t.Errorf("stdout %q, stderr %q; want stdout %q, stderr %q", out, errOut, wantOut, "to-stderr")
	}
	assertNoLeftovers(t, r, id, b.Dir)
}

func TestSpareThatDoesNotFitIsEnded(t *testing.T) {
	r, id := newTestRuntime(t)
	b := testutil.NewBundle(t, "sh", "-c", `echo ran`)
	// No new pid namespace: the spare was born in one.
	var nss []specs.LinuxNamespace
	for _, ns := range b.Spec.Linux.Namespaces {
		if ns.Type != specs.PIDNamespace {
			nss = append(nss, ns)
		}
	}
	b.Spec.Linux.Namespaces = nss
	b.Save(t)
	sparePid, pid, out, errOut := createWithSpare(t, r, id, b, "", "")
	if pid == sparePid {
		t.Fatalf("a spare in a new pid namespace was adopted by a container without one")
	}
	if strings.TrimSpace(out) != "ran" {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
	if err := unix.Kill(sparePid, 0); err != unix.ESRCH {
		t.Errorf("the spare (pid %d) is still there: %v", sparePid, err)
	}
	assertNoLeftovers(t, r, id, b.Dir)
}

// TestSpareInAnotherCgroupIsEnded: a spare started in another cgroup than
// the container's is not adopted; it ends, and its cgroup goes.
func TestSpareInAnotherCgroupIsEnded(t *testing.T) {
	r, id := newTestRuntime(t)
	b := testutil.NewBundle(t, "sh", "-c", `echo ran`)
	other := b.Spec.Linux.CgroupsPath + "-other"
	sparePid, pid, out, errOut := createWithSpare(t, r, id, b, "", other)
	if pid == sparePid {
		t.Fatalf("a spare in cgroup %s was adopted by a container of cgroup %s", other, b.Spec.Linux.CgroupsPath)
	}
	if strings.TrimSpace(out) != "ran" {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
	if err := unix.Kill(sparePid, 0); err != unix.ESRCH {
		t.Errorf("the spare (pid %d) is still there: %v", sparePid, err)
	}
	if left, _ := filepath.Glob("/sys/fs/cgroup/*" + other); len(left) > 0 {
		t.Errorf("the spare's cgroup is left: %v", left)
	}
	if left, _ := filepath.Glob("/sys/fs/cgroup" + other); len(left) > 0 {
		t.Errorf("the spare's cgroup is left: %v", left)
	}
	assertNoLeftovers(t, r, id, b.Dir)
}
