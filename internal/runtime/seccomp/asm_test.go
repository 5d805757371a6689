package seccomp

import (
	"math/rand"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// bigConfig gives n syscalls of x86_64 three conditional rules each, so the
// search tree at the top of the program is far more than 255 instructions
// away from most argument blocks and returns.
func bigConfig(n int) *specs.LinuxSeccomp {
	names := make([]string, 0, len(sysnumX86_64()))
	for name := range sysnumX86_64() {
		names = append(names, name)
	}
	sort.Strings(names)
	cfg := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86}}
	for i, name := range names[:n] {
		v := uint64(i)
		cfg.Syscalls = append(cfg.Syscalls,
			specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: v}}},
			specs.LinuxSyscall{Names: []string{name}, Action: specs.ActLog,
				Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpGreaterThan, Value: v << 32}}},
			specs.LinuxSyscall{Names: []string{name}, Action: specs.ActTrace, ErrnoRet: uintp(uint(i)),
				Args: []specs.LinuxSeccompArg{{Index: 2, Op: specs.OpMaskedEqual, Value: 0xff000000ff, ValueTwo: v}}},
		)
	}
	return cfg
}

func TestLongJumps(t *testing.T) {
	cfg := bigConfig(80)
	prog, err := compileFor("amd64", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) < 1000 {
		t.Fatalf("only %d instructions: the test does not exercise long jumps", len(prog))
	}
	trampolines := strings.Count(Disassemble(prog), ": ja ")
	if trampolines < 50 {
		t.Fatalf("only %d ja instructions in %d: the test does not exercise long jumps", trampolines, len(prog))
	}
	t.Logf("%d instructions, %d ja", len(prog), trampolines)
	m := newVM(t, prog)
	r := rand.New(rand.NewSource(2))
	for _, d := range randInputs(r, cfg, 20000) {
		if got, want := m.run(d), action(modelDecide(cfg, "amd64", d)); got != want {
			t.Fatalf("%v: filter says %v, model says %v", d, got, want)
		}
	}
}

func TestTooLong(t *testing.T) {
	_, err := compileFor("amd64", bigConfig(380))
	if err == nil || !strings.Contains(err.Error(), "limit of 4096") {
		t.Fatalf("got %v, want an error about the 4096 instruction limit", err)
	}
}

// TestAssemblerTrampolines checks the assembler alone: conditional jumps
// whose true or false target is far away, targets just inside and just outside the 8-bit range.
func TestAssemblerTrampolines(t *testing.T) {
	for _, pad := range []int{250, 254, 255, 256, 300, 1000} {
		a := &assembler{}
		far1, far2, near, l2, l3 := a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel()
		a.load(offNr)
		a.jumpIf(opJeq, 1, far1, l2) // true far, false next
		a.place(l2)
		a.jumpIf(opJeq, 2, far2, l3) // true far, false next
		a.place(l3)
		a.jumpIf(opJeq, 3, near, far1) // true near (after padding), false far
		for i := 0; i < pad; i++ {
			a.load(uint32(8 + 4*(i%2))) // filler that is not a redundant load
		}
		a.place(near)
		a.ret(actLog)
		a.place(far1)
		a.ret(actAllow)
		a.place(far2)
		a.ret(actTrap)
		prog, err := a.assemble()
		if err != nil {
			t.Fatal(err)
		}
		m := newVM(t, prog)
		for nr, want := range map[uint32]action{1: actAllow, 2: actTrap, 3: actLog, 4: actAllow} {
			if got := m.run(seccompData{nr: nr}); got != want {
				t.Errorf("pad %d, nr %d: got %v, want %v\n%s", pad, nr, got, want, Disassemble(prog))
			}
		}
	}
}
