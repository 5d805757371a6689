package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testutil"
)

// runIn is `run --rm` of sh -c script in busybox:test with flags before
// the image, returning stdout, stderr and the exit code.
func (b *berthRoot) runIn(script string, flags ...string) (string, string, int) {
	b.t.Helper()
	args := append(append([]string{"--rm"}, flags...), "busybox:test", "sh", "-c", script)
	return b.run("", runArgs(args...)...)
}

// okIn is runIn that must succeed.
func (b *berthRoot) okIn(script string, flags ...string) string {
	b.t.Helper()
	out, errs, code := b.runIn(script, flags...)
	if code != 0 {
		b.t.Fatalf("run %v sh -c %q: exit %d\nstdout: %s\nstderr: %s", flags, script, code, out, errs)
	}
	return out
}

// TestSecurityCapabilities: Docker's default capability set, and what
// it forbids (mount, setting the clock) until --cap-add or --privileged;
// --cap-drop; names with or without CAP_ in any case, and ALL.
func TestSecurityCapabilities(t *testing.T) {
	b := containerRoot(t)
	// Docker's 14 default capabilities.
	if got := b.okIn("grep -E '^Cap(Eff|Bnd|Inh)' /proc/self/status | tr -d '\\t'"); got != "CapInh:0000000000000000\nCapEff:00000000a80425fb\nCapBnd:00000000a80425fb\n" {
		t.Errorf("default capabilities:\n%s", got)
	}
	mount := "mkdir /m && mount -t tmpfs t /m && echo mounted"
	if out, errs, code := b.runIn(mount); code == 0 || !strings.Contains(errs, "permission denied") {
		t.Errorf("mount without CAP_SYS_ADMIN: exit %d, %q %q", code, out, errs)
	}
	for _, flags := range [][]string{{"--cap-add", "sys_admin"}, {"--cap-add", "CAP_SYS_ADMIN"}, {"--privileged"}} {
		if got := b.okIn(mount, flags...); got != "mounted\n" {
			t.Errorf("mount with %v: %q", flags, got)
		}
	}
	// busybox date reports the failure and goes on: its message says it.
	if _, errs, _ := b.runIn("date -s 2001-02-03"); !strings.Contains(errs, "can't set date: Operation not permitted") {
		t.Errorf("date -s without CAP_SYS_TIME: %q", errs)
	}
	if got := b.okIn("grep CapEff /proc/self/status | tr -d '\\t'", "--cap-drop", "ALL"); got != "CapEff:0000000000000000\n" {
		t.Errorf("--cap-drop ALL: %q", got)
	}
	if got := b.okIn("grep CapEff /proc/self/status | tr -d '\\t'", "--cap-drop", "ALL", "--cap-add", "chown"); got != "CapEff:0000000000000001\n" {
		t.Errorf("--cap-drop ALL --cap-add chown: %q", got)
	}
	// chown is CAP_CHOWN: dropping it makes root's chown fail.
	if _, errs, code := b.runIn("chown 1 /etc/passwd", "--cap-drop", "cap_chown"); code == 0 || !strings.Contains(errs, "Operation not permitted") {
		t.Errorf("chown with --cap-drop cap_chown: exit %d %q", code, errs)
	}
	// The held set of --privileged is the engine's own.
	self, _ := os.ReadFile("/proc/self/status")
	var own string
	for _, l := range strings.Split(string(self), "\n") {
		if strings.HasPrefix(l, "CapEff:") {
			own = strings.ReplaceAll(l, "\t", "") + "\n"
		}
	}
	if got := b.okIn("grep CapEff /proc/self/status | tr -d '\\t'", "--privileged"); got != own {
		t.Errorf("--privileged: %q, want the host's %q", got, own)
	}
}

// TestSecurityNetRaw: ping needs a raw socket (CAP_NET_RAW, in the default
// set), refused with --cap-drop NET_RAW; the container's own loopback is
// brought up with NET_ADMIN.
func TestSecurityNetRaw(t *testing.T) {
	b := containerRoot(t)
	ping := "ip link set lo up && ping -c1 -W5 127.0.0.1 >/dev/null && echo pong"
	if got := b.okIn(ping, "--cap-add", "NET_ADMIN"); got != "pong\n" {
		t.Errorf("ping: %q", got)
	}
	if _, errs, code := b.runIn(ping, "--cap-add", "NET_ADMIN", "--cap-drop", "NET_RAW"); code == 0 || !strings.Contains(errs, "permission denied") {
		t.Errorf("ping with --cap-drop NET_RAW: exit %d, %q", code, errs)
	}
}

