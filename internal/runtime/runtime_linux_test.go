package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testutil"
)

func TestProcessIsPid1InItsOwnNamespaces(t *testing.T) {
	out := mustOK(t, runSh(t, `echo $$; hostname; cat /proc/1/cmdline | tr '\0' ' '`, func(b *testutil.Bundle) {
		b.Spec.Hostname = "berth-test-host"
	}))
	want := "1\nberth-test-host\nsh -c "
	if !strings.HasPrefix(out, want) {
		t.Fatalf("got %q, want prefix %q", out, want)
	}
}

func TestExitCodeIsTheProcess(t *testing.T) {
	if res := runSh(t, "exit 42", nil); res.code != 42 {
		t.Fatalf("exit code %d, want 42", res.code)
	}
	r, id := newTestRuntime(t)
	b := testutil.NewBundle(t, "sleep", "300")
	go func() {
		for i := 0; i < 500; i++ {
			if st, err := r.State(id); err == nil && st.Status == specs.StateRunning {
				r.Kill(id, unix.SIGKILL, false)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	if res := run(t, r, id, b); res.code != 137 {
		t.Fatalf("exit code %d after SIGKILL, want 137", res.code)
	}
}

func TestMountsProcSysAndDev(t *testing.T) {
	out := mustOK(t, runSh(t, `
		grep -E '^[^ ]+ (/|/proc|/sys|/dev|/dev/pts|/dev/shm|/dev/mqueue) ' /proc/mounts | awk '{print $2, $3, substr($4,1,2)}'
		stat -c '%n %F %t,%T %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty
		readlink /dev/ptmx; readlink /dev/fd
		ls /sys/fs/cgroup | grep -c memory
	`, nil))
	for _, want := range []string{
		"/proc proc rw", "/sys sysfs ro", "/dev tmpfs rw", "/dev/pts devpts rw", "/dev/shm tmpfs rw", "/dev/mqueue mqueue rw",
		"/dev/null character special file 1,3 666", "/dev/zero character special file 1,5 666",
		"/dev/tty character special file 5,0 666", "pts/ptmx", "/proc/self/fd",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestReadonlyRootMaskedAndReadonlyPaths(t *testing.T) {
	out := mustOK(t, runSh(t, `
		touch /newfile 2>/dev/null && echo root-writable || echo root-readonly
		wc -c < /etc/passwd
		ls /sys/firmware | wc -l
		echo x 2>/dev/null > /proc/sysrq-trigger && echo sysrq-writable || echo sysrq-readonly
		touch /tmp/ok && echo tmp-writable
	`, func(b *testutil.Bundle) {
		b.Spec.Root.Readonly = true
		b.Spec.Linux.MaskedPaths = append(b.Spec.Linux.MaskedPaths, "/etc/passwd")
		b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"})
	}))
	want := "root-readonly\n0\n0\nsysrq-readonly\ntmp-writable"
	if out != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

func TestCapabilitiesAreThoseConfigured(t *testing.T) {
	out := mustOK(t, runSh(t, `grep -E '^Cap(Eff|Prm|Bnd|Inh|Amb)' /proc/self/status | tr -s '\t ' ' '`, nil))
	// CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10).
	mask := fmt.Sprintf("%016x", uint64(1<<29|1<<5|1<<10))
	for _, want := range []string{"CapInh: 0000000000000000", "CapPrm: " + mask, "CapEff: " + mask, "CapBnd: " + mask, "CapAmb: 0000000000000000"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	// Without CAP_SYS_ADMIN, mounting fails even as root.
	res := runSh(t, `mount -t tmpfs tmpfs /mnt`, nil)
	if res.code == 0 {
		t.Fatal("mount succeeded without CAP_SYS_ADMIN")
	}
}

func TestUserAndGroups(t *testing.T) {
	out := mustOK(t, runSh(t, `id -u; id -g; id -G; echo $HOME; umask`, func(b *testutil.Bundle) {
		b.Spec.Process.User = specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{10, 29}}
	}))
	if want := "65534\n65534\n65534 10 29\n/nonexistent\n0022"; out != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

func TestRlimitsAndNoNewPrivs(t *testing.T) {
	out := mustOK(t, runSh(t, `ulimit -n; ulimit -Hn; grep NoNewPrivs /proc/self/status | tr -d '\t '`, func(b *testutil.Bundle) {
		b.Spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 321, Hard: 654}}
	}))
	if want := "321\n654\nNoNewPrivs:1"; out != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

func TestSeccompBlocksSyscall(t *testing.T) {
	errno := uint(13) // EACCES, to tell the filter's answer from a plain EPERM
	res := runSh(t, `mkdir /tmp/x; echo mkdir=$?; ls / >/dev/null && echo ls-ok`, func(b *testutil.Bundle) {
		b.Spec.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			Syscalls: []specs.LinuxSyscall{{
				Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &errno,
			}},
		}
	})
	out := mustOK(t, res)
	if out != "mkdir=1\nls-ok" || !strings.Contains(res.stderr, "Permission denied") {
		t.Fatalf("got stdout %q stderr %q; want mkdir refused with EACCES and ls working", out, res.stderr)
	}
}

func TestMemoryLimitOOMKills(t *testing.T) {
	limit := int64(32 << 20)
	res := runSh(t, `exec dd if=/dev/zero of=/dev/null bs=128M count=1`, func(b *testutil.Bundle) {
		b.Spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}
	})
	if res.code != 137 || strings.Contains(res.stdout, "survived") {
		t.Fatalf("a 128M allocation under a 32M limit: exit %d, stdout %q; want 137 (OOM kill)", res.code, res.stdout)
	}
}

func TestPidsLimitStopsForkBomb(t *testing.T) {
	limit := int64(10)
	out := mustOK(t, runSh(t, `
		(i=0; while [ $i -lt 40 ]; do sleep 60 & i=$((i+1)); done) 2>/dev/null
		set -- /proc/[0-9]*; echo $#
	`, func(b *testutil.Bundle) {
		b.Spec.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}
	}))
	n, err := strconv.Atoi(out)
	if err != nil || n > 10 || n < 2 {
		t.Fatalf("processes in the container: %q; want at most the limit of 10", out)
	}
}

func TestUserNamespaceMapping(t *testing.T) {
	out := mustOK(t, runSh(t, `cat /proc/self/uid_map /proc/self/gid_map | tr -s ' '; id -u; echo $$`, func(b *testutil.Bundle) {
		b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		b.Spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
		b.Spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	}))
	if want := "0 200000 65536\n 0 200000 65536\n0\n1"; out != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

// netnsHolder returns the path of a new network namespace, held by a
// process until the test ends.
func netnsHolder(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t, "network namespaces")
	holder := exec.Command("unshare", "--net", "sleep", "300")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	nsPath := fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)
	for i := 0; i < 100; i++ { // unshare needs a moment to switch
		own, _ := os.Readlink("/proc/self/ns/net")
		if ns, _ := os.Readlink(nsPath); ns != own {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nsPath
}

func TestJoinExistingNetworkNamespace(t *testing.T) {
	nsPath := netnsHolder(t)
	want, _ := os.Readlink(nsPath)
	out := mustOK(t, runSh(t, `readlink /proc/self/ns/net`, func(b *testutil.Bundle) {
		for i, ns := range b.Spec.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				b.Spec.Linux.Namespaces[i].Path = nsPath
			}
		}
	}))
	if out != want {
		t.Fatalf("container's net namespace %q, want the joined %q", out, want)
	}
}

func TestHooksGetStateAndRunInOrder(t *testing.T) {
	r, id := newTestRuntime(t)
	b := testutil.NewBundle(t, "true")
	log := filepath.Join(t.TempDir(), "hooks.log")
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `read s; echo "` + name + ` $s" >> ` + log}}
	}
	b.Spec.Hooks = &specs.Hooks{
		CreateRuntime: []specs.Hook{hook("createRuntime")},
		// Runs in the container, before its process, which prints it.
		StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", `read s; echo "startContainer $s" > /start.log`}}},
		// A failing poststart or poststop hook is a warning: the rest run.
		Poststart: []specs.Hook{{Path: "/bin/false"}, hook("poststart")},
		Poststop:  []specs.Hook{{Path: "/bin/false"}, hook("poststop")},
	}
	b.Spec.Process.Args = []string{"cat", "/start.log"}
	b.Save(t)
	if out := mustOK(t, run(t, r, id, b)); !strings.HasPrefix(out, `startContainer {"ociVersion"`) || !strings.Contains(out, `"status":"created"`) {
		t.Errorf("the process found the startContainer hook's log %q", out)
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 {
		t.Fatalf("hooks log:\n%s", data)
	}
	for i, want := range []string{`createRuntime {"ociVersion"`, `poststart {"ociVersion"`, `poststop {"ociVersion"`} {
		if !strings.HasPrefix(lines[i], want) || !strings.Contains(lines[i], `"id":"`+id+`"`) {
			t.Errorf("hook line %d = %q, want prefix %q and the id", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[0], `"status":"creating"`) || !strings.Contains(lines[2], `"status":"stopped"`) {
		t.Errorf("hook states: %q", lines)
	}
}

func TestLifecycleCreateStartPauseKillDelete(t *testing.T) {
	r, id := newTestRuntime(t)
	b := testutil.NewBundle(t, "sleep", "300")
	pidFile := filepath.Join(t.TempDir(), "pid")
	if err := r.Create(id, CreateOpts{Bundle: b.Dir, PidFile: pidFile}); err != nil {
		t.Fatal(err)
	}
	expect := func(want specs.ContainerState) *specs.State {
		t.Helper()
		st, err := r.State(id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != want {
			t.Fatalf("status %s, want %s", st.Status, want)
		}
		return st
	}
	st := expect(specs.StateCreated)
	if data, _ := os.ReadFile(pidFile); string(data) != strconv.Itoa(st.Pid) {
		t.Fatalf("pid file %q, state pid %d", data, st.Pid)
	}
	if err := r.Create(id, CreateOpts{Bundle: b.Dir}); !errors.Is(err, ErrExist) {
		t.Fatalf("second create with the same id: %v, want ErrExist", err)
	}
	if err := r.Delete(id, false); err == nil {
		t.Fatal("deleting a created container without force succeeded")
	}
	if err := r.Start(id); err != nil {
		t.Fatal(err)
	}
	expect(specs.StateRunning)
	if err := r.Start(id); err == nil {
		t.Fatal("starting a running container succeeded")
	}
	if err := r.Pause(id); err != nil {
		t.Fatal(err)
	}
	expect(statePaused)
	if err := r.Resume(id); err != nil {
		t.Fatal(err)
	}
	expect(specs.StateRunning)
	if err := r.Delete(id, false); err == nil {
		t.Fatal("deleting a running container without force succeeded")
	}
	if err := r.Kill(id, unix.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200 && func() bool { s, _ := r.State(id); return s.Status != specs.StateStopped }(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	expect(specs.StateStopped)
	if err := r.Delete(id, false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.State(id); !errors.Is(err, ErrNotExist) {
		t.Fatalf("state after delete: %v, want ErrNotExist", err)
	}
	assertNoLeftovers(t, r, id, b.Dir)
}

func TestExecJoinsTheContainer(t *testing.T) {
	r, id := newTestRuntime(t)
	b := testutil.NewBundle(t, "sleep", "300")
	b.Spec.Hostname = "exec-target"
	b.Save(t)
	if err := r.Create(id, CreateOpts{Bundle: b.Dir}); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(id); err != nil {
		t.Fatal(err)
	}
	p := *b.Spec.Process
	p.Args = []string{"sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$; exit 7"}
	outR, outW, _ := os.Pipe()
	code, err := r.Exec(id, &p, ExecOpts{Stdout: outW, Stderr: os.Stderr})
	outW.Close()
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 4096)
	n, _ := outR.Read(data)
	lines := strings.Split(strings.TrimSpace(string(data[:n])), "\n")
	if code != 7 || len(lines) != 3 || lines[0] != "exec-target" || lines[1] != "sleep 300 " || lines[2] == "1" {
		t.Fatalf("exec: code %d, output %q; want 7, the container's hostname, its pid 1 and a pid other than 1", code, lines)
	}
}

func TestBadInputLeavesNothingBehind(t *testing.T) {
	r, id := newTestRuntime(t)
	if err := r.Create(id, CreateOpts{Bundle: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("create with a missing bundle succeeded")
	}
	b := testutil.NewBundle(t)
	os.WriteFile(filepath.Join(b.Dir, "config.json"), []byte(`{"ociVersion": "1.0.2", "process": `), 0o644)
	if err := r.Create(id, CreateOpts{Bundle: b.Dir}); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("create with malformed config.json: %v", err)
	}
	b = testutil.NewBundle(t, "/no/such/binary")
	if err := r.Create(id, CreateOpts{Bundle: b.Dir}); err == nil || !strings.Contains(err.Error(), "/no/such/binary") {
		t.Errorf("create of a missing executable: %v", err)
	}
	assertNoLeftovers(t, r, id, b.Dir)
	// Limits the cgroup refuses fail the create; the forked init is killed.
	b = testutil.NewBundle(t, "true")
	b.Spec.Linux.Resources.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "3XB", Limit: 1}}
	b.Save(t)
	if err := r.Create(id, CreateOpts{Bundle: b.Dir}); err == nil || !strings.Contains(err.Error(), "3XB") {
		t.Errorf("create with a bad hugepage size: %v", err)
	}
	assertNoLeftovers(t, r, id, b.Dir)
	if err := r.Create("../escape", CreateOpts{Bundle: b.Dir}); err == nil {
		t.Error("create with id ../escape succeeded")
	}
	for _, f := range []func(string) error{r.Start, func(id string) error { _, err := r.State(id); return err },
		func(id string) error { return r.Delete(id, true) }, func(id string) error { return r.Kill(id, unix.SIGTERM, false) }} {
		if err := f("no-such-container"); !errors.Is(err, ErrNotExist) {
			t.Errorf("unknown id: %v, want ErrNotExist", err)
		}
	}
}

// An execve that fails after the init is set up (here: no #! line) is
// Run's error, and leaves nothing behind.
func TestRunReportsFailedExec(t *testing.T) {
	r, id := newTestRuntime(t)
	b := testutil.NewBundle(t, "/not-a-program")
	if err := os.WriteFile(filepath.Join(b.Dir, "rootfs", "not-a-program"), []byte("echo hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	code, err := r.Run(id, CreateOpts{Bundle: b.Dir, Stdin: devnull, Stdout: devnull, Stderr: devnull}, false)
	if err == nil || !strings.Contains(err.Error(), "exec format error") {
		t.Errorf("run of a file without #!: code %d, error %v; want an exec format error", code, err)
	}
	assertNoLeftovers(t, r, id, b.Dir)
}

func TestTimeNamespaceOffsets(t *testing.T) {
	own, _ := os.ReadFile("/proc/uptime")
	hostUp, _ := strconv.ParseFloat(strings.Fields(string(own))[0], 64)
	out := mustOK(t, runSh(t, `cut -d' ' -f1 /proc/uptime`, func(b *testutil.Bundle) {
		b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		b.Spec.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 86400 * 365}}
	}))
	up, err := strconv.ParseFloat(out, 64)
	if err != nil || up < hostUp+86400*365-60 {
		t.Fatalf("container uptime %q, host %v: want a year more", out, hostUp)
	}
}

func userNSBundle(t *testing.T, args ...string) *testutil.Bundle {
	b := testutil.NewBundle(t, args...)
	b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	b.Spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 65536}}
	b.Spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 65536}}
	b.Save(t)
	return b
}

