//go:build libseccomp && cgo

// Differential test against libseccomp, the library runc and crun use.
// Run it with: go test -tags libseccomp ./internal/runtime/seccomp/
// (needs cgo and libseccomp-dev).

package seccomp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"os"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// libseccompProgram builds cfg the way runc's InitSeccomp does (rules equal
// to the default dropped, names libseccomp does not know skipped, the same
// argument twice split into separate rules) and exports libseccomp's BPF.
func libseccompProgram(t *testing.T, cfg *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	toAct := func(a specs.LinuxSeccompAction, e *uint) libseccomp.ScmpAction {
		v, err := toAction(a, e)
		if err != nil {
			t.Fatal(err)
		}
		data := int16(uint32(v) & unix.SECCOMP_RET_DATA)
		switch v &^ unix.SECCOMP_RET_DATA {
		case actKillThread:
			return libseccomp.ActKillThread
		case actKillProcess:
			return libseccomp.ActKillProcess
		case actTrap:
			return libseccomp.ActTrap
		case actErrno:
			return libseccomp.ActErrno.SetReturnCode(data)
		case actTrace:
			return libseccomp.ActTrace.SetReturnCode(data)
		case actLog:
			return libseccomp.ActLog
		case actNotify:
			return libseccomp.ActNotify
		case actAllow:
			return libseccomp.ActAllow
		}
		t.Fatalf("no libseccomp action for %v", v)
		return 0
	}
	ops := map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
		specs.OpEqualTo: libseccomp.CompareEqual, specs.OpNotEqual: libseccomp.CompareNotEqual,
		specs.OpLessThan: libseccomp.CompareLess, specs.OpLessEqual: libseccomp.CompareLessOrEqual,
		specs.OpGreaterThan: libseccomp.CompareGreater, specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
		specs.OpMaskedEqual: libseccomp.CompareMaskedEqual,
	}
	def := toAct(cfg.DefaultAction, cfg.DefaultErrnoRet)
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	for _, a := range cfg.Architectures {
		arch, err := libseccomp.GetArchFromString(map[specs.Arch]string{
			specs.ArchX86_64: "amd64", specs.ArchX86: "x86", specs.ArchX32: "x32",
		}[a])
		if err != nil {
			return nil, err
		}
		if err := f.AddArch(arch); err != nil {
			return nil, err
		}
	}
	for _, sc := range cfg.Syscalls {
		act := toAct(sc.Action, sc.ErrnoRet)
		if act == def {
			continue
		}
		for _, name := range sc.Names {
			nr, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				continue
			}
			var conds []libseccomp.ScmpCondition
			dup := map[uint]bool{}
			split := false
			for _, a := range sc.Args {
				c, err := libseccomp.MakeCondition(a.Index, ops[a.Op], a.Value, a.ValueTwo)
				if err != nil {
					return nil, err
				}
				conds = append(conds, c)
				split = split || dup[a.Index]
				dup[a.Index] = true
			}
			switch {
			case len(conds) == 0:
				err = f.AddRule(nr, act)
			case split:
				for _, c := range conds {
					if err = f.AddRuleConditional(nr, act, []libseccomp.ScmpCondition{c}); err != nil {
						break
					}
				}
			default:
				err = f.AddRuleConditional(nr, act, conds)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	tmp, err := os.CreateTemp(t.TempDir(), "bpf")
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	if err := f.ExportBPF(tmp); err != nil {
		return nil, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(tmp)
	if err != nil {
		t.Fatal(err)
	}
	prog := make([]unix.SockFilter, len(raw)/8)
	if err := binary.Read(bytes.NewReader(raw), binary.NativeEndian, prog); err != nil {
		t.Fatal(err)
	}
	return prog, nil
}

// diffNames avoids what this package documents as different from
// libseccomp: x86's multiplexed socket and ipc calls, and syscalls newer
// than the libseccomp release (which runc would skip).
var diffNames = []string{
	"read", "write", "openat", "close", "ioctl", "clone", "personality",
	"mkdirat", "getcwd", "_llseek", "arch_prctl", "fstat64", "getpid",
	"newfstatat", "futex", "kill", "prctl", "rt_sigaction", "set_tls",
	"mmap", "mmap2", "execve", "no_such_syscall",
}

// diffConfig is a random config in which a syscall has at most one
// conditional rule. With several, libseccomp decides overlapping rules of
// different actions by its tree order rather than config order (documented
// in seccomp.go), and libseccomp 2.5.4 also miscompiles some merged trees:
// two range tests of one 64-bit argument (as runc's split of a repeated
// argument produces) can compare the low half of the argument with the high
// half of the second value, because the accumulator is not reloaded.
func diffConfig(r *rand.Rand) *specs.LinuxSeccomp {
	cfg := randConfig(r)
	cfg.Architectures = nil
	for _, a := range diffArches {
		if r.Intn(2) == 0 {
			cfg.Architectures = append(cfg.Architectures, a)
		}
	}
	hasCond := map[string]bool{}
	var out []specs.LinuxSyscall
	for _, sc := range cfg.Syscalls {
		// One test per argument, so the entry is one rule.
		var args []specs.LinuxSeccompArg
		seen := map[uint]bool{}
		for _, a := range sc.Args {
			if !seen[a.Index] {
				seen[a.Index] = true
				args = append(args, a)
			}
		}
		sc.Args = args
		var names []string
		for range sc.Names {
			n := diffNames[r.Intn(len(diffNames))]
			if len(sc.Args) > 0 {
				if hasCond[n] {
					continue
				}
				hasCond[n] = true
			}
			names = append(names, n)
		}
		if len(names) > 0 {
			sc.Names = names
			out = append(out, sc)
		}
	}
	cfg.Syscalls = out
	return cfg
}

func TestMatchesLibseccomp(t *testing.T) {
	major, minor, micro := libseccomp.GetLibraryVersion()
	t.Logf("libseccomp %d.%d.%d", major, minor, micro)
	r := rand.New(rand.NewSource(3))
	compared, skipped, inputs := 0, 0, 0
	for i := 0; i < 1500; i++ {
		cfg := diffConfig(r)
		if len(cfg.Syscalls) == 0 {
			continue
		}
		theirs, err := libseccompProgram(t, cfg)
		if err != nil {
			// libseccomp refuses some rule combinations (EEXIST for
			// overlapping rules); runc would fail to start those.
			if !errors.Is(err, unix.EEXIST) {
				t.Logf("config %d: libseccomp: %v", i, err)
			}
			skipped++
			continue
		}
		ours, err := compileFor("amd64", cfg)
		if err != nil {
			t.Fatalf("config %d: %v", i, err)
		}
		mo, mt := newVM(t, ours), newVM(t, theirs)
		for _, d := range randInputs(r, cfg, 300) {
			inputs++
			if got, want := mo.run(d), mt.run(d); got != want {
				t.Fatalf("config %d, input %v: berth says %v, libseccomp says %v\nconfig: %+v\nberth:\n%s\nlibseccomp:\n%s",
					i, d, got, want, *cfg, Disassemble(ours), Disassemble(theirs))
			}
		}
		compared++
	}
	t.Logf("%d configs compared on %d inputs, %d refused by libseccomp", compared, inputs, skipped)
	if compared < 1000 {
		t.Fatalf("only %d configs compared", compared)
	}
}

// diffArches leaves x32 out of the random configs: libseccomp 2.5.4 can
// omit the load of the syscall number in a combined x86_64+x32 filter and
// then compares the architecture with syscall numbers (seen with a rule
// whose only condition on x32 is a masked compare without low mask bits).
// Docker's profile with x32 is compared in the test below.
var diffArches = []specs.Arch{specs.ArchX86}

// TestDockerProfileMatchesLibseccomp compares the filters for Docker's
// default profile (x86_64, x86 and x32) on every syscall number of each ABI
// with assorted arguments.
func TestDockerProfileMatchesLibseccomp(t *testing.T) {
	for _, caps := range [][]string{nil, {"CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}} {
		cfg := dockerProfile(t, caps...)
		// Syscalls newer than the installed libseccomp's tables (uretprobe,
		// or map_shadow_stack on x32, say) are skipped by runc but known
		// to berth: leave out the names whose numbers differ anywhere.
		for i := range cfg.Syscalls {
			var known []string
			for _, n := range cfg.Syscalls[i].Names {
				if sameNumbers(n) {
					known = append(known, n)
				}
			}
			if len(known) == 0 {
				known = []string{"no_such_syscall"}
			}
			cfg.Syscalls[i].Names = known
		}
		theirs, err := libseccompProgram(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := compileFor("amd64", cfg)
		if err != nil {
			t.Fatal(err)
		}
		mo, mt := newVM(t, ours), newVM(t, theirs)
		t.Logf("caps %v: berth %d instructions, libseccomp %d", caps, len(ours), len(theirs))
		r := rand.New(rand.NewSource(4))
		n := 0
		for _, abi := range []struct {
			audit uint32
			base  uint32
		}{{auditX86_64, 0}, {auditX86_64, x32SyscallBit}, {auditI386, 0}} {
			for nr := abi.base; nr < abi.base+600; nr++ {
				for k := 0; k < 8; k++ {
					d := seccompData{arch: abi.audit, nr: nr}
					for j := range d.args {
						d.args[j] = randValue(r)
					}
					if k == 0 {
						d.args = [maxArgs]uint64{}
					}
					n++
					if got, want := mo.run(d), mt.run(d); got != want {
						t.Fatalf("caps %v, %v: berth says %v, libseccomp says %v", caps, d, got, want)
					}
				}
			}
		}
		t.Logf("%d inputs agree", n)
	}
}

// sameNumbers reports whether libseccomp and berth agree on name's number
// on x86_64, x86 and x32.
func sameNumbers(name string) bool {
	if _, err := libseccomp.GetSyscallFromName(name); err != nil {
		return false
	}
	for _, a := range []*archInfo{archX86_64, archX86, archX32} {
		arch, _ := libseccomp.GetArchFromString(map[*archInfo]string{archX86_64: "amd64", archX86: "x86", archX32: "x32"}[a])
		theirs, err := libseccomp.GetSyscallFromNameByArch(name, arch)
		ours, ok := a.sysnums()[name]
		if a == archX32 {
			ours &^= x32SyscallBit
			theirs &^= x32SyscallBit
		}
		if (err == nil && theirs >= 0) != ok || ok && uint32(theirs) != ours {
			return false
		}
	}
	return true
}
