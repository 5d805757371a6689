package logs

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.log from the writer's output")

// TestGolden pins the exact bytes of a log: key order, escaping, the
// trailing newline in "log", RFC 3339 times with trailing zeros trimmed,
// and the unfinished line written without a newline at Close.
func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "json.log")
	// 876543211ns after t0 is a whole second, whose fraction is dropped.
	w := mustNew(t, path, Options{Now: newClock(876543211 * time.Nanosecond).Now})
	write(t, w, "stdout", "hello\n")
	write(t, w, "stderr", "oops\r\n")
	write(t, w, "stdout", "\n")
	write(t, w, "stdout", "tab\there <b> & \"q\" \\ é \xff \u2028 \x7f \x01\n")
	write(t, w, "stderr", "no newline")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden.log")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("log differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

// TestEscaping checks appendEscaped against what Docker's json-file
// driver writes (its jsonlogbytes_test.go cases among them).
func TestEscaping(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"A log line", `A log line`},
		{`"A log line with \"`, `\"A log line with \\\"`},
		{"A log line with \r", `A log line with \r`},
		{"A log line with & < >", `A log line with \u0026 \u003c \u003e`},
		{"A log line with utf8 : 🚀 ψ ω β", `A log line with utf8 : 🚀 ψ ω β`},
		{"\u2028 \u2029", `\u2028 \u2029`},
		{"\xaf", `\ufffd`},
		{"\x7f", "\x7f"},
		{"a\tb\x00c\x1b[0m\n", `a\u0009b\u0000c\u001b[0m\n`},
		{"é\xc3", `é\ufffd`}, // a sequence cut short
	} {
		if got := string(appendEscaped(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("appendEscaped(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestEntryRoundTrip: whatever the text, the entry is valid JSON whose
// "log" decodes back to it (invalid UTF-8 aside, which becomes U+FFFD).
func TestEntryRoundTrip(t *testing.T) {
	var all []byte
	for b := 0; b < 256; b++ {
		all = append(all, byte(b))
	}
	for _, s := range []string{"", "x", string(all[:128]), "日本語 \u2029 end", string(all)} {
		line := appendEntry(nil, []byte(s), true, entrySuffix("stdout"), t0)
		var e rawEntry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("%q: %v: %s", s, err, line)
		}
		want := s + "\n"
		if !utf8.ValidString(s) {
			want = string([]rune(s)) + "\n" // each bad byte is one U+FFFD
		}
		if e.Log != want || e.Stream != "stdout" || !e.Time.Equal(t0) {
			t.Errorf("%q: decoded %+v", s, e)
		}
	}
}
