package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testutil"
)

// Resource limits, seen from the host (the container's cgroup files,
// cgroup v1 or v2, whichever this host has for the controller) and from
// inside the container.

// cgroupFile reads file of container id's cgroup: the v1 hierarchy of
// controller when the host mounts one, else the cgroup2 file v2file. The
// test fails if neither exists.
func cgroupFile(t *testing.T, id, controller, v1file, v2file string) string {
	t.Helper()
	parent := testutil.TestCgroupParent()
	for _, p := range []string{
		filepath.Join("/sys/fs/cgroup", controller, parent, id, v1file),
		filepath.Join("/sys/fs/cgroup", parent, id, v2file),
	} {
		if data, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(data))
		}
	}
	t.Fatalf("no %s (v1) or %s (v2) for container %s", v1file, v2file, id[:12])
	return ""
}

// onV1 reports whether controller is mounted as cgroup v1 on this host.
func onV1(controller string) bool {
	return dirExists(filepath.Join("/sys/fs/cgroup", controller, "tasks"))
}

func createArgs(args ...string) []string {
	return append([]string{"create", "--cgroup-parent", testutil.TestCgroupParent()}, args...)
}

func (b *berthRoot) id(ref string) string {
	b.t.Helper()
	return strings.TrimSpace(b.ok("inspect", "-f", "{{.Id}}", ref))
}

// TestMemoryLimitOOMKill: a memory hog under -m 32m (no swap on top) is
// killed by the kernel: exit 137, inspect says OOMKilled and shows the
// limits in HostConfig; --oom-kill-disable reaches the cgroup.
func TestMemoryLimitOOMKill(t *testing.T) {
	b := containerRoot(t)
	_, _, code := b.run("", runArgs("--name", "hog", "-m", "32m", "--memory-swap", "32m", "busybox:test", "sh", "-c", "head -c 300m /dev/zero | tail")...)
	if code != 137 {
		t.Errorf("memory hog exited %d, want 137", code)
	}
	got := b.ok("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.OomKillDisable}}", "hog")
	if got != "true 137 33554432 33554432 false\n" {
		t.Errorf("inspect after the OOM kill: %q", got)
	}
	b.ok("rm", "hog")

	// -m alone: swap twice the memory, as Docker's default.
	id := strings.TrimSpace(b.ok(runArgs("-d", "-m", "32m", "--memory-reservation", "16m", "--oom-kill-disable", "busybox:test", "sleep", "60")...))
	if got := b.ok("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}}", id); got != "33554432 67108864 16777216\n" {
		t.Errorf("inspect -m 32m: %q", got)
	}
	if limit := cgroupFile(t, id, "memory", "memory.limit_in_bytes", "memory.max"); limit != "33554432" {
		t.Errorf("memory limit in the cgroup: %s", limit)
	}
	if onV1("memory") {
		if oc := cgroupFile(t, id, "memory", "memory.oom_control", ""); !strings.Contains(oc, "oom_kill_disable 1") {
			t.Errorf("--oom-kill-disable: memory.oom_control says %q", oc)
		}
		if soft := cgroupFile(t, id, "memory", "memory.soft_limit_in_bytes", ""); soft != "16777216" {
			t.Errorf("--memory-reservation: %s", soft)
		}
	}
	// stats shows usage against the limit.
	if got := b.ok("stats", "--no-stream", "--format", "{{.MemUsage}}", id); !strings.HasSuffix(got, " / 32MiB\n") {
		t.Errorf("stats MEM USAGE / LIMIT: %q", got)
	}
}

