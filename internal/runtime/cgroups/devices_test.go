package cgroups

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64p(v int64) *int64 { return &v }

// oci builds a rule the way a spec spells it: "c 1:3 rwm", "a", "b *:* r";
// a leading "!" denies.
func oci(s string) specs.LinuxDeviceCgroup {
	d := specs.LinuxDeviceCgroup{Allow: !strings.HasPrefix(s, "!"), Access: "rwm"}
	f := strings.Fields(strings.TrimPrefix(s, "!"))
	d.Type = f[0]
	if len(f) > 1 {
		maj, min, _ := strings.Cut(f[1], ":")
		for _, x := range []struct {
			s string
			p **int64
		}{{maj, &d.Major}, {min, &d.Minor}} {
			if x.s != "*" {
				var n int64
				fmt.Sscan(x.s, &n)
				*x.p = i64p(n)
			}
		}
	}
	if len(f) > 2 {
		d.Access = f[2]
	}
	return d
}

func ociRules(ss ...string) []specs.LinuxDeviceCgroup {
	out := make([]specs.LinuxDeviceCgroup, len(ss))
	for i, s := range ss {
		out[i] = oci(s)
	}
	return out
}

func TestParseDeviceRules(t *testing.T) {
	rules, err := parseDeviceRules([]specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "mwr"},
		{Allow: true, Type: "b", Major: i64p(8), Access: "r"},
		{Allow: true, Type: "c", Major: i64p(-1), Minor: i64p(5), Access: "ww"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, fmt.Sprintf("%v %s", r.allow, r))
	}
	want := []string{"false a *:* rwm", "true c 1:3 rwm", "true b 8:* r", "true c *:5 w"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q\nwant %q", got, want)
	}
	for _, bad := range []specs.LinuxDeviceCgroup{
		{Type: "u", Access: "r"},
		{Type: "c", Access: ""},
		{Type: "c", Access: "rx"},
		{Type: "c", Major: i64p(-2), Access: "r"},
		{Type: "c", Minor: i64p(1 << 40), Access: "r"},
	} {
		if _, err := parseDeviceRules([]specs.LinuxDeviceCgroup{bad}); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func emulate(t *testing.T, ss ...string) *devEmulator {
	t.Helper()
	rules, err := parseDeviceRules(ociRules(ss...))
	if err != nil {
		t.Fatal(err)
	}
	e, err := emulateDevices(rules)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ruleStrings(e *devEmulator) string {
	var out []string
	for _, r := range e.rules() {
		out = append(out, map[bool]string{true: "+", false: "-"}[r.allow]+r.String())
	}
	return strings.Join(out, ",")
}

func TestDevEmulator(t *testing.T) {
	for _, tc := range []struct {
		rules        []string
		defaultAllow bool
		want         string
	}{
		{nil, false, ""},
		{[]string{"!a", "c 1:3 rwm", "c 1:5 rwm"}, false, "+c 1:3 rwm,+c 1:5 rwm"},
		// Same device twice merges; a later deny takes back part of it.
		{[]string{"!a", "c 1:3 r", "c 1:3 w", "!c 1:3 r"}, false, "+c 1:3 w"},
		{[]string{"!a", "c 1:3 r", "!c 1:3 rwm"}, false, ""},
		// "a" wipes what came before.
		{[]string{"c 1:3 r", "a", "!c 1:5 w"}, true, "-c 1:5 w"},
		{[]string{"a", "!c 1:5 w", "!a", "b 8:* r"}, false, "+b 8:* r"},
		// Wildcards are exceptions of their own.
		{[]string{"!a", "c *:* m", "b *:* m", "c 136:* rwm"}, false, "+b *:* m,+c *:* m,+c 136:* rwm"},
		// Removing the whole wildcard exception is fine.
		{[]string{"!a", "c *:* m", "!c *:* m"}, false, ""},
		// Removing bits the wildcard does not hold is fine too.
		{[]string{"!a", "c *:* m", "c 1:3 rw", "!c 1:3 rw"}, false, "+c *:* m"},
	} {
		e := emulate(t, tc.rules...)
		if got := ruleStrings(e); got != tc.want || e.defaultAllow != tc.defaultAllow {
			t.Errorf("%q: default allow %v, rules %q; want %v, %q", tc.rules, e.defaultAllow, got, tc.defaultAllow, tc.want)
		}
	}
	// Holes in wildcard exceptions: v1 would ignore the deny, so refuse.
	for _, rules := range [][]string{
		{"!a", "c *:* rwm", "!c 1:3 rwm"},
		{"!a", "c 1:* r", "!c 1:3 r"},
		{"a", "!b *:5 w", "b 8:5 w"},
	} {
		rs, err := parseDeviceRules(ociRules(rules...))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := emulateDevices(rs); err == nil || !strings.Contains(err.Error(), "hole") {
			t.Errorf("%q: err = %v, want a hole-punching error", rules, err)
		}
	}
}

// runFilter interprets the encoded program for one request, as the kernel
// would run it. It knows only the instructions deviceFilter emits, checks
// jumps stay inside the program and go forward (the verifier's rule for
// programs without loops), and that no register is read before written.
func runFilter(t *testing.T, code []byte, typ byte, major, minor int64, access uint8) bool {
	t.Helper()
	devType := uint32(devcgChar)
	if typ == 'b' {
		devType = devcgBlock
	}
	ctx := []uint32{uint32(access)<<16 | devType, uint32(major), uint32(minor)}
	var reg [11]uint64
	var set [11]bool
	set[r1] = true
	n := len(code) / 8
	for pc := 0; pc < n; pc++ {
		o := code[8*pc:]
		op, dst, src := o[0], o[1]&0xf, o[1]>>4
		off := int16(binary.LittleEndian.Uint16(o[2:]))
		imm := int32(binary.LittleEndian.Uint32(o[4:]))
		read := func(r uint8) uint64 {
			if !set[r] {
				t.Fatalf("pc %d: r%d read before written", pc, r)
			}
			return reg[r]
		}
		// The verifier's reserved-field rules (check_alu_op and friends).
		switch {
		case op&0x07 == bpfALU && op&bpfX != 0 && (imm != 0 || off != 0),
			op&0x07 == bpfALU && op&bpfX == 0 && (src != 0 || off != 0),
			op == bpfJMP|bpfEXIT && (src != 0 || dst != 0 || off != 0 || imm != 0),
			op&0x07 == bpfJMP && op&bpfX == 0 && src != 0,
			op&0x07 == bpfJMP && op&bpfX != 0 && imm != 0,
			op&0x07 == bpfLDX && imm != 0:
			t.Fatalf("pc %d: instruction %#x uses reserved fields (src %d off %d imm %d)", pc, op, src, off, imm)
		}
		jump := func(cond bool) {
			if off <= 0 || pc+1+int(off) > n-1 {
				t.Fatalf("pc %d: jump offset %d leaves the program or goes back", pc, off)
			}
			if cond {
				pc += int(off)
			}
		}
		switch op {
		case bpfLDX | bpfMEM | bpfW:
			if read(src) != 0 || off%4 != 0 || off < 0 || int(off)/4 >= len(ctx) || src != r1 {
				t.Fatalf("pc %d: load outside the context", pc)
			}
			reg[dst], set[dst] = uint64(ctx[off/4]), true
			set[r1] = true
		case bpfALU | bpfAND | bpfK:
			reg[dst] = uint64(uint32(read(dst)) & uint32(imm))
		case bpfALU | bpfRSH | bpfK:
			reg[dst] = uint64(uint32(read(dst)) >> uint32(imm))
		case bpfALU | bpfMOV | bpfX:
			reg[dst], set[dst] = uint64(uint32(read(src))), true
		case bpfALU | bpfMOV | bpfK:
			reg[dst], set[dst] = uint64(uint32(imm)), true
		case bpfJMP | bpfJNE | bpfK:
			jump(read(dst) != uint64(int64(imm)))
		case bpfJMP | bpfJNE | bpfX:
			jump(read(dst) != read(src))
		case bpfJMP | bpfJEQ | bpfK:
			jump(read(dst) == uint64(int64(imm)))
		case bpfJMP | bpfEXIT:
			return read(r0) == 1
		default:
			t.Fatalf("pc %d: unexpected opcode %#x", pc, op)
		}
	}
	t.Fatal("program ran off its end")
	return false
}

func TestDeviceFilterEncoding(t *testing.T) {
	prog, err := deviceFilter(nil)
	if err != nil {
		t.Fatal(err)
	}
	code := encodeInsns(prog)
	// ldxw r2, [r1+0]: opcode 0x61, dst 2 in the low nibble, src 1 high.
	if got := fmt.Sprintf("% x", code[:8]); got != "61 12 00 00 00 00 00 00" {
		t.Errorf("first instruction = %s", got)
	}
	// ldxw r5, [r1+8]
	if got := fmt.Sprintf("% x", code[40:48]); got != "61 15 08 00 00 00 00 00" {
		t.Errorf("sixth instruction = %s", got)
	}
	// Empty list: deny everything: mov r0, 0; exit.
	if got := fmt.Sprintf("% x", code[48:]); got != "b4 00 00 00 00 00 00 00 95 00 00 00 00 00 00 00" {
		t.Errorf("epilogue = %s", got)
	}
}

// TestDeviceFilterMatchesKernelSemantics runs every request against the
// compiled program and against the emulator's model of the v1 kernel.
func TestDeviceFilterMatchesKernelSemantics(t *testing.T) {
	lists := [][]string{
		nil,
		{"a"},
		{"!a", "c 1:3 rwm", "c 1:5 rwm", "c 1:8 r", "c 136:* rw", "c *:* m", "b *:* m"},
		{"!a", "c 1:3 r", "c 1:3 w"},
		{"!a", "c 1:* rw", "c 1:3 m"},
		{"a", "!c 1:5 rwm", "!b 8:* w", "!c *:9 m"},
		{"a", "!c 1:3 rw", "c 1:3 w"},
		{"!a", "c 5:1 rwm", "!c 5:1 w", "b 8:0 r"},
	}
	for _, list := range lists {
		e := emulate(t, list...)
		code := encodeInsns(compileDeviceFilter(e))
		for _, typ := range []byte{'b', 'c'} {
			for _, major := range []int64{0, 1, 5, 8, 136} {
				for _, minor := range []int64{0, 1, 3, 5, 8, 9} {
					for acc := uint8(1); acc <= accAll; acc++ {
						want := e.allows(typ, major, minor, acc)
						if got := runFilter(t, code, typ, major, minor, acc); got != want {
							t.Errorf("rules %q: %c %d:%d %s: filter %v, kernel model %v",
								list, typ, major, minor, accessString(acc), got, want)
						}
					}
				}
			}
		}
	}
}

// TestDeviceFilterLastRuleWins spells out, for a typical container list,
// what each request must get, independent of the emulator.
func TestDeviceFilterLastRuleWins(t *testing.T) {
	prog, err := deviceFilter(mustRules(t,
		"!a",
		"c 1:3 rwm",  // /dev/null
		"c 1:5 rwm",  // /dev/zero
		"!c 1:5 rwm", // ... taken back
		"c 1:8 rw",   // /dev/random
		"!c 1:8 w",   // ... made read-only
		"c *:* m",    // mknod of any char device
		"b 7:* rw",   // loop devices
	))
	if err != nil {
		t.Fatal(err)
	}
	code := encodeInsns(prog)
	for _, tc := range []struct {
		req  string
		want bool
	}{
		{"c 1:3 rw", true}, {"c 1:3 m", true},
		{"c 1:5 r", false}, {"c 1:5 m", true}, // m from c *:*
		{"c 1:8 r", true}, {"c 1:8 w", false}, {"c 1:8 rw", false},
		{"c 4:1 m", true}, {"c 4:1 r", false},
		{"b 7:1 rw", true}, {"b 7:0 r", true}, {"b 7:0 m", false},
		{"b 8:0 r", false}, {"b 8:0 m", false},
	} {
		f := strings.Fields(tc.req)
		var maj, min int64
		fmt.Sscanf(f[1], "%d:%d", &maj, &min)
		var acc uint8
		for _, c := range f[2] {
			acc |= map[rune]uint8{'r': accRead, 'w': accWrite, 'm': accMknod}[c]
		}
		if got := runFilter(t, code, f[0][0], maj, min, acc); got != tc.want {
			t.Errorf("%s: allowed %v, want %v", tc.req, got, tc.want)
		}
	}
}

func mustRules(t *testing.T, ss ...string) []devRule {
	t.Helper()
	rs, err := parseDeviceRules(ociRules(ss...))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
