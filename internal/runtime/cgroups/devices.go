package cgroups

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Device access bits, equal to the kernel's BPF_DEVCG_ACC_* so the eBPF
// filter can use them as they are.
const (
	accMknod uint8 = 1
	accRead  uint8 = 2
	accWrite uint8 = 4
	accAll         = accMknod | accRead | accWrite
)

// wildcard stands for "any" major or minor.
const wildcard = -1

// devRule is one device cgroup rule. typ 'a' (all devices) is only ever
// a reset of the whole list, as it is in the v1 kernel.
type devRule struct {
	typ    byte // 'a', 'b' or 'c'
	major  int64
	minor  int64
	access uint8
	allow  bool
}

// String renders the rule as devices.allow/devices.deny expect it.
func (r devRule) String() string {
	num := func(n int64) string {
		if n == wildcard {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("%c %s:%s %s", r.typ, num(r.major), num(r.minor), accessString(r.access))
}

func accessString(a uint8) string {
	var b strings.Builder
	for _, p := range []struct {
		bit uint8
		c   byte
	}{{accRead, 'r'}, {accWrite, 'w'}, {accMknod, 'm'}} {
		if a&p.bit != 0 {
			b.WriteByte(p.c)
		}
	}
	return b.String()
}

// parseDeviceRules validates OCI device rules. An omitted type means all
// devices and omitted numbers mean any, as the spec says; an empty access
// is refused (as runc does) since the kernel would read it as no access at
// all, which is never what a rule author meant.
func parseDeviceRules(in []specs.LinuxDeviceCgroup) ([]devRule, error) {
	out := make([]devRule, 0, len(in))
	for i, d := range in {
		r := devRule{typ: 'a', major: wildcard, minor: wildcard, allow: d.Allow}
		switch d.Type {
		case "", "a":
		case "b", "c":
			r.typ = d.Type[0]
		default:
			return nil, fmt.Errorf("cgroups: device rule %d: type %q is not a, b or c", i, d.Type)
		}
		for _, n := range []struct {
			v   *int64
			dst *int64
			nm  string
		}{{d.Major, &r.major, "major"}, {d.Minor, &r.minor, "minor"}} {
			if n.v == nil || *n.v == wildcard {
				continue
			}
			// The eBPF filter compares 32-bit numbers with sign-extended
			// immediates; real majors and minors are far smaller anyway.
			if *n.v < 0 || *n.v > math.MaxInt32 {
				return nil, fmt.Errorf("cgroups: device rule %d: %s %d out of range", i, n.nm, *n.v)
			}
			*n.dst = *n.v
		}
		if d.Access == "" {
			return nil, fmt.Errorf("cgroups: device rule %d: empty access", i)
		}
		for _, c := range d.Access {
			switch c {
			case 'r':
				r.access |= accRead
			case 'w':
				r.access |= accWrite
			case 'm':
				r.access |= accMknod
			default:
				return nil, fmt.Errorf("cgroups: device rule %d: access %q: want letters of \"rwm\"", i, d.Access)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// devKey identifies one exception of the v1 list.
type devKey struct {
	typ          byte
	major, minor int64
}

// devEmulator replays rules the way the v1 devices controller does
// (security/device_cgroup.c), so the cgroup2 eBPF filter built from it
// decides exactly as devices.allow/devices.deny would. The state is a
// default (allow or deny everything) plus exceptions to it:
//   - an "a" rule drops every exception and sets the default;
//   - a rule against the default adds its access to the exception for
//     exactly its type:major:minor;
//   - a rule along the default removes its access from that exact
//     exception.
//
// Later rules thus override earlier ones ("last match wins") wherever the
// kernel can express it. The one case it cannot is removing access from
// part of a wildcard exception (allow c *:* then deny c 1:3): v1 ignores
// such a deny without a word, and we refuse it, as runc does, rather than
// run a container less confined than its spec says.
type devEmulator struct {
	defaultAllow bool
	exceptions   map[devKey]uint8
}

// emulateDevices replays rules from the state berth always starts from:
// everything denied.
func emulateDevices(rules []devRule) (*devEmulator, error) {
	e := &devEmulator{exceptions: map[devKey]uint8{}}
	for _, r := range rules {
		if err := e.apply(r); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (e *devEmulator) apply(r devRule) error {
	if r.typ == 'a' {
		e.defaultAllow = r.allow
		clear(e.exceptions)
		return nil
	}
	k := devKey{r.typ, r.major, r.minor}
	if r.allow != e.defaultAllow {
		e.exceptions[k] |= r.access
		return nil
	}
	for _, partial := range []devKey{
		{r.typ, wildcard, r.minor},
		{r.typ, r.major, wildcard},
		{r.typ, wildcard, wildcard},
	} {
		if partial == k {
			continue
		}
		if have := e.exceptions[partial]; have&r.access != 0 {
			verb := map[bool]string{true: "allow", false: "deny"}
			return fmt.Errorf("cgroups: device rule %q (%s) cannot cut a hole in the earlier wildcard rule %q: the devices controller cannot express it",
				r.String(), verb[r.allow], devRule{typ: partial.typ, major: partial.major, minor: partial.minor, access: have}.String())
		}
	}
	if left := e.exceptions[k] &^ r.access; left != 0 {
		e.exceptions[k] = left
	} else {
		delete(e.exceptions, k)
	}
	return nil
}

// rules returns the exceptions in a stable order; each allows what the
// default denies or the other way round.
func (e *devEmulator) rules() []devRule {
	out := make([]devRule, 0, len(e.exceptions))
	for k, acc := range e.exceptions {
		out = append(out, devRule{typ: k.typ, major: k.major, minor: k.minor, access: acc, allow: !e.defaultAllow})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.typ != b.typ {
			return a.typ < b.typ
		}
		if a.major != b.major {
			return a.major < b.major
		}
		return a.minor < b.minor
	})
	return out
}

// allows decides an access the way the v1 kernel does: with a deny-all
// default some exception must grant every requested bit by itself; with an
// allow-all default, any exception sharing a requested bit denies.
func (e *devEmulator) allows(typ byte, major, minor int64, access uint8) bool {
	for k, acc := range e.exceptions {
		if k.typ != typ || (k.major != wildcard && k.major != major) || (k.minor != wildcard && k.minor != minor) {
			continue
		}
		if e.defaultAllow && acc&access != 0 {
			return false
		}
		if !e.defaultAllow && access&^acc == 0 {
			return true
		}
	}
	return e.defaultAllow
}
