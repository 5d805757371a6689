package cli

import (
	"testing"

	"github.com/moby/moby/api/types/mount"
)

// TestMountOpt: --mount values as Docker's CLI reads them.
func TestMountOpt(t *testing.T) {
	var m mountOpt
	for _, v := range []string{
		"type=bind,source=/src,target=/dst,readonly,bind-propagation=rshared",
		`"type=volume","src=v","dst=/v",volume-nocopy,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-label=a=b`,
		"type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770,ro=false",
		"target=/anon",
	} {
		if err := m.Set(v); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
	}
	got := m.Value()
	if b := got[0]; b.Type != mount.TypeBind || b.Source != "/src" || b.Target != "/dst" || !b.ReadOnly || b.BindOptions.Propagation != mount.PropagationRShared {
		t.Errorf("bind: %+v", b)
	}
	if v := got[1]; v.Type != mount.TypeVolume || v.Source != "v" || !v.VolumeOptions.NoCopy || v.VolumeOptions.DriverConfig.Options["device"] != "tmpfs" || v.VolumeOptions.Labels["a"] != "b" {
		t.Errorf("volume: %+v", v)
	}
	if tm := got[2]; tm.Type != mount.TypeTmpfs || tm.TmpfsOptions.SizeBytes != 1<<20 || tm.TmpfsOptions.Mode != 0o1770 || tm.ReadOnly {
		t.Errorf("tmpfs: %+v", tm)
	}
	if a := got[3]; a.Type != mount.TypeVolume || a.Source != "" || a.Target != "/anon" {
		t.Errorf("default type: %+v", a)
	}
	for v, want := range map[string]string{
		"":                                     "value is empty",
		"type=bind,foo=bar":                    "unknown option 'foo' in 'foo=bar'",
		"type=bind,src":                        "invalid field 'src' must be a key=value pair",
		"type=bind,src=":                       "invalid value for 'src': value is empty",
		"type=bind,readonly=yes":               `invalid value for 'readonly': invalid boolean value ("yes"): must be one of "true", "1", "false", or "0" (default "true")`,
		"type=volume,bind-propagation=rshared": "cannot mix 'bind-*' options with mount type 'volume'",
		"type=tmpfs,tmpfs-size=big":            "invalid value for tmpfs-size: big",
		"type=bind,bind-nonrecursive":          "bind-nonrecursive is deprecated, use bind-recursive=disabled instead",
		"type=bind,bind-recursive=writable":    "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction",
	} {
		var m mountOpt
		if err := m.Set(v); err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %q", v, err, want)
		}
	}
}
