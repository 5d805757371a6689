package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

//go:generate go run ./internal/mksyscalls -o zsyscalls.go

// x32SyscallBit is __X32_SYSCALL_BIT: x32 processes run under
// AUDIT_ARCH_X86_64 and are told apart by this bit in the syscall number.
const x32SyscallBit = 0x40000000

// nrRange is an inclusive range of seccomp_data.nr values.
type nrRange struct{ lo, hi uint32 }

// archInfo describes one ABI the filter can cover.
type archInfo struct {
	name  specs.Arch
	audit uint32 // AUDIT_ARCH_* as seen in seccomp_data.arch
	// bits is the width of a syscall argument. On 32-bit ABIs (x86, arm
	// and x32, as libseccomp counts it) only the low half of each
	// seccomp_data.args[i] is compared, with the rule value truncated.
	bits    int
	sysnums func() map[string]uint32 // built on first use
	// owns lists the syscall numbers that belong to this ABI under its
	// audit arch; a number nobody in the filter owns gets actBadArch.
	owns []nrRange
}

var allNrs = []nrRange{{0, 0xffffffff}}

var (
	archX86_64 = &archInfo{
		name: specs.ArchX86_64, audit: unix.AUDIT_ARCH_X86_64, bits: 64, sysnums: sysnumX86_64,
		// Numbers with the x32 bit are x32 syscalls. -1 is what a tracer
		// sets to skip a syscall and the kernel runs the filter again
		// with it, so like libseccomp it is not a bad-arch kill.
		owns: []nrRange{{0, x32SyscallBit - 1}, {0xffffffff, 0xffffffff}},
	}
	archX32 = &archInfo{
		name: specs.ArchX32, audit: unix.AUDIT_ARCH_X86_64, bits: 32, sysnums: sysnumX32,
		owns: []nrRange{{x32SyscallBit, 0xffffffff}},
	}
	archX86     = &archInfo{name: specs.ArchX86, audit: unix.AUDIT_ARCH_I386, bits: 32, sysnums: sysnumX86, owns: allNrs}
	archAArch64 = &archInfo{name: specs.ArchAARCH64, audit: unix.AUDIT_ARCH_AARCH64, bits: 64, sysnums: sysnumAArch64, owns: allNrs}
	archARM     = &archInfo{name: specs.ArchARM, audit: unix.AUDIT_ARCH_ARM, bits: 32, sysnums: sysnumARM, owns: allNrs}
)

// knownArches holds every architecture name the runtime spec defines. The
// ones this package has no syscall table for map to nil: they are valid in
// a config but cannot run on any kernel berth supports, so they are left
// out of the filter.
var knownArches = map[specs.Arch]*archInfo{
	specs.ArchX86_64:      archX86_64,
	specs.ArchX32:         archX32,
	specs.ArchX86:         archX86,
	specs.ArchAARCH64:     archAArch64,
	specs.ArchARM:         archARM,
	specs.ArchMIPS:        nil,
	specs.ArchMIPS64:      nil,
	specs.ArchMIPS64N32:   nil,
	specs.ArchMIPSEL:      nil,
	specs.ArchMIPSEL64:    nil,
	specs.ArchMIPSEL64N32: nil,
	specs.ArchPPC:         nil,
	specs.ArchPPC64:       nil,
	specs.ArchPPC64LE:     nil,
	specs.ArchS390:        nil,
	specs.ArchS390X:       nil,
	specs.ArchPARISC:      nil,
	specs.ArchPARISC64:    nil,
	specs.ArchRISCV64:     nil,
	specs.ArchLOONGARCH64: nil,
	specs.ArchM68K:        nil,
	specs.ArchSH:          nil,
	specs.ArchSHEB:        nil,
}

// platform is what a kernel for one GOARCH runs: its native ABI first,
// then the compat ABIs a listed architecture may add. An architecture the
// kernel cannot run is left out since no syscall can ever come from it.
type platform struct {
	native *archInfo
	compat []*archInfo
}

var platforms = map[string]platform{
	"amd64": {archX86_64, []*archInfo{archX86, archX32}},
	"386":   {archX86, nil},
	"arm64": {archAArch64, []*archInfo{archARM}},
	"arm":   {archARM, nil},
}

// filterArches returns the ABIs the filter covers on goarch: the native one
// (always, like libseccomp) and those of cfgArches the kernel can run, in
// the order they are listed.
func filterArches(goarch string, cfgArches []specs.Arch) ([]*archInfo, error) {
	p, ok := platforms[goarch]
	if !ok {
		return nil, fmt.Errorf("seccomp: architecture %s is not supported", goarch)
	}
	out := []*archInfo{p.native}
	for _, name := range cfgArches {
		for _, a := range p.compat {
			if a.name == name && !containsArch(out, a) {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

func containsArch(as []*archInfo, a *archInfo) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}
