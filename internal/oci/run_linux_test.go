package oci

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.CleanupShared()
	os.Exit(code)
}

// TestRunWithRuntime runs specs built for the busybox rootfs with the real
// runtime (`berth runtime run`) and checks what the container sees: its
// user and groups, the capability mask (Docker's default set is
// 00000000a80425fb), the masked /proc/kcore (and other masked files), the
// network sysctls, the host name, the working directory Spec created, and
// --read-only with a --tmpfs; --privileged unmasks and grants all.
func TestRunWithRuntime(t *testing.T) {
	testutil.RequireRoot(t, "the runtime creates namespaces, mounts and cgroups")
	berth, err := testutil.BuildBerth(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img := &dockerspec.DockerOCIImage{}
	img.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	img.Config.Cmd = []string{"sh"}
	// Masked files are /dev/null (1:3) in the container; /proc/kcore is
	// checked where the host kernel has it, with others that always
	// exist.
	var masked []string
	for _, f := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/interrupts"} {
		if _, err := os.Stat(f); err == nil {
			masked = append(masked, f)
		}
	}
	maskedAs := func(dev string) (lines []string) {
		for _, f := range masked {
			lines = append(lines, f+" "+dev)
		}
		return lines
	}
	script := `id; grep CapEff /proc/self/status; stat -c '%n %t:%T' ` + strings.Join(masked, " ") +
		`; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; hostname; pwd; ` +
		`touch /x 2>/dev/null && echo / writable || echo / not writable; touch /tmp/x && echo /tmp writable`

	for _, tc := range []struct {
		name string
		o    Options
		want []string
	}{
		{"root", Options{}, slices.Concat([]string{
			"uid=0(root) gid=0(root) groups=0(root),10(wheel)",
			"CapEff:\t00000000a80425fb",
		}, maskedAs("1:3"), []string{"0", "HOSTNAME", "/work/dir", "/ writable", "/tmp writable"})},
		{"nobody with a group", Options{User: "nobody", GroupAdd: []string{"daemon"}}, slices.Concat([]string{
			"uid=65534(nobody) gid=65534(nogroup) groups=1(daemon),29(audio),65534(nogroup)",
			"CapEff:\t0000000000000000",
		}, maskedAs("1:3"), []string{"0", "HOSTNAME", "/work/dir", "/ not writable", "/tmp writable"})},
		{"privileged read-only", Options{Privileged: true, ReadOnly: true, Tmpfs: map[string]string{"/tmp": ""}, Hostname: "priv"}, slices.Concat([]string{
			"uid=0(root) gid=0(root) groups=0(root),10(wheel)",
			"CapEff:\t" + hostCapEff(t),
		}, maskedAs("0:0"), []string{"0", "priv", "/work/dir", "/ not writable", "/tmp writable"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testutil.NewBundle(t)
			id := newID(t)
			o := tc.o
			o.ContainerID = id
			o.CgroupParent = testutil.TestCgroupParent()
			o.Cmd = []string{"sh", "-c", script}
			o.WorkingDir = "/work/dir"
			s, err := Spec(img, filepath.Join(b.Dir, "rootfs"), o)
			if err != nil {
				t.Fatal(err)
			}
			b.Spec = s
			b.Save(t)

			state := t.TempDir()
			t.Cleanup(func() { exec.Command(berth, "runtime", "--root", state, "delete", "-f", id).Run() })
			out, errs, err := runBerth(t, berth, "runtime", "--root", state, "run", "--bundle", b.Dir, id)
			if err != nil {
				t.Fatalf("berth runtime run: %v\nstdout:\n%s\nstderr:\n%s", err, out, errs)
			}
			want := strings.ReplaceAll(strings.Join(tc.want, "\n"), "HOSTNAME", id[:12])
			if got := strings.TrimSpace(out); got != want {
				t.Fatalf("container saw:\n%s\nwant:\n%s\nstderr: %s", got, want, errs)
			}
		})
	}
}

// hostCapEff is this process's effective capability mask, all of which a
// privileged container gets.
func hostCapEff(t *testing.T) string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:\t"); ok {
			return v
		}
	}
	t.Fatal("no CapEff in /proc/self/status")
	return ""
}

func newID(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// runBerth runs berth with stdout and stderr in files: a container's
// process may keep the runtime's stdio open after it returns.
func runBerth(t *testing.T, bin string, args ...string) (string, string, error) {
	dir := t.TempDir()
	outF, _ := os.Create(filepath.Join(dir, "stdout"))
	errF, _ := os.Create(filepath.Join(dir, "stderr"))
	defer outF.Close()
	defer errF.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = outF, errF
	err := cmd.Run()
	out, _ := os.ReadFile(outF.Name())
	errs, _ := os.ReadFile(errF.Name())
	return string(out), string(errs), err
}
