package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// maxInsns is BPF_MAXINSNS: the kernel rejects longer programs.
const maxInsns = 4096

// Classic BPF opcodes used by the compiler.
const (
	opLdAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	opAndK  = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	opJa    = unix.BPF_JMP | unix.BPF_JA
	opJeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	opJgt   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	opJge   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	opJset  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	opRetK  = unix.BPF_RET | unix.BPF_K
)

// label names a position in the program. Jumps refer to labels and are
// resolved to offsets only once the whole program is known.
type label int

const noLabel label = -1

// insn is an instruction whose jump targets are still labels. For a
// conditional jump jt and jf are both set; for ja only jt is.
type insn struct {
	op     uint16
	k      uint32
	jt, jf label
}

func (i insn) isCond() bool {
	return i.op&0x07 == unix.BPF_JMP && i.op != opJa
}

// assembler collects instructions and labels. Classic BPF only jumps
// forward, so every label must be placed after all the jumps to it.
type assembler struct {
	insns  []insn
	labels []int // label → index of the instruction it precedes; -1 if unplaced
}

func (a *assembler) newLabel() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

// place binds l to the next instruction emitted.
func (a *assembler) place(l label) {
	if a.labels[l] != -1 {
		panic(fmt.Sprintf("seccomp: label %d placed twice", l))
	}
	a.labels[l] = len(a.insns)
}

func (a *assembler) emit(op uint16, k uint32) {
	a.insns = append(a.insns, insn{op: op, k: k, jt: noLabel, jf: noLabel})
}

func (a *assembler) load(off uint32) { a.emit(opLdAbs, off) }
func (a *assembler) ret(act action)  { a.emit(opRetK, uint32(act)) }
func (a *assembler) and(mask uint32) { a.emit(opAndK, mask) }
func (a *assembler) jump(to label)   { a.insns = append(a.insns, insn{op: opJa, jt: to, jf: noLabel}) }
func (a *assembler) jumpIf(op uint16, k uint32, jt, jf label) {
	a.insns = append(a.insns, insn{op: op, k: k, jt: jt, jf: jf})
}

// assemble resolves labels into offsets. A conditional jump only has 8 bits
// of offset, so a target more than 255 instructions away is reached through
// a "ja" trampoline (32-bit offset) placed right after the jump. Adding a
// trampoline moves everything behind it, which can push another jump out
// of range; the layout is therefore recomputed until it is stable. That
// terminates because trampolines are only ever added.
func (a *assembler) assemble() ([]unix.SockFilter, error) {
	for l, at := range a.labels {
		if at == -1 {
			return nil, fmt.Errorf("seccomp: internal error: label %d never placed", l)
		}
		if at >= len(a.insns) {
			return nil, fmt.Errorf("seccomp: internal error: label %d placed past the end", l)
		}
	}
	a.dropJumpsToNext()
	insns := a.dropRedundantLoads()
	// farT/farF: the jump needs a trampoline for its true/false target.
	farT := make([]bool, len(insns))
	farF := make([]bool, len(insns))
	pos := make([]int, len(insns)+1) // final position of each instruction
	for {
		n := 0
		for i := range insns {
			pos[i] = n
			n++
			if farT[i] {
				n++
			}
			if farF[i] {
				n++
			}
		}
		pos[len(insns)] = n
		if n > maxInsns {
			return nil, fmt.Errorf("seccomp: filter needs %d instructions, more than the kernel's limit of %d", n, maxInsns)
		}
		changed := false
		for i, in := range insns {
			if !in.isCond() {
				continue
			}
			// Offsets count from the instruction after the jump, which
			// is its first trampoline if it has any.
			next := pos[i] + 1
			if !farT[i] && pos[a.labels[in.jt]]-next > 255 {
				farT[i], changed = true, true
			}
			if !farF[i] && pos[a.labels[in.jf]]-next > 255 {
				farF[i], changed = true, true
			}
		}
		if !changed {
			break
		}
	}

	out := make([]unix.SockFilter, 0, pos[len(insns)])
	target := func(l label) int { return pos[a.labels[l]] }
	for i, in := range insns {
		here := len(out)
		if here != pos[i] {
			return nil, fmt.Errorf("seccomp: internal error: layout mismatch at %d", i)
		}
		switch {
		case in.op == opJa:
			off := target(in.jt) - (here + 1)
			if off < 0 {
				return nil, fmt.Errorf("seccomp: internal error: backward jump at %d", i)
			}
			out = append(out, unix.SockFilter{Code: opJa, K: uint32(off)})
		case in.isCond():
			next := here + 1
			f := unix.SockFilter{Code: in.op, K: in.k}
			var tramp []unix.SockFilter
			if farT[i] {
				f.Jt = uint8(len(tramp))
				tramp = append(tramp, unix.SockFilter{Code: opJa, K: uint32(target(in.jt) - (here + 2 + len(tramp)))})
			} else {
				f.Jt = uint8(target(in.jt) - next)
			}
			if farF[i] {
				f.Jf = uint8(len(tramp))
				tramp = append(tramp, unix.SockFilter{Code: opJa, K: uint32(target(in.jf) - (here + 2 + len(tramp)))})
			} else {
				f.Jf = uint8(target(in.jf) - next)
			}
			if target(in.jt) < next || target(in.jf) < next {
				return nil, fmt.Errorf("seccomp: internal error: backward jump at %d", i)
			}
			out = append(out, f)
			out = append(out, tramp...)
		default:
			out = append(out, unix.SockFilter{Code: in.op, K: in.k})
		}
	}
	return out, nil
}

