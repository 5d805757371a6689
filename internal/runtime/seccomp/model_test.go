package seccomp

import (
	"fmt"
	"math/rand"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// This file holds a reference model of the filter semantics, written
// straight from the rules documented in seccomp.go with plain 64-bit Go
// arithmetic and no code shared with the compiler, and a randomised test
// that checks the compiled programs (run in x/net/bpf's VM) against it.

type modelABI struct {
	name  specs.Arch
	audit uint32
	bits  int
	nrs   map[string]uint32
}

var modelABIs = map[specs.Arch]modelABI{
	specs.ArchX86_64:  {specs.ArchX86_64, 0xc000003e, 64, sysnumX86_64()},
	specs.ArchX32:     {specs.ArchX32, 0xc000003e, 32, sysnumX32()},
	specs.ArchX86:     {specs.ArchX86, 0x40000003, 32, sysnumX86()},
	specs.ArchAARCH64: {specs.ArchAARCH64, 0xc00000b7, 64, sysnumAArch64()},
	specs.ArchARM:     {specs.ArchARM, 0x40000028, 32, sysnumARM()},
}

// modelPlatforms: the native ABI, then the ones a config may add.
var modelPlatforms = map[string][]specs.Arch{
	"amd64": {specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
	"arm64": {specs.ArchAARCH64, specs.ArchARM},
	"386":   {specs.ArchX86},
	"arm":   {specs.ArchARM},
}

func modelAction(a specs.LinuxSeccompAction, errnoRet *uint) uint32 {
	ret := uint32(unix.EPERM)
	if errnoRet != nil {
		ret = uint32(*errnoRet)
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return 0
	case specs.ActKillProcess:
		return 0x80000000
	case specs.ActTrap:
		return 0x00030000
	case specs.ActErrno:
		return 0x00050000 | ret
	case specs.ActTrace:
		return 0x7ff00000 | ret
	case specs.ActLog:
		return 0x7ffc0000
	case specs.ActNotify:
		return 0x7fc00000
	case specs.ActAllow:
		return 0x7fff0000
	}
	panic("model: unknown action " + a)
}

// modelDecide returns the seccomp return value cfg gives for d on goarch.
func modelDecide(cfg *specs.LinuxSeccomp, goarch string, d seccompData) uint32 {
	const badArch = 0 // KILL_THREAD, libseccomp's default
	def := modelAction(cfg.DefaultAction, cfg.DefaultErrnoRet)

	plat := modelPlatforms[goarch]
	in := map[specs.Arch]bool{plat[0]: true}
	for _, a := range cfg.Architectures {
		for _, p := range plat[1:] {
			if a == p {
				in[a] = true
			}
		}
	}
	var abi modelABI
	switch {
	case d.arch == 0xc000003e && in[specs.ArchX86_64] && d.nr == 0xffffffff:
		return def // the tracer's "skip this syscall" number
	case d.arch == 0xc000003e && d.nr >= 0x40000000: // libseccomp: jge __X32_SYSCALL_BIT
		if !in[specs.ArchX32] {
			return badArch
		}
		abi = modelABIs[specs.ArchX32]
	default:
		found := false
		for a := range in {
			if m := modelABIs[a]; m.audit == d.arch && a != specs.ArchX32 {
				abi, found = m, true
			}
		}
		if !found {
			return badArch
		}
	}

	type mrule struct {
		act   uint32
		conds []specs.LinuxSeccompArg
	}
	var rules []mrule
	for _, sc := range cfg.Syscalls {
		act := modelAction(sc.Action, sc.ErrnoRet)
		if act == def {
			continue
		}
		applies := false
		for _, n := range sc.Names {
			if nr, ok := abi.nrs[n]; ok && nr == d.nr {
				applies = true
			}
		}
		if !applies {
			continue
		}
		dup := map[uint]bool{}
		split := false
		for _, a := range sc.Args {
			split = split || dup[a.Index]
			dup[a.Index] = true
		}
		sets := [][]specs.LinuxSeccompArg{sc.Args}
		if split {
			sets = nil
			for _, a := range sc.Args {
				sets = append(sets, []specs.LinuxSeccompArg{a})
			}
		}
		for _, set := range sets {
			// A masked compare whose mask has no bits the ABI compares
			// always holds; libseccomp drops it, and a rule left with no
			// condition is unconditional.
			var conds []specs.LinuxSeccompArg
			for _, a := range set {
				m := a.Value
				if abi.bits == 32 {
					m = uint64(uint32(m))
				}
				if a.Op != specs.OpMaskedEqual || m != 0 {
					conds = append(conds, a)
				}
			}
			rules = append(rules, mrule{act, conds})
		}
	}
	for _, r := range rules {
		if len(r.conds) == 0 {
			return r.act
		}
	}
	for _, r := range rules {
		ok := true
		for _, c := range r.conds {
			ok = ok && modelCond(abi.bits, c, d.args[c.Index])
		}
		if ok {
			return r.act
		}
	}
	return def
}

func modelCond(bits int, c specs.LinuxSeccompArg, arg uint64) bool {
	v, v2 := c.Value, c.ValueTwo
	if bits == 32 {
		arg, v, v2 = uint64(uint32(arg)), uint64(uint32(v)), uint64(uint32(v2))
	}
	switch c.Op {
	case specs.OpEqualTo:
		return arg == v
	case specs.OpNotEqual:
		return arg != v
	case specs.OpLessThan:
		return arg < v
	case specs.OpLessEqual:
		return arg <= v
	case specs.OpGreaterThan:
		return arg > v
	case specs.OpGreaterEqual:
		return arg >= v
	case specs.OpMaskedEqual:
		return arg&v == v2&v
	}
	panic("model: unknown op " + c.Op)
}

// Random configurations and inputs.

var (
	randNames = []string{
		"read", "write", "openat", "close", "ioctl", "clone", "personality",
		"socket", "mkdirat", "getcwd", "_llseek", "arch_prctl", "fstat64",
		"socketcall", "getpid", "newfstatat", "futex", "kill", "prctl",
		"rt_sigaction", "set_tls", "no_such_syscall",
	}
	randActions = []specs.LinuxSeccompAction{
		specs.ActAllow, specs.ActErrno, specs.ActKill, specs.ActKillProcess,
		specs.ActKillThread, specs.ActTrap, specs.ActTrace, specs.ActLog, specs.ActNotify,
	}
	randOps = []specs.LinuxSeccompOperator{
		specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
		specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual,
	}
	// Values around the 32-bit boundaries, where split compares go wrong.
	randValues = []uint64{
		0, 1, 2, 7, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
		0x100000000, 0x100000001, 0x1ffffffff, 0xffffffff00000000,
		0xfffffffffffffffe, 0xffffffffffffffff, 0x8000000000000000,
	}
	randArches = []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchARM, specs.ArchS390X}
)

func randValue(r *rand.Rand) uint64 {
	if r.Intn(4) == 0 {
		return r.Uint64() >> uint(r.Intn(64))
	}
	return randValues[r.Intn(len(randValues))]
}

func randAction(r *rand.Rand) (specs.LinuxSeccompAction, *uint) {
	a := randActions[r.Intn(len(randActions))]
	if (a == specs.ActErrno || a == specs.ActTrace) && r.Intn(2) == 0 {
		e := uint(r.Intn(200))
		return a, &e
	}
	return a, nil
}

func randConfig(r *rand.Rand) *specs.LinuxSeccomp {
	cfg := &specs.LinuxSeccomp{}
	for cfg.DefaultAction == "" || cfg.DefaultAction == specs.ActNotify {
		cfg.DefaultAction, cfg.DefaultErrnoRet = randAction(r)
	}
	for _, a := range randArches {
		if r.Intn(2) == 0 {
			cfg.Architectures = append(cfg.Architectures, a)
		}
	}
	for n := r.Intn(12); n > 0; n-- {
		sc := specs.LinuxSyscall{}
		sc.Action, sc.ErrnoRet = randAction(r)
		for k := 1 + r.Intn(3); k > 0; k-- {
			sc.Names = append(sc.Names, randNames[r.Intn(len(randNames))])
		}
		if r.Intn(3) > 0 {
			for k := r.Intn(4); k > 0; k-- {
				sc.Args = append(sc.Args, specs.LinuxSeccompArg{
					Index: uint(r.Intn(4)), Op: randOps[r.Intn(len(randOps))],
					Value: randValue(r), ValueTwo: randValue(r),
				})
			}
		}
		cfg.Syscalls = append(cfg.Syscalls, sc)
	}
	return cfg
}

// randInputs makes inputs likely to hit the rules of cfg: every named
// syscall on every ABI, with arguments at, around and mixing the halves of
// the values the conditions use.
func randInputs(r *rand.Rand, cfg *specs.LinuxSeccomp, n int) []seccompData {
	var vals []uint64
	for _, sc := range cfg.Syscalls {
		for _, a := range sc.Args {
			for _, v := range []uint64{a.Value, a.ValueTwo, a.Value & a.ValueTwo} {
				vals = append(vals, v, v+1, v-1, v^0xffffffff00000000, v^0xffffffff, uint64(uint32(v)))
			}
		}
	}
	vals = append(vals, randValues...)
	var out []seccompData
	for i := 0; i < n; i++ {
		var d seccompData
		abi := modelABIs[randArches[r.Intn(len(randArches)-1)]]
		d.arch = abi.audit
		switch r.Intn(10) {
		case 0:
			d.nr = r.Uint32()
		case 1:
			d.nr = 0xffffffff
			d.arch = []uint32{0xc000003e, 0x40000003, 0xdeadbeef}[r.Intn(3)]
		default:
			sc := cfg.Syscalls[r.Intn(len(cfg.Syscalls))]
			nr, ok := abi.nrs[sc.Names[r.Intn(len(sc.Names))]]
			if !ok {
				nr = uint32(r.Intn(500))
			}
			d.nr = nr
		}
		for j := range d.args {
			d.args[j] = vals[r.Intn(len(vals))]
		}
		out = append(out, d)
	}
	return out
}

func TestRandomConfigsMatchModel(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	configs, inputs := 3000, 0
	for i := 0; i < configs; i++ {
		cfg := randConfig(r)
		if len(cfg.Syscalls) == 0 {
			continue
		}
		for _, goarch := range []string{"amd64", "arm64"} {
			prog, err := compileFor(goarch, cfg)
			if err != nil {
				t.Fatalf("config %d: %v", i, err)
			}
			m := newVM(t, prog)
			for _, d := range randInputs(r, cfg, 200) {
				inputs++
				got, want := m.run(d), action(modelDecide(cfg, goarch, d))
				if got != want {
					t.Fatalf("config %d on %s, input %v: filter says %v, model says %v\nconfig: %s\n%s",
						i, goarch, d, got, want, fmt.Sprintf("%+v", *cfg), Disassemble(prog))
				}
			}
		}
	}
	t.Logf("%d configs, %d inputs agree with the model", configs, inputs)
}
