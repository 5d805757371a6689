package oci

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/sys/capability"
)

var host = hostFacts{
	caps:             sync.OnceValues(hostCaps),
	sysctlExists:     sysctlExists,
	extraMaskedPaths: sync.OnceValue(thermalThrottlePaths),
	hostname:         os.Hostname,
	inUserNS:         sync.OnceValue(inUserNS),
}

// hostCaps lists the capabilities berth knows and those in its own
// effective set (moby's caps.initCaps over containerd's cap.Current). When
// the effective set cannot be read, all known ones are taken as held.
func hostCaps() (known, held []string) {
	name := func(c capability.Cap) string { return "CAP_" + strings.ToUpper(c.String()) }
	all := capability.ListKnown()
	for _, c := range all {
		known = append(known, name(c))
	}
	self, err := capability.NewPid2(0)
	if err == nil {
		err = self.Load()
	}
	if err != nil {
		return known, known
	}
	for _, c := range all {
		if self.Get(capability.EFFECTIVE, c) {
			held = append(held, name(c))
		}
	}
	return known, held
}

// sysctlExists is moby's: runc refuses a sysctl the kernel does not have.
func sysctlExists(name string) bool {
	_, err := os.Stat(filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")))
	return err == nil
}

// thermalThrottlePaths are the per-CPU thermal_throttle directories that
// exist on this host (GHSA-6fw5-f8r9-fgfm: their counters leak host
// activity), for every possible CPU.
func thermalThrottlePaths() []string {
	var paths []string
	for _, cpu := range possibleCPUs() {
		p := fmt.Sprintf("/sys/devices/system/cpu/cpu%d/thermal_throttle", cpu)
		if _, err := os.Stat(p); err == nil {
			paths = append(paths, p)
		}
	}
	return paths
}

// possibleCPUs parses /sys/devices/system/cpu/possible ("0-3,5"), falling
// back to the CPUs Go sees.
func possibleCPUs() []int {
	var cpus []int
	data, err := os.ReadFile("/sys/devices/system/cpu/possible")
	if err == nil {
		for _, r := range strings.Split(strings.TrimSpace(string(data)), ",") {
			lo, hi, isRange := strings.Cut(r, "-")
			first, err1 := strconv.Atoi(lo)
			last, err2 := first, error(nil)
			if isRange {
				last, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil || last < first {
				cpus = nil
				break
			}
			for c := first; c <= last; c++ {
				cpus = append(cpus, c)
			}
		}
	}
	if len(cpus) == 0 {
		for c := range runtime.NumCPU() {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// inUserNS reports whether this process runs in a user namespace: its
// uid_map is not the identity over all ids (moby/sys/userns).
func inUserNS() bool {
	data, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(data))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}
