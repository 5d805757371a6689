package cli_test

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testutil"
)

// cpSetup is the shell a cp test container runs to make its tree: files
// with modes, and symlinks planted to lead out of it, to host, a host
// directory holding a secret that no cp may read or write. With mkHost
// the container has a directory at the host directory's path.
func cpSetup(host string, mkHost bool) string {
	mk := "true"
	if mkHost {
		mk = "mkdir -p " + host
	}
	return strings.Join([]string{mk,
		"mkdir -p /data/sub /tmp",
		"echo a > /data/a.txt", "chmod 750 /data/a.txt", "echo b > /data/sub/b",
		"ln -s " + host + " /tmp/evil",                         // absolute, to the host's directory
		"ln -s ../../../../../../../../.." + host + " /tmp/up", // climbing
		"ln -s /data /tmp/datalink",
		"mkdir -p /wh && touch /wh/.wh..wh..opq /wh/.wh.keep && echo x > /wh/x",
		"mkdir -p /clash && echo file > /clash/precious",
	}, "; ")
}

// hostSecret makes a host directory holding the file secret, and checks
// at the end of the test that it holds nothing else and is unchanged.
func hostSecret(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("host secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("the host directory %s was written to through the container: %v", dir, names)
		}
		if data, _ := os.ReadFile(filepath.Join(dir, "secret")); string(data) != "host secret\n" {
			t.Errorf("the host secret changed: %q", data)
		}
	})
	return dir
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestCpFromContainer: Docker's copy rules for copies out of a container,
// stopped and running; modes are kept.
func TestCpFromContainer(t *testing.T) {
	b := containerRoot(t)
	host := hostSecret(t)
	b.ok(runArgs("--name", "stopped", "busybox:test", "sh", "-c", cpSetup(host, false))...)
	b.ok(runArgs("-d", "--name", "running", "busybox:test", "sh", "-c", cpSetup(host, false)+"; echo ready; sleep 60")...)
	waitForLog(t, b, "running", "ready\n")
	for _, ctr := range []string{"stopped", "running"} {
		t.Run(ctr, func(t *testing.T) {
			out := t.TempDir()
			p := func(s string) string { return filepath.Join(out, s) }
			// A directory to a path that does not exist: it takes the name.
			b.ok("cp", ctr+":/data", p("new"))
			if readFile(t, p("new/a.txt")) != "a\n" || readFile(t, p("new/sub/b")) != "b\n" {
				t.Error("cp dir to a new path")
			}
			// Into an existing directory: the directory itself, or with
			// "/." its contents.
			os.Mkdir(p("into"), 0o755)
			os.Mkdir(p("contents"), 0o755)
			b.ok("cp", ctr+":/data", p("into"))
			b.ok("container", "cp", ctr+":/data/.", p("contents"))
			if readFile(t, p("into/data/a.txt")) != "a\n" || readFile(t, p("contents/a.txt")) != "a\n" {
				t.Error("cp dir into an existing directory, or its contents")
			}
			// A file: to a new name, onto a file, into a directory.
			b.ok("cp", ctr+":/data/a.txt", p("file"))
			os.WriteFile(p("existing"), []byte("old"), 0o644)
			b.ok("cp", ctr+":data/a.txt", p("existing")) // relative to "/"
			b.ok("cp", ctr+":/data/a.txt", p("into"))
			for _, f := range []string{"file", "existing", "into/a.txt"} {
				if readFile(t, p(f)) != "a\n" {
					t.Errorf("%s: %q", f, readFile(t, p(f)))
				}
				if fi, _ := os.Stat(p(f)); fi.Mode().Perm() != 0o750 {
					t.Errorf("%s: mode %v, want 0750 as in the container", f, fi.Mode())
				}
			}
			// Errors: a directory onto a file, a file to a directory that
			// is not there, a path that is not there.
			if errs := b.fails(1, "cp", ctr+":/data", p("file")); !strings.Contains(errs, "cannot copy directory") {
				t.Errorf("dir onto file: %q", errs)
			}
			if errs := b.fails(1, "cp", ctr+":/data/a.txt", p("nodir")+"/"); !strings.Contains(errs, "no such directory") {
				t.Errorf("file to a missing dir/: %q", errs)
			}
			if errs := b.fails(1, "cp", ctr+":/nosuch", p("x")); !strings.Contains(errs, "Could not find the file /nosuch in container "+ctr) {
				t.Errorf("missing source: %q", errs)
			}
			// A symlink is copied as a symlink; -L copies what it leads to.
			b.ok("cp", ctr+":/tmp/datalink", p("link"))
			if target, err := os.Readlink(p("link")); err != nil || target != "/data" {
				t.Errorf("symlink copied as %q, %v", target, err)
			}
			b.ok("cp", "-L", ctr+":/tmp/datalink", p("followed"))
			if readFile(t, p("followed/a.txt")) != "a\n" {
				t.Error("cp -L of a symlink to a directory")
			}
			// "-": a tar on stdout.
			out2, _, _ := b.run("", "cp", ctr+":/data", "-")
			names := map[string]bool{}
			tr := tar.NewReader(strings.NewReader(out2))
			for {
				h, err := tr.Next()
				if err != nil {
					break
				}
				names[h.Name] = true
			}
			if !names["data/"] || !names["data/a.txt"] || !names["data/sub/b"] {
				t.Errorf("cp to -: entries %v", names)
			}
		})
	}
	b.fails(1, "cp", "nosuch:/x", t.TempDir())
	if errs := b.fails(1, "cp", "a", "b"); !strings.Contains(errs, "must specify at least one container source") {
		t.Errorf("no container: %q", errs)
	}
	if errs := b.fails(1, "cp", "stopped:/a", "running:/b"); !strings.Contains(errs, "copying between containers is not supported") {
		t.Errorf("two containers: %q", errs)
	}
}

