// Command runtimebench times how long OCI runtimes take to run /bin/true in
// a busybox bundle: `berth runtime run`, `runc run`, `crun run`, and as a
// floor `unshare … chroot ROOTFS /bin/true`, which makes the same namespaces
// (less the cgroup one) and nothing else.
//
// The engines take turns, one run each per iteration (round robin, the
// first engine rotating from one iteration to the next), so that drift in
// the machine (page cache, the ext4+discard disk, CPU frequency) hits them
// all alike. Each run is the wall time from fork to wait of the engine's
// command, stdout and stdin on /dev/null. Afterwards it checks that nothing
// is left: no containers in any engine's state root (`list -q`), no cgroup
// of the bench's containers under /sys/fs/cgroup, no temporary files.
//
// bench/run.sh builds this and berth and is the way to run it; see
// bench/README.md.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type engine struct {
	name string
	argv func(id string) []string // the command for one run
	root string                   // state root, "" for unshare
	list []string                 // command printing the ids left in root
	del  func(id string) []string // force-deletes a leftover container

	samples []time.Duration
	cpu     []time.Duration // user+system time of each run, its waited-for children included
	failed  error
}

// alsoFlag collects -also NAME=PATH: more berth builds to time alongside.
type alsoFlag [][2]string

func (a *alsoFlag) String() string { return fmt.Sprint(*a) }

func (a *alsoFlag) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok || name == "" || path == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != "" {
		return fmt.Errorf("want NAME=PATH with NAME of letters, digits, '_', '.', '-'; got %q", v)
	}
	*a = append(*a, [2]string{name, path})
	return nil
}

func main() {
	var also alsoFlag
	flag.Var(&also, "also", "NAME=PATH: also time this berth binary (repeatable), e.g. a patched build against the baseline")
	var (
		n          = flag.Int("n", 100, "timed runs per engine")
		warmup     = flag.Int("warmup", 3, "untimed runs per engine first")
		berth      = flag.String("berth", "", "berth binary (required)")
		runcBin    = flag.String("runc", "runc", "runc binary, \"\" to skip")
		crunBin    = flag.String("crun", "crun", "crun binary, \"\" to skip")
		noCrun     = flag.Bool("no-crun", false, "skip crun")
		mkrootfs   = flag.String("mkrootfs", "hack/busybox-rootfs.sh", "script that makes the busybox rootfs")
		tmpParent  = flag.String("tmp", "", "parent of the bench's temporary directory (default $TMPDIR)")
		stateTmpfs = flag.Bool("state-tmpfs", false, "keep the engines' state roots on a tmpfs instead of the temp dir's disk")
		commit     = flag.String("commit", "", "berth commit to print")
		rawPath    = flag.String("raw", "", "also write every sample as CSV (iteration,engine,ms) to this file")
		gap        = flag.Duration("gap", 25*time.Millisecond, "pause before each run, so no run inherits kernel state from the one before (see README)")
	)
	flag.Parse()
	if *berth == "" || *n < 1 {
		fmt.Fprintln(os.Stderr, "usage: runtimebench -berth PATH [-n N] [-no-crun] …")
		os.Exit(2)
	}
	if *noCrun {
		*crunBin = ""
	}
	if err := run(*n, *warmup, *gap, *berth, also, *runcBin, *crunBin, *mkrootfs, *tmpParent, *stateTmpfs, *commit, *rawPath); err != nil {
		fmt.Fprintln(os.Stderr, "runtimebench:", err)
		os.Exit(1)
	}
}