// Joining a user namespace needs the nsenter trampoline: exec into a
// container with its own, and a second container joining it by path.
func TestJoinUserNamespace(t *testing.T) {
	r, id := newTestRuntime(t)
	b := userNSBundle(t, "sleep", "300")
	if err := r.Create(id, CreateOpts{Bundle: b.Dir}); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(id); err != nil {
		t.Fatal(err)
	}
	st, _ := r.State(id)
	theirs, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", st.Pid))
	out, code := execOutput(t, r, id, b.Spec.Process, "sh", "-c", "readlink /proc/self/ns/user; id -u; grep CapEff /proc/self/status | tr -d '\\t'")
	want := theirs + "\n0\nCapEff:0000000020000420"
	if code != 0 || out != want {
		t.Fatalf("exec: %q (exit %d), want %q", out, code, want)
	}
	// A second container in the first one's user namespace, with a new
	// network namespace, which must belong to that user namespace.
	r2, id2 := newTestRuntime(t)
	b2 := testutil.NewBundle(t, "sh", "-c", "readlink /proc/self/ns/user; id -u; cat /proc/self/uid_map | tr -s ' '")
	b2.Spec.Linux.Namespaces = []specs.LinuxNamespace{
		{Type: specs.UserNamespace, Path: fmt.Sprintf("/proc/%d/ns/user", st.Pid)},
		{Type: specs.PIDNamespace, Path: fmt.Sprintf("/proc/%d/ns/pid", st.Pid)},
		{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.UTSNamespace}, {Type: specs.IPCNamespace},
	}
	b2.Save(t)
	res := run(t, r2, id2, b2)
	if got := mustOK(t, res); got != theirs+"\n0\n 0 300000 65536" {
		t.Fatalf("joined container: %q", got)
	}
}

