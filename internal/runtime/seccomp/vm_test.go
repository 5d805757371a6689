package seccomp

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompData is struct seccomp_data as the filter sees it.
type seccompData struct {
	nr   uint32
	arch uint32
	ip   uint64
	args [maxArgs]uint64
}

// bytes lays d out for golang.org/x/net/bpf's VM. The kernel loads the
// 32-bit words of seccomp_data in host order and x86/arm are little endian:
// the low half of a 64-bit field sits at the lower offset. The VM reads
// words big endian (network order), so each word is stored big endian at
// the offset where the kernel would find it; the filter then sees exactly
// the values it would see in the kernel.
func (d seccompData) bytes() []byte {
	b := make([]byte, 64)
	put := func(off int, v uint32) { binary.BigEndian.PutUint32(b[off:], v) }
	put64 := func(off int, v uint64) { put(off, uint32(v)); put(off+4, uint32(v>>32)) }
	put(0, d.nr)
	put(4, d.arch)
	put64(8, d.ip)
	for i, a := range d.args {
		put64(16+8*i, a)
	}
	return b
}

func (d seccompData) String() string {
	return fmt.Sprintf("arch=%#x nr=%d args=%#x", d.arch, d.nr, d.args)
}

// vm runs a compiled program in golang.org/x/net/bpf's interpreter, which
// shares no code with the compiler.
type vm struct {
	t  testing.TB
	vm *bpf.VM
}

func newVM(t testing.TB, prog []unix.SockFilter) *vm {
	t.Helper()
	if err := verify(prog); err != nil {
		t.Fatalf("program rejected: %v\n%s", err, Disassemble(prog))
	}
	raw := make([]bpf.RawInstruction, len(prog))
	for i, in := range prog {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("x/net/bpf cannot decode the program")
	}
	m, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatalf("bpf.NewVM: %v", err)
	}
	return &vm{t: t, vm: m}
}

func (m *vm) run(d seccompData) action {
	m.t.Helper()
	r, err := m.vm.Run(d.bytes())
	if err != nil {
		m.t.Fatalf("running filter on %v: %v", d, err)
	}
	return action(uint32(r))
}

// verify applies the checks the kernel's seccomp_check_filter and
// bpf_check_classic make, so a program that passes here also loads: length,
// known opcodes only, aligned in-bounds loads of seccomp_data, jumps that
// stay inside the program, and no way to fall off the end.
func verify(prog []unix.SockFilter) error {
	if len(prog) == 0 || len(prog) > maxInsns {
		return fmt.Errorf("length %d out of range", len(prog))
	}
	for i, in := range prog {
		next := i + 1
		switch in.Code {
		case opLdAbs:
			if in.K%4 != 0 || in.K >= 64 {
				return fmt.Errorf("%d: bad load offset %d", i, in.K)
			}
		case opAndK, opRetK:
		case opJa:
			if uint64(next)+uint64(in.K) >= uint64(len(prog)) {
				return fmt.Errorf("%d: ja out of range", i)
			}
		case opJeq, opJgt, opJge, opJset:
			if next+int(in.Jt) >= len(prog) || next+int(in.Jf) >= len(prog) {
				return fmt.Errorf("%d: conditional jump out of range", i)
			}
		default:
			return fmt.Errorf("%d: unexpected opcode %#x", i, in.Code)
		}
	}
	if last := prog[len(prog)-1]; last.Code != opRetK && last.Code != opJa {
		return fmt.Errorf("program can fall off its end")
	}
	return nil
}

var hostGOARCH = runtime.GOARCH
