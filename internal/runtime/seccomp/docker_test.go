package seccomp

import (
	"testing"

	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// dockerProfile returns Docker's default profile as moby generates it for a
// container with the given bounding capabilities on this host's GOARCH and
// kernel.
func dockerProfile(t *testing.T, caps ...string) *specs.LinuxSeccomp {
	t.Helper()
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	p, err := profiles.GetDefaultProfile(spec)
	if err != nil {
		t.Fatalf("GetDefaultProfile: %v", err)
	}
	return p
}

func TestDockerDefaultProfile(t *testing.T) {
	if !supportedHost() {
		t.Skip("the profile's architectures follow the host; these probes are for amd64")
	}
	const (
		cloneNewUser = unix.CLONE_NEWUSER
		sigchld      = 17
		threadFlags  = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM
	)
	deny := errno(unix.EPERM)
	x := func(nr uint32, want action, args ...uint64) probe {
		return probe{arch: auditX86_64, nr: nr, args: args, want: want}
	}
	i386 := func(nr uint32, want action, args ...uint64) probe {
		return probe{arch: auditI386, nr: nr, args: args, want: want}
	}
	common := []probe{
		x(unix.SYS_READ, actAllow),
		x(unix.SYS_WRITE, actAllow),
		x(unix.SYS_EXECVE, actAllow),
		x(unix.SYS_PERSONALITY, actAllow, 0xffffffff),
		x(unix.SYS_PERSONALITY, actAllow, 0),
		x(unix.SYS_PERSONALITY, actAllow, 0x20008),
		x(unix.SYS_PERSONALITY, deny, 0x0400000), // ADDR_NO_RANDOMIZE
		x(unix.SYS_PERSONALITY, deny, 0x1_ffffffff),
		// ptrace is allowed on kernels >= 4.8 whatever the caps.
		x(unix.SYS_PTRACE, actAllow),
		x(unix.SYS_SOCKET, actAllow, unix.AF_INET),
		x(unix.SYS_SOCKET, actAllow, unix.AF_UNIX),
		x(unix.SYS_SOCKET, deny, unix.AF_VSOCK),
		x(unix.SYS_SOCKET, deny, 1<<32|unix.AF_INET), // high half set
		x(unix.SYS_KEXEC_LOAD, deny),
		x(unix.SYS_ADD_KEY, deny),
		x(1000, deny), // no such syscall
		x(x32SyscallBit|0, actAllow),
		x(x32SyscallBit|unix.SYS_KEXEC_LOAD, deny),
		i386(3, actAllow),      // read
		i386(140, actAllow),    // _llseek
		i386(102, actAllow),    // socketcall
		i386(136, actAllow, 8), // personality(PER_LINUX32)
		i386(136, deny, 4),     // personality(other)
		{arch: auditAArch64, nr: 63, want: actKillThread},
	}
	t.Run("no caps", func(t *testing.T) {
		expect(t, "amd64", dockerProfile(t), append([]probe{
			x(unix.SYS_CLONE, actAllow, sigchld),
			x(unix.SYS_CLONE, actAllow, threadFlags),
			x(unix.SYS_CLONE, actAllow, 1<<40|threadFlags), // mask has no high bits
			x(unix.SYS_CLONE, deny, cloneNewUser|sigchld),
			x(unix.SYS_CLONE, deny, unix.CLONE_NEWNS),
			x(unix.SYS_CLONE, deny, unix.CLONE_NEWNET|threadFlags),
			x(unix.SYS_CLONE3, errno(unix.ENOSYS)),
			x(unix.SYS_MOUNT, deny),
			x(unix.SYS_UMOUNT2, deny),
			x(unix.SYS_UNSHARE, deny),
			x(unix.SYS_SETNS, deny),
			x(unix.SYS_REBOOT, deny),
			x(unix.SYS_CHROOT, deny),
			x(unix.SYS_BPF, deny),
			i386(120, actAllow, sigchld),          // clone
			i386(120, deny, cloneNewUser),         // clone(CLONE_NEWUSER)
			i386(21, deny),                        // mount
			x(x32SyscallBit|unix.SYS_MOUNT, deny), // x32 mount
			x(x32SyscallBit|unix.SYS_CLONE, deny, cloneNewUser),
		}, common...))
	})
	t.Run("CAP_SYS_ADMIN", func(t *testing.T) {
		expect(t, "amd64", dockerProfile(t, "CAP_SYS_ADMIN", "CAP_SYS_CHROOT"), append([]probe{
			x(unix.SYS_CLONE, actAllow, cloneNewUser|sigchld),
			x(unix.SYS_CLONE3, actAllow),
			x(unix.SYS_MOUNT, actAllow),
			x(unix.SYS_UMOUNT2, actAllow),
			x(unix.SYS_SETNS, actAllow),
			x(unix.SYS_CHROOT, actAllow),
			x(unix.SYS_REBOOT, deny),
			i386(21, actAllow),
		}, common...))
	})
}

// supportedHost reports whether GetDefaultProfile produces the amd64 profile
// (it takes the architectures from runtime.GOARCH).
func supportedHost() bool { return hostGOARCH == "amd64" }

func TestDockerProfileSize(t *testing.T) {
	for _, goarch := range []string{"amd64", "arm64", "386", "arm"} {
		cfg := dockerProfile(t, "CAP_SYS_ADMIN")
		prog, err := compileFor(goarch, cfg)
		if err != nil {
			t.Fatalf("%s: %v", goarch, err)
		}
		newVM(t, prog)
		// A chain of one jeq per syscall would need about 350
		// instructions per ABI; the range tree keeps all three ABIs of
		// amd64 within a few hundred.
		if len(prog) > 600 {
			t.Errorf("%s: %d instructions, expected the range tree to stay under 600", goarch, len(prog))
		}
		t.Logf("%s: %d instructions", goarch, len(prog))
	}
}
