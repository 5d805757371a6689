package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/testutil"
)

// execOutput runs args in container id and returns its combined output and
// exit code.
func execOutput(t *testing.T, r *Runtime, id string, base *specs.Process, args ...string) (string, int) {
	t.Helper()
	p := *base
	p.Args = args
	rd, wr, _ := os.Pipe()
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&buf, rd); close(done) }()
	code, err := r.Exec(id, &p, ExecOpts{Stdout: wr, Stderr: wr})
	wr.Close()
	<-done
	if err != nil {
		t.Fatalf("exec %v: %v", args, err)
	}
	return strings.TrimSpace(buf.String()), code
}

// CVE-2024-21626: no descriptor of the runtime reaches the container, and a
// working directory reached through one (a host directory) is refused.
func TestNoHostDescriptorLeaks(t *testing.T) {
	// The container's process, seen from an exec'd one while it idles.
	r0, id0 := newTestRuntime(t)
	b0 := testutil.NewBundle(t, "sleep", "300")
	if err := r0.Create(id0, CreateOpts{Bundle: b0.Dir}); err != nil {
		t.Fatal(err)
	}
	if err := r0.Start(id0); err != nil {
		t.Fatal(err)
	}
	if out, _ := execOutput(t, r0, id0, b0.Spec.Process, "ls", "/proc/1/fd"); strings.Fields(out) == nil || strings.Join(strings.Fields(out), " ") != "0 1 2" {
		t.Fatalf("descriptors of the container's process: %q, want only 0 1 2", out)
	}
	for fd := 3; fd < 16; fd++ {
		r, id := newTestRuntime(t)
		b := testutil.NewBundle(t, "sh", "-c", "readlink /proc/self/cwd")
		b.Spec.Process.Cwd = fmt.Sprintf("/proc/self/fd/%d", fd)
		b.Save(t)
		devnull, _ := os.Open(os.DevNull)
		rd, wr, _ := os.Pipe()
		code, err := r.Run(id, CreateOpts{Bundle: b.Dir, Stdin: devnull, Stdout: wr, Stderr: wr}, false)
		wr.Close()
		got, _ := io.ReadAll(rd)
		devnull.Close()
		if err == nil && (code != 0 || strings.Contains(string(got), "unreachable") || !strings.HasPrefix(string(got), "/")) {
			t.Errorf("cwd /proc/self/fd/%d: the process ran with cwd %q (exit %d)", fd, got, code)
		}
	}
}

// CVE-2021-30465: a mount destination that goes through a symlink in the
// rootfs is resolved inside the rootfs, never on the host.
func TestMountTargetSymlinkStaysInRootfs(t *testing.T) {
	hostDir := t.TempDir()
	os.WriteFile(filepath.Join(hostDir, "host-marker"), nil, 0o644)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "mounted-marker"), nil, 0o644)
	out := mustOK(t, runSh(t, `ls /escape/; ls `+hostDir, func(b *testutil.Bundle) {
		rootfs := filepath.Join(b.Dir, "rootfs")
		// The link's target exists in the rootfs too; a runtime that
		// followed the link on the host would mount over hostDir instead.
		if err := os.MkdirAll(filepath.Join(rootfs, hostDir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(strings.Repeat("../", 20)+hostDir, filepath.Join(rootfs, "escape")); err != nil {
			t.Fatal(err)
		}
		b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/escape", Type: "bind", Source: src, Options: []string{"rbind"}})
	}))
	if out != "mounted-marker\nmounted-marker" {
		t.Fatalf("inside the container: %q; want the mount at the in-rootfs path %s", out, hostDir)
	}
	if entries, _ := os.ReadDir(hostDir); len(entries) != 1 || entries[0].Name() != "host-marker" {
		t.Fatalf("host directory changed: %v", entries)
	}
}

// A mount destination through a dangling symlink (an image's /data ->
// /srv/data, or one planted to name a host directory) makes the link's
// target inside the rootfs, as runc does, and mounts there: nothing is
// made or mounted on the host.
func TestMountTargetDanglingSymlinkMadeInRootfs(t *testing.T) {
	parent := t.TempDir()
	hostDir := filepath.Join(parent, "not-there")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "mounted-marker"), nil, 0o644)
	out := mustOK(t, runSh(t, `ls /abs/ /rel/ `+hostDir+`/a `+hostDir+`/r`, func(b *testutil.Bundle) {
		rootfs := filepath.Join(b.Dir, "rootfs")
		if err := os.Symlink(hostDir+"/a", filepath.Join(rootfs, "abs")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(strings.Repeat("../", 20)+hostDir+"/r", filepath.Join(rootfs, "rel")); err != nil {
			t.Fatal(err)
		}
		b.Spec.Mounts = append(b.Spec.Mounts,
			specs.Mount{Destination: "/abs", Type: "bind", Source: src, Options: []string{"rbind"}},
			specs.Mount{Destination: "/rel", Type: "tmpfs", Source: "tmpfs"})
	}))
	want := "/abs/:\nmounted-marker\n\n/rel/:\n\n" + hostDir + "/a:\nmounted-marker\n\n" + hostDir + "/r:"
	if out != want {
		t.Fatalf("inside the container:\n%s\nwant:\n%s", out, want)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("made on the host: %v", entries)
	}
}

