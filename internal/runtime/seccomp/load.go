package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Load compiles cfg and installs it with seccomp(SECCOMP_SET_MODE_FILTER)
// for the calling thread: NewFilter, then Install.
//
// It does not set no_new_privs (the caller decides); it needs CAP_SYS_ADMIN
// or no_new_privs already set. The filter applies to the calling OS thread
// only (unless TSYNC is asked for), so the caller must hold
// runtime.LockOSThread until it execs.
func Load(cfg *specs.LinuxSeccomp) (listenerFd int, err error) {
	f, err := NewFilter(cfg)
	if err != nil {
		return -1, err
	}
	return f.Install()
}

// Filter is a compiled filter and the flags to install it with: what a
// container's init installs, compiled by its parent while the init starts.
type Filter struct {
	// Program is the BPF program: sock_filter instructions of 8 bytes
	// (code, jt, jf, k), in the machine's byte order. As bytes, it
	// travels in JSON as one base64 string.
	Program []byte  `json:"program"`
	Flags   uintptr `json:"flags"`
}

// NewFilter compiles cfg for this machine's architecture, with cfg.Flags
// (SECCOMP_FILTER_FLAG_TSYNC, _LOG, _SPEC_ALLOW, _WAIT_KILLABLE_RECV). If
// any rule uses SCMP_ACT_NOTIFY it adds SECCOMP_FILTER_FLAG_NEW_LISTENER
// (see Install). WAIT_KILLABLE_RECV is only passed on with a listener,
// since the kernel rejects it otherwise; with TSYNC and a listener,
// TSYNC_ESRCH is added, as libseccomp does.
func NewFilter(cfg *specs.LinuxSeccomp) (*Filter, error) {
	c, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	prog, err := c.compile(runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	flags := c.flags
	if c.notify {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		// The kernel refuses TSYNC with NEW_LISTENER, since both want
		// the return value, unless TSYNC failures are reported as ESRCH
		// instead of a thread id. libseccomp does the same.
		if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 {
			flags |= unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
		}
	} else {
		// WAIT_KILLABLE_RECV is about the listener; the kernel rejects
		// it without one, and libseccomp drops it in that case.
		flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	}
	return &Filter{Program: unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(prog))), len(prog)*sockFilterSize), Flags: flags}, nil
}

const sockFilterSize = int(unsafe.Sizeof(unix.SockFilter{}))

// Install installs f for the calling thread (see Load) and returns the
// listener fd of a filter with SECCOMP_FILTER_FLAG_NEW_LISTENER (else -1).
func (f *Filter) Install() (listenerFd int, err error) {
	if len(f.Program)%sockFilterSize != 0 {
		return -1, fmt.Errorf("seccomp: a program of %d bytes is not whole instructions", len(f.Program))
	}
	prog := make([]unix.SockFilter, len(f.Program)/sockFilterSize)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(prog))), len(f.Program)), f.Program)
	return install(prog, f.Flags)
}

func install(prog []unix.SockFilter, flags uintptr) (int, error) {
	if len(prog) == 0 {
		return -1, errors.New("seccomp: empty filter")
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		flags, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	runtime.KeepAlive(&fprog)
	if errno != 0 {
		switch errno {
		case unix.EACCES:
			return -1, fmt.Errorf("seccomp: loading filter: %w (need no_new_privs or CAP_SYS_ADMIN)", errno)
		case unix.EINVAL:
			return -1, fmt.Errorf("seccomp: loading filter with flags %#x: %w (flag or action unsupported by this kernel?)", flags, errno)
		}
		return -1, fmt.Errorf("seccomp: loading filter with flags %#x: %w", flags, errno)
	}
	if flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
		return int(r), nil
	}
	if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 && r != 0 {
		// With TSYNC alone, a positive result is the id of a thread
		// that could not be synchronised; the filter was not installed.
		return -1, fmt.Errorf("seccomp: loading filter: thread %d could not be synchronised", r)
	}
	return -1, nil
}