// TestSecuritySeccompAndNoNewPrivileges: Docker's default profile blocks
// unshare (even of a user namespace, which needs no capability);
// seccomp=unconfined lifts it; a profile file is read by the CLI and
// applied; no-new-privileges in its three spellings.
func TestSecuritySeccompAndNoNewPrivileges(t *testing.T) {
	b := containerRoot(t)
	if got := b.okIn("grep Seccomp: /proc/self/status | tr -d '\\t'"); got != "Seccomp:2\n" {
		t.Errorf("default: %q, want a filter", got)
	}
	if _, errs, code := b.runIn("unshare -U true"); code == 0 || !strings.Contains(errs, "Operation not permitted") {
		t.Errorf("unshare under the default profile: exit %d, %q", code, errs)
	}
	b.okIn("unshare -U true", "--security-opt", "seccomp=unconfined")
	b.okIn("unshare -m true && grep Seccomp: /proc/self/status | grep -q 0", "--security-opt", "seccomp=unconfined", "--cap-add", "SYS_ADMIN")
	if got := b.okIn("grep Seccomp: /proc/self/status | tr -d '\\t'", "--privileged"); got != "Seccomp:0\n" {
		t.Errorf("--privileged: %q, want no filter", got)
	}
	profile := filepath.Join(t.TempDir(), "profile.json")
	os.WriteFile(profile, []byte(`{
		"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
	}`), 0o644)
	if _, errs, code := b.runIn("mkdir /x", "--security-opt", "seccomp="+profile); code == 0 || !strings.Contains(errs, "Operation not permitted") {
		t.Errorf("mkdir under a profile that refuses it: exit %d %q", code, errs)
	}
	for _, opt := range []string{"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"} {
		if got := b.okIn("grep NoNewPrivs /proc/self/status | tr -d '\\t'", "--security-opt", opt); got != "NoNewPrivs:1\n" {
			t.Errorf("--security-opt %s: %q", opt, got)
		}
	}
	if got := b.okIn("grep NoNewPrivs /proc/self/status | tr -d '\\t'"); got != "NoNewPrivs:0\n" {
		t.Errorf("default: %q", got)
	}
}

// TestSecurityDevices: --device makes the node (under another name too)
// and allows it with its permissions only; a device not granted can't be
// opened even once made; --device-cgroup-rule allows one; --privileged
// has every host device.
func TestSecurityDevices(t *testing.T) {
	b := containerRoot(t)
	if got := b.okIn("ls -l /dev/mynull | cut -c1; echo hi > /dev/mynull && cat /dev/mynull && echo works", "--device", "/dev/null:/dev/mynull"); got != "c\nworks\n" {
		t.Errorf("--device /dev/null:/dev/mynull: %q", got)
	}
	if _, err := os.Stat("/dev/loop0"); err != nil {
		t.Skip("no /dev/loop0 on this host for the rest")
	}
	// Not granted: absent, and refused by the device cgroup once made.
	if _, errs, code := b.runIn("ls /dev/loop0"); code == 0 || !strings.Contains(errs, "No such file") {
		t.Errorf("ungranted /dev/loop0 is there: %q", errs)
	}
	if _, errs, code := b.runIn("mknod /dev/l0 b 7 0 && dd if=/dev/l0 of=/dev/null count=1"); code == 0 || !strings.Contains(errs, "Operation not permitted") {
		t.Errorf("open of an ungranted device: exit %d %q", code, errs)
	}
	read := "dd if=/dev/myloop of=/dev/null count=1 2>/dev/null && echo read"
	if got := b.okIn(read, "--device", "/dev/loop0:/dev/myloop:r"); got != "read\n" {
		t.Errorf("read of --device …:r: %q", got)
	}
	if _, errs, code := b.runIn("echo x > /dev/myloop", "--device", "/dev/loop0:/dev/myloop:r"); code == 0 || !strings.Contains(errs, "Operation not permitted") {
		t.Errorf("write to a read-only --device: exit %d %q", code, errs)
	}
	if got := b.okIn("mknod /dev/l0 b 7 0 && dd if=/dev/l0 of=/dev/null count=1 2>/dev/null && echo read", "--device-cgroup-rule", "b 7:0 r"); got != "read\n" {
		t.Errorf("--device-cgroup-rule 'b 7:0 r': %q", got)
	}
	if got := b.okIn("ls /dev/loop0 && "+strings.Replace(read, "myloop", "loop0", 1), "--privileged"); got != "/dev/loop0\nread\n" {
		t.Errorf("--privileged: %q", got)
	}
}