// Without a cgroup namespace, /sys/fs/cgroup shows the container's own
// cgroups, not the host's hierarchies.
func TestCgroupMountWithoutNamespaceShowsOwnCgroup(t *testing.T) {
	out := mustOK(t, runSh(t, `cat /sys/fs/cgroup/pids/pids.max; ls /sys/fs/cgroup/pids | grep -c berth-testbin || true`, func(b *testutil.Bundle) {
		var nss []specs.LinuxNamespace
		for _, ns := range b.Spec.Linux.Namespaces {
			if ns.Type != specs.CgroupNamespace {
				nss = append(nss, ns)
			}
		}
		b.Spec.Linux.Namespaces = nss
		limit := int64(77)
		b.Spec.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}
	}))
	if out != "77\n0" {
		t.Fatalf("inside the container: %q; want its own pids.max (77) and no host hierarchy", out)
	}
}

// A small address-space limit reaches the process. (The init sets rlimits
// just before execve, so that its Go runtime can't run out of address
// space first; that failure was intermittent and isn't reproduced here.)
func TestLowAddressSpaceLimit(t *testing.T) {
	out := mustOK(t, runSh(t, `ulimit -v`, func(b *testutil.Bundle) {
		b.Spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_AS", Soft: 16 << 20, Hard: 16 << 20}}
	}))
	if out != "16384" {
		t.Fatalf("ulimit -v = %q, want 16384 (KiB)", out)
	}
}
