package seccomp

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Disassemble renders a program compiled by this package one instruction a
// line, with jump targets as absolute line numbers and a note on what each
// load reads. It is meant for debugging and for the golden tests, and only
// knows the instructions the compiler emits.
func Disassemble(prog []unix.SockFilter) string {
	var b strings.Builder
	loaded := uint32(0xffffffff) // offset of the last load, in program order
	for i, in := range prog {
		fmt.Fprintf(&b, "%04d: %s\n", i, disasmInsn(i, in, loaded == offArch))
		if in.Code == opLdAbs {
			loaded = in.K
		}
	}
	return b.String()
}

// disasmInsn renders one instruction; isArch says the accumulator was last
// loaded with seccomp_data.arch, so a jeq constant is an AUDIT_ARCH.
func disasmInsn(at int, in unix.SockFilter, isArch bool) string {
	next := at + 1
	cond := func(name string) string {
		return fmt.Sprintf("%-4s #%#x, %04d, %04d", name, in.K, next+int(in.Jt), next+int(in.Jf))
	}
	switch in.Code {
	case opLdAbs:
		return fmt.Sprintf("ld   [%d]%s", in.K, loadNote(in.K))
	case opAndK:
		return fmt.Sprintf("and  #%#x", in.K)
	case opJa:
		return fmt.Sprintf("ja   %04d", next+int(in.K))
	case opJeq:
		if isArch {
			return cond("jeq") + archNote(in.K)
		}
		return cond("jeq")
	case opJgt:
		return cond("jgt")
	case opJge:
		return cond("jge")
	case opJset:
		return cond("jset")
	case opRetK:
		return "ret  " + action(in.K).String()
	}
	return fmt.Sprintf("raw  code=%#x jt=%d jf=%d k=%#x", in.Code, in.Jt, in.Jf, in.K)
}

func loadNote(off uint32) string {
	switch {
	case off == offNr:
		return "  ; nr"
	case off == offArch:
		return "  ; arch"
	case off >= offArgs && off < offArgs+8*maxArgs:
		half := "lo"
		if (off-offArgs)%8 == 4 {
			half = "hi"
		}
		return fmt.Sprintf("  ; args[%d].%s", (off-offArgs)/8, half)
	}
	return ""
}

// archNote names AUDIT_ARCH values, which only ever appear in jeq.
func archNote(k uint32) string {
	for _, a := range []*archInfo{archX86_64, archX86, archAArch64, archARM} {
		if a.audit == k {
			return "  ; " + string(a.name)
		}
	}
	return ""
}
