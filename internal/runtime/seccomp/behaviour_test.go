package seccomp

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	auditX86_64  = unix.AUDIT_ARCH_X86_64
	auditI386    = unix.AUDIT_ARCH_I386
	auditAArch64 = unix.AUDIT_ARCH_AARCH64
	auditARM     = unix.AUDIT_ARCH_ARM
)

func errno(e unix.Errno) action { return actErrno | action(e) }

// x64 is the x86_64 number of a syscall. The tests compile for amd64 on
// every host, so they cannot use the host's unix.SYS_* constants.
func x64(name string) uint32 {
	nr, ok := sysnumX86_64()[name]
	if !ok {
		panic("no x86_64 syscall " + name)
	}
	return nr
}

func uintp(v uint) *uint { return &v }

// probe is one syscall and what the filter must answer.
type probe struct {
	arch uint32
	nr   uint32
	args []uint64
	want action
}

func (p probe) data() seccompData {
	d := seccompData{arch: p.arch, nr: p.nr, ip: 0x7f0000001234}
	copy(d.args[:], p.args)
	return d
}

// expect compiles cfg for goarch and checks every probe, and also that the
// reference model agrees, so the model itself is pinned down by these
// hand-written expectations.
func expect(t *testing.T, goarch string, cfg *specs.LinuxSeccomp, probes []probe) {
	t.Helper()
	prog, err := compileFor(goarch, cfg)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	m := newVM(t, prog)
	for _, p := range probes {
		d := p.data()
		if got := m.run(d); got != p.want {
			t.Errorf("%v: got %v, want %v", d, got, p.want)
		}
		if got := action(modelDecide(cfg, goarch, d)); got != p.want {
			t.Errorf("%v: model says %v, want %v", d, got, p.want)
		}
	}
	if t.Failed() {
		t.Logf("program:\n%s", Disassemble(prog))
	}
}

func TestDefaultActionAndErrno(t *testing.T) {
	cfg := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uintp(uint(unix.ENOSYS)),
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write"}, Action: specs.ActAllow},
			{Names: []string{"getcwd"}, Action: specs.ActErrno, ErrnoRet: uintp(99)},
			{Names: []string{"mkdirat"}, Action: specs.ActErrno},
			{Names: []string{"getpid"}, Action: specs.ActTrace},
			{Names: []string{"getppid"}, Action: specs.ActTrace, ErrnoRet: uintp(7)},
			{Names: []string{"kill"}, Action: specs.ActKill},
			{Names: []string{"tkill"}, Action: specs.ActKillProcess},
			{Names: []string{"tgkill"}, Action: specs.ActKillThread},
			{Names: []string{"uname"}, Action: specs.ActTrap},
			{Names: []string{"sync"}, Action: specs.ActLog},
			{Names: []string{"ioctl"}, Action: specs.ActNotify},
		},
	}
	expect(t, "amd64", cfg, []probe{
		{arch: auditX86_64, nr: x64("read"), want: actAllow},
		{arch: auditX86_64, nr: x64("write"), want: actAllow},
		{arch: auditX86_64, nr: x64("getcwd"), want: errno(99)},
		{arch: auditX86_64, nr: x64("mkdirat"), want: errno(unix.EPERM)},
		{arch: auditX86_64, nr: x64("getpid"), want: actTrace | action(unix.EPERM)},
		{arch: auditX86_64, nr: x64("getppid"), want: actTrace | 7},
		{arch: auditX86_64, nr: x64("kill"), want: actKillThread},
		{arch: auditX86_64, nr: x64("tkill"), want: actKillProcess},
		{arch: auditX86_64, nr: x64("tgkill"), want: actKillThread},
		{arch: auditX86_64, nr: x64("uname"), want: actTrap},
		{arch: auditX86_64, nr: x64("sync"), want: actLog},
		{arch: auditX86_64, nr: x64("ioctl"), want: actNotify},
		{arch: auditX86_64, nr: x64("openat"), want: errno(unix.ENOSYS)},
		{arch: auditX86_64, nr: 100000, want: errno(unix.ENOSYS)},
		// A tracer's "skip" number is not an x32 syscall.
		{arch: auditX86_64, nr: 0xffffffff, want: errno(unix.ENOSYS)},
		// x32 and i386 are not listed: bad architecture.
		{arch: auditX86_64, nr: x32SyscallBit | 0, want: actKillThread},
		{arch: auditX86_64, nr: 0x80000000, want: actKillThread},
		{arch: auditI386, nr: 3, want: actKillThread},
		{arch: auditAArch64, nr: 63, want: actKillThread},
	})
}

