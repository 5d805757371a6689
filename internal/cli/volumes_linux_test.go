package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testutil"
)

// importRootfs imports the busybox rootfs, changed by prep, as ref with
// the Dockerfile-style changes.
func importRootfs(t *testing.T, b *berthRoot, ref string, prep func(rootfs string), changes ...string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("cp", "-a", testutil.BusyboxRootfs(t), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	prep(dir)
	tarball := filepath.Join(t.TempDir(), "image.tar")
	if out, err := exec.Command("tar", "-C", dir, "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	args := []string{"import", "-c", `CMD ["sh"]`}
	for _, c := range changes {
		args = append(args, "-c", c)
	}
	b.ok(append(args, tarball, ref)...)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mountSource is the host path of the mount at dest of container ref.
func mountSource(b *berthRoot, ref, dest string) string {
	b.t.Helper()
	var mounts []struct{ Name, Source, Destination string }
	if err := json.Unmarshal([]byte(b.ok("inspect", "-f", "{{json .Mounts}}", ref)), &mounts); err != nil {
		b.t.Fatal(err)
	}
	for _, m := range mounts {
		if m.Destination == dest {
			return m.Source
		}
	}
	b.t.Fatalf("%s has no mount at %s: %+v", ref, dest, mounts)
	return ""
}

func lines(s string) []string { return strings.Fields(s) }

// TestVolumeCommands: volume create, ls (filters, -q, --format), inspect,
// rm and prune, their output and errors, as Docker's.
func TestVolumeCommands(t *testing.T) {
	b := newRoot(t)
	if got := b.ok("volume", "create", "--label", "a=b", "data"); got != "data\n" {
		t.Errorf("create: %q", got)
	}
	anon := strings.TrimSpace(b.ok("volume", "create"))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(anon) {
		t.Fatalf("create without a name printed %q", anon)
	}
	if got := b.ok("volume", "create", "data"); got != "data\n" {
		t.Errorf("create of an existing name: %q", got)
	}
	ls := b.ok("volume", "ls")
	if !strings.HasPrefix(ls, "DRIVER    VOLUME NAME\n") || !strings.Contains(ls, "local     data\n") || !strings.Contains(ls, "local     "+anon+"\n") {
		t.Errorf("ls:\n%s", ls)
	}
	for filter, want := range map[string]string{
		"label=a": "data", "label=a=b": "data", "label=a=c": "", "name=dat": "data", "driver=local": anon + " data",
		"dangling=true": anon + " data", "dangling=false": "", "label=com.docker.volume.anonymous": anon,
	} {
		got := strings.Join(lines(b.ok("volume", "ls", "-q", "--filter", filter)), " ")
		if want == anon+" data" && got == "data "+anon {
			got = want
		}
		if got != want {
			t.Errorf("ls -q --filter %s: %q, want %q", filter, got, want)
		}
	}
	if got := b.ok("volume", "ls", "--filter", "name=data", "--format", "{{.Name}}|{{.Driver}}|{{.Scope}}|{{.Labels}}|{{.Label \"a\"}}|{{.Mountpoint}}"); got != "data|local|local|a=b|b|"+filepath.Join(b.root, "volumes", "data", "_data")+"\n" {
		t.Errorf("ls --format: %q", got)
	}
	if errs := b.fails(1, "volume", "ls", "--filter", "dangling=maybe"); errs != "Error response from daemon: invalid filter 'dangling=maybe'\n" {
		t.Errorf("ls with a bad dangling filter: %q", errs)
	}
	if errs := b.fails(1, "volume", "ls", "--filter", "foo=bar"); errs != "Error response from daemon: invalid filter 'foo'\n" {
		t.Errorf("ls with an unknown filter: %q", errs)
	}

	var vs []map[string]any
	must(t, json.Unmarshal([]byte(b.ok("volume", "inspect", "data")), &vs))
	if len(vs) != 1 {
		t.Fatalf("inspect: %v", vs)
	}
	v := vs[0]
	if v["Name"] != "data" || v["Driver"] != "local" || v["Scope"] != "local" || v["Mountpoint"] != filepath.Join(b.root, "volumes", "data", "_data") {
		t.Errorf("inspect: %v", v)
	}
	if l, _ := v["Labels"].(map[string]any); len(l) != 1 || l["a"] != "b" {
		t.Errorf("inspect Labels: %v", v["Labels"])
	}
	if o, ok := v["Options"].(map[string]any); !ok || len(o) != 0 {
		t.Errorf("inspect Options: %#v", v["Options"])
	}
	if _, err := time.Parse(time.RFC3339, v["CreatedAt"].(string)); err != nil {
		t.Errorf("inspect CreatedAt: %v", err)
	}
	if got := b.ok("inspect", "-f", "{{.Name}} {{.Driver}}", "data"); got != "data local\n" {
		t.Errorf("inspect of a volume: %q", got)
	}
	out, errs, code := b.run("", "volume", "inspect", "nosuch")
	if out != "[]\n" || errs != "Error response from daemon: get nosuch: no such volume\n" || code != 1 {
		t.Errorf("inspect nosuch: %q %q %d", out, errs, code)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"a"}, "Error response from daemon: create a: volume name is too short, names should be at least two alphanumeric characters\n"},
		{[]string{"a/b"}, `Error response from daemon: create a/b: "a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path` + "\n"},
		{[]string{"-o", "foo=1", "x1"}, "Error response from daemon: create x1: invalid option: \"foo\"\n"},
		{[]string{"-o", "type=tmpfs", "x2"}, "Error response from daemon: create x2: missing required option: \"device\"\n"},
		{[]string{"-d", "nfs", "x3"}, "Error response from daemon: create x3: error looking up volume plugin nfs: plugin \"nfs\" not found\n"},
		{[]string{"--name", "x4", "x5"}, "Error: conflicting options: cannot specify a volume-name through both --name and as a positional arg\n"},
	} {
		if errs := b.fails(1, append([]string{"volume", "create"}, c.args...)...); errs != c.want {
			t.Errorf("create %v: %q, want %q", c.args, errs, c.want)
		}
	}
	if got := len(lines(b.ok("volume", "ls", "-q"))); got != 2 {
		t.Errorf("failed creates left volumes: %d", got)
	}

	// prune: asks first; without -a only the anonymous volume.
	if out, _, _ := b.run("n\n", "volume", "prune"); !strings.Contains(out, "WARNING! This will remove anonymous local volumes not used by at least one container.") {
		t.Errorf("prune prompt: %q", out)
	}
	if got := len(lines(b.ok("volume", "ls", "-q"))); got != 2 {
		t.Errorf("prune answered no removed volumes")
	}
	if got := b.ok("volume", "prune", "-f"); got != "Deleted Volumes:\n"+anon+"\n\nTotal reclaimed space: 0B\n" {
		t.Errorf("prune -f: %q", got)
	}
	if got := b.ok("volume", "prune", "-af", "--filter", "label=zzz"); got != "Total reclaimed space: 0B\n" {
		t.Errorf("prune -a with a label filter matching nothing: %q", got)
	}
	must(t, os.WriteFile(filepath.Join(b.root, "volumes", "data", "_data", "f"), make([]byte, 2000), 0o644))
	if got := b.ok("volume", "prune", "-a", "-f"); got != "Deleted Volumes:\ndata\n\nTotal reclaimed space: 2kB\n" {
		t.Errorf("prune -a: %q", got)
	}
	if _, err := os.Stat(filepath.Join(b.root, "volumes", "data")); !os.IsNotExist(err) {
		t.Errorf("pruned volume's directory: %v", err)
	}
	if errs := b.fails(1, "volume", "rm", "nosuch"); errs != "Error response from daemon: get nosuch: no such volume\n" {
		t.Errorf("rm nosuch: %q", errs)
	}
	b.ok("volume", "rm", "-f", "nosuch")
	b.ok("volume", "create", "gone")
	if got := b.ok("volume", "rm", "gone"); got != "gone\n" {
		t.Errorf("rm: %q", got)
	}
}

// TestVolumePersists: data written to a named volume survives the rm of
// the container that wrote it, and a kill -9 of a writer's shim; another
// container reads it.
func TestVolumePersists(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("--name", "writer", "-v", "keep:/data", "busybox:test", "sh", "-c", "echo one > /data/f")...)
	b.ok("rm", "writer")
	if got := b.ok(runArgs("--rm", "-v", "keep:/data", "busybox:test", "cat", "/data/f")...); got != "one\n" {
		t.Fatalf("read back after rm: %q", got)
	}
	id := strings.TrimSpace(b.ok(runArgs("-d", "-v", "keep:/data", "busybox:test", "sh", "-c", "echo two >> /data/f; sleep 60")...))
	host := filepath.Join(b.root, "volumes", "keep", "_data", "f")
	waitFor(t, "the second write", func() bool {
		data, _ := os.ReadFile(host)
		return string(data) == "one\ntwo\n"
	})
	shim := lockHolder(t, filepath.Join(b.root, "containers", id, "shim.lock"))
	must(t, unix.Kill(shim, unix.SIGKILL))
	waitFor(t, "the shim to die", func() bool { return unix.Kill(shim, 0) != nil || isZombie(shim) })
	b.ok("rm", "-f", id)
	b.assertGone(id)
	if got := b.ok(runArgs("--rm", "-v", "keep:/data", "busybox:test", "cat", "/data/f")...); got != "one\ntwo\n" {
		t.Errorf("read back after kill -9 of the shim and rm -f: %q", got)
	}
	if got := b.ok("volume", "ls", "-q"); got != "keep\n" {
		t.Errorf("volumes: %q", got)
	}
}

