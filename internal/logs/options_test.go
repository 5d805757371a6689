package logs

import (
	"testing"
)

func TestParseOptions(t *testing.T) {
	def := Options{MaxSize: DefaultMaxSize, MaxFile: DefaultMaxFile}
	for _, tc := range []struct {
		opts    map[string]string
		want    Options
		wantErr string // Docker's message
	}{
		{opts: nil, want: def},
		{opts: map[string]string{"max-size": "10m", "max-file": "3"}, want: def},
		{opts: map[string]string{"max-size": "1k"}, want: Options{MaxSize: 1000, MaxFile: DefaultMaxFile}},
		// go-units is decimal whatever the suffix says, in Docker too.
		{opts: map[string]string{"max-size": "1.5KiB"}, want: Options{MaxSize: 1500, MaxFile: DefaultMaxFile}},
		{opts: map[string]string{"max-file": "1"}, want: Options{MaxSize: DefaultMaxSize, MaxFile: 1}},
		{opts: map[string]string{"max-size": "2g", "max-file": "10"}, want: Options{MaxSize: 2e9, MaxFile: 10}},
		// Docker accepts these for "attrs"; berth ignores them.
		{opts: map[string]string{"labels": "a,b", "env": "X", "env-regex": "^X", "labels-regex": ".", "tag": "{{.Name}}"}, want: def},
		{opts: map[string]string{"compress": "false"}, want: def},

		{opts: map[string]string{"max-size": "10x"}, wantErr: "invalid suffix: 'x'"},
		{opts: map[string]string{"max-size": "big"}, wantErr: "invalid size: 'big'"},
		{opts: map[string]string{"max-size": "-1"}, wantErr: "invalid size: '-1'"},
		{opts: map[string]string{"max-size": ""}, wantErr: "invalid size: ''"},
		{opts: map[string]string{"max-size": "0"}, wantErr: "max-size must be a positive number"},
		{opts: map[string]string{"max-file": "0"}, wantErr: "max-file cannot be less than 1"},
		{opts: map[string]string{"max-file": "three"}, wantErr: `strconv.Atoi: parsing "three": invalid syntax`},
		{opts: map[string]string{"compress": "maybe"}, wantErr: `strconv.ParseBool: parsing "maybe": invalid syntax`},
		{opts: map[string]string{"compress": "true", "max-file": "1"}, wantErr: "compress cannot be true when max-file is less than 2 or max-size is not set"},
		{opts: map[string]string{"compress": "true"}, wantErr: errCompress.Error()},
		{opts: map[string]string{"max-buffer-size": "1m"}, wantErr: "unknown log opt 'max-buffer-size' for json-file log driver"},
		// Several unknown keys: always the first in order.
		{opts: map[string]string{"zz": "1", "mode": "non-blocking", "max-size": "1m"}, wantErr: "unknown log opt 'mode' for json-file log driver"},
	} {
		got, err := ParseOptions(tc.opts)
		switch {
		case tc.wantErr != "":
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("ParseOptions(%v) = %+v, %v; want error %q", tc.opts, got, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("ParseOptions(%v): %v", tc.opts, err)
		case got.MaxSize != tc.want.MaxSize || got.MaxFile != tc.want.MaxFile || got.Compress || got.Now != nil:
			t.Errorf("ParseOptions(%v) = %+v, want %+v", tc.opts, got, tc.want)
		}
	}
}