// TestCpFromContainerEscapes: symlinks a container planted never lead a
// copy out of it to the host's files: they are followed inside the
// container, where the host path does not exist.
func TestCpFromContainerEscapes(t *testing.T) {
	b := containerRoot(t)
	host := hostSecret(t)
	b.ok(runArgs("--name", "stopped", "busybox:test", "sh", "-c", cpSetup(host, false))...)
	b.ok(runArgs("-d", "--name", "running", "busybox:test", "sh", "-c", cpSetup(host, false)+"; echo ready; sleep 60")...)
	waitForLog(t, b, "running", "ready\n")
	for _, ctr := range []string{"stopped", "running"} {
		out := t.TempDir()
		for _, args := range [][]string{
			{ctr + ":/tmp/evil/secret"},
			{ctr + ":/tmp/up/secret"},
			{ctr + ":/tmp/evil/"},
			{ctr + ":/tmp/up/."},
			{"-L", ctr + ":/tmp/evil"},
			{"-L", ctr + ":/tmp/up"},
			{ctr + ":/../../../../../../.." + host + "/secret"},
		} {
			dst := filepath.Join(out, "x")
			_, errs, code := b.run("", append(append([]string{"cp"}, args...), dst)...)
			if code == 0 {
				t.Errorf("cp %v succeeded", args)
			} else if !strings.Contains(errs, "Could not find the file") && !strings.Contains(errs, "no such file") {
				t.Errorf("cp %v: %q", args, errs)
			}
			if data, err := os.ReadFile(dst); err == nil || bytes.Contains(data, []byte("host secret")) {
				t.Errorf("cp %v wrote %s (%q)", args, dst, data)
			}
			os.RemoveAll(dst)
		}
		// The container's content may not steer the host side either: a
		// whiteout-looking name is a plain file, not a deletion, and a file
		// never replaces a host directory.
		dst := t.TempDir()
		os.WriteFile(filepath.Join(dst, "keep"), []byte("mine"), 0o644)
		os.MkdirAll(filepath.Join(dst, "precious", "inner"), 0o755)
		b.ok("cp", ctr+":/wh/.", dst)
		if readFile(t, filepath.Join(dst, "keep")) != "mine" {
			t.Error("a .wh. file in the container removed a host file")
		}
		if _, err := os.Stat(filepath.Join(dst, ".wh..wh..opq")); err != nil {
			t.Errorf(".wh..wh..opq not copied as a file: %v", err)
		}
		if errs := b.fails(1, "cp", ctr+":/clash/.", dst); !strings.Contains(errs, "cannot overwrite directory") {
			t.Errorf("a file onto a host directory: %q", errs)
		}
		if _, err := os.Stat(filepath.Join(dst, "precious", "inner")); err != nil {
			t.Errorf("the host directory was replaced: %v", err)
		}
	}
}