// TestVolumeSeed: a new volume at an image's directory gets its content
// (owners and modes kept, the directory's own too) unless volume-nocopy;
// a named volume is seeded once, when empty.
func TestVolumeSeed(t *testing.T) {
	b := containerRoot(t)
	importRootfs(t, b, "seed:test", func(dir string) {
		d := filepath.Join(dir, "data")
		must(t, os.MkdirAll(filepath.Join(d, "sub"), 0o755))
		must(t, os.WriteFile(filepath.Join(d, "f"), []byte("hi\n"), 0o640))
		must(t, os.Lchown(filepath.Join(d, "f"), 1234, 5678))
		must(t, os.Lchown(filepath.Join(d, "sub"), 1234, 1234))
		must(t, os.Chmod(d, 0o750))
		must(t, os.Lchown(d, 4321, 4321))
	}, "VOLUME /data")

	want := "4321:4321 750 /data\n1234:5678 640 /data/f\n1234:1234 755 /data/sub\nhi\n"
	if got := b.ok(runArgs("--name", "seeded", "seed:test", "sh", "-c", "stat -c '%u:%g %a %n' /data /data/f /data/sub; cat /data/f")...); got != want {
		t.Errorf("seeded anonymous volume inside:\n%s\nwant:\n%s", got, want)
	}
	src := mountSource(b, "seeded", "/data")
	if !strings.HasPrefix(src, filepath.Join(b.root, "volumes")+"/") {
		t.Fatalf("the image's VOLUME is not an anonymous volume: %s", src)
	}
	var st unix.Stat_t
	must(t, unix.Stat(filepath.Join(src, "f"), &st))
	if st.Uid != 1234 || st.Gid != 5678 || st.Mode&0o7777 != 0o640 {
		t.Errorf("seeded file on the host: %d:%d %o", st.Uid, st.Gid, st.Mode&0o7777)
	}
	must(t, unix.Stat(src, &st))
	if st.Uid != 4321 || st.Mode&0o7777 != 0o750 {
		t.Errorf("seeded volume directory on the host: %d %o", st.Uid, st.Mode&0o7777)
	}
	labels := b.ok("volume", "ls", "-q", "--filter", "label=com.docker.volume.anonymous")
	if len(lines(labels)) != 1 {
		t.Errorf("anonymous volumes: %q", labels)
	}

	// volume-nocopy, in both syntaxes: empty.
	if got := b.ok(runArgs("--rm", "--mount", "type=volume,dst=/data,volume-nocopy", "seed:test", "ls", "-A", "/data")...); got != "" {
		t.Errorf("--mount volume-nocopy: %q", got)
	}
	if got := b.ok(runArgs("--rm", "-v", "nc:/data:nocopy", "seed:test", "ls", "-A", "/data")...); got != "" {
		t.Errorf("-v :nocopy: %q", got)
	}
	// A named volume: seeded when empty, left alone once it has data.
	if got := b.ok(runArgs("--rm", "-v", "named:/data", "seed:test", "sh", "-c", "cat /data/f; echo changed > /data/f; rm -r /data/sub")...); got != "hi\n" {
		t.Errorf("first use of a named volume: %q", got)
	}
	if got := b.ok(runArgs("--rm", "-v", "named:/data", "seed:test", "sh", "-c", "cat /data/f; ls /data")...); got != "changed\nf\n" {
		t.Errorf("second use of a named volume: %q", got)
	}
	// Over a file of the image: refused.
	if errs := b.fails(125, runArgs("--rm", "-v", "/etc/passwd", "seed:test", "true")...); !strings.Contains(errs, "cannot mount volume over existing file, file exists") {
		t.Errorf("anonymous volume over a file: %q", errs)
	}
}