// TestSecuritySysctlAndProcPaths: --sysctl sets a network sysctl in the
// container's own namespace only; /proc/sys is read-only and the masked
// paths empty, unless --privileged.
func TestSecuritySysctlAndProcPaths(t *testing.T) {
	b := containerRoot(t)
	hostFwd, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if got := b.okIn("cat /proc/sys/net/ipv4/ip_forward", "--sysctl", "net.ipv4.ip_forward=1"); got != "1\n" {
		t.Errorf("--sysctl net.ipv4.ip_forward=1: %q", got)
	}
	if got, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(got) != string(hostFwd) {
		t.Errorf("the host's ip_forward changed: %q, was %q", got, hostFwd)
	}
	if got := b.okIn("cat /proc/sys/kernel/shmmni", "--ipc", "private", "--sysctl", "kernel.shmmni=1234"); got != "1234\n" {
		t.Errorf("--sysctl kernel.shmmni=1234: %q", got)
	}
	if _, errs, code := b.runIn("echo 1 > /proc/sys/net/ipv4/ip_forward"); code == 0 || !strings.Contains(errs, "Read-only file system") {
		t.Errorf("write to /proc/sys: exit %d %q", code, errs)
	}
	if got := b.okIn("echo 1 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward", "--privileged"); got != "1\n" {
		t.Errorf("write to /proc/sys with --privileged: %q", got)
	}
	if got := b.okIn("wc -c < /proc/timer_list; ls /sys/firmware | wc -l"); got != "0\n0\n" {
		t.Errorf("masked /proc/timer_list and /sys/firmware: %q", got)
	}
	if got := b.okIn("wc -c < /proc/timer_list", "--privileged"); got == "0\n" {
		t.Errorf("/proc/timer_list is still masked with --privileged")
	}
	if got := b.okIn("grep -E ' /sys (sysfs|cgroup)' /proc/mounts | cut -d' ' -f4 | cut -d, -f1", "--privileged"); got != "rw\n" {
		t.Errorf("/sys with --privileged: %q", got)
	}
	if got := b.okIn("grep ' /sys sysfs' /proc/mounts | cut -d' ' -f4 | cut -d, -f1"); got != "ro\n" {
		t.Errorf("/sys: %q", got)
	}
}

