package seccomp

import (
	"runtime"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// Compile turns cfg into a classic BPF program for the native architecture
// (and the extra architectures cfg.Architectures lists that run on this
// kernel, e.g. x86 and x32 on amd64).
//
// The program has this shape:
//
//	ld arch; jeq each covered AUDIT_ARCH → its section; ret KILL_THREAD
//	section: ld nr; binary search over syscall-number ranges → action or
//	         argument block; argument blocks; the section's returns
//
// The search tree compares the syscall number against the boundaries of the
// ranges that share an outcome, so Docker's profile takes about 8 compares
// per syscall instead of a walk over ~350 numbers.
func Compile(cfg *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	return compileFor(runtime.GOARCH, cfg)
}

// compileFor is Compile for a given GOARCH, so the golden tests produce the
// same programs on every build machine.
func compileFor(goarch string, cfg *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	c, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	return c.compile(goarch)
}

func (c *config) compile(goarch string) ([]unix.SockFilter, error) {
	arches, err := filterArches(goarch, c.arches)
	if err != nil {
		return nil, err
	}
	// x86_64 and x32 share AUDIT_ARCH_X86_64, so sections group the ABIs
	// by audit arch, in the order the ABIs were chosen.
	var sections [][]*archInfo
	index := map[uint32]int{}
	for _, a := range arches {
		i, ok := index[a.audit]
		if !ok {
			i = len(sections)
			index[a.audit] = i
			sections = append(sections, nil)
		}
		sections[i] = append(sections[i], a)
	}

	g := &codegen{a: &assembler{}, defaultAct: c.defaultAct}
	g.a.load(offArch)
	starts := make([]label, len(sections))
	for i, s := range sections {
		starts[i] = g.a.newLabel()
		next := g.a.newLabel()
		g.a.jumpIf(opJeq, s[0].audit, starts[i], next)
		g.a.place(next)
	}
	g.a.ret(actBadArch)
	for i, s := range sections {
		g.a.place(starts[i])
		g.section(s, c.rules)
	}
	return g.a.assemble()
}

// plan is what one syscall number of one ABI does.
type plan struct {
	arch *archInfo
	nr   uint32
	// uncond is the action of the first rule without conditions, if any.
	// libseccomp lets such a rule replace every conditional rule of the
	// syscall whatever the order they were added in, and ignores later
	// unconditional rules; runc inherits that, so berth does too.
	uncond    action
	hasUncond bool
	// conds are the conditional rules in config order. The first one
	// whose conditions all hold decides; if none does, the default
	// action applies. (libseccomp orders overlapping conditional rules
	// by argument number and value, and refuses some conflicting ones
	// with EEXIST; config order is the only rule a user can predict.)
	conds []rule
}

// plans resolves the rules for the ABIs of one section. Names the ABI does
// not have are skipped, as runc and libseccomp do, so one profile serves
// every architecture and kernel version.
func plans(abis []*archInfo, rules []rule) []*plan {
	byNr := map[uint32]*plan{}
	for _, a := range abis {
		for _, r := range rules {
			for _, name := range r.names {
				nr, ok := a.sysnums()[name]
				if !ok {
					continue
				}
				p := byNr[nr]
				if p == nil {
					p = &plan{arch: a, nr: nr}
					byNr[nr] = p
				}
				r := r
				r.conds = effectiveConds(a.bits, r.conds)
				switch {
				case p.hasUncond:
				case len(r.conds) == 0:
					p.uncond, p.hasUncond, p.conds = r.act, true, nil
				default:
					p.conds = append(p.conds, r)
				}
			}
		}
	}
	out := make([]*plan, 0, len(byNr))
	for _, p := range byNr {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].nr < out[j].nr })
	return out
}