// TestPidsLimitForkBomb: a subshell forking 200 sleepers under
// --pids-limit 20 is stopped at 20 processes (busybox sh gives up at
// the first refused fork; the container's own shell goes on), the host
// runs containers as before, and the container is removed cleanly.
func TestPidsLimitForkBomb(t *testing.T) {
	b := containerRoot(t)
	id := strings.TrimSpace(b.ok(runArgs("-d", "--pids-limit", "20", "busybox:test", "sh", "-c",
		"( i=0; while [ $i -lt 200 ]; do sleep 100 & i=$((i+1)); done ); echo done; exec sleep 100")...))
	waitFor(t, "the fork loop to end", func() bool {
		out, _, _ := b.run("", "logs", id)
		return strings.Contains(out, "done")
	})
	if max := cgroupFile(t, id, "pids", "pids.max", "pids.max"); max != "20" {
		t.Errorf("pids.max: %s", max)
	}
	procs := strings.Fields(cgroupFile(t, id, "pids", "cgroup.procs", "cgroup.procs"))
	current, _ := strconv.Atoi(cgroupFile(t, id, "pids", "pids.current", "pids.current"))
	if len(procs) > 20 || current > 20 || len(procs) < 10 {
		t.Errorf("%d processes in the cgroup (pids.current %d), want at most 20 (and the sleepers that fit)", len(procs), current)
	}
	_, errs, _ := b.run("", "logs", id)
	if !strings.Contains(errs, "can't fork") {
		t.Errorf("no fork failed in the container: %q", errs)
	}
	if ev := cgroupFile(t, id, "pids", "pids.events", "pids.events"); ev == "max 0" || !strings.HasPrefix(ev, "max ") {
		t.Errorf("pids.events: %q, want forks refused at the limit", ev)
	}
	if got := b.ok("inspect", "-f", "{{.HostConfig.PidsLimit}}", id); got != "20\n" {
		t.Errorf("inspect PidsLimit: %q", got)
	}
	if out := b.ok(runArgs("--rm", "busybox:test", "echo", "host fine")...); out != "host fine\n" {
		t.Errorf("a container next to the bomb: %q", out)
	}
	b.ok("rm", "-f", id)
	b.assertGone(id)
}

// TestCPULimits: --cpus 0.5 on a busy loop is a CFS quota of half the
// period; --cpu-shares and --cpuset-cpus reach the cgroup, and the
// container's processes may run on the given CPU only.
func TestCPULimits(t *testing.T) {
	b := containerRoot(t)
	id := strings.TrimSpace(b.ok(runArgs("-d", "--cpus", "0.5", "-c", "512", "busybox:test", "sh", "-c", "while :; do :; done")...))
	if onV1("cpu") {
		quota := cgroupFile(t, id, "cpu", "cpu.cfs_quota_us", "")
		period := cgroupFile(t, id, "cpu", "cpu.cfs_period_us", "")
		if quota != "50000" || period != "100000" {
			t.Errorf("--cpus 0.5: cfs quota %s, period %s", quota, period)
		}
		if shares := cgroupFile(t, id, "cpu", "cpu.shares", ""); shares != "512" {
			t.Errorf("--cpu-shares 512: %s", shares)
		}
	} else if max := cgroupFile(t, id, "cpu", "", "cpu.max"); max != "50000 100000" {
		t.Errorf("--cpus 0.5: cpu.max %q", max)
	}
	if got := b.ok("inspect", "-f", "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}}", id); got != "500000000 512 0 0\n" {
		t.Errorf("inspect: %q", got)
	}
	// The quota holds: the busy loop gets no more than its half CPU (a
	// busy host may give it less; never more).
	usage := func() time.Duration {
		if onV1("cpuacct") {
			ns, _ := strconv.ParseInt(cgroupFile(t, id, "cpuacct", "cpuacct.usage", ""), 10, 64)
			return time.Duration(ns)
		}
		for _, l := range strings.Split(cgroupFile(t, id, "cpu", "", "cpu.stat"), "\n") {
			if v, ok := strings.CutPrefix(l, "usage_usec "); ok {
				us, _ := strconv.ParseInt(v, 10, 64)
				return time.Duration(us) * time.Microsecond
			}
		}
		return 0
	}
	u0, t0 := usage(), time.Now()
	time.Sleep(1500 * time.Millisecond)
	used, elapsed := usage()-u0, time.Since(t0)
	if used <= 0 || float64(used) > 0.65*float64(elapsed) {
		t.Errorf("--cpus 0.5: the busy loop used %v of CPU in %v", used, elapsed)
	}
	b.ok("rm", "-f", id)

	id = strings.TrimSpace(b.ok(runArgs("-d", "--cpu-period", "50000", "--cpu-quota", "10000", "busybox:test", "sleep", "60")...))
	if onV1("cpu") {
		if q, p := cgroupFile(t, id, "cpu", "cpu.cfs_quota_us", ""), cgroupFile(t, id, "cpu", "cpu.cfs_period_us", ""); q != "10000" || p != "50000" {
			t.Errorf("--cpu-period/--cpu-quota: %s/%s", q, p)
		}
	} else if max := cgroupFile(t, id, "cpu", "", "cpu.max"); max != "10000 50000" {
		t.Errorf("--cpu-period/--cpu-quota: cpu.max %q", max)
	}

	out := b.ok(runArgs("--name", "pinned", "--cpuset-cpus", "0", "busybox:test", "sh", "-c", "grep Cpus_allowed_list /proc/self/status")...)
	if !regexp.MustCompile(`^Cpus_allowed_list:\s+0\n$`).MatchString(out) {
		t.Errorf("--cpuset-cpus 0, inside: %q", out)
	}
	id = strings.TrimSpace(b.ok(runArgs("-d", "--cpuset-cpus", "0", "--cpuset-mems", "0", "busybox:test", "sleep", "60")...))
	if cpus := cgroupFile(t, id, "cpuset", "cpuset.cpus", "cpuset.cpus"); cpus != "0" {
		t.Errorf("--cpuset-cpus 0: cpuset.cpus %q", cpus)
	}
	if got := b.ok("inspect", "-f", "{{.HostConfig.CpusetCpus}} {{.HostConfig.CpusetMems}}", id); got != "0 0\n" {
		t.Errorf("inspect cpuset: %q", got)
	}
}