// A mount destination with several missing levels gets all of them made in
// the rootfs, directly and below a symlink to a directory of the rootfs.
func TestMountTargetMissingLevelsMade(t *testing.T) {
	out := mustOK(t, runSh(t, `grep -E ' /(new/a/b|srv/c/d) ' /proc/mounts | cut -d' ' -f2`, func(b *testutil.Bundle) {
		rootfs := filepath.Join(b.Dir, "rootfs")
		if err := os.MkdirAll(filepath.Join(rootfs, "srv"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/srv", filepath.Join(rootfs, "lnk")); err != nil {
			t.Fatal(err)
		}
		b.Spec.Mounts = append(b.Spec.Mounts,
			specs.Mount{Destination: "/new/a/b", Type: "tmpfs", Source: "tmpfs"},
			specs.Mount{Destination: "/lnk/c/d", Type: "tmpfs", Source: "tmpfs"})
	}))
	if out != "/new/a/b\n/srv/c/d" {
		t.Fatalf("tmpfs mounts in the container: %q, want /new/a/b and /srv/c/d", out)
	}
}

// A terminal container gets a pty of the configured size, whose master is
// sent to the console socket.
func TestConsoleSocketAndSize(t *testing.T) {
	r, id := newTestRuntime(t)
	b := testutil.NewBundle(t, "sh", "-c", "stty size; tty; ls -l /dev/console | cut -c1")
	b.Spec.Process.Terminal = true
	b.Spec.Process.ConsoleSize = &specs.Box{Height: 33, Width: 97}
	b.Save(t)
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	masterc := make(chan *os.File, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			masterc <- nil
			return
		}
		f, _ := c.(*net.UnixConn).File()
		c.Close()
		m, _ := recvFd(f)
		f.Close()
		masterc <- m
	}()
	if err := r.Create(id, CreateOpts{Bundle: b.Dir, ConsoleSocket: sock}); err != nil {
		t.Fatal(err)
	}
	master := <-masterc
	if master == nil {
		t.Fatal("no pty master received on the console socket")
	}
	defer master.Close()
	if err := r.Start(id); err != nil {
		t.Fatal(err)
	}
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	out, _ := io.ReadAll(master) // ends with EIO when the process exits
	lines := strings.Split(strings.ReplaceAll(strings.TrimSpace(string(out)), "\r", ""), "\n")
	if len(lines) != 3 || lines[0] != "33 97" || !strings.HasPrefix(lines[1], "/dev/pts/") || lines[2] != "c" {
		t.Fatalf("terminal output %q; want size 33 97, a /dev/pts tty and /dev/console a char device", lines)
	}
}

// SCMP_ACT_NOTIFY rules: the listener goes to the agent at listenerPath,
// with the container process state.
func TestSeccompNotifyListener(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type got struct {
		state specs.ContainerProcessState
		err   error
	}
	gotc := make(chan got, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			gotc <- got{err: err}
			return
		}
		f, _ := c.(*net.UnixConn).File()
		c.Close()
		defer f.Close()
		listener, err := recvFd(f)
		if err != nil {
			gotc <- got{err: err}
			return
		}
		var st specs.ContainerProcessState
		err = json.Unmarshal([]byte(listener.Name()), &st)
		// Closing the listener makes the notifying syscalls fail with ENOSYS.
		listener.Close()
		gotc <- got{state: st, err: err}
	}()
	res := runSh(t, `sleep 0.3; mkdir /tmp/x || echo refused`, func(b *testutil.Bundle) {
		b.Spec.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction:    specs.ActAllow,
			ListenerPath:     sock,
			ListenerMetadata: "meta-42",
			Syscalls:         []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
		}
	})
	g := <-gotc
	if g.err != nil {
		t.Fatal(g.err)
	}
	if g.state.Metadata != "meta-42" || len(g.state.Fds) != 1 || g.state.Fds[0] != "seccompFd" || g.state.Pid == 0 || g.state.State.ID == "" {
		t.Fatalf("process state sent to the agent: %+v", g.state)
	}
	if strings.TrimSpace(res.stdout) != "refused" {
		t.Fatalf("mkdir with the agent gone: %q %q", res.stdout, res.stderr)
	}
}
