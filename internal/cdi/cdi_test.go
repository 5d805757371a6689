package cdi

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.json"), []byte(`{"cdiVersion":"0.6.0","kind":"v.com/gpu","devices":[
 {"name":"1","annotations":{"org.mobyproject.buildkit.device.class":"fast"}},{"name":"0"}]}`), 0o644)
	os.WriteFile(filepath.Join(dir, "b.yml"), []byte("cdiVersion: 0.6.0\nkind: v.com/nic\nannotations:\n  org.mobyproject.buildkit.device.autoallow: \"true\"\ndevices:\n- name: x\n  annotations:\n    org.mobyproject.buildkit.device.class: fast\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "ignored.txt"), []byte("not a spec"), 0o644)
	r, err := Load([]string{dir, filepath.Join(dir, "missing")})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{
		"v.com/gpu":   {"v.com/gpu=0"},
		"v.com/gpu=1": {"v.com/gpu=1"},
		"v.com/gpu=*": {"v.com/gpu=0", "v.com/gpu=1"},
		"v.com/gpu=9": nil, // nor a class of that name
		"fast":        {"v.com/gpu=1", "v.com/nic=x"},
		"slow":        nil,
	} {
		if got := r.Find(name); !slices.Equal(got, want) {
			t.Errorf("Find(%q) = %v, want %v", name, got, want)
		}
	}
	if r.AutoAllowed("v.com/gpu=0") || !r.AutoAllowed("v.com/nic=x") {
		t.Errorf("autoallow: gpu=0 %v, nic=x %v", r.AutoAllowed("v.com/gpu=0"), r.AutoAllowed("v.com/nic=x"))
	}
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"kind":"nokind","devices":[]}`), 0o644)
	r, err = Load([]string{dir})
	if err != nil || len(r.Errors()) != 1 || !strings.Contains(r.Errors()[0].Error(), "bad.json") || len(r.Names()) != 3 {
		t.Errorf("a spec with a bad kind: %v, errors %v, devices %v", err, r.Errors(), r.Names())
	}
}