func TestArgumentCompares(t *testing.T) {
	arg := func(i uint, op specs.LinuxSeccompOperator, v, v2 uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: i, Op: op, Value: v, ValueTwo: v2}
	}
	one := func(name string, a ...specs.LinuxSeccompArg) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow, Args: a}
	}
	cfg := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{
			one("read", arg(0, specs.OpEqualTo, 0x100000005, 0)),
			one("write", arg(1, specs.OpNotEqual, 0x100000005, 0)),
			one("close", arg(0, specs.OpGreaterThan, 0x100000000, 0)),
			one("fstat", arg(0, specs.OpGreaterEqual, 0x100000000, 0)),
			one("lseek", arg(2, specs.OpLessThan, 0x100000000, 0)),
			one("mmap", arg(5, specs.OpLessEqual, 0x100000000, 0)),
			// mask with bits in both halves; valueTwo has a bit outside
			// the mask, which is ignored.
			one("mprotect", arg(2, specs.OpMaskedEqual, 0xff000000ff, 0x1200000034|0x100)),
			one("munmap", arg(0, specs.OpEqualTo, 1, 0), arg(1, specs.OpEqualTo, 2, 0)),
		},
	}
	p := func(nr uint32, want action, args ...uint64) probe {
		return probe{arch: auditX86_64, nr: nr, args: args, want: want}
	}
	deny := errno(unix.EPERM)
	expect(t, "amd64", cfg, []probe{
		p(x64("read"), actAllow, 0x100000005),
		p(x64("read"), deny, 5), // high half differs
		p(x64("read"), deny, 0x200000005),
		p(x64("read"), deny, 0x100000006),
		p(x64("write"), deny, 0, 0x100000005),
		p(x64("write"), actAllow, 0, 5),
		p(x64("write"), actAllow, 0, 0x100000004),
		p(x64("close"), deny, 0x100000000),
		p(x64("close"), actAllow, 0x100000001),
		p(x64("close"), actAllow, 0x200000000),
		p(x64("close"), deny, 0xffffffff), // low half larger, high half smaller
		p(x64("fstat"), actAllow, 0x100000000),
		p(x64("fstat"), deny, 0xffffffff),
		p(x64("fstat"), actAllow, 0xffffffffffffffff),
		p(x64("lseek"), actAllow, 0, 0, 0xffffffff),
		p(x64("lseek"), deny, 0, 0, 0x100000000),
		p(x64("lseek"), deny, 0, 0, 0x1_00000001),
		p(x64("mmap"), actAllow, 0, 0, 0, 0, 0, 0x100000000),
		p(x64("mmap"), actAllow, 0, 0, 0, 0, 0, 0xffffffff),
		p(x64("mmap"), deny, 0, 0, 0, 0, 0, 0x100000001),
		p(x64("mmap"), deny, 0, 0, 0, 0, 0, 0x200000000),
		p(x64("mprotect"), actAllow, 0, 0, 0x1200000034),
		p(x64("mprotect"), actAllow, 0, 0, 0xab12cdef0034), // bits outside the mask
		p(x64("mprotect"), deny, 0, 0, 0x1300000034),
		p(x64("mprotect"), deny, 0, 0, 0x1200000035),
		p(x64("mprotect"), deny, 0, 0, 0x34),
		// Two arguments in one entry are ANDed.
		p(x64("munmap"), actAllow, 1, 2),
		p(x64("munmap"), deny, 1, 3),
		p(x64("munmap"), deny, 0, 2),
		// i386 compares the low 32 bits only, value truncated too.
		{arch: auditI386, nr: 3, args: []uint64{5}, want: actAllow},
		{arch: auditI386, nr: 3, args: []uint64{6}, want: deny},
		{arch: auditI386, nr: 6, args: []uint64{0x100000001}, want: actAllow}, // close: GT 0x100000000 → GT 0
		{arch: auditI386, nr: 6, args: []uint64{0}, want: deny},
		{arch: auditI386, nr: 6, args: []uint64{2}, want: actAllow},
		{arch: auditI386, nr: 125, args: []uint64{0, 0, 0x34}, want: actAllow}, // mprotect
		{arch: auditI386, nr: 125, args: []uint64{0, 0, 0x35}, want: deny},
	})
}

