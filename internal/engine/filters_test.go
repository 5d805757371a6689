package engine

import (
	"testing"
	"time"
)

func TestParseFilters(t *testing.T) {
	f, err := ParseFilters([]string{"status=exited", "Name=web", "status=created", "label=a=b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(f["status"]) != 2 || f["name"][0] != "web" || f["label"][0] != "a=b" {
		t.Errorf("filters: %v", f)
	}
	if _, err := ParseFilters([]string{"status"}); err == nil {
		t.Error("a filter without = was accepted")
	}
	if err := f.validate("status", "name"); err == nil || err.Error() != "invalid filter 'label'" {
		t.Errorf("validate: %v", err)
	}
}

// TestFilterMatch: Docker's semantics: values of one key are ORed, each
// an exact value or a regular expression found in the source; labels
// must all be there.
func TestFilterMatch(t *testing.T) {
	f := Filters{"name": {"web", "^db"}, "label": {"a", "b=2"}}
	for src, want := range map[string]bool{"web": true, "webapp": true, "db1": true, "mydb": false, "cache": false} {
		if got := f.match("name", src); got != want {
			t.Errorf("name %q: %v, want %v", src, got, want)
		}
	}
	if !f.match("id", "anything") {
		t.Error("a key without values must match everything")
	}
	for _, c := range []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"a": "", "b": "2"}, true},
		{map[string]string{"a": "x", "b": "2", "c": "3"}, true},
		{map[string]string{"a": "x", "b": "3"}, false},
		{map[string]string{"b": "2"}, false},
		{nil, false},
	} {
		if got := f.matchLabels("label", c.labels); got != c.want {
			t.Errorf("labels %v: %v, want %v", c.labels, got, c.want)
		}
	}
	if !(Filters{}).matchLabels("label", nil) {
		t.Error("no label filter must match a container without labels")
	}
}

func TestParseTimestamp(t *testing.T) {
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"10m":                       now.Add(-10 * time.Minute),
		"1h30m":                     now.Add(-90 * time.Minute),
		"2024-01-02":                time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC),
		"2024-01-02T03:04:05":       time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		"2024-01-02T03:04:05Z":      time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		"2024-01-02T03:04:05+02:00": time.Date(2024, 1, 2, 1, 4, 5, 0, time.UTC),
		"2024-01-02T03:04":          time.Date(2024, 1, 2, 3, 4, 0, 0, time.UTC),
		"1700000000":                time.Unix(1700000000, 0),
		"1700000000.5":              time.Unix(1700000000, 500000000),
	} {
		got, err := ParseTimestamp(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2024-13-45"} {
		if _, err := ParseTimestamp(bad, now); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