// TestUlimitShmSizeOOMScore: --ulimit (soft and hard, at or below our own
// hard limit: without CAP_SYS_RESOURCE it can't be raised), --shm-size
// and --oom-score-adj, from inside.
func TestUlimitShmSizeOOMScore(t *testing.T) {
	b := containerRoot(t)
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Max < 200 {
		t.Skipf("RLIMIT_NOFILE hard limit %d is below 200", rl.Max)
	}
	out := b.ok(runArgs("--rm", "--ulimit", "nofile=100:200", "--ulimit", "core=0", "--shm-size", "16m", "--oom-score-adj", "300",
		"busybox:test", "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c; df -k /dev/shm | tail -n 1; cat /proc/self/oom_score_adj")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || lines[0] != "100" || lines[1] != "200" || lines[2] != "0" || lines[4] != "300" {
		t.Fatalf("ulimit -n, -Hn, -c, df, oom_score_adj: %q", out)
	}
	if f := strings.Fields(lines[3]); len(f) < 2 || f[1] != "16384" {
		t.Errorf("--shm-size 16m: df /dev/shm says %q", lines[3])
	}
	id := strings.TrimSpace(b.ok(createArgs("--ulimit", "nofile=100:200", "--shm-size", "16m", "--oom-score-adj", "300", "busybox:test", "true")...))
	got := b.ok("inspect", "-f", "{{json .HostConfig.Ulimits}} {{.HostConfig.ShmSize}} {{.HostConfig.OomScoreAdj}}", id)
	if got != `[{"Name":"nofile","Hard":200,"Soft":100}] 16777216 300`+"\n" {
		t.Errorf("inspect: %q", got)
	}
}

// TestBlkioThrottle: --device-read-bps and --device-write-iops name a
// block device by path; the cgroup gets its number.
func TestBlkioThrottle(t *testing.T) {
	b := containerRoot(t)
	dev, num := blockDevice(t)
	id := strings.TrimSpace(b.ok(runArgs("-d", "--device-read-bps", dev+":1mb", "--device-write-iops", dev+":100", "busybox:test", "sleep", "60")...))
	if onV1("blkio") {
		if got := cgroupFile(t, id, "blkio", "blkio.throttle.read_bps_device", ""); got != num+" 1048576" {
			t.Errorf("--device-read-bps: %q", got)
		}
		if got := cgroupFile(t, id, "blkio", "blkio.throttle.write_iops_device", ""); got != num+" 100" {
			t.Errorf("--device-write-iops: %q", got)
		}
	} else if got := cgroupFile(t, id, "io", "", "io.max"); !strings.Contains(got, num+" rbps=1048576 wbps=max riops=max wiops=100") {
		t.Errorf("io.max: %q", got)
	}
	if got := b.ok("inspect", "-f", "{{json .HostConfig.BlkioDeviceReadBps}}", id); got != `[{"Path":"`+dev+`","Rate":1048576}]`+"\n" {
		t.Errorf("inspect: %q", got)
	}
}

// blockDevice finds a whole disk of this host: its /dev path and
// MAJOR:MINOR.
func blockDevice(t *testing.T) (string, string) {
	devs, _ := filepath.Glob("/sys/block/*/dev")
	for _, d := range devs {
		name := filepath.Base(filepath.Dir(d))
		data, err := os.ReadFile(d)
		if err != nil || strings.HasPrefix(name, "zram") {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/dev/"+name, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			return "/dev/" + name, strings.TrimSpace(string(data))
		}
	}
	t.Skip("no block device")
	return "", ""
}

// TestUpdate: update changes a running container's cgroup at once and a
// stopped one's next start, prints the names, refuses what Docker
// refuses and changes nothing then.
func TestUpdate(t *testing.T) {
	b := containerRoot(t)
	id := strings.TrimSpace(b.ok(runArgs("-d", "--name", "live", "-m", "32m", "--cpus", "0.5", "--pids-limit", "20", "busybox:test", "sleep", "60")...))
	if got := b.ok("update", "--memory", "64m", "--cpus", "1", "--pids-limit", "30", "--restart", "on-failure:3", "live"); got != "live\n" {
		t.Errorf("update printed %q", got)
	}
	if limit := cgroupFile(t, id, "memory", "memory.limit_in_bytes", "memory.max"); limit != "67108864" {
		t.Errorf("memory limit after update: %s", limit)
	}
	if max := cgroupFile(t, id, "pids", "pids.max", "pids.max"); max != "30" {
		t.Errorf("pids.max after update: %s", max)
	}
	if onV1("cpu") {
		if q := cgroupFile(t, id, "cpu", "cpu.cfs_quota_us", ""); q != "100000" {
			t.Errorf("cfs quota after --cpus 1: %s", q)
		}
	} else if max := cgroupFile(t, id, "cpu", "", "cpu.max"); max != "100000 100000" {
		t.Errorf("cpu.max after --cpus 1: %q", max)
	}
	got := b.ok("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "live")
	if got != "67108864 67108864 1000000000 30 on-failure:3\n" {
		t.Errorf("inspect after update: %q", got)
	}
	if got := b.ok("stats", "--no-stream", "--format", "{{.MemUsage}}", "live"); !strings.HasSuffix(got, " / 64MiB\n") {
		t.Errorf("stats after update: %q", got)
	}

	// Refused: nothing changes.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"update", "live"}, "you must provide one or more flags when using this command"},
		{[]string{"update", "--cpu-period", "50000", "live"}, "Cannot update container " + id + ": Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"},
		{[]string{"update", "-m", "128m", "live"}, "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"},
		{[]string{"update", "-m", "4m", "live"}, "Minimum memory limit allowed is 6MB"},
		{[]string{"update", "--cpus", "1000", "live"}, "range of CPUs is from 0.01 to"},
		{[]string{"update", "-m", "64m", "nosuch"}, "No such container: nosuch"},
	} {
		if errs := b.fails(1, c.args...); !strings.Contains(errs, c.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v: %q, want one line with %q", c.args, errs, c.want)
		}
	}
	if limit := cgroupFile(t, id, "memory", "memory.limit_in_bytes", "memory.max"); limit != "67108864" {
		t.Errorf("memory limit after refused updates: %s", limit)
	}

	// A stopped container gets its new limits at the next start.
	b.ok(createArgs("--name", "later", "-m", "32m", "busybox:test", "sleep", "60")...)
	if got := b.ok("update", "-m", "48m", "--memory-swap", "96m", "later", "live"); got != "later\nlive\n" {
		t.Errorf("update of two: %q", got)
	}
	b.ok("start", "later")
	later := b.id("later")
	if limit := cgroupFile(t, later, "memory", "memory.limit_in_bytes", "memory.max"); limit != "50331648" {
		t.Errorf("memory limit of the container updated while stopped: %s", limit)
	}
}

// TestResourceFlagErrors: each bad value gets one clear line (the flag
// parser adds Docker's "See --help" line), exit 125, and creates nothing.
func TestResourceFlagErrors(t *testing.T) {
	b := containerRoot(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-m", "4m"}, "Error: Minimum memory limit allowed is 6MB"},
		{[]string{"-m", "lots"}, `invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'`},
		{[]string{"-m", "64m", "--memory-swap", "32m"}, "Error: Minimum memoryswap limit should be larger than memory limit, see usage"},
		{[]string{"--memory-swap", "64m"}, "Error: You should always set the Memory limit when using Memoryswap limit, see usage"},
		{[]string{"-m", "32m", "--memory-reservation", "64m"}, "Error: Minimum memory limit can not be less than memory reservation limit, see usage"},
		{[]string{"--memory-swappiness", "101"}, "Error: invalid value: 101. Valid memory swappiness range is 0-100"},
		{[]string{"--cpus", "0.5", "--cpu-period", "50000"}, "Error: Conflicting options: Nano CPUs and CPU Period cannot both be set"},
		{[]string{"--cpus", "0.5", "--cpu-quota", "50000"}, "Error: Conflicting options: Nano CPUs and CPU Quota cannot both be set"},
		{[]string{"--cpus", "10000"}, "Error: range of CPUs is from 0.01 to "},
		{[]string{"--cpus", "half"}, `invalid argument "half" for "--cpus" flag: failed to parse half as a rational number`},
		{[]string{"--cpu-period", "100"}, "Error: CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"},
		{[]string{"--cpu-quota", "100"}, "Error: CPU cfs quota can not be less than 1ms (i.e. 1000)"},
		{[]string{"--cpuset-cpus", "64"}, "Error: Requested CPUs are not available - requested 64, available: "},
		{[]string{"--cpuset-cpus", "0-x"}, "Error: Invalid value 0-x for cpuset cpus: invalid format: 0-x"},
		{[]string{"--ulimit", "nofile=200:100"}, "ulimit soft limit must be less than or equal to hard limit: 200 > 100"},
		{[]string{"--ulimit", "bogus=1"}, "invalid ulimit type: bogus"},
		{[]string{"--device-read-bps", "/dev/nosuch:1mb"}, "Error: stat /dev/nosuch: no such file or directory"},
		{[]string{"--device-write-bps", "sda:1mb"}, "bad format for device path: sda:1mb"},
		{[]string{"--blkio-weight-device", "/dev/sda:5"}, "invalid weight for device: /dev/sda:5"},
		{[]string{"--oom-score-adj", "1001"}, "Error: Invalid value 1001, range for oom score adj is [-1000, 1000]"},
		{[]string{"--shm-size", "big"}, `invalid argument "big" for "--shm-size" flag: invalid size: 'big'`},
	} {
		errs := b.fails(125, runArgs(append(c.args, "busybox:test", "true")...)...)
		if !strings.Contains(errs, c.want) || strings.Count(errs, "\n") > 2 {
			t.Errorf("%v: %q, want %q", c.args, errs, c.want)
		}
	}
	if got := b.ok("ps", "-aq"); got != "" {
		t.Errorf("failed runs left containers: %q", got)
	}
	if m := mountsUnder(b.root); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	// --kernel-memory is accepted and ignored, with Docker's notice.
	out, errs, code := b.run("", runArgs("--rm", "--kernel-memory", "64m", "busybox:test", "echo", "ok")...)
	if code != 0 || out != "ok\n" || !strings.Contains(errs, "Flag --kernel-memory has been deprecated, and no longer supported by the kernel") {
		t.Errorf("--kernel-memory: exit %d, %q, %q", code, out, errs)
	}
}
