package cgroups

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The bpf(2) calls berth needs to load and attach a cgroup device program.
// The attribute structs mirror the leading fields of union bpf_attr for
// each command; the kernel takes a shorter attr and zero-fills the rest.

type bpfProgLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
}

type bpfProgAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

type bpfProgQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     uint64
	progCnt     uint32
	_           uint32
}

type bpfGetFdByIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
}

// bpfFReplace is BPF_F_REPLACE (kernel 5.6), missing from x/sys/unix.
const bpfFReplace = 1 << 2

func bpfCall(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// loadDeviceProgram loads prog and returns its fd. When the verifier
// refuses it, the load is repeated with a log so the error says why.
func loadDeviceProgram(prog []bpfInsn) (int, error) {
	code := encodeInsns(prog)
	license := []byte("Apache\x00")
	attr := bpfProgLoadAttr{
		progType:           unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:            uint32(len(prog)),
		insns:              uint64(uintptr(unsafe.Pointer(&code[0]))),
		license:            uint64(uintptr(unsafe.Pointer(&license[0]))),
		expectedAttachType: unix.BPF_CGROUP_DEVICE,
	}
	copy(attr.progName[:], "berth_devices")
	fd, err := bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err == nil {
		runtime.KeepAlive(code)
		runtime.KeepAlive(license)
		return fd, nil
	}
	logBuf := make([]byte, 64*1024)
	attr.logLevel = 1
	attr.logSize = uint32(len(logBuf))
	attr.logBuf = uint64(uintptr(unsafe.Pointer(&logBuf[0])))
	if fd, err2 := bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err2 == nil {
		// Loaded with a log but not without: take it.
		runtime.KeepAlive(code)
		runtime.KeepAlive(license)
		return fd, nil
	}
	runtime.KeepAlive(code)
	runtime.KeepAlive(license)
	verifierLog := unix.ByteSliceToString(logBuf)
	return -1, fmt.Errorf("cgroups: load device eBPF program (%d instructions): %w; verifier: %s", len(prog), err, verifierLog)
}

// queryDevicePrograms returns the ids of the device programs attached to
// the cgroup open at dirFd.
func queryDevicePrograms(dirFd int) ([]uint32, error) {
	// A cgroup holds at most 64 programs per attach type
	// (BPF_CGROUP_MAX_PROGS).
	ids := make([]uint32, 64)
	attr := bpfProgQueryAttr{
		targetFd:   uint32(dirFd),
		attachType: unix.BPF_CGROUP_DEVICE,
		progIDs:    uint64(uintptr(unsafe.Pointer(&ids[0]))),
		progCnt:    uint32(len(ids)),
	}
	_, err := bpfCall(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(ids)
	if err != nil {
		return nil, fmt.Errorf("cgroups: query attached device programs: %w", err)
	}
	return ids[:attr.progCnt], nil
}

func progFdByID(id uint32) (int, error) {
	attr := bpfGetFdByIDAttr{id: id}
	fd, err := bpfCall(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return -1, fmt.Errorf("cgroups: open device program %d: %w", id, err)
	}
	return fd, nil
}

func attachDeviceProgram(dirFd, progFd, replaceFd int) error {
	attr := bpfProgAttachAttr{
		targetFd:    uint32(dirFd),
		attachBpfFd: uint32(progFd),
		attachType:  unix.BPF_CGROUP_DEVICE,
		// ALLOW_MULTI lets the new program sit beside the old one for the
		// moment of the swap, and lets programs of parent cgroups (a
		// systemd slice's, say) keep running alongside.
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	if replaceFd >= 0 {
		attr.attachFlags |= bpfFReplace
		attr.replaceBpfFd = uint32(replaceFd)
	}
	_, err := bpfCall(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return err
}

func detachDeviceProgram(dirFd, progFd int) error {
	attr := bpfProgAttachAttr{
		targetFd:    uint32(dirFd),
		attachBpfFd: uint32(progFd),
		attachType:  unix.BPF_CGROUP_DEVICE,
	}
	_, err := bpfCall(unix.BPF_PROG_DETACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return err
}

// setDeviceProgram makes prog the only device program berth runs on the
// cgroup directory dir, without a moment where no program is attached
// (which would allow every device): the new program is attached before the
// old ones go, atomically with BPF_F_REPLACE when there is exactly one.
func setDeviceProgram(dir string, prog []bpfInsn) error {
	dirFd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cgroups: open %s: %w", dir, err)
	}
	defer unix.Close(dirFd)

	progFd, err := loadDeviceProgram(prog)
	if err != nil {
		return err
	}
	defer unix.Close(progFd)

	oldIDs, err := queryDevicePrograms(dirFd)
	if err != nil {
		return fmt.Errorf("%w (on %s)", err, dir)
	}
	var oldFds []int
	defer func() {
		for _, fd := range oldFds {
			unix.Close(fd)
		}
	}()
	for _, id := range oldIDs {
		fd, err := progFdByID(id)
		if err != nil {
			return err
		}
		oldFds = append(oldFds, fd)
	}

	if len(oldFds) == 1 {
		err := attachDeviceProgram(dirFd, progFd, oldFds[0])
		if err == nil {
			return nil
		}
		// Kernels before 5.6 lack F_REPLACE: fall back to attach+detach.
		if !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("cgroups: replace device program on %s: %w", dir, err)
		}
	}
	if err := attachDeviceProgram(dirFd, progFd, -1); err != nil {
		return fmt.Errorf("cgroups: attach device program to %s: %w", dir, err)
	}
	for i, fd := range oldFds {
		if err := detachDeviceProgram(dirFd, fd); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("cgroups: detach old device program %d from %s: %w", oldIDs[i], dir, err)
		}
	}
	return nil
}
