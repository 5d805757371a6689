package engine

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Filters are --filter values by key, as Docker's filters.Args: values of
// one key are alternatives (ORed), keys must all match (ANDed), except
// label, whose values must all match.
type Filters map[string][]string

// ParseFilters reads --filter "key=value" arguments.
func ParseFilters(args []string) (Filters, error) {
	f := Filters{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value)")
		}
		k = strings.ToLower(strings.TrimSpace(k))
		f[k] = append(f[k], strings.TrimSpace(v))
	}
	return f, nil
}

// validate refuses keys not in accepted, with Docker's message.
func (f Filters) validate(accepted ...string) error {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ok := false
		for _, a := range accepted {
			ok = ok || a == k
		}
		if !ok {
			return fmt.Errorf("invalid filter '%s'", k)
		}
	}
	return nil
}

// match is filters.Args.Match: true with no values for key, or when one
// value equals source or, as a regular expression, matches part of it.
func (f Filters) match(key, source string) bool {
	vals := f[key]
	if len(vals) == 0 {
		return true
	}
	for _, v := range vals {
		if v == source {
			return true
		}
		if ok, err := regexp.MatchString(v, source); err == nil && ok {
			return true
		}
	}
	return false
}

// matchLabels is filters.Args.MatchKVList: every "k" or "k=v" value of key
// must be in labels.
func (f Filters) matchLabels(key string, labels map[string]string) bool {
	vals := f[key]
	if len(vals) == 0 {
		return true
	}
	for _, v := range vals {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != want) {
			return false
		}
	}
	return true
}

// ParseTimestamp reads an until/since value as Docker does: a Go
// duration before now ("10m"), an RFC 3339 date or time (in the local
// zone when it names none), or Unix seconds with optional fraction.
func ParseTimestamp(value string, now time.Time) (time.Time, error) {
	if strings.TrimSpace(value) == "" {
		return time.Time{}, errors.New("failed to parse value as time or duration: value is empty")
	}
	if d, err := time.ParseDuration(value); value != "0" && err == nil {
		return now.Add(-d), nil
	}
	local := !strings.ContainsAny(value, "zZ+") && strings.Count(value, "-") != 3
	var layouts []string
	switch {
	case strings.Contains(value, "."):
		layouts = []string{time.RFC3339Nano}
		if local {
			layouts = []string{"2006-01-02T15:04:05.999999999"}
		}
	case strings.Contains(value, "T"):
		if local {
			layouts = []string{"2006-01-02T15", "2006-01-02T15:04", "2006-01-02T15:04:05"}
		} else {
			layouts = []string{"2006-01-02T15Z07:00", "2006-01-02T15:04Z07:00", time.RFC3339}
		}
	case local:
		layouts = []string{"2006-01-02"}
	default:
		layouts = []string{"2006-01-02Z07:00"}
	}
	var err error
	for _, l := range layouts {
		var t time.Time
		if local {
			t, err = time.ParseInLocation(l, value, now.Location())
		} else {
			t, err = time.Parse(l, value)
		}
		if err == nil {
			return t, nil
		}
	}
	if strings.Contains(value, "-") {
		return time.Time{}, err
	}
	sec, frac, _ := strings.Cut(value, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("failed to parse value as time or duration: %q", value)
	}
	var ns int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		n, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("failed to parse value as time or duration: %q", value)
		}
		ns = n
	}
	return time.Unix(s, ns), nil
}
