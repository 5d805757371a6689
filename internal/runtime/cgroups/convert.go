package cgroups

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Conversions from the OCI (cgroup v1 shaped) values to cgroup v2 files,
// the same as runc's so a spec behaves alike under either runtime.

// cpuSharesToWeight maps cpu.shares [2, 262144] linearly onto cpu.weight
// [1, 10000]. Out-of-range shares are clamped first, as the v1 kernel does
// when it is given them, so both versions accept the same input.
func cpuSharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

// blkioWeightToIOWeight maps blkio.weight [10, 1000] onto io.weight
// [1, 10000]. Unlike shares, v1 rejects out-of-range weights, so do we.
func blkioWeightToIOWeight(w uint64) (uint64, error) {
	if w < 10 || w > 1000 {
		return 0, fmt.Errorf("cgroups: blkio weight %d out of range [10, 1000]", w)
	}
	return 1 + (w-10)*9999/990, nil
}

// memorySwapToV2 turns the OCI swap limit, which counts memory plus swap as
// cgroup v1's memory.memsw does, into memory.swap.max, which counts swap
// alone. 0 means "leave alone" and -1 "unlimited" for both inputs.
func memorySwapToV2(swap, memory int64) (int64, error) {
	// v1 compatibility: unlimited memory with no word on swap makes swap
	// unlimited too.
	if memory == -1 && swap == 0 {
		return -1, nil
	}
	if swap == -1 || swap == 0 {
		return swap, nil
	}
	if memory == 0 || memory == -1 {
		return 0, errors.New("cgroups: a swap limit needs a memory limit")
	}
	if memory < 0 || swap < 0 {
		return 0, fmt.Errorf("cgroups: invalid memory %d / swap %d", memory, swap)
	}
	if swap < memory {
		return 0, fmt.Errorf("cgroups: memory+swap limit %d is below memory limit %d", swap, memory)
	}
	return swap - memory, nil
}

// limitV2 formats a limit for a v2 file: negative means "max"
// (unlimited).
func limitV2(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// cpuMaxV2 builds the cpu.max line. A nil quota keeps the quota in current
// (the file's present content) so that updating only the period does not
// lift the limit; a nil period is simply left out, which the kernel reads as
// "keep the period".
func cpuMaxV2(quota *int64, period *uint64, current string) string {
	q := ""
	if quota != nil {
		q = "max"
		if *quota > 0 {
			q = strconv.FormatInt(*quota, 10)
		}
	} else {
		q, _, _ = strings.Cut(current, " ")
		if q == "" {
			q = "max"
		}
	}
	if period != nil && *period != 0 {
		return q + " " + strconv.FormatUint(*period, 10)
	}
	return q
}
