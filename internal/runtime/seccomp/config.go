package seccomp

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// action is a complete seccomp filter return value: SECCOMP_RET_* with its
// 16-bit data (errno or trace message) already folded in.
type action uint32

const (
	actKillThread  action = unix.SECCOMP_RET_KILL_THREAD
	actKillProcess action = unix.SECCOMP_RET_KILL_PROCESS
	actTrap        action = unix.SECCOMP_RET_TRAP
	actErrno       action = unix.SECCOMP_RET_ERRNO
	actNotify      action = unix.SECCOMP_RET_USER_NOTIF
	actTrace       action = unix.SECCOMP_RET_TRACE
	actLog         action = unix.SECCOMP_RET_LOG
	actAllow       action = unix.SECCOMP_RET_ALLOW

	// actBadArch is what a syscall made through an architecture (or x86
	// ABI) the filter does not cover gets. It is libseccomp's default
	// SCMP_FLTATR_ACT_BADARCH, which runc and crun leave alone.
	actBadArch = actKillThread
)

// String names the action the way seccomp profiles do; it is used by the
// disassembler and in test tables.
func (a action) String() string {
	data := uint32(a) & unix.SECCOMP_RET_DATA
	switch uint32(a) & unix.SECCOMP_RET_ACTION_FULL {
	case uint32(actKillThread):
		return "KILL_THREAD"
	case uint32(actKillProcess):
		return "KILL_PROCESS"
	case uint32(actTrap):
		return fmt.Sprintf("TRAP(%d)", data)
	case uint32(actErrno):
		return fmt.Sprintf("ERRNO(%d)", data)
	case uint32(actNotify):
		return "NOTIFY"
	case uint32(actTrace):
		return fmt.Sprintf("TRACE(%d)", data)
	case uint32(actLog):
		return "LOG"
	case uint32(actAllow):
		return "ALLOW"
	}
	return fmt.Sprintf("UNKNOWN(%#x)", uint32(a))
}

// maxArgs is the number of syscall arguments in struct seccomp_data.
const maxArgs = 6

// cond is one argument comparison, normalised: for SCMP_CMP_MASKED_EQ the
// value is already masked (libseccomp does the same, so a value with bits
// outside the mask compares like the masked value).
type cond struct {
	index int
	op    specs.LinuxSeccompOperator
	value uint64
	mask  uint64 // only for OpMaskedEqual
}

// rule is one syscalls[] entry after validation. An entry whose args use the
// same index twice becomes several rules with one condition each (see
// splitArgs), so the conditions of one rule are always ANDed.
type rule struct {
	entry int // index in cfg.Syscalls, for error messages
	names []string
	act   action
	conds []cond
}

// config is a validated LinuxSeccomp.
type config struct {
	defaultAct action
	arches     []specs.Arch
	rules      []rule
	flags      uintptr // SECCOMP_FILTER_FLAG_* requested by cfg.Flags
	notify     bool    // some rule uses SCMP_ACT_NOTIFY
}

// parse validates cfg and converts it into the form the compiler works on.
// Every error names the offending field so a bad config.json is easy to fix.
func parse(cfg *specs.LinuxSeccomp) (*config, error) {
	if cfg == nil {
		return nil, errors.New("seccomp: nil configuration")
	}
	c := &config{arches: cfg.Architectures}
	var err error
	c.defaultAct, err = toAction(cfg.DefaultAction, cfg.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("seccomp: defaultAction: %w", err)
	}
	// A notifying default action would also catch the runtime's own
	// syscalls between Load and execve (write to the sync pipe, execve
	// itself) before anybody holds the listener: runc refuses it too.
	if c.defaultAct == actNotify {
		return nil, errors.New("seccomp: defaultAction: SCMP_ACT_NOTIFY cannot be the default action")
	}
	for _, a := range cfg.Architectures {
		if _, ok := knownArches[a]; !ok {
			return nil, fmt.Errorf("seccomp: architectures: unknown architecture %q", a)
		}
	}
	c.flags, err = toFlags(cfg.Flags)
	if err != nil {
		return nil, err
	}
	for i, sc := range cfg.Syscalls {
		rs, err := toRules(i, sc)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			// Like runc: a rule that does what the default action does
			// anyway is dropped. Keeping it would also make it win over
			// a conditional rule of another action for the same syscall
			// (unconditional rules take precedence, see compile.go).
			if r.act == c.defaultAct {
				continue
			}
			if r.act == actNotify {
				c.notify = true
			}
			c.rules = append(c.rules, r)
		}
	}
	return c, nil
}

