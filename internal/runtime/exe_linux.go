package runtime

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// sealedSelf returns a sealed in-memory copy of this binary to re-execute as
// the container init.
//
// Why a copy: while the init runs (and after it execs, through a
// `#!/proc/self/exe` interpreter line) processes in the container can reach
// its /proc/<pid>/exe. If that were the host's berth binary, they could
// reopen it for writing once it stops running and replace it
// (CVE-2019-5736). A memfd with write, grow and shrink seals can't be
// changed by anyone, so the host binary is never exposed.
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
