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
		x(x64("read"), actAllow),
		x(x64("write"), actAllow),
		x(x64("execve"), actAllow),
		x(x64("personality"), actAllow, 0xffffffff),
		x(x64("personality"), actAllow, 0),
		x(x64("personality"), actAllow, 0x20008),
		x(x64("personality"), deny, 0x0400000), // ADDR_NO_RANDOMIZE
		x(x64("personality"), deny, 0x1_ffffffff),
		// ptrace is allowed on kernels >= 4.8 whatever the caps.
		x(x64("ptrace"), actAllow),
		x(x64("socket"), actAllow, unix.AF_INET),
		x(x64("socket"), actAllow, unix.AF_UNIX),
		x(x64("socket"), deny, unix.AF_VSOCK),
		x(x64("socket"), deny, 1<<32|unix.AF_INET), // high half set
		x(x64("kexec_load"), deny),
		x(x64("add_key"), deny),
		x(1000, deny), // no such syscall
		x(x32SyscallBit|0, actAllow),
		x(x32SyscallBit|x64("kexec_load"), deny),
		i386(3, actAllow),      // read
		i386(140, actAllow),    // _llseek
		i386(102, actAllow),    // socketcall
		i386(136, actAllow, 8), // personality(PER_LINUX32)
		i386(136, deny, 4),     // personality(other)
		{arch: auditAArch64, nr: 63, want: actKillThread},
	}
	t.Run("no caps", func(t *testing.T) {
		expect(t, "amd64", dockerProfile(t), append([]probe{
			x(x64("clone"), actAllow, sigchld),
			x(x64("clone"), actAllow, threadFlags),
			x(x64("clone"), actAllow, 1<<40|threadFlags), // mask has no high bits
			x(x64("clone"), deny, cloneNewUser|sigchld),
			x(x64("clone"), deny, unix.CLONE_NEWNS),
			x(x64("clone"), deny, unix.CLONE_NEWNET|threadFlags),
			x(x64("clone3"), errno(unix.ENOSYS)),
			x(x64("mount"), deny),
			x(x64("umount2"), deny),
			x(x64("unshare"), deny),
			x(x64("setns"), deny),
			x(x64("reboot"), deny),
			x(x64("chroot"), deny),
			x(x64("bpf"), deny),
			i386(120, actAllow, sigchld),        // clone
			i386(120, deny, cloneNewUser),       // clone(CLONE_NEWUSER)
			i386(21, deny),                      // mount
			x(x32SyscallBit|x64("mount"), deny), // x32 mount
			x(x32SyscallBit|x64("clone"), deny, cloneNewUser),
		}, common...))
	})
	t.Run("CAP_SYS_ADMIN", func(t *testing.T) {
		expect(t, "amd64", dockerProfile(t, "CAP_SYS_ADMIN", "CAP_SYS_CHROOT"), append([]probe{
			x(x64("clone"), actAllow, cloneNewUser|sigchld),
			x(x64("clone3"), actAllow),
			x(x64("mount"), actAllow),
			x(x64("umount2"), actAllow),
			x(x64("setns"), actAllow),
			x(x64("chroot"), actAllow),
			x(x64("reboot"), deny),
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