// dropJumpsToNext removes "ja L" when L is the very next instruction, which
// the code generator produces whenever a block falls through into the one
// it jumps to. Labels are moved along with the instructions.
func (a *assembler) dropJumpsToNext() []insn {
	keep := make([]bool, len(a.insns))
	for i, in := range a.insns {
		keep[i] = !(in.op == opJa && a.labels[in.jt] == i+1)
	}
	return a.filter(keep)
}

// filter removes the instructions not marked keep. A label on a removed
// instruction moves to the next kept one; callers only remove instructions
// that fall through to it.
func (a *assembler) filter(keep []bool) []insn {
	out := make([]insn, 0, len(a.insns))
	newIndex := make([]int, len(a.insns)+1)
	for i, in := range a.insns {
		newIndex[i] = len(out)
		if keep[i] {
			out = append(out, in)
		}
	}
	newIndex[len(a.insns)] = len(out)
	for l, at := range a.labels {
		a.labels[l] = newIndex[at]
	}
	a.insns = out
	return out
}

// dropRedundantLoads removes "ld [k]" when every path into it already has
// seccomp_data[k] in the accumulator: rule after rule testing the same
// argument would otherwise reload it each time. Jumps only go forward, so
// one pass in program order sees all predecessors of an instruction first.
func (a *assembler) dropRedundantLoads() []insn {
	const (
		unset   = -1 // no path seen yet (or unreachable)
		unknown = -2 // paths disagree, or A was computed
	)
	in := make([]int, len(a.insns))
	for i := range in {
		in[i] = unset
	}
	in[0] = unknown
	flow := func(to int, s int) {
		switch in[to] {
		case unset:
			in[to] = s
		case s:
		default:
			in[to] = unknown
		}
	}
	for i, ins := range a.insns {
		s := in[i]
		out := s
		switch {
		case ins.op == opLdAbs:
			out = int(ins.k)
		case ins.op == opAndK:
			out = unknown
		}
		switch {
		case ins.op == opJa:
			flow(a.labels[ins.jt], out)
		case ins.isCond():
			flow(a.labels[ins.jt], out)
			flow(a.labels[ins.jf], out)
		case ins.op == opRetK:
		default:
			flow(i+1, out)
		}
	}
	keep := make([]bool, len(a.insns))
	for i, ins := range a.insns {
		keep[i] = !(ins.op == opLdAbs && in[i] == int(ins.k))
	}
	return a.filter(keep)
}
