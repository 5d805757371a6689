package build

import "testing"

func TestParseChmod(t *testing.T) {
	for _, c := range []struct {
		spec       string
		from       int64
		dir        bool
		want       int64
		wantErr    string
		wantNumber int
	}{
		{spec: "755", wantNumber: 0o755},
		{spec: "u+x,g-r", from: 0o644, want: 0o704, wantNumber: -1},
		{spec: "a+X", from: 0o600, dir: true, want: 0o711, wantNumber: -1},
		{spec: "a+X", from: 0o600, want: 0o600, wantNumber: -1},
		{spec: "u+s", from: 0o755, want: 0o4755, wantNumber: -1},
		{spec: "17777", wantErr: "invalid chmod parameter: '17777'. it should be octal string and between 0 and 07777"},
		{spec: "u+q", wantErr: "x"},
	} {
		n, set, err := parseChmod(c.spec)
		if c.wantErr != "" {
			if err == nil || (c.wantErr != "x" && err.Error() != c.wantErr) {
				t.Errorf("%s: error %v, want %q", c.spec, err, c.wantErr)
			}
			continue
		}
		if err != nil || n != c.wantNumber {
			t.Errorf("%s: %d, %v", c.spec, n, err)
			continue
		}
		if set != nil {
			if got := applyChmod(set, c.from, c.dir); got != c.want {
				t.Errorf("%s on %o: %o, want %o", c.spec, c.from, got, c.want)
			}
		}
	}
}
