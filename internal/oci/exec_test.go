package oci

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestExecProcess: exec keeps the container's process but for the
// command, adds TERM with a tty, layers -e over the container's
// environment, and looks a given user up in the container's files.
func TestExecProcess(t *testing.T) {
	rootfs := filepath.Join(copyFS(t), "rootfs")
	mask := uint32(0o027)
	base := &specs.Process{
		Args: []string{"sh"}, Cwd: "/srv", Env: []string{"PATH=/bin", "HOSTNAME=h", "A=1"},
		User:            specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 29, 44}, Umask: &mask},
		NoNewPrivileges: true, Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}},
	}
	box := &specs.Box{Height: 24, Width: 80}
	for _, c := range []struct {
		name string
		o    ExecOptions
		want func(p *specs.Process)
		err  string
	}{
		{"the container's", ExecOptions{Args: []string{"ls", "-l"}, ConsoleSize: box}, func(p *specs.Process) {
			p.Args = []string{"ls", "-l"}
		}, ""},
		{"tty and env", ExecOptions{Args: []string{"sh"}, Tty: true, ConsoleSize: box, Env: []string{"A=2", "B=3", "HOSTNAME"}}, func(p *specs.Process) {
			p.Terminal, p.ConsoleSize = true, box
			p.Env = []string{"PATH=/bin", "A=2", "TERM=xterm", "B=3"}
		}, ""},
		{"user and workdir", ExecOptions{Args: []string{"id"}, User: "daemon:staff", WorkingDir: "/tmp/../x", GroupAdd: []string{"video"}}, func(p *specs.Process) {
			p.Args, p.Cwd = []string{"id"}, "/x"
			p.User = specs.User{UID: 1, GID: 50, AdditionalGids: []uint32{50, 44}, Umask: &mask}
		}, ""},
		{"numeric user", ExecOptions{Args: []string{"id"}, User: "4242"}, func(p *specs.Process) {
			p.Args = []string{"id"}
			p.User = specs.User{UID: 4242, GID: 0, AdditionalGids: []uint32{0}, Umask: &mask}
		}, ""},
		{"unknown user", ExecOptions{Args: []string{"id"}, User: "nosuch"}, nil, "unable to find user nosuch: no matching entries in passwd file"},
		{"relative workdir", ExecOptions{Args: []string{"id"}, WorkingDir: "x"}, nil, "the working directory 'x' is invalid, it needs to be an absolute path"},
		{"no command", ExecOptions{}, nil, "No exec command specified"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ExecProcess(base, rootfs, c.o)
			if c.err != "" {
				if err == nil || err.Error() != c.err || !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %v, want %q (ErrInvalid)", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := *base
			c.want(&want)
			if !reflect.DeepEqual(got, &want) {
				t.Errorf("got  %+v\nwant %+v", got, &want)
			}
		})
	}
	if base.Args[0] != "sh" || len(base.Env) != 3 {
		t.Error("ExecProcess changed the container's process")
	}
}