// TestRmVolumes: rm -v and --rm remove a container's anonymous volumes,
// never named ones; rm alone keeps them.
func TestRmVolumes(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("--name", "c1", "-v", "named:/n", "-v", "/anon", "busybox:test", "true")...)
	anon := filepath.Base(filepath.Dir(mountSource(b, "c1", "/anon")))
	if got := b.ok("volume", "ls", "-q"); len(lines(got)) != 2 || !strings.Contains(got, anon) {
		t.Fatalf("volumes: %q", got)
	}
	b.ok("rm", "-v", "c1")
	if got := b.ok("volume", "ls", "-q"); got != "named\n" {
		t.Errorf("after rm -v: %q", got)
	}
	b.ok(runArgs("--name", "c2", "-v", "/anon2", "busybox:test", "true")...)
	b.ok("rm", "c2")
	if got := b.ok("volume", "ls", "-q"); len(lines(got)) != 2 {
		t.Errorf("rm without -v removed the anonymous volume: %q", got)
	}
	b.ok(runArgs("--rm", "-v", "/anon3", "-v", "named:/n", "busybox:test", "true")...)
	id := strings.TrimSpace(b.ok(runArgs("-d", "--rm", "-v", "/anon4", "busybox:test", "true")...))
	// The shim's `rm` removes the record before the volumes: wait for both.
	waitFor(t, "the detached --rm container and its volume to go", func() bool {
		return !strings.Contains(b.ok("ps", "-aq", "--no-trunc"), id) && len(lines(b.ok("volume", "ls", "-q"))) == 2
	})
	if got := b.ok("volume", "ls", "-q"); len(lines(got)) != 2 || !strings.Contains(got, "named\n") {
		t.Errorf("--rm left volumes: %q", got)
	}
}

