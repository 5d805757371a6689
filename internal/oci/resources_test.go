package oci

import (
	"io/fs"
	"reflect"
	"syscall"
	"testing"

	"github.com/moby/moby/api/types/blkiodev"
	containertypes "github.com/moby/moby/api/types/container"
)

// fullSupport is a cgroup v1 host that limits everything, with 4 CPUs
// (0-3) and one memory node.
var fullSupport = cgroupSupport{
	MemoryLimit: true, SwapLimit: true, MemoryReservation: true, OomKillDisable: true, MemorySwappiness: true,
	PidsLimit: true, CPUShares: true, CPUCfs: true, CPURealtime: true, Cpuset: true, Cpus: "0-3", Mems: "0",
	BlkioWeight: true, BlkioWeightDevice: true, BlkioReadBps: true, BlkioWriteBps: true, BlkioReadIOps: true, BlkioWriteIOps: true,
	NumCPU: 4,
}

// pinResourceHost makes the resource facts fixed for the test: full
// support, and /dev/sda is block device 8:0 (no other exists).
func pinResourceHost(t *testing.T) { pinResourceSupport(t, fullSupport) }

func pinResourceSupport(t *testing.T, si cgroupSupport) {
	saved := resourceHost
	resourceHost = resourceFacts{
		cgroups: func() cgroupSupport { return si },
		blockDevice: func(path string) (int64, int64, error) {
			if path == "/dev/sda" {
				return 8, 0, nil
			}
			return 0, 0, &fs.PathError{Op: "stat", Path: path, Err: syscall.ENOENT}
		},
	}
	t.Cleanup(func() { resourceHost = saved })
}

// TestPrepareResourcesDiscards: what the host can't limit is dropped with
// Docker's warning (a cgroup2 host: no swappiness, no OOM-killer switch;
// here also no blkio), and the rest is kept.
func TestPrepareResourcesDiscards(t *testing.T) {
	si := fullSupport
	si.MemorySwappiness, si.OomKillDisable = false, false
	si.BlkioWeight, si.BlkioReadBps = false, false
	pinResourceSupport(t, si)
	swappiness, off := int64(10), true
	r := containertypes.Resources{
		Memory: 64 << 20, MemorySwappiness: &swappiness, OomKillDisable: &off, BlkioWeight: 300,
		BlkioDeviceReadBps: []*blkiodev.ThrottleDevice{{Path: "/dev/sda", Rate: 1}},
	}
	warnings, err := PrepareResources(&r, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.",
		"Your kernel does not support OomKillDisable. OomKillDisable discarded.",
		"Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.",
		"Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded.",
	}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings:\n%q\nwant\n%q", warnings, want)
	}
	if r.MemorySwappiness != nil || r.OomKillDisable != nil || r.BlkioWeight != 0 || len(r.BlkioDeviceReadBps) != 0 {
		t.Errorf("not discarded: %+v", r)
	}
	if r.Memory != 64<<20 || r.MemorySwap != 128<<20 {
		t.Errorf("memory %d swap %d, want 64 MiB and twice that", r.Memory, r.MemorySwap)
	}
	// Again: nothing more to say, nothing changes.
	again := r
	if w, err := PrepareResources(&again, false); err != nil || len(w) != 0 || !reflect.DeepEqual(again, r) {
		t.Errorf("a second prepare: %q %v %+v", w, err, again)
	}
}

// TestPrepareResourcesUpdate: an update may set swap alone and keeps a
// pids limit of -1 (lifting the limit); a create drops it.
func TestPrepareResourcesUpdate(t *testing.T) {
	pinResourceHost(t)
	unlimited := int64(-1)
	r := containertypes.Resources{MemorySwap: 1 << 30, PidsLimit: &unlimited}
	if _, err := PrepareResources(&r, true); err != nil || r.PidsLimit == nil || r.MemorySwap != 1<<30 {
		t.Errorf("update: %v %+v", err, r)
	}
	r = containertypes.Resources{PidsLimit: &unlimited}
	if _, err := PrepareResources(&r, false); err != nil || r.PidsLimit != nil {
		t.Errorf("create: %v %+v", err, r)
	}
}

func TestParseCpuset(t *testing.T) {
	for in, want := range map[string][]int{"": nil, "0": {0}, "0-2,5": {0, 1, 2, 5}, "3,1": {1, 3}} {
		got, err := parseCpuset(in)
		if err != nil || len(got) != len(want) {
			t.Errorf("%q: %v %v", in, got, err)
		}
		for _, n := range want {
			if !got[n] {
				t.Errorf("%q lacks %d", in, n)
			}
		}
	}
	for _, bad := range []string{"a", "1-", "-1", "3-1", "1,,2", "0-99999"} {
		if _, err := parseCpuset(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