// nsOf is the namespace link of a host process, as readlink shows it.
func nsOf(t *testing.T, pid, ns string) string {
	t.Helper()
	l, err := os.Readlink(filepath.Join("/proc", pid, "ns", ns))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestSecurityNamespaces: --ipc shareable and container:, --ipc host and
// none, --pid container: and host, --uts host, seen from inside and from
// the host; a donor that is not shareable or not running is refused, and
// nothing is created.
func TestSecurityNamespaces(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("-d", "--name", "donor", "--ipc", "shareable", "busybox:test", "sh", "-c", "touch /dev/mqueue/berthq /dev/shm/berthshm; echo ready; sleep 300")...)
	b.ok(runArgs("-d", "--name", "private", "busybox:test", "sleep", "300")...)
	waitForLog(t, b, "donor", "ready\n")
	donorPid := strings.TrimSpace(b.ok("inspect", "-f", "{{.State.Pid}}", "donor"))

	// IPC: the joiner sees the donor's queue and has its namespace.
	out := b.okIn("ls /dev/mqueue /dev/shm; readlink /proc/self/ns/ipc", "--ipc", "container:donor")
	if want := "/dev/mqueue:\nberthq\n\n/dev/shm:\nberthshm\n" + nsOf(t, donorPid, "ipc") + "\n"; out != want {
		t.Errorf("--ipc container:donor: %q, want %q", out, want)
	}
	if got := b.okIn("ls /dev/mqueue /dev/shm"); got != "/dev/mqueue:\n\n/dev/shm:\n" {
		t.Errorf("a private IPC namespace sees %q", got)
	}
	if got := b.okIn("readlink /proc/self/ns/ipc", "--ipc", "host"); got != nsOf(t, "self", "ipc")+"\n" {
		t.Errorf("--ipc host: %q", got)
	}
	if _, errs, code := b.runIn("ls /dev/shm", "--ipc", "none"); code == 0 || !strings.Contains(errs, "No such file") {
		t.Errorf("--ipc none has /dev/shm: %q", errs)
	}
	errs := b.fails(125, runArgs("--ipc", "container:private", "busybox:test", "true")...)
	if errs != "Error: failed to join IPC namespace: container private: non-shareable IPC (hint: use IpcMode:shareable for the donor container)\n" {
		t.Errorf("a non-shareable donor: %q", errs)
	}

	// PID: the joiner sees the donor's processes; host sees the host's.
	if got := b.okIn("ps -o comm | grep -c sleep", "--pid", "container:donor"); got != "1\n" {
		t.Errorf("--pid container:donor sees %q sleep processes", got)
	}
	if got := b.okIn("readlink /proc/self/ns/pid; test -d /proc/"+strconv.Itoa(os.Getpid())+" && echo sees-test", "--pid", "host"); got != nsOf(t, "self", "pid")+"\nsees-test\n" {
		t.Errorf("--pid host: %q", got)
	}

	// UTS: the host's name; -h with it is refused.
	hostname, _ := os.Hostname()
	if got := b.okIn("hostname", "--uts", "host"); got != hostname+"\n" {
		t.Errorf("--uts host: hostname %q, want %q", got, hostname)
	}
	if errs := b.fails(125, runArgs("--uts", "host", "-h", "x", "busybox:test", "true")...); errs != "Error: conflicting options: hostname and the UTS mode\n" {
		t.Errorf("--uts host -h x: %q", errs)
	}

	// A donor that stopped: refused at run and at a later start.
	b.ok(runArgs("-d", "--name", "joiner", "--pid", "container:donor", "busybox:test", "sleep", "300")...)
	b.ok("rm", "-f", "joiner")
	b.ok("stop", "-t", "0", "donor")
	for _, m := range mountsUnder(b.root) {
		if strings.HasSuffix(m, "/shm") {
			t.Errorf("the shareable donor's /dev/shm is still mounted after its stop: %s", m)
		}
	}
	if errs := b.fails(125, runArgs("--pid", "container:donor", "busybox:test", "true")...); errs != "Error: failed to join PID namespace: container donor is not running\n" {
		t.Errorf("a stopped donor: %q", errs)
	}
	if errs := b.fails(125, runArgs("--ipc", "container:nosuch", "busybox:test", "true")...); errs != "Error: failed to join IPC namespace: No such container: nosuch\n" {
		t.Errorf("an unknown donor: %q", errs)
	}
	if got := b.ok("ps", "-aq"); len(strings.Fields(got)) != 2 {
		t.Errorf("refused runs created containers: %q", got)
	}
}

// TestSecurityInspect: HostConfig shows the flags under Docker's names,
// the capabilities normalised as the docker CLI sends them.
func TestSecurityInspect(t *testing.T) {
	b := containerRoot(t)
	id := strings.TrimSpace(b.ok("create", "--cgroup-parent", testutil.TestCgroupParent(),
		"--cap-add", "sys_admin", "--cap-add", "NET_ADMIN", "--cap-drop", "chown", "--security-opt", "no-new-privileges",
		"--device", "/dev/null:/dev/mynull:rw", "--device-cgroup-rule", "c 1:3 r", "--sysctl", "net.ipv4.ip_forward=1",
		"--ipc", "shareable", "--pid", "host", "--uts", "host", "--userns", "host", "busybox:test"))
	var hc struct {
		CapAdd, CapDrop, SecurityOpt, DeviceCgroupRules []string
		Privileged                                      bool
		Devices                                         []map[string]string
		Sysctls                                         map[string]string
		IpcMode, PidMode, UTSMode, UsernsMode           string
	}
	if err := json.Unmarshal([]byte(b.ok("inspect", "-f", "{{json .HostConfig}}", id)), &hc); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%v %v %v %v %v %v %v %s %s %s %s", hc.CapAdd, hc.CapDrop, hc.SecurityOpt, hc.DeviceCgroupRules,
		hc.Privileged, hc.Devices, hc.Sysctls, hc.IpcMode, hc.PidMode, hc.UTSMode, hc.UsernsMode)
	want := "[CAP_NET_ADMIN CAP_SYS_ADMIN] [CAP_CHOWN] [no-new-privileges] [c 1:3 r] false " +
		"[map[CgroupPermissions:rw PathInContainer:/dev/mynull PathOnHost:/dev/null]] map[net.ipv4.ip_forward:1] shareable host host host"
	if got != want {
		t.Errorf("HostConfig:\n got %s\nwant %s", got, want)
	}
	def := b.ok("inspect", "-f", "{{json .HostConfig.CapAdd}} {{json .HostConfig.Devices}} {{.HostConfig.IpcMode}} {{.HostConfig.Privileged}}",
		strings.TrimSpace(b.ok("create", "--privileged", "busybox:test")))
	if def != "null [] private true\n" {
		t.Errorf("HostConfig of a --privileged container: %q", def)
	}
}