// TestVolumeRmInUse: a volume a container (even stopped) uses can't be
// removed, with Docker's message, and nothing changes; ps and ls filter
// by it.
func TestVolumeRmInUse(t *testing.T) {
	b := containerRoot(t)
	id := strings.TrimSpace(b.ok(runArgs("-d", "--name", "user", "-v", "busy:/d", "busybox:test", "sh", "-c", "echo x > /d/f")...))
	b.ok("wait", "user")
	want := "Error response from daemon: remove busy: volume is in use - [" + id + "]\n"
	if errs := b.fails(1, "volume", "rm", "busy"); errs != want {
		t.Errorf("rm of a volume in use: %q, want %q", errs, want)
	}
	if errs := b.fails(1, "volume", "rm", "-f", "busy"); errs != want {
		t.Errorf("rm -f of a volume in use: %q", errs)
	}
	b.ok("volume", "prune", "-af")
	if data, err := os.ReadFile(filepath.Join(b.root, "volumes", "busy", "_data", "f")); string(data) != "x\n" {
		t.Errorf("the volume's data after refused removals: %q %v", data, err)
	}
	if got := b.ok("volume", "ls", "-q", "--filter", "dangling=false"); got != "busy\n" {
		t.Errorf("ls dangling=false: %q", got)
	}
	if got := b.ok("volume", "ls", "-q", "--filter", "dangling=true"); got != "" {
		t.Errorf("ls dangling=true: %q", got)
	}
	for _, v := range []string{"busy", "/d"} {
		if got := b.ok("ps", "-aq", "--filter", "volume="+v); got != id[:12]+"\n" {
			t.Errorf("ps --filter volume=%s: %q", v, got)
		}
	}
	if got := b.ok("ps", "-aq", "--filter", "volume=other"); got != "" {
		t.Errorf("ps --filter volume=other: %q", got)
	}
	if got := b.ok("ps", "-a", "--format", "{{.Mounts}} {{.LocalVolumes}}"); got != "busy 1\n" {
		t.Errorf("ps Mounts: %q", got)
	}
	if df := b.ok("system", "df"); !regexp.MustCompile(`\nLocal Volumes +1 +1 +2B +0B \(0%\)\n`).MatchString(df) {
		t.Errorf("system df:\n%s", df)
	}
	b.ok("rm", "user")
	b.ok("volume", "rm", "busy")
}

