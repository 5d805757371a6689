package shim

import (
	"bufio"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trimMemory gives back to the kernel what the shim's last piece of work
// (a health status recorded) used and its idle loop does not need, since a
// shim's resident memory is paid once per running container: the heap's
// free pages (after a collection) and the code (see dropCode).
func trimMemory() {
	debug.FreeOSMemory()
	dropCode()
}

// dropCode drops this binary's read-only mappings (its code and read-only
// data, which the setup touched widely); those are clean file pages, so
// the few the idle loop uses fault back in from the page cache.
func dropCode() {
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "00400000-00c9f000 r-xp 00000000 fd:01 1234 /path"
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[5] != self || strings.ContainsRune(fs[1], 'w') {
			continue
		}
		from, to, ok := strings.Cut(fs[0], "-")
		if !ok {
			continue
		}
		a, err1 := strconv.ParseUint(from, 16, 64)
		b, err2 := strconv.ParseUint(to, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		unix.Syscall(unix.SYS_MADVISE, uintptr(a), uintptr(b-a), unix.MADV_DONTNEED)
	}
}

// collectOnlyWhenNeeded keeps the collector's pacing off for the idle
// supervisor (it starts with GOGC=off, see reexec): Go otherwise forces a
// collection every 2 minutes, which walks the heap and pages the
// collector's code back in and leaves each shim about 1 MB bigger for
// good. Even one collection costs a shim some 400 KB for good (the mark
// bits, work buffers and worker it makes), more than the garbage of its
// start it would free. A collection still runs once the shim's memory
// grows headroom bytes past what it uses now (a chatty container's log
// lines), and trimMemory runs one.
func collectOnlyWhenNeeded(headroom int64) {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	inUse := int64(s[0].Value.Uint64() - s[1].Value.Uint64())
	debug.SetMemoryLimit(inUse + headroom)
	debug.SetGCPercent(-1)
}
