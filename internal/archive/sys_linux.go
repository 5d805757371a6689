package archive

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// futimens sets the times of the file open as fd: utimensat with a NULL
// path, which x/sys does not expose (its Futimes goes through /proc).
func futimens(fd int, ts [2]unix.Timespec) error {
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return &os.SyscallError{Syscall: "utimensat", Err: errno}
	}
	return nil
}

// readXattrs returns the xattrs of one file through list (llistxattr or
// flistxattr) and get. A file system without xattrs has none.
func readXattrs(list func([]byte) (int, error), get func(string, []byte) (int, error)) (map[string]string, error) {
	var stack [512]byte
	buf := stack[:]
	var n int
	for {
		var err error
		n, err = list(buf)
		if err == unix.ERANGE {
			sz, err := list(nil)
			if err != nil {
				return nil, &os.SyscallError{Syscall: "listxattr", Err: err}
			}
			buf = make([]byte, sz+64)
			continue
		}
		if err == unix.ENOTSUP {
			return nil, nil
		}
		if err != nil {
			return nil, &os.SyscallError{Syscall: "listxattr", Err: err}
		}
		break
	}
	if n == 0 {
		return nil, nil
	}
	names := string(buf[:n])
	xattrs := map[string]string{}
	val := make([]byte, 256)
	for len(names) > 0 {
		i := 0
		for i < len(names) && names[i] != 0 {
			i++
		}
		name := names[:i]
		if i < len(names) {
			i++
		}
		names = names[i:]
		if name == "" {
			continue
		}
		for {
			sz, err := get(name, val)
			if err == unix.ERANGE {
				if sz, err = get(name, nil); err != nil {
					return nil, &os.SyscallError{Syscall: "getxattr " + name, Err: err}
				}
				val = make([]byte, sz+64)
				continue
			}
			if err == unix.ENODATA { // removed since the list
				break
			}
			if err != nil {
				return nil, &os.SyscallError{Syscall: "getxattr " + name, Err: err}
			}
			xattrs[name] = string(val[:sz])
			break
		}
	}
	return xattrs, nil
}
