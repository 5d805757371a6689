package build

import (
	"regexp"
	"testing"
)

// TestKeepBytes: BuildKit's calculateKeepBytes cases.
func TestKeepBytes(t *testing.T) {
	for _, c := range []struct {
		total, free int64
		o           PruneOptions
		want        int64
	}{
		{100, 0, PruneOptions{ReservedSpace: 40}, 40},
		{100, 0, PruneOptions{MaxUsedSpace: 60}, 60},
		{100, 0, PruneOptions{MaxUsedSpace: 10, ReservedSpace: 40}, 40},
		{100, 50, PruneOptions{MinFreeSpace: 80}, 70},                   // 30 to free
		{100, 50, PruneOptions{MinFreeSpace: 40}, 100},                  // free enough: keep all
		{100, 50, PruneOptions{MinFreeSpace: 80, MaxUsedSpace: 60}, 60}, // the lower of the two
		{100, 50, PruneOptions{MinFreeSpace: 80, ReservedSpace: 90}, 90},
	} {
		if got := keepBytes(c.total, c.free, c.o); got != c.want {
			t.Errorf("keepBytes(%d, %d, %+v) = %d, want %d", c.total, c.free, c.o, got, c.want)
		}
	}
}

func TestRecordFilter(t *testing.T) {
	yes, no := true, false
	parent := "x"
	r := Record{ID: "abcdef0123", Type: RecordRegular, Description: "[1/2] RUN x", Shared: true}
	for _, c := range []struct {
		f    *RecordFilter
		want bool
	}{
		{nil, true},
		{&RecordFilter{ID: regexp.MustCompile("cdef")}, true},
		{&RecordFilter{ID: regexp.MustCompile("^cdef")}, false},
		{&RecordFilter{Type: RecordCacheMount}, false},
		{&RecordFilter{Type: RecordRegular, Description: "[1/2] RUN x"}, true},
		{&RecordFilter{Description: "RUN x"}, false},
		{&RecordFilter{Shared: &yes}, true},
		{&RecordFilter{Private: &yes}, false},
		{&RecordFilter{Private: &no, InUse: &no}, true},
		{&RecordFilter{Parent: &parent}, false},
	} {
		if got := c.f.Match(r); got != c.want {
			t.Errorf("%+v.Match = %v, want %v", c.f, got, c.want)
		}
	}
}