func run(n, warmup int, gap time.Duration, berth string, also alsoFlag, runcBin, crunBin, mkrootfs, tmpParent string, stateTmpfs bool, commit, rawPath string) (err error) {
	bins := map[string]string{"berth": berth, "runc": runcBin, "crun": crunBin, "unshare": "unshare", "chroot": "chroot"}
	for _, a := range also {
		if _, dup := bins[a[0]]; dup {
			return fmt.Errorf("-also %s: name taken", a[0])
		}
		bins[a[0]] = a[1]
	}
	for k, v := range bins {
		if v == "" {
			continue
		}
		p, err := exec.LookPath(v)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		if p, err = filepath.Abs(p); err != nil {
			return err
		}
		bins[k] = p
	}

	work, err := os.MkdirTemp(tmpParent, "runtimebench.")
	if err != nil {
		return err
	}
	prefix := fmt.Sprintf("rb%d-", os.Getpid()) // every container id starts so
	parentsBefore := berthParents()
	var engines []*engine
	defer func() {
		// Also after a failure or an interrupt: nothing may be left.
		notes := checkLeft(engines)
		more, cerr := cleanup(work, prefix, parentsBefore, stateTmpfs)
		for _, s := range append(notes, more...) {
			fmt.Println(s)
		}
		if err == nil {
			err = cerr
		}
	}()

	bundle := filepath.Join(work, "bundle")
	rootfs := filepath.Join(bundle, "rootfs")
	if out, err := exec.Command("sh", mkrootfs, rootfs).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", mkrootfs, err, out)
	}
	if out, err := exec.Command(bins["berth"], "runtime", "spec", "-b", bundle).CombinedOutput(); err != nil {
		return fmt.Errorf("berth runtime spec: %v: %s", err, out)
	}
	nss, err := editConfig(filepath.Join(bundle, "config.json"))
	if err != nil {
		return err
	}
	state := filepath.Join(work, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		return err
	}
	if stateTmpfs {
		if err := syscall.Mount("tmpfs", state, "tmpfs", 0, "mode=0700,size=64m"); err != nil {
			return fmt.Errorf("mount tmpfs on %s: %w", state, err)
		}
	}

	oci := func(name, bin string, pre ...string) {
		if bin == "" {
			return
		}
		root := filepath.Join(state, name)
		cmd := func(args ...string) []string {
			return append(append(append([]string{bin}, pre...), "--root", root), args...)
		}
		engines = append(engines, &engine{
			name: name,
			root: root,
			argv: func(id string) []string { return cmd("run", "-b", bundle, id) },
			list: cmd("list", "-q"),
			del:  func(id string) []string { return cmd("delete", "-f", id) },
		})
	}
	oci("berth", bins["berth"], "runtime")
	for _, a := range also {
		oci(a[0], bins[a[0]], "runtime")
	}
	oci("runc", bins["runc"])
	oci("crun", bins["crun"])
	engines = append(engines, &engine{
		name: "unshare+chroot",
		argv: func(string) []string {
			return []string{bins["unshare"], "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", bins["chroot"], rootfs, "/bin/true"}
		},
	})

	printHeader(commit, bins, engines, n, warmup, gap, nss, stateTmpfs, work)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	errLog, err := os.Create(filepath.Join(work, "stderr"))
	if err != nil {
		return err
	}
	defer errLog.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()

	var raw io.Writer = io.Discard
	if rawPath != "" {
		f, err := os.Create(rawPath)
		if err != nil {
			return err
		}
		defer f.Close()
		raw = f
		fmt.Fprintln(raw, "iteration,engine,ms,cpu_ms")
	}

	seq := 0
	start := time.Now()
	for it := -warmup; it < n; it++ {
		for k := range engines {
			// Rotate who goes first, so no engine always follows the same one.
			e := engines[(k+it+warmup)%len(engines)]
			if e.failed != nil {
				continue
			}
			select {
			case s := <-sigs:
				return fmt.Errorf("interrupted by %v", s)
			default:
			}
			time.Sleep(gap)
			seq++
			id := fmt.Sprintf("%s%s-%d", prefix, strings.ReplaceAll(e.name, "+", "-"), seq)
			d, cpu, err := runOnce(e.argv(id), devnull, errLog)
			if err != nil {
				e.failed = fmt.Errorf("run %d: %w", it, err)
				continue
			}
			if it >= 0 {
				e.samples = append(e.samples, d)
				e.cpu = append(e.cpu, cpu)
				fmt.Fprintf(raw, "%d,%s,%.3f,%.3f\n", it, e.name, ms(d), ms(cpu))
			}
		}
		if it >= 0 && (it+1)%25 == 0 && it+1 < n {
			fmt.Fprintf(os.Stderr, "  … %d/%d iterations (%.0fs)\n", it+1, n, time.Since(start).Seconds())
		}
	}

	printTable(engines)
	var failed []string
	for _, e := range engines {
		if e.failed != nil {
			failed = append(failed, e.name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// checkLeft lists each engine's containers; any found are reported and
// force-deleted.
func checkLeft(engines []*engine) []string {
	var notes []string
	for _, e := range engines {
		if e.list == nil {
			continue
		}
		out, err := exec.Command(e.list[0], e.list[1:]...).Output()
		if err != nil {
			notes = append(notes, fmt.Sprintf("check: %s list failed: %v", e.name, err))
			continue
		}
		ids := strings.Fields(string(out))
		if len(ids) == 0 {
			notes = append(notes, fmt.Sprintf("check: %s list: no containers left", e.name))
			continue
		}
		notes = append(notes, fmt.Sprintf("check: %s LEFT %d containers %v; deleting them", e.name, len(ids), ids))
		for _, id := range ids {
			d := e.del(id)
			exec.Command(d[0], d[1:]...).Run()
		}
	}
	return notes
}

// runOnce runs argv and returns its wall time and the CPU time it used
// (user and system, with that of the children it waited for: an engine's
// container init and the container's process); stderr goes to errLog,
// which a failure quotes.
func runOnce(argv []string, devnull, errLog *os.File) (time.Duration, time.Duration, error) {
	if err := errLog.Truncate(0); err != nil {
		return 0, 0, err
	}
	if _, err := errLog.Seek(0, io.SeekStart); err != nil {
		return 0, 0, err
	}
	cmd := &exec.Cmd{Path: argv[0], Args: argv, Stdin: devnull, Stdout: devnull, Stderr: errLog}
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		msg, _ := os.ReadFile(errLog.Name())
		return d, 0, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, bytes.TrimSpace(msg))
	}
	return d, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// editConfig makes the template run /bin/true without a terminal. The
// namespaces stay as the template has them; they are returned for the
// header. ociVersion is lowered to 1.0.2 because crun 1.8 rejects newer
// versions ("unknown version specified"); the config uses nothing newer.
func editConfig(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c map[string]any
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c["ociVersion"] = "1.0.2"
	proc, _ := c["process"].(map[string]any)
	if proc == nil {
		return nil, fmt.Errorf("%s: no process", path)
	}
	proc["terminal"] = false
	proc["args"] = []string{"/bin/true"}
	var nss []string
	if linux, ok := c["linux"].(map[string]any); ok {
		list, _ := linux["namespaces"].([]any)
		for _, ns := range list {
			if m, ok := ns.(map[string]any); ok {
				nss = append(nss, fmt.Sprint(m["type"]))
			}
		}
	}
	out, err := json.MarshalIndent(c, "", "\t")
	if err != nil {
		return nil, err
	}
	return nss, os.WriteFile(path, out, 0o644)
}

// cgroupMounts returns the mountpoints of every cgroup and cgroup2
// hierarchy.
func cgroupMounts() []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) >= 5 && len(g) >= 1 && (g[0] == "cgroup" || g[0] == "cgroup2") {
			out = append(out, f[4])
		}
	}
	return out
}