func TestRulePrecedence(t *testing.T) {
	eq := func(i uint, v uint64) []specs.LinuxSeccompArg {
		return []specs.LinuxSeccompArg{{Index: i, Op: specs.OpEqualTo, Value: v}}
	}
	cfg := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			// Conditional rules in order: first match wins.
			{Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: uintp(1), Args: eq(0, 1)},
			{Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: uintp(2), Args: eq(1, 1)},
			// An unconditional rule beats earlier conditional ones...
			{Names: []string{"write"}, Action: specs.ActErrno, ErrnoRet: uintp(3), Args: eq(0, 1)},
			{Names: []string{"write"}, Action: specs.ActErrno, ErrnoRet: uintp(4)},
			// ...and the first unconditional one beats later ones.
			{Names: []string{"write"}, Action: specs.ActErrno, ErrnoRet: uintp(5)},
			// A rule equal to the default action is dropped, so it does
			// not shadow the conditional rule.
			{Names: []string{"close"}, Action: specs.ActErrno, ErrnoRet: uintp(6), Args: eq(0, 1)},
			{Names: []string{"close"}, Action: specs.ActAllow},
			// The same argument twice: the conditions are ORed (runc).
			{Names: []string{"openat"}, Action: specs.ActErrno, ErrnoRet: uintp(7), Args: []specs.LinuxSeccompArg{
				{Index: 2, Op: specs.OpGreaterEqual, Value: 10},
				{Index: 2, Op: specs.OpLessEqual, Value: 2},
			}},
			// Unknown names are skipped, known ones in the entry still apply.
			{Names: []string{"no_such_syscall", "getpid"}, Action: specs.ActErrno, ErrnoRet: uintp(8)},
		},
	}
	p := func(nr uint32, want action, args ...uint64) probe {
		return probe{arch: auditX86_64, nr: nr, args: args, want: want}
	}
	expect(t, "amd64", cfg, []probe{
		p(x64("read"), errno(1), 1, 1),
		p(x64("read"), errno(1), 1, 0),
		p(x64("read"), errno(2), 0, 1),
		p(x64("read"), actAllow, 0, 0),
		p(x64("write"), errno(4), 1),
		p(x64("write"), errno(4), 0),
		p(x64("close"), errno(6), 1),
		p(x64("close"), actAllow, 0),
		p(x64("openat"), errno(7), 0, 0, 11),
		p(x64("openat"), errno(7), 0, 0, 1),
		p(x64("openat"), actAllow, 0, 0, 5),
		p(x64("getpid"), errno(8)),
	})
}

func TestArchitectures(t *testing.T) {
	cfg := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchARM, specs.ArchS390X},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "_llseek", "arch_prctl", "set_tls", "ioctl"}, Action: specs.ActAllow},
		},
	}
	deny := errno(unix.EPERM)
	expect(t, "amd64", cfg, []probe{
		{arch: auditX86_64, nr: 0, want: actAllow},                   // read
		{arch: auditX86_64, nr: 158, want: actAllow},                 // arch_prctl
		{arch: auditX86_64, nr: 16, want: actAllow},                  // ioctl
		{arch: auditX86_64, nr: 140, want: deny},                     // getpriority: _llseek is i386's 140
		{arch: auditX86_64, nr: x32SyscallBit | 0, want: actAllow},   // x32 read
		{arch: auditX86_64, nr: x32SyscallBit | 514, want: actAllow}, // x32 ioctl
		{arch: auditX86_64, nr: x32SyscallBit | 16, want: deny},      // not x32's ioctl
		{arch: auditX86_64, nr: 0xffffffff, want: deny},
		{arch: auditI386, nr: 3, want: actAllow},   // read
		{arch: auditI386, nr: 140, want: actAllow}, // _llseek
		{arch: auditI386, nr: 0, want: deny},
		// Listed but cannot run on amd64: not in the filter.
		{arch: auditAArch64, nr: 63, want: actKillThread},
		{arch: auditARM, nr: 3, want: actKillThread},
	})
	expect(t, "arm64", cfg, []probe{
		{arch: auditAArch64, nr: 63, want: actAllow}, // read
		{arch: auditAArch64, nr: 0, want: deny},
		{arch: auditARM, nr: 3, want: actAllow},        // read
		{arch: auditARM, nr: 0x0f0005, want: actAllow}, // set_tls
		{arch: auditARM, nr: 140, want: actAllow},      // _llseek
		{arch: auditX86_64, nr: 0, want: actKillThread},
		{arch: auditI386, nr: 3, want: actKillThread},
	})
	// Without x32 listed, x32 syscalls are a bad architecture.
	cfg.Architectures = []specs.Arch{specs.ArchX86}
	expect(t, "amd64", cfg, []probe{
		{arch: auditX86_64, nr: 0, want: actAllow},
		{arch: auditX86_64, nr: x32SyscallBit | 0, want: actKillThread},
		{arch: auditX86_64, nr: 0xffffffff, want: deny},
		{arch: auditI386, nr: 3, want: actAllow},
	})
}