// TestSecurityBadValues: every flag's bad value is one line, exit 125,
// and nothing is created.
func TestSecurityBadValues(t *testing.T) {
	b := containerRoot(t)
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--cap-add", "NOPE"}, `unknown capability: "CAP_NOPE"`},
		{[]string{"--cap-drop", "bogus"}, `unknown capability: "CAP_BOGUS"`},
		{[]string{"--security-opt", "foo"}, `invalid --security-opt: "foo"`},
		{[]string{"--security-opt", "foo=bar"}, `invalid --security-opt 2: "foo=bar"`},
		{[]string{"--security-opt", "no-new-privileges=maybe"}, `invalid --security-opt 2: "no-new-privileges=maybe"`},
		{[]string{"--security-opt", "seccomp=/no/such/profile.json"}, "opening seccomp profile (/no/such/profile.json) failed: open /no/such/profile.json: no such file or directory"},
		{[]string{"--device", "/dev/nope"}, `error gathering device information while adding custom device "/dev/nope": no such file or directory`},
		{[]string{"--device", "/etc/passwd"}, `error gathering device information while adding custom device "/etc/passwd": not a device node`},
		{[]string{"--device", "/dev/null:relative"}, "relative is not an absolute path"},
		{[]string{"--device", "/dev/null:/dev/x:rwz"}, "bad mode specified: rwz"},
		{[]string{"--device", "/a:/b:r:x"}, "bad format for path: /a:/b:r:x"},
		{[]string{"--device-cgroup-rule", "c 1:3 rwx"}, `invalid argument "c 1:3 rwx" for "--device-cgroup-rule" flag: invalid device cgroup format 'c 1:3 rwx'`},
		{[]string{"--sysctl", "kernel.hostname=x"}, `invalid argument "kernel.hostname=x" for "--sysctl" flag: sysctl 'kernel.hostname=x' is not allowed`},
		{[]string{"--sysctl", "net.ipv4.ip_forward"}, `invalid argument "net.ipv4.ip_forward" for "--sysctl" flag: sysctl 'net.ipv4.ip_forward' is not allowed`},
		{[]string{"--ipc", "bogus"}, "invalid IPC mode: bogus"},
		{[]string{"--pid", "bogus"}, "--pid: invalid PID mode"},
		{[]string{"--uts", "bogus"}, "--uts: invalid UTS mode"},
		{[]string{"--userns", "bogus"}, "--userns: invalid USER mode"},
		{[]string{"--pid", "container:nosuch"}, "failed to join PID namespace: No such container: nosuch"},
	} {
		for _, cmd := range []string{"run", "create"} {
			args := append(append([]string{cmd, "--cgroup-parent", testutil.TestCgroupParent()}, c.flags...), "busybox:test", "true")
			out, errs, code := b.run("", args...)
			if code != 125 || errs != "Error: "+c.want+"\n" || out != "" {
				t.Errorf("%s %v: exit %d, stdout %q, stderr %q; want 125 and %q", cmd, c.flags, code, out, errs, c.want)
			}
		}
	}
	if got := b.ok("ps", "-aq"); got != "" {
		t.Errorf("refused runs left containers: %q", got)
	}
	if m := mountsUnder(b.root); len(m) > 0 {
		t.Errorf("refused runs left mounts: %v", m)
	}
}

// keepFiles restores the content of files (which must exist) at the end
// of the test: --userns-remap default adds the user berth and its ranges
// to the host's account files, as dockerd does with dockremap.
func keepFiles(t *testing.T, files ...string) {
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		t.Cleanup(func() {
			if now, _ := os.ReadFile(f); string(now) != string(data) {
				os.WriteFile(f, data, 0) // in place: keeps the file's mode
			}
		})
	}
}