// berthParents lists the /berth parent cgroups (berth's default
// cgroupsPath is /berth/<id>) that exist now, so cleanup removes only those
// the bench created.
func berthParents() map[string]bool {
	have := map[string]bool{}
	for _, m := range cgroupMounts() {
		p := filepath.Join(m, "berth")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			have[p] = true
		}
	}
	return have
}

// cleanup removes the cgroups of the bench's containers that the engines
// left (any directory named with the bench's id prefix, within three levels
// of a hierarchy's root), the /berth parents the bench created, and the
// temp dir. It reports what it found.
func cleanup(work, prefix string, parentsBefore map[string]bool, stateTmpfs bool) ([]string, error) {
	var notes []string
	var left []string
	for _, m := range cgroupMounts() {
		filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || p == m {
				return nil
			}
			if strings.Count(strings.TrimPrefix(p, m), "/") > 3 {
				return fs.SkipDir
			}
			if strings.HasPrefix(d.Name(), prefix) {
				left = append(left, p)
				return fs.SkipDir
			}
			return nil
		})
	}
	var errs []error
	for _, p := range left {
		if err := rmCgroup(p); err != nil {
			errs = append(errs, err)
		}
	}
	if len(left) > 0 {
		notes = append(notes, fmt.Sprintf("check: LEFT %d cgroups of the bench's containers (e.g. %s); removed them", len(left), left[0]))
	} else {
		notes = append(notes, "check: no cgroups of the bench's containers left under /sys/fs/cgroup")
	}
	removed := 0
	for p := range berthParents() {
		if !parentsBefore[p] && syscall.Rmdir(p) == nil {
			removed++
		}
	}
	if removed > 0 {
		notes = append(notes, fmt.Sprintf("check: removed %d /berth parent cgroups the bench created (berth leaves its default parent)", removed))
	}
	if stateTmpfs {
		syscall.Unmount(filepath.Join(work, "state"), syscall.MNT_DETACH)
	}
	if err := os.RemoveAll(work); err != nil {
		errs = append(errs, err)
	} else {
		notes = append(notes, "check: removed "+work)
	}
	return notes, errors.Join(errs...)
}

