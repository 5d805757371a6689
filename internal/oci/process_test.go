package oci

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCommand is Docker's resolution of ENTRYPOINT and CMD against
// --entrypoint and the command line.
func TestCommand(t *testing.T) {
	ep, cmd := []string{"/entry", "-x"}, []string{"serve", "80"}
	for _, tc := range []struct {
		name          string
		imgEP, imgCmd []string
		o             Options
		want          []string // nil: "no command specified"
	}{
		{"image entrypoint and cmd", ep, cmd, Options{}, []string{"/entry", "-x", "serve", "80"}},
		{"command replaces image cmd", ep, cmd, Options{Cmd: []string{"migrate"}}, []string{"/entry", "-x", "migrate"}},
		{"image cmd only", nil, cmd, Options{}, []string{"serve", "80"}},
		{"command replaces cmd-only image", nil, cmd, Options{Cmd: []string{"sh"}}, []string{"sh"}},
		{"image entrypoint only", ep, nil, Options{}, []string{"/entry", "-x"}},
		{"--entrypoint drops image cmd", ep, cmd, Options{Entrypoint: []string{"/bin/sh"}, EntrypointSet: true}, []string{"/bin/sh"}},
		{"--entrypoint with command", ep, cmd, Options{Entrypoint: []string{"/bin/sh"}, EntrypointSet: true, Cmd: []string{"-c", "id"}}, []string{"/bin/sh", "-c", "id"}},
		{"entrypoint without EntrypointSet still counts", ep, cmd, Options{Entrypoint: []string{"/bin/sh"}}, []string{"/bin/sh"}},
		{`--entrypoint "" with command`, ep, cmd, Options{EntrypointSet: true, Cmd: []string{"id"}}, []string{"id"}},
		{`--entrypoint "" as [""]`, ep, cmd, Options{Entrypoint: []string{""}, EntrypointSet: true, Cmd: []string{"id"}}, []string{"id"}},
		{`--entrypoint "" clears image cmd too`, ep, cmd, Options{EntrypointSet: true}, nil},
		{`image entrypoint ""`, []string{""}, cmd, Options{}, []string{"serve", "80"}},
		{"no image, command", nil, nil, Options{Cmd: []string{"true"}}, []string{"true"}},
		{"nothing at all", nil, nil, Options{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := command(tc.imgEP, tc.imgCmd, &tc.o)
			if tc.want == nil {
				if !errors.Is(err, ErrNoCommand) || !errors.Is(err, ErrInvalid) || err.Error() != "no command specified" {
					t.Fatalf("got %q, %v; want no command specified", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	// The image's slices are never written to.
	img := []string{"/entry", "-x"}
	got, _ := command(img[:1], nil, &Options{Cmd: []string{"y"}})
	if got[0] != "/entry" || img[1] != "-x" {
		t.Fatalf("command wrote into the image config: %q %q", got, img)
	}
}

func TestEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name      string
		img, user []string
		tty       bool
		want      string
	}{
		{"defaults", nil, nil, false, "PATH=" + defaultPath + " HOSTNAME=h"},
		{"tty", nil, nil, true, "PATH=" + defaultPath + " HOSTNAME=h TERM=xterm"},
		{"image PATH replaces the default in place", []string{"A=1", "PATH=/x"}, nil, false, "PATH=/x HOSTNAME=h A=1"},
		{"-e before the image's others", []string{"A=1", "B=2"}, []string{"C=3", "B=9"}, false, "PATH=" + defaultPath + " HOSTNAME=h C=3 B=9 A=1"},
		{"bare name drops the image's and a default", []string{"A=1", "B=2"}, []string{"A", "TERM"}, true, "PATH=" + defaultPath + " HOSTNAME=h B=2"},
		{"-e TERM overrides", nil, []string{"TERM=dumb", "HOSTNAME=x"}, true, "PATH=" + defaultPath + " HOSTNAME=x TERM=dumb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(environment(tc.img, tc.user, "h", tc.tty), " "); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestWorkingDirCreatedInsideRootfs: -w is created in the rootfs, through
// symlinks resolved inside it.
func TestWorkingDirCreatedInsideRootfs(t *testing.T) {
	pinHost(t)
	base := t.TempDir()
	rootfs := filepath.Join(base, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	// /srv → ../../outside would leave the rootfs if followed on the host.
	if err := os.Symlink("../../outside", filepath.Join(rootfs, "srv")); err != nil {
		t.Fatal(err)
	}
	s, err := Spec(nil, rootfs, Options{ContainerID: testID, Cmd: []string{"true"}, WorkingDir: "/srv/app"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Process.Cwd != "/srv/app" {
		t.Fatalf("cwd %q", s.Process.Cwd)
	}
	if fi, err := os.Stat(filepath.Join(rootfs, "outside", "app")); err != nil || !fi.IsDir() {
		t.Fatalf("working directory not made inside the rootfs: %v", err)
	}
	if _, err := os.Stat(filepath.Join(base, "..", "outside")); err == nil {
		t.Fatal("working directory made outside the rootfs")
	}
	// Bad options leave the rootfs untouched.
	_, err = Spec(nil, rootfs, Options{ContainerID: testID, Cmd: []string{"true"}, WorkingDir: "/new", CapAdd: []string{"NOPE"}})
	if _, statErr := os.Stat(filepath.Join(rootfs, "new")); err == nil || statErr == nil {
		t.Fatalf("failed Spec (%v) made the working directory", err)
	}
}

func TestRequiredArguments(t *testing.T) {
	if _, err := Spec(nil, t.TempDir(), Options{Cmd: []string{"true"}}); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("no container ID: %v", err)
	}
	if _, err := Spec(nil, "", Options{ContainerID: testID, Cmd: []string{"true"}}); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("no rootfs: %v", err)
	}
}