func TestSyscallTables(t *testing.T) {
	for _, tc := range []struct {
		table map[string]uint32
		name  string
		nr    uint32
	}{
		{sysnumX86_64(), "read", 0},
		{sysnumX86_64(), "newfstatat", 262},
		{sysnumX86_64(), "umount2", 166},
		{sysnumX86_64(), "clone3", 435},
		{sysnumX86(), "_llseek", 140},
		{sysnumX86(), "umount", 22},
		{sysnumX86(), "socketcall", 102},
		{sysnumX86(), "socket", 359},
		{sysnumX32(), "read", 0x40000000},
		{sysnumX32(), "ioctl", 0x40000000 | 514},
		{sysnumX32(), "execve", 0x40000000 | 520},
		{sysnumAArch64(), "read", 63},
		{sysnumAArch64(), "openat", 56},
		{sysnumARM(), "read", 3},
		{sysnumARM(), "arm_fadvise64_64", 270},
		{sysnumARM(), "cacheflush", 0x0f0002},
	} {
		if got, ok := tc.table[tc.name]; !ok || got != tc.nr {
			t.Errorf("%s: got %d (present %v), want %d", tc.name, got, ok, tc.nr)
		}
	}
	for _, tc := range []struct {
		table map[string]uint32
		names []string
	}{
		{sysnumX86_64(), []string{"_llseek", "socketcall", "syscall_mask"}},
		{sysnumX32(), []string{"uselib", "set_thread_area", "_sysctl"}},
		{sysnumAArch64(), []string{"open", "arch_specific_syscall"}},
		{sysnumARM(), []string{"syscall_mask"}},
	} {
		for _, n := range tc.names {
			if _, ok := tc.table[n]; ok {
				t.Errorf("%s should not be in the table", n)
			}
		}
	}
}

func TestBadConfigs(t *testing.T) {
	ok := specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActAllow}
	for _, tc := range []struct {
		name string
		cfg  *specs.LinuxSeccomp
		want string
	}{
		{"nil", nil, "nil configuration"},
		{"no default", &specs.LinuxSeccomp{}, "defaultAction: missing action"},
		{"unknown default", &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_MAYBE"}, `defaultAction: unknown action "SCMP_ACT_MAYBE"`},
		{"notify default", &specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, "cannot be the default action"},
		{"errno on allow default", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: uintp(1)}, "errnoRet is not supported with action SCMP_ACT_ALLOW"},
		{"unknown arch", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_VAX"}}, `unknown architecture "SCMP_ARCH_VAX"`},
		{"unknown flag", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FAST"}}, `unknown flag "SECCOMP_FILTER_FLAG_FAST"`},
		{"no names", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{ok, {Action: specs.ActErrno}}}, "syscalls[1]: no syscall names"},
		{"empty name", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read", ""}, Action: specs.ActErrno}}}, "syscalls[0]: empty syscall name"},
		{"unknown action", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: "SCMP_ACT_NOPE"}}}, `syscalls[0] (read): unknown action "SCMP_ACT_NOPE"`},
		{"missing action", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}}}}, "syscalls[0] (read): missing action"},
		{"errno on trap", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActTrap, ErrnoRet: uintp(1)}}}, "errnoRet is not supported with action SCMP_ACT_TRAP"},
		{"errno too big", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: uintp(70000)}}}, "errnoRet 70000 does not fit in 16 bits"},
		{"unknown op", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_LIKE"}}}}}, `syscalls[0] (read): args[0]: unknown op "SCMP_CMP_LIKE"`},
		{"missing op", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0}}}}}, "args[0]: missing op"},
		{"index 6", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "args[0]: index 6 out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileFor("amd64", tc.cfg)
			if err == nil {
				t.Fatalf("compiled, want error containing %q", tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "seccomp: ") || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line starting with \"seccomp: \" containing %q", msg, tc.want)
			}
			if _, err := Load(tc.cfg); err == nil {
				t.Errorf("Load accepted the config")
			}
		})
	}
	if _, err := compileFor("mips64", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}); err == nil {
		t.Errorf("compiled for an unsupported GOARCH")
	}
}