// TestVolumeTmpfsAndBindDriver: -o type=tmpfs volumes are a tmpfs of the
// asked size, shared while some container uses them and fresh after;
// -o type=none,o=bind,device=DIR volumes are DIR.
func TestVolumeTmpfsAndBindDriver(t *testing.T) {
	b := containerRoot(t)
	b.ok("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=2m,mode=0700", "tv")
	out := b.ok(runArgs("--rm", "-v", "tv:/t", "busybox:test", "sh", "-c", "df -k /t | tail -1; stat -c %a /t; echo a > /t/a")...)
	if f := lines(out); len(f) < 7 || f[0] != "tmpfs" || f[1] != "2048" || f[6] != "700" {
		t.Errorf("tmpfs volume: %q", out)
	}
	if m := mountsUnder(b.root); len(m) > 0 {
		t.Errorf("mounts left after the last user went: %v", m)
	}
	b.ok(runArgs("-d", "--name", "holder", "-v", "tv:/t", "busybox:test", "sh", "-c", "echo shared > /t/a; sleep 60")...)
	waitFor(t, "the holder's write", func() bool {
		out, _, _ := b.run("", "exec", "holder", "cat", "/t/a")
		return out == "shared\n"
	})
	if got := b.ok(runArgs("--rm", "-v", "tv:/t", "busybox:test", "cat", "/t/a")...); got != "shared\n" {
		t.Errorf("a second container of a tmpfs volume in use: %q", got)
	}
	// The last user's stop unmounts it: its data goes with it.
	tv := filepath.Join(b.root, "volumes", "tv", "_data")
	b.ok("stop", "-t", "0", "holder")
	waitFor(t, "the tmpfs volume to go with its last user's stop", func() bool { return !slices.Contains(mountsUnder(b.root), tv) })
	if got := b.ok(runArgs("--rm", "-v", "tv:/t", "busybox:test", "ls", "-A", "/t")...); got != "" {
		t.Errorf("a tmpfs volume once no container used it: %q", got)
	}
	// A user killed with its shim lets go too (the next command sees it).
	killed := strings.TrimSpace(b.ok(runArgs("-d", "--name", "killed", "-v", "tv:/t", "busybox:test", "sleep", "60")...))
	shim := lockHolder(t, filepath.Join(b.root, "containers", killed, "shim.lock"))
	unix.Kill(shim, unix.SIGKILL)
	waitFor(t, "the shim's death", func() bool { return unix.Kill(shim, 0) != nil || isZombie(shim) })
	b.ok("ps", "-a")
	if slices.Contains(mountsUnder(b.root), tv) {
		t.Error("the tmpfs volume stayed mounted after its only user's shim was killed")
	}
	b.ok("rm", "-f", "holder", "killed")
	b.ok("volume", "rm", "tv")
	if m := mountsUnder(b.root); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}

	dir := t.TempDir()
	b.ok("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", "device="+dir, "bv")
	b.ok(runArgs("--rm", "-v", "bv:/b", "busybox:test", "sh", "-c", "echo via > /b/f")...)
	if data, _ := os.ReadFile(filepath.Join(dir, "f")); string(data) != "via\n" {
		t.Errorf("bind volume's device: %q", data)
	}
	b.ok("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", "device=/nonexistent-berth-dev", "bad")
	if errs := b.fails(125, runArgs("--rm", "-v", "bad:/b", "busybox:test", "true")...); !strings.Contains(errs, "failed to mount local volume: mount /nonexistent-berth-dev:") {
		t.Errorf("bind volume with a missing device: %q", errs)
	}
}