// TestUsernsRemap: berth --userns-remap default maps the container's
// root to the start of user berth's /etc/subuid range (made when
// missing): id 0 inside, that uid on the host, the files it writes owned
// by it in its layer, and a root-owned host file it sees (the host's
// /dev/shm with --ipc host) not writable; --userns host opts out;
// --privileged is refused with it.
func TestUsernsRemap(t *testing.T) {
	b := containerRoot(t)
	keepFiles(t, "/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/subuid", "/etc/subgid")
	remap := func(args ...string) []string {
		return append([]string{"--userns-remap", "default"}, runArgs(args...)...)
	}

	// The test's temporary directories are 0700: the mapped root can't
	// reach its rootfs through them, which create says.
	errs := b.fails(125, remap("--rm", "busybox:test", "true")...)
	if !strings.HasPrefix(errs, "Error: a subdirectory in your graphroot path (") || !strings.HasSuffix(errs, ") restricts access to the remapped root uid/gid; please fix by allowing 'o+x' permissions on existing directories\n") {
		t.Errorf("a root below 0700 directories: %q", errs)
	}
	for p := b.root; p != filepath.Dir(p) && strings.HasPrefix(p, os.TempDir()+"/"); p = filepath.Dir(p) {
		os.Chmod(p, 0o711)
	}
	ranges, _ := os.ReadFile("/etc/subuid")
	var base string
	for _, l := range strings.Split(string(ranges), "\n") {
		if f := strings.Split(l, ":"); len(f) == 3 && f[0] == "berth" {
			base = f[1]
		}
	}
	if base == "" {
		t.Fatalf("no range for user berth in /etc/subuid:\n%s", ranges)
	}

	b.ok(remap("-d", "--name", "remapped", "busybox:test", "sh", "-c", "touch /made-inside; id -u; cat /proc/self/uid_map | tr -s ' '; echo ready; sleep 300")...)
	// Inside: root, mapped to the range's start.
	waitForLog(t, b, "remapped", "0\n 0 "+base+" 65536\nready\n")
	pid := strings.TrimSpace(b.ok("inspect", "-f", "{{.State.Pid}}", "remapped"))
	status, _ := os.ReadFile("/proc/" + pid + "/status")
	if !strings.Contains(string(status), "\nUid:\t"+base+"\t"+base+"\t"+base+"\t"+base+"\n") {
		t.Errorf("on the host the container's process is not uid %s:\n%s", base, status)
	}
	upper := strings.TrimSpace(b.ok("inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "remapped"))
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(upper, "made-inside"), &st); err != nil || strconv.Itoa(int(st.Uid)) != base {
		t.Errorf("a file the container made: owner %d (%v), want %s", st.Uid, err, base)
	}
	if got := b.ok("exec", "remapped", "id", "-u"); got != "0\n" {
		t.Errorf("exec: id -u %q", got)
	}

	probe := filepath.Join("/dev/shm", fmt.Sprintf("berth-userns-test-%d", os.Getpid()))
	if err := os.WriteFile(probe, []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(probe) })
	_, errs, code := b.run("", remap("--rm", "--ipc", "host", "busybox:test", "sh", "-c", "echo container > "+probe)...)
	if data, _ := os.ReadFile(probe); code == 0 || string(data) != "host\n" || !strings.Contains(errs, "Permission denied") {
		t.Errorf("remapped root writing a host root's file: exit %d %q, file %q", code, errs, data)
	}
	// Without the remapping, root can.
	b.ok(runArgs("--rm", "--ipc", "host", "busybox:test", "sh", "-c", "echo container > "+probe)...)

	if got := b.ok(remap("--rm", "--userns", "host", "busybox:test", "sh", "-c", "cat /proc/self/uid_map | tr -s ' '")...); got != " 0 0 4294967295\n" {
		t.Errorf("--userns host: %q", got)
	}
	if errs := b.fails(125, remap("--privileged", "busybox:test", "true")...); errs != "Error: privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode\n" {
		t.Errorf("--privileged: %q", errs)
	}
	b.ok(remap("--rm", "--privileged", "--userns", "host", "busybox:test", "true")...)
	if errs := b.fails(125, "--userns-remap", "a:b:c", "create", "busybox:test"); errs != "Error: Invalid user/group specification in --userns-remap: \"a:b:c\"\n" {
		t.Errorf("--userns-remap a:b:c: %q", errs)
	}
	if got := b.ok("ps", "-aq"); len(strings.Fields(got)) != 1 {
		t.Errorf("containers: %q, want the one", got)
	}
}
