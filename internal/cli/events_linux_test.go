package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEvents: a container's life is in the events log in order (create,
// start, die, destroy) with its name; --since/--until bound it, filters
// and --format select and shape it, and without --until events follows
// new ones.
func TestEvents(t *testing.T) {
	b := containerRoot(t)
	t0 := fmt.Sprintf("%d.%09d", time.Now().Unix(), time.Now().Nanosecond())
	time.Sleep(10 * time.Millisecond)
	id := strings.TrimSpace(b.ok(runArgs("-d", "--name", "ev", "busybox:test", "sh", "-c", "exit 3")...))
	b.ok("wait", "ev")
	b.ok("rm", "ev")
	b.ok("tag", "busybox:test", "busybox:other")
	now := fmt.Sprint(time.Now().Add(time.Second).Unix())

	out := b.ok("events", "--since", t0, "--until", now)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var actions []string
	line := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) (\w+) (\S+) (\S+)(?: \((.*)\))?$`)
	for _, l := range lines {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("event line %q", l)
		}
		if m[2] == "container" {
			if m[4] != id || !strings.Contains(m[5], "name=ev") || !strings.Contains(m[5], "image=busybox:test") {
				t.Errorf("container event %q", l)
			}
			actions = append(actions, m[3])
		}
	}
	if got := strings.Join(actions, " "); got != "create start die destroy" {
		t.Errorf("container actions %q, want create start die destroy:\n%s", got, out)
	}
	if !strings.Contains(out, "exitCode=3") {
		t.Errorf("no exitCode=3 in the die event:\n%s", out)
	}
	if !regexp.MustCompile(`image tag sha256:[0-9a-f]{64} \(name=busybox:other\)`).MatchString(out) {
		t.Errorf("no image tag event:\n%s", out)
	}

	// Filters.
	if got := b.ok("events", "--since", t0, "--until", now, "--filter", "event=die", "--format", "{{.Action}} {{.Actor.Attributes.exitCode}}"); got != "die 3\n" {
		t.Errorf("event=die: %q", got)
	}
	if got := b.ok("events", "--since", t0, "--until", now, "-f", "type=image", "--format", "{{.Type}} {{.Action}}"); got != "image tag\n" {
		t.Errorf("type=image: %q", got)
	}
	if got := b.ok("events", "--since", t0, "--until", now, "-f", "container=ev", "-f", "event=start", "-f", "event=destroy", "--format", "{{.Action}}"); got != "start\ndestroy\n" {
		t.Errorf("container=ev, two events: %q", got)
	}
	if got := b.ok("events", "--since", t0, "--until", now, "-f", "container=nosuch"); got != "" {
		t.Errorf("container=nosuch: %q", got)
	}
	if got := b.ok("events", "--since", t0, "--until", now, "-f", "image=busybox", "-f", "type=container", "--format", "{{.Action}}"); got != "create\nstart\ndie\ndestroy\n" {
		t.Errorf("image=busybox: %q", got)
	}
	// {{json .}} has Docker's fields.
	js := b.ok("events", "--since", t0, "--until", now, "-f", "event=create", "--format", "{{json .}}")
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatalf("{{json .}}: %v: %q", err, js)
	}
	for _, k := range []string{"status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"} {
		if _, ok := m[k]; !ok {
			t.Errorf("{{json .}} lacks %s: %s", k, js)
		}
	}
	if errs := b.fails(1, "events", "--filter", "nosuch=x", "--until", now); !strings.Contains(errs, "invalid filter 'nosuch'") {
		t.Errorf("bad filter: %q", errs)
	}
	if errs := b.fails(1, "events", "--since", "yesterday", "--until", now); !strings.Contains(errs, "failed to parse") {
		t.Errorf("bad --since: %q", errs)
	}

	// Following: a new container's events appear while events runs.
	t1 := fmt.Sprint(time.Now().UnixNano() / 1e9)
	cmd := exec.Command(berthBin, "--root", b.root, "events", "--since", t1, "--format", "{{.Action}} {{.Actor.Attributes.name}}", "-f", "container=later")
	cmd.Env = b.env
	follow := &syncBuffer{}
	cmd.Stdout = follow
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	b.ok(runArgs("--rm", "--name", "later", "busybox:test", "true")...)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(follow.String(), "destroy later") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if got := follow.String(); got != "create later\nstart later\ndie later\ndestroy later\n" {
		t.Errorf("followed events: %q", got)
	}

	// A container that exits at once: its start is still before its die
	// (the shim records the start with the running state, before it can
	// record the exit).
	t2 := fmt.Sprintf("%d.%09d", time.Now().Unix(), time.Now().Nanosecond())
	for i := 0; i < 5; i++ {
		b.ok(runArgs("-d", "--name", fmt.Sprint("quick", i), "busybox:test", "true")...)
	}
	for i := 0; i < 5; i++ {
		b.ok("wait", fmt.Sprint("quick", i))
	}
	until := fmt.Sprint(time.Now().Add(time.Second).Unix())
	for i := 0; i < 5; i++ {
		got := b.ok("events", "--since", t2, "--until", until, "-f", "container=quick"+fmt.Sprint(i), "-f", "type=container", "--format", "{{.Action}}")
		if got != "create\nstart\ndie\n" {
			t.Errorf("quick%d's events: %q, want create, start, die", i, got)
		}
	}
}

// syncBuffer is a strings.Builder a process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