// effectiveConds drops the conditions that hold for every argument on an
// ABI of the given width: SCMP_CMP_MASKED_EQ with a mask that has no bits
// in the compared part. libseccomp drops them too, and a rule left without
// conditions then counts as unconditional (and so takes precedence).
func effectiveConds(bits int, conds []cond) []cond {
	var out []cond
	for _, c := range conds {
		if c.op == specs.OpMaskedEqual && (c.mask == 0 || bits == 32 && uint32(c.mask) == 0) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// codegen emits the program.
type codegen struct {
	a          *assembler
	defaultAct action
	// rets maps the actions used in the current section to the label of
	// their "ret"; order keeps emission deterministic.
	rets  map[action]label
	order []action
}

// retLabel returns the label of a "ret act" in the current section. Each
// section has its own returns so the jumps to them stay short.
func (g *codegen) retLabel(act action) label {
	if l, ok := g.rets[act]; ok {
		return l
	}
	l := g.a.newLabel()
	g.rets[act] = l
	g.order = append(g.order, act)
	return l
}

// interval is a range of syscall numbers that all go to the same label.
type interval struct {
	lo, hi uint32
	to     label
}

// section emits the code for the ABIs sharing one audit arch, entered with
// any value in the accumulator.
func (g *codegen) section(abis []*archInfo, rules []rule) {
	g.rets = map[action]label{}
	g.order = nil
	ps := plans(abis, rules)

	// Partition the whole 32-bit number space: numbers no ABI of the
	// section owns are bad-arch, the others default unless a plan says
	// otherwise.
	var owned []nrRange
	for _, a := range abis {
		owned = append(owned, a.owns...)
	}
	ivs := partition(owned, g.retLabel(g.defaultAct), func() label { return g.retLabel(actBadArch) })

	blocks := make([]label, len(ps))
	var points []interval
	for i, p := range ps {
		var to label
		if p.hasUncond {
			to = g.retLabel(p.uncond)
		} else {
			blocks[i] = g.a.newLabel()
			to = blocks[i]
		}
		points = append(points, interval{p.nr, p.nr, to})
	}
	ivs = merge(overlay(ivs, points))

	g.a.load(offNr)
	g.tree(ivs)
	for i, p := range ps {
		if p.hasUncond {
			continue
		}
		g.a.place(blocks[i])
		g.argBlock(p)
	}
	for _, act := range g.order {
		g.a.place(g.rets[act])
		g.a.ret(act)
	}
}

// partition splits [0, 2^32) into intervals: those in owned go to def, the
// rest to bad() (called only when needed, so no unused "ret" is emitted).
func partition(owned []nrRange, def label, bad func() label) []interval {
	sort.Slice(owned, func(i, j int) bool { return owned[i].lo < owned[j].lo })
	var out []interval
	next := uint64(0) // first number not yet covered
	for _, r := range owned {
		if uint64(r.lo) > next {
			out = append(out, interval{uint32(next), r.lo - 1, bad()})
		}
		if uint64(r.hi) >= next {
			lo := max(uint64(r.lo), next)
			out = append(out, interval{uint32(lo), r.hi, def})
			next = uint64(r.hi) + 1
		}
	}
	if next <= 0xffffffff {
		out = append(out, interval{uint32(next), 0xffffffff, bad()})
	}
	return out
}

// overlay replaces the single numbers in points (sorted, each inside some
// interval of base) by their own intervals.
func overlay(base []interval, points []interval) []interval {
	var out []interval
	pi := 0
	for _, iv := range base {
		lo := uint64(iv.lo)
		for pi < len(points) && points[pi].lo <= iv.hi {
			p := points[pi]
			if uint64(p.lo) > lo {
				out = append(out, interval{uint32(lo), p.lo - 1, iv.to})
			}
			out = append(out, p)
			lo = uint64(p.lo) + 1
			pi++
		}
		if lo <= uint64(iv.hi) {
			out = append(out, interval{uint32(lo), iv.hi, iv.to})
		}
	}
	return out
}

// merge joins neighbouring intervals with the same target.
func merge(ivs []interval) []interval {
	var out []interval
	for _, iv := range ivs {
		if n := len(out); n > 0 && out[n-1].to == iv.to {
			out[n-1].hi = iv.hi
			continue
		}
		out = append(out, iv)
	}
	return out
}

// tree emits a binary search over ivs (sorted, covering every number) with
// the syscall number in the accumulator. Each node is one "jge": the lower
// half follows inline, the upper half is jumped to.
func (g *codegen) tree(ivs []interval) {
	if len(ivs) == 1 {
		g.a.jump(ivs[0].to)
		return
	}
	g.node(ivs)
}

func (g *codegen) node(ivs []interval) {
	mid := len(ivs) / 2
	lower, upper := ivs[:mid], ivs[mid:]
	target := func(half []interval) label {
		if len(half) == 1 {
			return half[0].to
		}
		return g.a.newLabel()
	}
	jt, jf := target(upper), target(lower)
	g.a.jumpIf(opJge, upper[0].lo, jt, jf)
	if len(lower) > 1 {
		g.a.place(jf)
		g.node(lower)
	}
	if len(upper) > 1 {
		g.a.place(jt)
		g.node(upper)
	}
}

// argBlock emits the conditional rules of one syscall: each rule's
// conditions in turn, the first rule that passes returns its action, and
// falling off the last one returns the default action.
func (g *codegen) argBlock(p *plan) {
	for i, r := range p.conds {
		var fail, nextRule label
		if i < len(p.conds)-1 {
			nextRule = g.a.newLabel()
			fail = nextRule
		} else {
			fail = g.retLabel(g.defaultAct)
		}
		for j, c := range r.conds {
			var pass, nextCond label
			if j < len(r.conds)-1 {
				nextCond = g.a.newLabel()
				pass = nextCond
			} else {
				pass = g.retLabel(r.act)
			}
			g.cond(p.arch.bits, c, pass, fail)
			if j < len(r.conds)-1 {
				g.a.place(nextCond)
			}
		}
		if i < len(p.conds)-1 {
			g.a.place(nextRule)
		}
	}
}

// cond emits one argument comparison that ends in a jump to pass or fail.
// On 64-bit ABIs the 64-bit compare is done on the two 32-bit halves of
// seccomp_data.args[i] (little endian: low half first), high half first.
func (g *codegen) cond(bits int, c cond, pass, fail label) {
	lo := uint32(offArgs + 8*c.index)
	hi := lo + 4
	vlo, vhi := uint32(c.value), uint32(c.value>>32)
	mlo, mhi := uint32(c.mask), uint32(c.mask>>32)
	a := g.a

	if bits == 32 {
		// libseccomp compares only the low half on 32-bit ABIs: the
		// kernel zero-extends their arguments.
		switch c.op {
		case specs.OpMaskedEqual:
			if mlo == 0 {
				a.jump(pass)
				return
			}
			a.load(lo)
			a.and(mlo)
			a.jumpIf(opJeq, vlo, pass, fail)
		default:
			a.load(lo)
			g.cmp32(c.op, vlo, pass, fail)
		}
		return
	}

	checkLo := a.newLabel()
	switch c.op {
	case specs.OpEqualTo:
		a.load(hi)
		a.jumpIf(opJeq, vhi, checkLo, fail)
	case specs.OpNotEqual:
		a.load(hi)
		a.jumpIf(opJeq, vhi, checkLo, pass)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		// hi > vhi: pass; hi == vhi: decide on the low half; else fail.
		eq := a.newLabel()
		a.load(hi)
		a.jumpIf(opJgt, vhi, pass, eq)
		a.place(eq)
		a.jumpIf(opJeq, vhi, checkLo, fail)
	case specs.OpLessThan, specs.OpLessEqual:
		eq := a.newLabel()
		a.load(hi)
		a.jumpIf(opJgt, vhi, fail, eq)
		a.place(eq)
		a.jumpIf(opJeq, vhi, checkLo, pass)
	case specs.OpMaskedEqual:
		// effectiveConds removed the case where both halves are 0.
		if mhi != 0 {
			next := checkLo
			if mlo == 0 {
				next = pass
			}
			a.load(hi)
			a.and(mhi)
			a.jumpIf(opJeq, vhi, next, fail)
		} else {
			a.jump(checkLo)
		}
	}
	a.place(checkLo)
	if c.op == specs.OpMaskedEqual {
		if mlo == 0 {
			a.jump(pass) // not reached: the jeq above goes to pass
			return
		}
		a.load(lo)
		a.and(mlo)
		a.jumpIf(opJeq, vlo, pass, fail)
		return
	}
	a.load(lo)
	g.cmp32(c.op, vlo, pass, fail)
}

// cmp32 compares the accumulator with v (unsigned) and jumps to pass or
// fail. cBPF has only jeq/jgt/jge, so the other operators swap targets.
func (g *codegen) cmp32(op specs.LinuxSeccompOperator, v uint32, pass, fail label) {
	switch op {
	case specs.OpEqualTo:
		g.a.jumpIf(opJeq, v, pass, fail)
	case specs.OpNotEqual:
		g.a.jumpIf(opJeq, v, fail, pass)
	case specs.OpGreaterThan:
		g.a.jumpIf(opJgt, v, pass, fail)
	case specs.OpGreaterEqual:
		g.a.jumpIf(opJge, v, pass, fail)
	case specs.OpLessThan:
		g.a.jumpIf(opJge, v, fail, pass)
	case specs.OpLessEqual:
		g.a.jumpIf(opJgt, v, fail, pass)
	}
}