// TestCpToContainer: Docker's copy rules for copies into a container,
// running or not; files belong to the container's root unless -a.
func TestCpToContainer(t *testing.T) {
	b := containerRoot(t)
	src := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "dir", "sub"), 0o755))
	must(os.WriteFile(filepath.Join(src, "dir", "f"), []byte("f\n"), 0o640))
	must(os.WriteFile(filepath.Join(src, "dir", "sub", "g"), []byte("g\n"), 0o644))
	must(os.WriteFile(filepath.Join(src, "file"), []byte("file\n"), 0o604))
	must(os.Lchown(filepath.Join(src, "file"), 1234, 4321))

	id := strings.TrimSpace(b.ok(runArgs("-d", "--name", "live", "busybox:test", "sh", "-c", "mkdir /target; echo ready; sleep 60")...))
	waitForLog(t, b, "live", "ready\n")
	rootfs := filepath.Join(b.root, "containers", id, "rootfs")
	in := func(p string) string { return filepath.Join(rootfs, p) }

	b.ok("cp", filepath.Join(src, "dir"), "live:/target")     // into an existing dir
	b.ok("cp", filepath.Join(src, "dir"), "live:/newdir")     // a new name
	b.ok("cp", filepath.Join(src, "dir")+"/.", "live:/tmp")   // contents
	b.ok("cp", filepath.Join(src, "file"), "live:/target/f2") // a file to a new name
	b.ok("cp", filepath.Join(src, "file"), "live:/etc/hostname")
	b.ok("cp", "-a", filepath.Join(src, "file"), "live:/kept")
	for p, want := range map[string]string{"target/dir/f": "f\n", "target/dir/sub/g": "g\n", "newdir/f": "f\n",
		"tmp/f": "f\n", "tmp/sub/g": "g\n", "target/f2": "file\n", "etc/hostname": "file\n", "kept": "file\n"} {
		if got := readFile(t, in(p)); got != want {
			t.Errorf("/%s: %q, want %q", p, got, want)
		}
	}
	var st unix.Stat_t
	must(unix.Lstat(in("target/f2"), &st))
	if st.Uid != 0 || st.Gid != 0 || st.Mode&0o7777 != 0o604 {
		t.Errorf("copied file: %d:%d mode %o, want 0:0 and 604", st.Uid, st.Gid, st.Mode&0o7777)
	}
	must(unix.Lstat(in("kept"), &st))
	if st.Uid != 1234 || st.Gid != 4321 {
		t.Errorf("cp -a: owner %d:%d, want 1234:4321", st.Uid, st.Gid)
	}
	if errs := b.fails(1, "cp", filepath.Join(src, "dir"), "live:/etc/hostname"); !strings.Contains(errs, "cannot copy directory") {
		t.Errorf("dir onto a file: %q", errs)
	}
	if errs := b.fails(1, "cp", filepath.Join(src, "nosuch"), "live:/tmp"); !strings.Contains(errs, "no such file or directory") {
		t.Errorf("missing local source: %q", errs)
	}
	// A tar on stdin, into a directory.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "fromtar", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi\n"))
	tw.Close()
	if _, errs, code := b.run(buf.String(), "cp", "-", "live:/target"); code != 0 {
		t.Fatalf("cp - : %s", errs)
	}
	if got := readFile(t, in("target/fromtar")); got != "hi\n" {
		t.Errorf("from stdin: %q", got)
	}
	if _, errs, code := b.run(buf.String(), "cp", "-", "live:/etc/hostname"); code != 1 || !strings.Contains(errs, "must be a directory") {
		t.Errorf("cp - onto a file: %d %q", code, errs)
	}

	// A created container: its snapshot is mounted for the copy.
	b.ok("create", "--cgroup-parent", testutil.TestCgroupParent(), "--name", "later", "busybox:test", "cat", "/in")
	b.ok("cp", filepath.Join(src, "file"), "later:/in") // /in does not exist: the file takes the name
	b.fails(1, "cp", filepath.Join(src, "file"), "later:/no/such/dir/x")
	b.ok("cp", filepath.Join(src, "dir"), "later:/in2")
	if out := b.ok("start", "-a", "later"); out != "file\n" {
		t.Errorf("start -a of the container copied into: %q", out)
	}
	if out, _, _ := b.run("", "cp", "later:/in", "-"); !strings.Contains(out, "file\n") {
		t.Errorf("the copied file is not in the stopped container")
	}
	if m := mountsUnder(filepath.Join(b.root, "containers")); len(m) != 1 {
		t.Errorf("mounts under containers/ after the copies (only the running one's should be): %v", m)
	}
}

