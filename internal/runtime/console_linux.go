package runtime

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// sendFd passes f over the unix socket sock with SCM_RIGHTS, the way runc
// hands a console master to the --console-socket listener.
func sendFd(sock *os.File, name string, f *os.File) error {
	rights := unix.UnixRights(int(f.Fd()))
	if err := unix.Sendmsg(int(sock.Fd()), []byte(name), rights, nil, 0); err != nil {
		return &os.SyscallError{Syscall: "sendmsg", Err: err}
	}
	return nil
}

// ConsolePair returns a connected socket pair for a container with a
// terminal: remote goes in CreateOpts.Console, and ReceiveConsole(local)
// returns the pty master once Create has set the terminal up.
func ConsolePair() (local, remote *os.File, err error) { return socketPair() }

// ReceiveConsole returns the pty master sent on local (see ConsolePair).
func ReceiveConsole(local *os.File) (*os.File, error) { return recvFd(local) }

// recvFd receives one descriptor sent with sendFd.
func recvFd(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, &os.SyscallError{Syscall: "recvmsg", Err: err}
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("console socket: expected one control message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("console socket: expected one descriptor")
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}

// openPty opens a new pty pair in the calling process's /dev/pts and returns
// the master and the slave's path.
func openPty() (*os.File, string, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, "", &os.SyscallError{Syscall: "ioctl(TIOCSPTLCK)", Err: err}
	}
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, "", &os.SyscallError{Syscall: "ioctl(TIOCGPTN)", Err: err}
	}
	return master, fmt.Sprintf("/dev/pts/%d", n), nil
}

// setupConsole gives the process a terminal: a new pty whose master goes to
// the console socket and whose slave becomes stdio and the controlling
// terminal. With mountConsole (create, not exec) the slave is also bind
// mounted on /dev/console. It runs inside the container's mount namespace,
// after pivot_root.
func setupConsole(sock *os.File, p *specs.Process, mountConsole bool) error {
	master, slavePath, err := openPty()
	if err != nil {
		return err
	}
	defer master.Close()
	if p.ConsoleSize != nil {
		ws := &unix.Winsize{Row: uint16(p.ConsoleSize.Height), Col: uint16(p.ConsoleSize.Width)}
		if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws); err != nil {
			return &os.SyscallError{Syscall: "ioctl(TIOCSWINSZ)", Err: err}
		}
	}
	if mountConsole {
		if err := mountDevConsole(slavePath); err != nil {
			return err
		}
	}
	if err := sendFd(sock, slavePath, master); err != nil {
		return fmt.Errorf("send console master: %w", err)
	}
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", slavePath, err)
	}
	defer slave.Close()
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(int(slave.Fd()), fd, 0); err != nil {
			return &os.SyscallError{Syscall: "dup3", Err: err}
		}
	}
	if _, err := unix.Setsid(); err != nil {
		return &os.SyscallError{Syscall: "setsid", Err: err}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return &os.SyscallError{Syscall: "ioctl(TIOCSCTTY)", Err: err}
	}
	return nil
}

func mountDevConsole(slavePath string) error {
	f, err := os.OpenFile("/dev/console", os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("create /dev/console: %w", err)
	}
	f.Close()
	if err := unix.Mount(slavePath, "/dev/console", "", unix.MS_BIND, ""); err != nil {
		return &os.PathError{Op: "bind mount " + slavePath, Path: "/dev/console", Err: err}
	}
	return nil
}
