package cgroups

import (
	"encoding/binary"
)

// A cgroup2 has no devices.allow: access checks run an eBPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup. This file builds that
// program from the emulated rule list, instruction by instruction, so berth
// needs neither cgo nor an eBPF library. The layout is runc's devicefilter:
// a prologue loading the request into registers, one block per exception
// that returns the exception's verdict when it matches and falls through to
// the next block otherwise, and a final block returning the default.

// bpfInsn is one eBPF instruction (struct bpf_insn).
type bpfInsn struct {
	code     uint8
	dst, src uint8 // registers 0-10
	off      int16
	imm      int32
}

// Opcode parts from include/uapi/linux/bpf_common.h and bpf.h.
const (
	bpfLDX  = 0x01 // class: load into register
	bpfALU  = 0x04 // class: 32-bit arithmetic
	bpfJMP  = 0x05 // class: 64-bit compare and jump
	bpfW    = 0x00 // size: 32 bits
	bpfMEM  = 0x60 // mode: memory at src+off
	bpfK    = 0x00 // source: immediate
	bpfX    = 0x08 // source: register
	bpfAND  = 0x50
	bpfRSH  = 0x70
	bpfMOV  = 0xb0
	bpfJEQ  = 0x10
	bpfJNE  = 0x50
	bpfEXIT = 0x90
)

// Registers: R1 holds the context pointer on entry and R0 the verdict on
// exit; R2-R5 hold the decoded request.
const (
	r0 = iota
	r1
	r2 // device type, BPF_DEVCG_DEV_BLOCK or _CHAR
	r3 // requested access, BPF_DEVCG_ACC_* bits
	r4 // major
	r5 // minor
)

// Device types as struct bpf_cgroup_dev_ctx encodes them.
const (
	devcgBlock = 1
	devcgChar  = 2
)

// deviceFilter compiles rules into the device program.
func deviceFilter(rules []devRule) ([]bpfInsn, error) {
	emu, err := emulateDevices(rules)
	if err != nil {
		return nil, err
	}
	return compileDeviceFilter(emu), nil
}

func compileDeviceFilter(emu *devEmulator) []bpfInsn {
	// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
	// where access_type is (access << 16) | type.
	prog := []bpfInsn{
		{code: bpfLDX | bpfMEM | bpfW, dst: r2, src: r1, off: 0},
		{code: bpfALU | bpfAND | bpfK, dst: r2, imm: 0xFFFF},
		{code: bpfLDX | bpfMEM | bpfW, dst: r3, src: r1, off: 0},
		{code: bpfALU | bpfRSH | bpfK, dst: r3, imm: 16},
		{code: bpfLDX | bpfMEM | bpfW, dst: r4, src: r1, off: 4},
		{code: bpfLDX | bpfMEM | bpfW, dst: r5, src: r1, off: 8},
	}
	for _, rule := range emu.rules() {
		prog = append(prog, ruleBlock(rule, emu.defaultAllow)...)
	}
	return append(prog, verdict(emu.defaultAllow)...)
}

// ruleBlock returns the instructions for one exception. Every condition
// jumps past the block when it fails; the block's last two instructions
// return the exception's verdict.
func ruleBlock(rule devRule, defaultAllow bool) []bpfInsn {
	typ := int32(devcgChar)
	if rule.typ == 'b' {
		typ = devcgBlock
	}
	conds := []bpfInsn{{code: bpfJMP | bpfJNE | bpfK, dst: r2, imm: typ}}
	if rule.access != accAll {
		// R1 is free once the prologue has read the context.
		conds = append(conds,
			bpfInsn{code: bpfALU | bpfMOV | bpfX, dst: r1, src: r3},
			bpfInsn{code: bpfALU | bpfAND | bpfK, dst: r1, imm: int32(rule.access)})
		if defaultAllow {
			// A deny exception matches when it shares any requested bit
			// (the v1 kernel's match_exception_partial).
			conds = append(conds, bpfInsn{code: bpfJMP | bpfJEQ | bpfK, dst: r1, imm: 0})
		} else {
			// An allow exception must cover every requested bit.
			conds = append(conds, bpfInsn{code: bpfJMP | bpfJNE | bpfX, dst: r1, src: r3})
		}
	}
	if rule.major != wildcard {
		conds = append(conds, bpfInsn{code: bpfJMP | bpfJNE | bpfK, dst: r4, imm: int32(rule.major)})
	}
	if rule.minor != wildcard {
		conds = append(conds, bpfInsn{code: bpfJMP | bpfJNE | bpfK, dst: r5, imm: int32(rule.minor)})
	}
	block := append(conds, verdict(rule.allow)...)
	for i := range conds {
		// Jump offsets count from the next instruction. Other
		// instructions must keep off zero: the verifier refuses
		// non-zero reserved fields.
		if block[i].code&0x07 == bpfJMP {
			block[i].off = int16(len(block) - (i + 1))
		}
	}
	return block
}

func verdict(allow bool) []bpfInsn {
	var v int32
	if allow {
		v = 1
	}
	return []bpfInsn{
		{code: bpfALU | bpfMOV | bpfK, dst: r0, imm: v},
		{code: bpfJMP | bpfEXIT},
	}
}

// encodeInsns lays instructions out as the kernel reads them: 8 bytes each
// in native byte order, the two 4-bit register fields sharing one byte in
// the order C bit-fields take on the machine (dst in the low nibble on
// little-endian machines, in the high one on big-endian ones).
func encodeInsns(prog []bpfInsn) []byte {
	bigEndian := binary.NativeEndian.Uint16([]byte{0, 1}) == 1
	b := make([]byte, 8*len(prog))
	for i, in := range prog {
		o := b[8*i:]
		o[0] = in.code
		if bigEndian {
			o[1] = in.dst<<4 | in.src&0xf
		} else {
			o[1] = in.dst&0xf | in.src<<4
		}
		binary.NativeEndian.PutUint16(o[2:], uint16(in.off))
		binary.NativeEndian.PutUint32(o[4:], uint32(in.imm))
	}
	return b
}
