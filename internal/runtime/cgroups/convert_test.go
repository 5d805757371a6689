package cgroups

import "testing"

func TestCPUSharesToWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{
		0: 0, 1: 1, 2: 1, 1024: 39, 262144: 10000, 1 << 20: 10000, 512: 20,
	} {
		if got := cpuSharesToWeight(shares); got != want {
			t.Errorf("cpuSharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
}

func TestBlkioWeightToIOWeight(t *testing.T) {
	for w, want := range map[uint64]uint64{10: 1, 500: 4950, 1000: 10000, 100: 910} {
		if got, err := blkioWeightToIOWeight(w); err != nil || got != want {
			t.Errorf("blkioWeightToIOWeight(%d) = %d, %v; want %d", w, got, err, want)
		}
	}
	for _, w := range []uint64{0, 9, 1001} {
		if _, err := blkioWeightToIOWeight(w); err == nil {
			t.Errorf("blkioWeightToIOWeight(%d): no error", w)
		}
	}
}

func TestMemorySwapToV2(t *testing.T) {
	for _, tc := range []struct{ swap, mem, want int64 }{
		{0, -1, -1},     // unlimited memory lifts swap too
		{0, 100, 0},     // swap untouched
		{-1, 100, -1},   // unlimited swap
		{300, 100, 200}, // memory+swap minus memory
		{100, 100, 0},   // equal: no swap
		{1 << 30, 1 << 29, 1 << 29},
	} {
		got, err := memorySwapToV2(tc.swap, tc.mem)
		if err != nil || got != tc.want {
			t.Errorf("memorySwapToV2(%d, %d) = %d, %v; want %d", tc.swap, tc.mem, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ swap, mem int64 }{{50, 100}, {100, 0}, {100, -1}, {-5, 100}} {
		if got, err := memorySwapToV2(tc.swap, tc.mem); err == nil {
			t.Errorf("memorySwapToV2(%d, %d) = %d, want an error", tc.swap, tc.mem, got)
		}
	}
}

func TestCPUMaxV2(t *testing.T) {
	q := func(v int64) *int64 { return &v }
	p := func(v uint64) *uint64 { return &v }
	for _, tc := range []struct {
		quota   *int64
		period  *uint64
		current string
		want    string
	}{
		{q(50000), p(100000), "", "50000 100000"},
		{q(50000), nil, "", "50000"},
		{q(-1), p(100000), "", "max 100000"},
		{q(0), nil, "", "max"},
		{nil, p(200000), "25000 100000", "25000 200000"}, // keeps the quota
		{nil, p(200000), "max 100000", "max 200000"},
		{nil, p(200000), "", "max 200000"},
	} {
		if got := cpuMaxV2(tc.quota, tc.period, tc.current); got != tc.want {
			t.Errorf("cpuMaxV2(%v, %v, %q) = %q, want %q", tc.quota, tc.period, tc.current, got, tc.want)
		}
	}
}
