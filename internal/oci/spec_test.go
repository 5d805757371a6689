package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/cases")

// testID is the container ID of every golden case.
const testID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// allCapNames are the 41 capabilities up to CAP_CHECKPOINT_RESTORE.
var allCapNames = strings.Fields(`CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID
	CAP_KILL CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_LINUX_IMMUTABLE CAP_NET_BIND_SERVICE CAP_NET_BROADCAST
	CAP_NET_ADMIN CAP_NET_RAW CAP_IPC_LOCK CAP_IPC_OWNER CAP_SYS_MODULE CAP_SYS_RAWIO CAP_SYS_CHROOT
	CAP_SYS_PTRACE CAP_SYS_PACCT CAP_SYS_ADMIN CAP_SYS_BOOT CAP_SYS_NICE CAP_SYS_RESOURCE CAP_SYS_TIME
	CAP_SYS_TTY_CONFIG CAP_MKNOD CAP_LEASE CAP_AUDIT_WRITE CAP_AUDIT_CONTROL CAP_SETFCAP CAP_MAC_OVERRIDE
	CAP_MAC_ADMIN CAP_SYSLOG CAP_WAKE_ALARM CAP_BLOCK_SUSPEND CAP_AUDIT_READ CAP_PERFMON CAP_BPF
	CAP_CHECKPOINT_RESTORE`)

// pinHost makes the host facts fixed for the test: every capability
// known and held, every sysctl present, no thermal_throttle directories,
// host name "docker-host", no user namespace, and devices /dev/null,
// /dev/sda and /dev/snd/{controlC0,timer} (see fakeDevicesAt).
func pinHost(t *testing.T) {
	saved := host
	host = hostFacts{
		caps:             func() ([]string, []string) { return allCapNames, allCapNames },
		sysctlExists:     func(string) bool { return true },
		extraMaskedPaths: func() []string { return nil },
		hostname:         func() (string, error) { return "docker-host", nil },
		inUserNS:         func() bool { return false },
		devicesAt:        fakeDevicesAt,
		hostDevices: func() ([]specs.LinuxDevice, error) {
			null, _ := fakeDevicesAt("/dev/null")
			sda, _ := fakeDevicesAt("/dev/sda")
			null[0].Path, sda[0].Path = "/dev/null", "/dev/sda"
			return append(null, sda...), nil
		},
	}
	t.Cleanup(func() { host = saved })
	pinResourceHost(t)
}

// TestGolden runs each directory of testdata/cases: image.json (absent:
// no image), options.json (Options; ContainerID defaults to testID),
// rootfs (optional: which tree of testdata/fs, default "rootfs"), and the
// result, want.json or want-error.txt. Root.Path reads "ROOTFS"; a seccomp
// profile keeps its default action only (its syscall list depends on the
// host's kernel and architecture; seccomp_test.go checks its contents).
// `go test ./internal/oci -update` rewrites the results.
func TestGolden(t *testing.T) {
	pinHost(t)
	cases, err := filepath.Glob("testdata/cases/*")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := runCase(t, dir)
			wantFile := filepath.Join(dir, "want.json")
			if strings.HasPrefix(string(got), "error: ") {
				wantFile = filepath.Join(dir, "want-error.txt")
				got = []byte(strings.TrimPrefix(string(got), "error: "))
			}
			if *update {
				os.Remove(filepath.Join(dir, "want.json"))
				os.Remove(filepath.Join(dir, "want-error.txt"))
				if err := os.WriteFile(wantFile, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (got:\n%s)", err, got)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs; got:\n%s", wantFile, got)
			}
		})
	}
}

// runCase returns the case's spec as indented JSON, or "error: " and
// the error's message.
func runCase(t *testing.T, dir string) []byte {
	t.Helper()
	var img *dockerspec.DockerOCIImage
	if data, err := os.ReadFile(filepath.Join(dir, "image.json")); err == nil {
		img = new(dockerspec.DockerOCIImage)
		if err := json.Unmarshal(data, img); err != nil {
			t.Fatal(err)
		}
	}
	var o Options
	data, err := os.ReadFile(filepath.Join(dir, "options.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("options.json: %v", err)
	}
	if o.ContainerID == "" {
		o.ContainerID = testID
	}
	name := "rootfs"
	if data, err := os.ReadFile(filepath.Join(dir, "rootfs")); err == nil {
		name = strings.TrimSpace(string(data))
	}
	rootfs := filepath.Join(copyFS(t), name)

	s, err := Spec(img, rootfs, o)
	if err != nil {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("error %q is not ErrInvalid", err)
		}
		return []byte("error: " + err.Error() + "\n")
	}
	s.Root.Path = "ROOTFS"
	if s.Linux.Seccomp != nil {
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: s.Linux.Seccomp.DefaultAction, DefaultErrnoRet: s.Linux.Seccomp.DefaultErrnoRet}
	}
	out, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// copyFS copies testdata/fs to a temporary directory, symlinks as
// symlinks, so that Spec may create working directories in it.
func copyFS(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir("testdata/fs", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/fs", p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o644)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// fakeDevicesAt knows /dev/null (c 1:3), /dev/sda (b 8:0), the directory
// /dev/snd (c 116:0 controlC0, c 116:33 timer) and a regular file
// /etc/hosts.
func fakeDevicesAt(p string) ([]specs.LinuxDevice, error) {
	dev := func(path, typ string, major, minor int64, mode os.FileMode) specs.LinuxDevice {
		var zero uint32
		return specs.LinuxDevice{Path: path, Type: typ, Major: major, Minor: minor, FileMode: &mode, UID: &zero, GID: &zero}
	}
	switch p {
	case "/dev/null":
		return []specs.LinuxDevice{dev("", "c", 1, 3, 0o666)}, nil
	case "/dev/sda":
		return []specs.LinuxDevice{dev("", "b", 8, 0, 0o660)}, nil
	case "/dev/snd":
		return []specs.LinuxDevice{dev("controlC0", "c", 116, 0, 0o660), dev("timer", "c", 116, 33, 0o660)}, nil
	case "/etc/hosts":
		return nil, errors.New("not a device node")
	}
	return nil, errors.New("no such file or directory")
}
