package runtime

import (
	"errors"
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// pivotRoot makes rootfs the root of the mount namespace and detaches the
// old root, without needing a directory for it: pivot_root(".", ".") stacks
// the old root on top of the new one, and unmounting "." removes it (runc's
// technique). The old root is made a slave first so the unmount doesn't
// propagate to the host.
func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return &os.SyscallError{Syscall: "fchdir", Err: err}
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return &os.PathError{Op: "pivot_root", Path: rootfs, Err: err}
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return &os.SyscallError{Syscall: "fchdir", Err: err}
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return mountErr("make slave", "", "old root", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "umount", Path: "old root", Err: err}
	}
	if err := unix.Chdir("/"); err != nil {
		return &os.SyscallError{Syscall: "chdir", Err: err}
	}
	return nil
}

// moveRoot is --no-pivot: move the rootfs over / and chroot into it. It is
// weaker (the old root stays reachable to a process that escapes the
// chroot) and exists for ramdisk hosts where pivot_root is impossible.
func moveRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return &os.PathError{Op: "chdir", Path: rootfs, Err: err}
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return mountErr("move", rootfs, "/", err)
	}
	if err := unix.Chroot("."); err != nil {
		return &os.SyscallError{Syscall: "chroot", Err: err}
	}
	return unix.Chdir("/")
}

// openInContainer resolves path inside the (already pivoted) root without
// following symlinks out of it.
func openInContainer(path string) (*os.File, error) {
	root, err := os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return openInRoot(root, path)
}

// maskPaths hides each path: a file gets /dev/null bind mounted over it, a
// directory an empty read-only tmpfs. Missing paths are fine.
func maskPaths(paths []string) error {
	for _, p := range paths {
		f, err := openInContainer(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("masked path %s: %w", p, err)
		}
		fi, err := f.Stat()
		if err == nil {
			if fi.IsDir() {
				err = unix.Mount("tmpfs", procFd(f), "tmpfs", unix.MS_RDONLY, "")
			} else {
				err = unix.Mount("/dev/null", procFd(f), "", unix.MS_BIND, "")
			}
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("masked path %s: %w", p, err)
		}
	}
	return nil
}

// readonlyPaths bind mounts each path on itself read-only.
func readonlyPaths(paths []string) error {
	for _, p := range paths {
		f, err := openInContainer(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("readonly path %s: %w", p, err)
		}
		err = unix.Mount(procFd(f), procFd(f), "", unix.MS_BIND|unix.MS_REC, "")
		f.Close()
		if err != nil {
			return fmt.Errorf("readonly path %s: %w", p, err)
		}
		if err := remountReadonly(p); err != nil {
			return fmt.Errorf("readonly path %s: %w", p, err)
		}
	}
	return nil
}

// remountReadonly remounts the mount at path read-only, keeping its other
// (possibly locked) flags.
func remountReadonly(path string) error {
	f, err := openInContainer(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cur, err := mountFlagsOf(f)
	if err != nil {
		return err
	}
	if err := unix.Mount("", procFd(f), "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|cur, ""); err != nil {
		return mountErr("remount read-only", "", path, err)
	}
	return nil
}

// namespacedSysctl reports whether a sysctl belongs to a namespace the
// container has its own of; writing any other would change the host.
func namespacedSysctl(key string, spec *specs.Spec) error {
	has := func(t specs.LinuxNamespaceType) bool {
		for _, ns := range spec.Linux.Namespaces {
			if ns.Type == t {
				return ns.Path == ""
			}
		}
		return false
	}
	switch {
	case key == "kernel.msgmax" || key == "kernel.msgmnb" || key == "kernel.msgmni" || key == "kernel.sem" ||
		key == "kernel.shmall" || key == "kernel.shmmax" || key == "kernel.shmmni" || key == "kernel.shm_rmid_forced" ||
		strings.HasPrefix(key, "fs.mqueue."):
		if has(specs.IPCNamespace) {
			return nil
		}
		return fmt.Errorf("sysctl %q needs a new IPC namespace", key)
	case strings.HasPrefix(key, "net."):
		if has(specs.NetworkNamespace) || joinsOtherNetNS(spec) {
			return nil
		}
		return fmt.Errorf("sysctl %q needs a new network namespace", key)
	case key == "kernel.hostname" || key == "kernel.domainname":
		if has(specs.UTSNamespace) {
			return nil
		}
		return fmt.Errorf("sysctl %q needs a new UTS namespace", key)
	}
	return fmt.Errorf("sysctl %q is not in a separate kernel namespace", key)
}

// joinsOtherNetNS reports whether the spec joins a network namespace by
// path that is not the host's (the one this process is in), as an engine
// that sets a container's network up beforehand does: its net.* sysctls
// are the container's own, as runc allows.
func joinsOtherNetNS(spec *specs.Spec) bool {
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type != specs.NetworkNamespace || ns.Path == "" {
			continue
		}
		var joined, self unix.Stat_t
		if unix.Stat(ns.Path, &joined) != nil || unix.Stat("/proc/self/ns/net", &self) != nil {
			return false
		}
		return joined.Dev != self.Dev || joined.Ino != self.Ino
	}
	return false
}

func writeSysctls(spec *specs.Spec) error {
	// validateSpec already refused sysctls outside the container's namespaces.
	for key, value := range spec.Linux.Sysctl {
		path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
		}
	}
	return nil
}
