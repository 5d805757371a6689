package runtime

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// protectedSelf returns a handle on this binary, to re-execute as the
// container init, through which nobody can write the binary.
//
// Why: while the init runs (and after it execs, through a
// `#!/proc/self/exe` interpreter line) processes in the container can reach
// its /proc/<pid>/exe. If that led to the host's berth binary on a writable
// mount, they could reopen it for writing once it stops running and replace
// it (CVE-2019-5736). The handle is a detached read-only bind mount of the
// binary (open_tree + mount_setattr, as runc 1.2 does): no copy, invisible
// in every mount table, gone when the last user closes it, and not
// remountable from inside a container. Kernels without mount_setattr get a
// sealed memfd copy instead, which costs a few milliseconds.
func protectedSelf() (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/proc/self/exe", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err == nil {
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
		if err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err == nil {
			return os.NewFile(uintptr(fd), "berth-init"), nil
		}
		unix.Close(fd)
	}
	return sealedSelf()
}

// sealedSelf copies this binary into a memfd sealed against any change.
func sealedSelf() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("open /proc/self/exe: %w", err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return nil, err
	}
	return sealedMemfd("berth-init", func(fd int) error {
		for remaining := st.Size(); remaining > 0; {
			n, err := unix.Sendfile(fd, int(src.Fd()), nil, int(remaining))
			if err != nil {
				return &os.SyscallError{Syscall: "sendfile", Err: err}
			}
			if n == 0 {
				break
			}
			remaining -= int64(n)
		}
		return nil
	})
}

// sealedBytes returns a sealed memfd holding data (the nsenter trampoline).
func sealedBytes(name string, data []byte) (*os.File, error) {
	return sealedMemfd(name, func(fd int) error {
		_, err := unix.Write(fd, data)
		return err
	})
}

// sealedMemfd makes a memfd, lets fill write it, and seals it against any
// change.
func sealedMemfd(name string, fill func(fd int) error) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, &os.SyscallError{Syscall: "memfd_create", Err: err}
	}
	mem := os.NewFile(uintptr(fd), name)
	if err := fill(fd); err != nil {
		mem.Close()
		return nil, err
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		mem.Close()
		return nil, &os.SyscallError{Syscall: "fcntl(F_ADD_SEALS)", Err: err}
	}
	return mem, nil
}