// TestBindAndTmpfsMounts: binds (ro read-only inside, rw writes reach the
// host, z/Z and propagation accepted, a missing -v source made),
// --tmpfs and --mount type=tmpfs with size and mode, and what inspect
// shows.
func TestBindAndTmpfsMounts(t *testing.T) {
	b := containerRoot(t)
	host := t.TempDir()
	must(t, os.WriteFile(filepath.Join(host, "in"), []byte("in\n"), 0o644))
	for _, args := range [][]string{
		{"-v", host + ":/h:ro"},
		{"-v", host + ":/h:ro,Z,rprivate"},
		{"--mount", "type=bind,src=" + host + ",dst=/h,readonly"},
		{"--mount", "type=bind,source=" + host + ",target=/h,ro=true,bind-propagation=private"},
	} {
		out, _, code := b.run("", runArgs(append(append([]string{"--rm"}, args...), "busybox:test", "sh", "-c", "cat /h/in; touch /h/x 2>&1")...)...)
		if out != "in\ntouch: /h/x: Read-only file system\n" || code != 1 {
			t.Errorf("%v: %q, exit %d", args, out, code)
		}
	}
	b.ok(runArgs("--rm", "-v", host+":/h:z", "busybox:test", "sh", "-c", "echo w > /h/out")...)
	if data, _ := os.ReadFile(filepath.Join(host, "out")); string(data) != "w\n" {
		t.Errorf("rw bind: %q", data)
	}
	// Propagation: shared and slave binds need a shared source mount.
	shared, private := t.TempDir(), t.TempDir()
	for _, dir := range []string{shared, private} {
		must(t, unix.Mount("tmpfs", dir, "tmpfs", 0, ""))
		t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	}
	must(t, unix.Mount("", shared, "", unix.MS_SHARED, ""))
	must(t, unix.Mount("", private, "", unix.MS_PRIVATE, ""))
	for mode, want := range map[string]string{"rshared": " shared:", "rslave": " master:"} {
		if got := b.ok(runArgs("--rm", "-v", shared+":/h:"+mode, "busybox:test", "grep", " /h ", "/proc/self/mountinfo")...); !strings.Contains(got, want) {
			t.Errorf("-v :%s: %q", mode, got)
		}
	}
	if errs := b.fails(125, runArgs("--rm", "--mount", "type=bind,src="+private+",dst=/h,bind-propagation=shared", "busybox:test", "true")...); errs != "Error: path "+private+" is mounted on "+private+" but it is not a shared mount.\n" {
		t.Errorf("shared propagation of a private mount: %q", errs)
	}
	missing := filepath.Join(t.TempDir(), "made", "here")
	b.ok(runArgs("--rm", "-v", missing+":/m", "busybox:test", "true")...)
	if fi, err := os.Stat(missing); err != nil || !fi.IsDir() {
		t.Errorf("-v with a missing source: %v", err)
	}
	out := b.ok(runArgs("--rm", "--tmpfs", "/tt:size=1m,mode=1777", "--mount", "type=tmpfs,dst=/t2,tmpfs-size=2m,tmpfs-mode=700", "busybox:test",
		"sh", "-c", "df -k /tt /t2 | tail -2 | awk '{print $1, $2, $6}'; stat -c '%a %n' /tt /t2")...)
	if out != "tmpfs 1024 /tt\ntmpfs 2048 /t2\n1777 /tt\n700 /t2\n" {
		t.Errorf("tmpfs mounts:\n%s", out)
	}

	b.ok(runArgs("--name", "insp", "-v", host+":/h:ro", "-v", "nv:/v", "-v", "/anon", "--mount", "type=tmpfs,dst=/t", "--mount", "type=bind,src="+host+",dst=/b",
		"--tmpfs", "/run:size=1m", "busybox:test", "true")...)
	var r struct {
		Mounts []struct {
			Type, Name, Source, Destination, Driver, Mode, Propagation string
			RW                                                         bool
		}
		HostConfig struct {
			Binds  []string
			Mounts []struct{ Type, Target string }
			Tmpfs  map[string]string
		}
		Config struct{ Volumes map[string]any }
	}
	var rs []json.RawMessage
	must(t, json.Unmarshal([]byte(b.ok("inspect", "insp")), &rs))
	must(t, json.Unmarshal(rs[0], &r))
	got := []string{}
	for _, m := range r.Mounts {
		name := m.Name
		if len(name) == 64 {
			name = "<anon>"
		}
		got = append(got, strings.Join([]string{m.Type, name, m.Destination, m.Driver, m.Mode, m.Propagation, map[bool]string{true: "rw", false: "ro"}[m.RW]}, "|"))
	}
	want := []string{
		"volume|<anon>|/anon|local|||rw", "bind||/b|||rprivate|rw", "bind||/h||ro|rprivate|ro",
		"tmpfs||/t||||rw", "volume|nv|/v|local|z||rw",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("inspect Mounts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Join(r.HostConfig.Binds, " ") != host+":/h:ro nv:/v" || len(r.HostConfig.Mounts) != 2 || r.HostConfig.Mounts[0].Target != "/t" ||
		r.HostConfig.Tmpfs["/run"] != "size=1m" {
		t.Errorf("inspect HostConfig: %+v", r.HostConfig)
	}
	if _, ok := r.Config.Volumes["/anon"]; !ok {
		t.Errorf("inspect Config.Volumes: %v", r.Config.Volumes)
	}
}

// TestMountErrors: bad -v, --mount, --tmpfs and --volumes-from values get
// Docker's message, exit 125, and create nothing.
func TestMountErrors(t *testing.T) {
	b := containerRoot(t)
	host := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--mount", "type=bind,src=/nonexistent-berth,dst=/x"}, `Error: invalid mount config for type "bind": bind source path does not exist: /nonexistent-berth`},
		{[]string{"--mount", "type=bind,src=relative,dst=/x"}, `Error: invalid mount config for type "bind": invalid mount path: 'relative' mount path must be absolute`},
		{[]string{"--mount", "type=bind,src=" + host + ",dst=/"}, `Error: invalid mount config for type "bind": invalid specification: destination can't be '/'`},
		{[]string{"--mount", "type=tmpfs,src=x,dst=/t"}, `Error: invalid mount config for type "tmpfs": field Source must not be specified`},
		{[]string{"--mount", "type=volume,dst=/t,readonly"}, `Error: invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes`},
		{[]string{"--mount", "type=volume,src=v1,dst=/t,volume-driver=nfs"}, `error looking up volume plugin nfs: plugin "nfs" not found`},
		{[]string{"--mount", "type=bind,src=/tmp,dst=/x,volume-nocopy"}, `cannot mix 'volume-*' options with mount type 'bind'`},
		{[]string{"--mount", "type=bind,dst=/x,foo=1"}, `unknown option 'foo' in 'foo=1'`},
		{[]string{"-v", "/a:/b:sw"}, "Error: invalid mode: sw"},
		{[]string{"-v", "/x:ro"}, "Error: invalid volume specification: '/x:ro'"},
		{[]string{"-v", "data"}, `Error: invalid volume specification: 'data': invalid mount config for type "volume": invalid mount path: 'data' mount path must be absolute`},
		{[]string{"-v", "/"}, `Error: invalid volume specification: '/': invalid mount config for type "volume": invalid specification: destination can't be '/'`},
		{[]string{"-v", "name:/x:rshared"}, `Error: invalid volume specification: 'name:/x:rshared': invalid mount config for type "volume": field BindOptions must not be specified`},
		{[]string{"-v", "a/b:/x"}, `Error: create a/b: "a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
		{[]string{"-v", host + ":/d", "-v", "vol:/d"}, "Error: Duplicate mount point: /d"},
		{[]string{"--tmpfs", "relative"}, "Error: invalid mount path: 'relative' mount path must be absolute"},
		{[]string{"--volumes-from", "nosuch"}, "Error: No such container: nosuch"},
		{[]string{"--volumes-from", "x:rshared"}, "Error: invalid mode: rshared"},
		{[]string{"--volume-driver", "nfs", "-v", "v2:/x"}, `Error: error looking up volume plugin nfs: plugin "nfs" not found`},
		{[]string{"--mount", "type=volume,src=v3,dst=/x,volume-subpath=../up"}, `Error: invalid mount config for type "volume": subpath must be a relative path within the volume`},
		{[]string{"--mount", "type=volume,src=v3,dst=/x,volume-subpath=/abs"}, `Error: invalid mount config for type "volume": subpath must be a relative path within the volume`},
		{[]string{"--mount", "type=volume,dst=/x,volume-subpath=sub"}, `Error: invalid mount config for type "volume": must not set Subpath when using anonymous volumes`},
	} {
		errs := b.fails(125, runArgs(append(append([]string{"--rm"}, c.args...), "busybox:test", "true")...)...)
		if !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 1 {
			t.Errorf("%v: %q, want %q", c.args, errs, c.want)
		}
	}
	if got := b.ok("ps", "-aq"); got != "" {
		t.Errorf("bad mounts left containers: %q", got)
	}
	if got := b.ok("volume", "ls", "-q"); got != "" {
		t.Errorf("bad mounts left volumes: %q", got)
	}
}

// TestVolumesFrom: --volumes-from shares another container's volumes
// (named and anonymous), read-only with :ro.
func TestVolumesFrom(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("--name", "src", "-v", "shared:/s", "-v", "/anon", "busybox:test", "sh", "-c", "echo s > /s/f; echo a > /anon/f")...)
	if got := b.ok(runArgs("--rm", "--volumes-from", "src", "busybox:test", "cat", "/s/f", "/anon/f")...); got != "s\na\n" {
		t.Errorf("--volumes-from: %q", got)
	}
	out, _, code := b.run("", runArgs("--rm", "--volumes-from", "src:ro", "busybox:test", "sh", "-c", "touch /s/x /anon/x 2>&1")...)
	if code != 1 || strings.Count(out, "Read-only file system") != 2 {
		t.Errorf("--volumes-from :ro: %q, exit %d", out, code)
	}
	// The anonymous volume outlives its second user's rm -v: src has it.
	b.ok(runArgs("--name", "second", "--volumes-from", "src", "busybox:test", "true")...)
	b.ok("rm", "-v", "second")
	if got := b.ok("volume", "ls", "-q"); len(lines(got)) != 2 {
		t.Errorf("volumes after rm -v of a --volumes-from container: %q", got)
	}
}

// TestMountSymlinkEscape: symlinks planted in an image can't lead a
// mount or a volume's copy-up out of the rootfs: they are followed as if
// the rootfs were "/", so the mounts land inside it and the host
// directories they name are neither mounted on, written nor copied.
func TestMountSymlinkEscape(t *testing.T) {
	b := containerRoot(t)
	absDir, relDir := t.TempDir(), t.TempDir()
	must(t, os.WriteFile(filepath.Join(absDir, "secret"), []byte("secret\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(relDir, "secret"), []byte("secret\n"), 0o600))
	importRootfs(t, b, "evil:test", func(dir string) {
		must(t, os.Symlink(absDir, filepath.Join(dir, "abs")))
		must(t, os.Symlink("../../../../../../../../.."+relDir, filepath.Join(dir, "rel")))
	}, "VOLUME /abs")
	src := t.TempDir()
	out := b.ok(runArgs("--name", "esc", "-v", "esc:/rel", "-v", src+":/abs/sub", "evil:test",
		"sh", "-c", "echo pwn > /rel/pwn; echo pwn2 > /abs/pwn2; echo in > /abs/sub/in; ls -A /abs; ls -A "+relDir)...)
	if out != "pwn2\nsub\npwn\n" {
		t.Errorf("inside:\n%s", out)
	}
	for _, dir := range []string{absDir, relDir} {
		if entries, _ := os.ReadDir(dir); len(entries) != 1 || entries[0].Name() != "secret" {
			t.Errorf("the host directory a symlink names was written: %v", entries)
		}
		data, _ := os.ReadFile("/proc/self/mountinfo")
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
				t.Errorf("a mount landed on the host: %s", f[4])
			}
		}
	}
	if data, _ := os.ReadFile(filepath.Join(src, "in")); string(data) != "in\n" {
		t.Errorf("the bind under the symlinked volume: %q", data)
	}
	if got, _ := os.ReadDir(filepath.Join(b.root, "volumes", "esc", "_data")); len(got) != 1 || got[0].Name() != "pwn" {
		t.Errorf("the volume behind the relative symlink holds %v", got)
	}
	anon, _ := os.ReadDir(mountSource(b, "esc", "/abs"))
	if len(anon) != 2 || anon[0].Name() != "pwn2" || anon[1].Name() != "sub" {
		t.Errorf("the image's VOLUME behind the absolute symlink holds %v (seeded from the host?)", anon)
	}
}

// TestVolumeSubpath: volume-subpath mounts a directory (or a file) of a
// volume; one that isn't there fails the start; a symlink the container
// plants in the volume can't lead a later mount out of it; nothing stays
// mounted after the run.
func TestVolumeSubpath(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("--rm", "-v", "sp:/v", "busybox:test", "sh", "-c", "mkdir -p /v/app/conf && echo hi > /v/app/conf/f && echo top > /v/top && ln -s / /v/root")...)
	sub := func(subpath, dst string) string {
		return "type=volume,src=sp,dst=" + dst + ",volume-subpath=" + subpath
	}
	if out := b.ok(runArgs("--rm", "--mount", sub("app/conf", "/c"), "busybox:test", "sh", "-c", "ls /c; cat /c/f; echo new > /c/g")...); out != "f\nhi\n" {
		t.Errorf("a directory subpath: %q", out)
	}
	if data, _ := os.ReadFile(filepath.Join(b.root, "volumes", "sp", "_data", "app", "conf", "g")); string(data) != "new\n" {
		t.Errorf("a write through the subpath: %q", data)
	}
	if out := b.ok(runArgs("--rm", "--mount", sub("top", "/t"), "busybox:test", "cat", "/t")...); out != "top\n" {
		t.Errorf("a file subpath: %q", out)
	}
	// The symlink resolves inside the volume: "root" is the volume itself.
	if out := b.ok(runArgs("--rm", "--mount", sub("root/app", "/r"), "busybox:test", "ls", "/r")...); out != "conf\n" {
		t.Errorf("a subpath through a symlink to /: %q", out)
	}
	errs := b.fails(125, runArgs("--rm", "--mount", sub("missing", "/m"), "busybox:test", "true")...)
	if !strings.Contains(errs, "error while mounting volume sp with subpath missing: cannot access path") {
		t.Errorf("a missing subpath: %q", errs)
	}
	for _, m := range mountsUnder(b.root) {
		t.Errorf("left mounted: %s", m)
	}
}
