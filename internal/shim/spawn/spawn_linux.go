// Package spawn starts `berth shim` processes, and starts the shim of an
// attached `berth run` from its init, before the rest of berth has
// initialized (see Early).
//
// Why from an init: a Go process runs every package's init before main,
// and berth's take about 2 ms. The shim, and the container init it starts
// (runtime.Spare), are on the path of every `run`; started from here,
// they start on the other CPU while this process initializes. This
// package imports nothing of berth's, and of the standard library only
// what package os does (strings or path/filepath would make its init one
// of the last), so that its init runs among the first.
package spawn

import (
	"io"
	"os"
	"syscall"
)

// CgroupEnv gives a shim its container's linux.cgroupsPath, where it starts
// the container's init ahead (runtime.Prespawn).
const CgroupEnv = "BERTH_SHIM_CGROUP"

// Started is a shim just started: our ends of its descriptors 3 (the
// config pipe, written), 4 (the ready pipe, read) and, with attach, 5 (the
// client's connection; nil without).
type Started struct {
	Cfg, Ready, Client *os.File
}

// Start starts self (this binary) as `berth shim` for a container whose
// linux.cgroupsPath is cgroupsPath. Its stdio is /dev/null, it leads a
// session of its own, and a goroutine of ours reaps it while we live.
func Start(self string, attach bool, cgroupsPath string) (_ *Started, err error) {
	var theirs []int // closed on return
	var s Started
	defer func() {
		for _, fd := range theirs {
			syscall.Close(fd)
		}
		if err != nil {
			for _, f := range []*os.File{s.Cfg, s.Ready, s.Client} {
				if f != nil {
					f.Close()
				}
			}
		}
	}()
	null, err := syscall.Open(os.DevNull, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: os.DevNull, Err: err}
	}
	theirs = append(theirs, null)
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil { // fd 3
		return nil, os.NewSyscallError("pipe2", err)
	}
	s.Cfg, theirs = os.NewFile(uintptr(p[1]), "shim config"), append(theirs, p[0])
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil { // fd 4
		return nil, os.NewSyscallError("pipe2", err)
	}
	s.Ready, theirs = os.NewFile(uintptr(p[0]), "shim ready"), append(theirs, p[1])
	if attach { // fd 5
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, os.NewSyscallError("socketpair", err)
		}
		s.Client, theirs = os.NewFile(uintptr(fds[0]), "attach"), append(theirs, fds[1])
	}
	files := []uintptr{uintptr(null), uintptr(null)} // stdin, stdout, then theirs
	for _, fd := range theirs {
		files = append(files, uintptr(fd))
	}
	pid, err := syscall.ForkExec(self, []string{self, "shim"}, &syscall.ProcAttr{
		Dir:   "/",
		Env:   append(os.Environ(), CgroupEnv+"="+cgroupsPath),
		Files: files,
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return nil, os.NewSyscallError("start shim: fork/exec "+self, err)
	}
	go func() {
		var ws syscall.WaitStatus
		for {
			if _, err := syscall.Wait4(pid, &ws, 0, nil); err != syscall.EINTR {
				return
			}
		}
	}()
	return &s, nil
}

// earlyCgroupParent is oci.DefaultCgroupParent (a test checks), which this
// package may not import.
const earlyCgroupParent = "/berth"

// early is the shim this package's init started.
var early struct {
	id, cgroupsPath string
	s               *Started
}

func init() {
	parent, ok := attachedRun(os.Args)
	if !ok {
		return
	}
	self, err := os.Executable()
	if err != nil {
		return
	}
	id, err := newID()
	if err != nil {
		return
	}
	cgroupsPath := parent + "/" + id
	if s, err := Start(self, true, cgroupsPath); err == nil {
		early.id, early.cgroupsPath, early.s = id, cgroupsPath, s
	}
}

// Early returns, once, the shim this package's init started for the
// `berth run` this process is, with the ID of the container it was started
// for and that container's cgroupsPath; nil when none was started. The
// shim is attached (Start with attach), and its cgroupsPath comes from
// the command line as it looked before it was parsed: the caller checks
// it, and closes a shim that does not fit the command as parsed.
func Early() (s *Started, id, cgroupsPath string) {
	s, id, cgroupsPath = early.s, early.id, early.cgroupsPath
	early.s = nil
	return s, id, cgroupsPath
}

// attachedRun says whether args (os.Args) look like an attached `berth
// run`, and with which --cgroup-parent (oci.DefaultCgroupParent without).
// It errs on the side of no: `run` must come first or after berth's own
// flags (RootFlags), and no argument may be one that could detach (-d,
// --detach, a group of short flags with a d, even a container's argument)
// or ask for help. What a yes gets wrong (a --cgroup-parent that was a
// container's argument) the caller finds when it checks Early's result.
func attachedRun(args []string) (parent string, ok bool) {
	if len(args) < 2 {
		return "", false
	}
	name := args[0]
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			name = name[i+1:]
			break
		}
	}
	if name == "berth-runtime" || name == "docker-init" { // the runtime's run; the --init
		return "", false
	}
	if args = subcommand(args); len(args) < 2 || args[0] != "run" {
		return "", false
	}
	for i, a := range args[1:] {
		switch {
		case a == "--detach" || hasPrefix(a, "--detach=") || a == "--help":
			return "", false
		case len(a) > 1 && a[0] == '-' && a[1] != '-' && hasByte(a, 'd'):
			return "", false
		case a == "--cgroup-parent" && i+2 < len(args):
			parent = args[i+2]
		case hasPrefix(a, "--cgroup-parent="):
			parent = a[len("--cgroup-parent="):]
		}
	}
	if parent == "" {
		parent = earlyCgroupParent
	}
	return parent, true
}

// Subcommand is the berth command args (os.Args) are: the first argument
// after berth's own flags (RootFlags), "" when another flag comes first.
func Subcommand(args []string) string {
	if rest := subcommand(args); len(rest) > 0 {
		return rest[0]
	}
	return ""
}

// subcommand returns args from the berth command on (nil for none).
func subcommand(args []string) []string {
	if len(args) > 0 {
		args = args[1:]
	}
	for len(args) > 0 {
		flag, _, withValue := cut(args[0], '=')
		if !isRootFlag(flag) {
			if hasPrefix(flag, "-") {
				return nil
			}
			return args
		}
		if args = args[1:]; !withValue && len(args) > 0 {
			args = args[1:]
		}
	}
	return nil
}

// RootFlags are berth's global flags, which all take a value (a test
// checks them against the CLI's).
var RootFlags = []string{"--root", "--storage-driver", "--insecure-registry", "--userns-remap"}

func isRootFlag(f string) bool {
	for _, r := range RootFlags {
		if f == r {
			return true
		}
	}
	return false
}

// cut is strings.Cut for a byte.
func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func hasPrefix(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }

func hasByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

// newID is a container ID (as container.NewID's): 32 random bytes, in hex.
func newID() (string, error) {
	f, err := os.Open("/dev/urandom")
	if err != nil {
		return "", err
	}
	defer f.Close()
	var b [32]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return "", err
	}
	const digits = "0123456789abcdef"
	id := make([]byte, 0, 2*len(b))
	for _, c := range b {
		id = append(id, digits[c>>4], digits[c&15])
	}
	return string(id), nil
}
