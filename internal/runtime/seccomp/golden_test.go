package seccomp

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden compiles every testdata/golden/<GOARCH>/<case>.json (a
// LinuxSeccomp) for that GOARCH and compares the disassembly and a decision
// table with <case>.golden. A config that must be rejected has the error
// as its golden output. Adding a case is adding a .json file and running
// go test -run TestGolden -update; review the new .golden before committing.
//
// The decision table is computed by running the program in x/net/bpf's VM
// on probes derived from the config: every named syscall on every ABI of
// the filter, with each argument a rule tests set at, around and on the
// other side of the 32-bit halves of the rule's value.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "golden", "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no golden cases found")
	}
	for _, in := range inputs {
		goarch := filepath.Base(filepath.Dir(in))
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(goarch+"/"+name, func(t *testing.T) {
			got := goldenOutput(t, goarch, in)
			path := strings.TrimSuffix(in, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run with -update to accept):\n%s", path, lineDiff(string(want), got))
			}
		})
	}
}

func goldenOutput(t *testing.T, goarch, path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg specs.LinuxSeccomp
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	prog, err := compileFor(goarch, &cfg)
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	m := newVM(t, prog)
	var b strings.Builder
	fmt.Fprintf(&b, "# %d instructions\n", len(prog))
	b.WriteString(Disassemble(prog))
	b.WriteString("\n# decisions\n")
	for _, p := range goldenProbes(t, goarch, &cfg) {
		got := m.run(p.d)
		if want := action(modelDecide(&cfg, goarch, p.d)); got != want {
			t.Errorf("%s: filter says %v, reference model says %v", p.label, got, want)
		}
		fmt.Fprintf(&b, "%-60s -> %v\n", p.label, got)
	}
	return b.String()
}

type goldenProbe struct {
	label string
	d     seccompData
}

func goldenProbes(t *testing.T, goarch string, cfg *specs.LinuxSeccomp) []goldenProbe {
	abis, err := filterArches(goarch, cfg.Architectures)
	if err != nil {
		t.Fatal(err)
	}
	var out []goldenProbe
	seen := map[string]bool{}
	add := func(a *archInfo, name string, nr uint32, args [maxArgs]uint64) {
		n := maxArgs
		for n > 0 && args[n-1] == 0 {
			n--
		}
		strs := make([]string, n)
		for i := range strs {
			strs[i] = fmt.Sprintf("%#x", args[i])
		}
		label := fmt.Sprintf("%-7s %-10s %s(%s)", strings.TrimPrefix(string(a.name), "SCMP_ARCH_"),
			fmt.Sprintf("%#x", nr), name, strings.Join(strs, ", "))
		if seen[label] {
			return
		}
		seen[label] = true
		out = append(out, goldenProbe{label, seccompData{nr: nr, arch: a.audit, args: args}})
	}
	for _, a := range abis {
		var names []string
		conds := map[string][]specs.LinuxSeccompArg{}
		for _, sc := range cfg.Syscalls {
			for _, n := range sc.Names {
				if _, ok := conds[n]; !ok {
					names = append(names, n)
				}
				conds[n] = append(conds[n], sc.Args...)
			}
		}
		for _, n := range names {
			nr, ok := a.sysnums()[n]
			if !ok {
				continue
			}
			add(a, n, nr, [maxArgs]uint64{})
			for _, c := range conds[n] {
				if c.Index >= maxArgs {
					continue
				}
				for _, v := range probeValues(c) {
					var args [maxArgs]uint64
					args[c.Index] = v
					add(a, n, nr, args)
				}
			}
		}
		unused := uint32(999)
		if a == archX32 {
			unused |= x32SyscallBit
		}
		add(a, "?", unused, [maxArgs]uint64{})
		add(a, "?", 0xffffffff, [maxArgs]uint64{})
		if a == archX86_64 {
			add(a, "?", x32SyscallBit, [maxArgs]uint64{}) // x32's read
		}
	}
	badArch := &archInfo{name: "SCMP_ARCH_S390X", audit: 0x80000016}
	add(badArch, "?", 0, [maxArgs]uint64{})
	return out
}

func probeValues(c specs.LinuxSeccompArg) []uint64 {
	v := c.Value
	if c.Op == specs.OpMaskedEqual {
		v = c.ValueTwo & c.Value
	}
	set := map[uint64]bool{v: true, v + 1: true, v - 1: true, v ^ 1<<32: true, uint64(uint32(v)): true}
	if c.Op == specs.OpMaskedEqual {
		set[v|^c.Value] = true // bits outside the mask are ignored
		set[v^(c.Value&-c.Value)] = true
	}
	out := make([]uint64, 0, len(set))
	for x := range set {
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// lineDiff shows the first differing lines, enough to see what changed.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, wl, gl)
			if shown++; shown == 10 {
				b.WriteString("  ...\n")
				break
			}
		}
	}
	return b.String()
}