// toAction converts an OCI action and its optional errnoRet. ERRNO defaults
// to EPERM; TRACE also defaults to EPERM as its message, as runc does.
func toAction(a specs.LinuxSeccompAction, errnoRet *uint) (action, error) {
	var base action
	switch a {
	case specs.ActKill, specs.ActKillThread:
		base = actKillThread
	case specs.ActKillProcess:
		base = actKillProcess
	case specs.ActTrap:
		base = actTrap
	case specs.ActErrno:
		base = actErrno
	case specs.ActTrace:
		base = actTrace
	case specs.ActAllow:
		base = actAllow
	case specs.ActLog:
		base = actLog
	case specs.ActNotify:
		base = actNotify
	case "":
		return 0, errors.New("missing action")
	default:
		return 0, fmt.Errorf("unknown action %q", a)
	}
	if base != actErrno && base != actTrace {
		// The runtime spec says a runtime MUST fail when errnoRet is
		// given for an action that has no errno.
		if errnoRet != nil {
			return 0, fmt.Errorf("errnoRet is not supported with action %s", a)
		}
		return base, nil
	}
	data := uint(unix.EPERM)
	if errnoRet != nil {
		data = *errnoRet
	}
	if data > unix.SECCOMP_RET_DATA {
		return 0, fmt.Errorf("errnoRet %d does not fit in 16 bits", data)
	}
	return base | action(data), nil
}

// filterFlagValues are the flags the runtime spec defines, plus TSYNC,
// which runc accepts too. NEW_LISTENER and TSYNC_ESRCH are not taken from
// the config: Load sets them when a rule notifies.
var filterFlagValues = map[specs.LinuxSeccompFlag]uintptr{
	"SECCOMP_FILTER_FLAG_TSYNC":            unix.SECCOMP_FILTER_FLAG_TSYNC,
	specs.LinuxSeccompFlagLog:              unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow:        unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	specs.LinuxSeccompFlagWaitKillableRecv: unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
}

func toFlags(fs []specs.LinuxSeccompFlag) (uintptr, error) {
	var flags uintptr
	for _, f := range fs {
		v, ok := filterFlagValues[f]
		if !ok {
			return 0, fmt.Errorf("seccomp: flags: unknown flag %q", f)
		}
		flags |= v
	}
	return flags, nil
}

func toRules(i int, sc specs.LinuxSyscall) ([]rule, error) {
	if len(sc.Names) == 0 {
		return nil, fmt.Errorf("seccomp: syscalls[%d]: no syscall names", i)
	}
	for _, n := range sc.Names {
		if n == "" {
			return nil, fmt.Errorf("seccomp: syscalls[%d]: empty syscall name", i)
		}
	}
	act, err := toAction(sc.Action, sc.ErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("seccomp: syscalls[%d] (%s): %w", i, sc.Names[0], err)
	}
	conds := make([]cond, 0, len(sc.Args))
	for j, a := range sc.Args {
		c, err := toCond(a)
		if err != nil {
			return nil, fmt.Errorf("seccomp: syscalls[%d] (%s): args[%d]: %w", i, sc.Names[0], j, err)
		}
		conds = append(conds, c)
	}
	var rules []rule
	for _, cs := range splitArgs(conds) {
		rules = append(rules, rule{entry: i, names: sc.Names, act: act, conds: cs})
	}
	return rules, nil
}

func toCond(a specs.LinuxSeccompArg) (cond, error) {
	if a.Index >= maxArgs {
		return cond{}, fmt.Errorf("index %d out of range (syscalls have %d arguments)", a.Index, maxArgs)
	}
	c := cond{index: int(a.Index), op: a.Op, value: a.Value}
	switch a.Op {
	case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
		specs.OpEqualTo, specs.OpGreaterEqual, specs.OpGreaterThan:
	case specs.OpMaskedEqual:
		// OCI: value is the mask, valueTwo the expected value.
		c.mask = a.Value
		c.value = a.ValueTwo & a.Value
	case "":
		return cond{}, errors.New("missing op")
	default:
		return cond{}, fmt.Errorf("unknown op %q", a.Op)
	}
	return c, nil
}

// splitArgs returns the condition sets one syscalls[] entry stands for.
// Normally that is one set, ANDed. But when two conditions test the same
// argument, runc and crun add each condition as a rule of its own (libseccomp
// cannot AND two tests of one argument), so they are ORed; Docker's profile
// generator is written around that behaviour, and a container must see the
// same filter under berth as under runc.
func splitArgs(conds []cond) [][]cond {
	var seen [maxArgs]bool
	for _, c := range conds {
		if seen[c.index] {
			out := make([][]cond, len(conds))
			for i := range conds {
				out[i] = conds[i : i+1]
			}
			return out
		}
		seen[c.index] = true
	}
	return [][]cond{conds}
}