// rmCgroup removes p and its children, deepest first, retrying while the
// kernel still counts exiting processes.
func rmCgroup(p string) error {
	entries, _ := os.ReadDir(p)
	for _, e := range entries {
		if e.IsDir() {
			rmCgroup(filepath.Join(p, e.Name()))
		}
	}
	var err error
	for i := 0; i < 50; i++ {
		if err = syscall.Rmdir(p); err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("rmdir %s: %w", p, err)
}

func printHeader(commit string, bins map[string]string, engines []*engine, n, warmup int, gap time.Duration, nss []string, stateTmpfs bool, work string) {
	var uts syscall.Utsname
	syscall.Uname(&uts)
	str := func(b [65]int8) string {
		var s []byte
		for _, c := range b {
			if c == 0 {
				break
			}
			s = append(s, byte(c))
		}
		return string(s)
	}
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	fmt.Printf("kernel:  %s %s %s\n", str(uts.Sysname), str(uts.Release), str(uts.Machine))
	fmt.Printf("cpus:    %d (%s)\n", runtime.NumCPU(), model)
	fmt.Printf("berth:   %s (commit %s)\n", bins["berth"], commit)
	for _, e := range engines {
		switch e.name {
		case "berth", "unshare+chroot":
		case "runc", "crun":
			out, _ := exec.Command(bins[e.name], "--version").Output()
			first, _, _ := strings.Cut(string(out), "\n")
			fmt.Printf("%-8s %s\n", e.name+":", first)
		default:
			fmt.Printf("%-8s %s (berth build, -also)\n", e.name+":", bins[e.name])
		}
	}
	fs := "disk of " + work
	if stateTmpfs {
		fs = "tmpfs"
	}
	fmt.Printf("bundle:  busybox rootfs, args [/bin/true], terminal false, namespaces %v; state roots on %s\n", nss, fs)
	fmt.Printf("runs:    %d timed + %d warm-up per engine, round robin, %v pause before each run, wall time of each command (CPU ms: the median of its user+system time, the children it waited for included)\n\n", n, warmup, gap)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type stats struct{ median, p95, mean, min, max float64 }

func summarize(s []time.Duration) stats {
	x := make([]float64, len(s))
	sum := 0.0
	for i, d := range s {
		x[i] = ms(d)
		sum += x[i]
	}
	sort.Float64s(x)
	n := len(x)
	med := x[n/2]
	if n%2 == 0 {
		med = (x[n/2-1] + x[n/2]) / 2
	}
	p95 := x[int(math.Ceil(0.95*float64(n)))-1] // nearest rank
	return stats{median: med, p95: p95, mean: sum / float64(n), min: x[0], max: x[n-1]}
}

func printTable(engines []*engine) {
	st, cpu := map[string]stats{}, map[string]stats{}
	for _, e := range engines {
		if len(e.samples) > 0 {
			st[e.name], cpu[e.name] = summarize(e.samples), summarize(e.cpu)
		}
	}
	ratio := func(name, base string) string {
		a, ok1 := st[name]
		b, ok2 := st[base]
		if !ok1 || !ok2 {
			return "—"
		}
		return strconv.FormatFloat(a.median/b.median, 'f', 2, 64) + "×"
	}
	rows := [][]string{{"engine", "runs", "median ms", "p95 ms", "mean ms", "min ms", "median vs crun", "median vs runc", "CPU ms"}}
	for _, e := range engines {
		s, ok := st[e.name]
		if !ok {
			rows = append(rows, []string{e.name, "0", "—", "—", "—", "—", "—", "—", "—"})
			continue
		}
		f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
		rows = append(rows, []string{e.name, strconv.Itoa(len(e.samples)), f(s.median), f(s.p95), f(s.mean), f(s.min), ratio(e.name, "crun"), ratio(e.name, "runc"), f(cpu[e.name].median)})
	}
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(r []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i == 0 {
				b.WriteString(" " + c + pad + " |")
			} else {
				b.WriteString(" " + pad + c + " |")
			}
		}
		fmt.Println(b.String())
	}
	line(rows[0])
	var sep strings.Builder
	for i, w := range width {
		if i == 0 {
			sep.WriteString("|" + strings.Repeat("-", w+2))
		} else {
			sep.WriteString("|" + strings.Repeat("-", w+1) + ":")
		}
	}
	fmt.Println(sep.String() + "|")
	for _, r := range rows[1:] {
		line(r)
	}
	for _, e := range engines {
		if e.failed != nil {
			fmt.Printf("\n%s FAILED (%d good runs before): %v\n", e.name, len(e.samples), e.failed)
		}
	}
}