// TestCpToContainerEscapes: a copy into a container writes inside it
// whatever symlinks its processes planted, and a tar on stdin cannot
// climb out of its destination.
func TestCpToContainerEscapes(t *testing.T) {
	b := containerRoot(t)
	host := hostSecret(t)
	src := filepath.Join(t.TempDir(), "pwned")
	if err := os.WriteFile(src, []byte("pwned\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(b.ok(runArgs("-d", "--name", "live", "busybox:test", "sh", "-c", cpSetup(host, true)+"; echo ready; sleep 60")...))
	waitForLog(t, b, "live", "ready\n")
	b.ok(runArgs("--name", "stopped", "busybox:test", "sh", "-c", cpSetup(host, true))...)
	for _, ctr := range []string{"live", "stopped"} {
		for _, dst := range []string{"/tmp/evil", "/tmp/evil/", "/tmp/up/", "/tmp/evil/secret", "/tmp/up/secret", "/tmp/up/x/.."} {
			b.run("", "cp", src, ctr+":"+dst) // may succeed: inside the container
		}
		b.run("", "cp", "-a", src, ctr+":/tmp/up/")
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range []*tar.Header{
			{Name: "../../../../../../../.." + host + "/dotdot", Typeflag: tar.TypeReg, Mode: 0o644},
			{Name: "lnk", Typeflag: tar.TypeSymlink, Linkname: host},
			{Name: "lnk/vialink", Typeflag: tar.TypeReg, Mode: 0o644},
			{Name: "hard", Typeflag: tar.TypeLink, Linkname: "../../../../../.." + host + "/secret"},
		} {
			var one bytes.Buffer
			w := tar.NewWriter(&one)
			w.WriteHeader(h)
			w.Close()
			b.run(one.String(), "cp", "-", ctr+":/tmp")
			b.run(one.String(), "cp", "-", ctr+":/tmp/evil")
			tw.WriteHeader(h)
		}
		tw.Close()
		b.run(buf.String(), "cp", "-", ctr+":/tmp/up")
	}
	// What went into the running container through its symlinks is
	// there, in its tree, at the host directory's path.
	for _, f := range []string{"secret", "pwned", "vialink"} {
		if _, err := os.Stat(filepath.Join(b.root, "containers", id, "rootfs", host, f)); err != nil {
			t.Errorf("the copy to %s did not land in the container: %v", f, err)
		}
	}
	// hostSecret's cleanup checks that the host directory is untouched.
}

// TestCpVolumes: cp reaches the volume or bind mounted over a path, as
// Docker's does: through the container's own root while it runs, through
// the mount's source when it is stopped; a read-only one is refused.
func TestCpVolumes(t *testing.T) {
	b := containerRoot(t)
	src := t.TempDir()
	in := filepath.Join(src, "in.txt")
	if err := os.WriteFile(in, []byte("into the volume\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bind := t.TempDir()
	b.ok(runArgs("-d", "--name", "cv", "-v", "cpvol:/data", "-v", bind+":/ro:ro", "busybox:test", "sleep", "1000")...)
	b.ok("cp", in, "cv:/data/running.txt")
	if got := b.ok("exec", "cv", "cat", "/data/running.txt"); got != "into the volume\n" {
		t.Errorf("the container sees %q", got)
	}
	if errs := b.fails(1, "cp", in, "cv:/ro/x.txt"); errs == "" {
		t.Error("cp into a read-only bind of a running container succeeded")
	}
	b.ok("stop", "-t", "0", "cv")
	b.ok("cp", in, "cv:/data/stopped.txt")
	if errs := b.fails(1, "cp", in, "cv:/ro/x.txt"); !strings.Contains(errs, "mounted volume is marked read-only") {
		t.Errorf("cp into a read-only bind of a stopped container: %q", errs)
	}
	out := filepath.Join(t.TempDir(), "out.txt")
	b.ok("cp", "cv:/data/running.txt", out)
	if data, _ := os.ReadFile(out); string(data) != "into the volume\n" {
		t.Errorf("copied out of the stopped container's volume: %q", data)
	}
	// The files are in the volume, not in the container's own layer.
	b.ok("rm", "cv")
	if got := b.ok(runArgs("--rm", "-v", "cpvol:/v", "busybox:test", "ls", "/v")...); got != "running.txt\nstopped.txt\n" {
		t.Errorf("the volume holds %q", got)
	}
	if _, err := os.Stat(filepath.Join(bind, "x.txt")); err == nil {
		t.Error("a read-only bind was written")
	}
}
