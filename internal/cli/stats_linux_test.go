package cli_test

import (
	"regexp"
	"strings"
	"testing"
)

// TestStats: --no-stream shows a running container's usage in Docker's
// columns (a non-zero PIDS count), --format picks fields, -a adds stopped
// containers with zeros.
func TestStats(t *testing.T) {
	b := containerRoot(t)
	id := strings.TrimSpace(b.ok(runArgs("-d", "--name", "busy", "busybox:test", "sh", "-c",
		"dd if=/dev/zero of=/tmp/f bs=1M count=4 2>/dev/null; echo ready; while true; do sleep 0.1; done")...))
	waitForLog(t, b, "busy", "ready\n")
	b.ok(runArgs("--name", "done", "busybox:test", "true")...)

	out := b.ok("stats", "--no-stream")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !regexp.MustCompile(`^CONTAINER ID +NAME +CPU % +MEM USAGE / LIMIT +MEM % +NET I/O +BLOCK I/O +PIDS$`).MatchString(lines[0]) {
		t.Fatalf("stats --no-stream:\n%s", out)
	}
	row := regexp.MustCompile(`^` + id[:12] + ` +busy +(\d+\.\d\d)% +(\S+) / (\S+) +(\d+\.\d\d)% +\S+ / \S+ +\S+ / \S+ +(\d+)$`).FindStringSubmatch(lines[1])
	if row == nil {
		t.Fatalf("stats row: %q", lines[1])
	}
	if row[5] == "0" {
		t.Errorf("PIDS is 0: %q", lines[1])
	}
	if row[2] == "0B" {
		t.Errorf("no memory usage: %q", lines[1])
	}

	if got := b.ok("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "busy"); !regexp.MustCompile(`^busy [1-9]\d*\n$`).MatchString(got) {
		t.Errorf("--format: %q", got)
	}
	if got := b.ok("container", "stats", "--no-stream", "--no-trunc", "--format", "{{.ID}} {{.Container}}", id[:6]); got != id+" "+id[:6]+"\n" {
		t.Errorf("--no-trunc, .Container: %q", got)
	}
	all := b.ok("stats", "--no-stream", "-a", "--format", "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}")
	if !strings.Contains(all, "done|0.00%|0B / 0B|0\n") || !strings.Contains(all, "busy|") {
		t.Errorf("stats -a: %q", all)
	}
	if errs := b.fails(1, "stats", "--no-stream", "nosuch"); !strings.Contains(errs, "No such container: nosuch") {
		t.Errorf("unknown container: %q", errs)
	}
}
