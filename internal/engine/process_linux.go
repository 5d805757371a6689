package engine

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"

	containertypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/container"
)

func errNotRunning(id string) error { return fmt.Errorf("Container %s is not running", id) }

// PauseContainer freezes every process of a running container (the
// runtime's freezer) and records it paused.
func (e *Engine) PauseContainer(ctx context.Context, ref string) error {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return err
	}
	if c.Status != container.Running {
		return errNotRunning(c.ID)
	}
	if c.Paused {
		return fmt.Errorf("Container %s is already paused", c.ID)
	}
	if err := e.runtime().Pause(c.ID); err != nil {
		return fmt.Errorf("Cannot pause container %s: %w", c.ID, err)
	}
	if ok, err := e.containers.SetPaused(ctx, c.ID, true); err != nil || !ok {
		e.runtime().Resume(c.ID)
		if err == nil {
			err = errNotRunning(c.ID)
		}
		return err
	}
	return nil
}

// UnpauseContainer thaws a paused container.
func (e *Engine) UnpauseContainer(ctx context.Context, ref string) error {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return err
	}
	if !c.Paused {
		return fmt.Errorf("Container %s is not paused", c.ID)
	}
	if err := e.runtime().Resume(c.ID); err != nil {
		return fmt.Errorf("Cannot unpause container %s: %w", c.ID, err)
	}
	_, err = e.containers.SetPaused(ctx, c.ID, false)
	return err
}

// thaw resumes a paused container after a signal was sent to it, so that
// the signal is delivered (a frozen process does not act on SIGTERM, and
// under cgroup v1 not even on SIGKILL), as Docker's kill and stop do.
// It is best effort: the container may have gone meanwhile.
func (e *Engine) thaw(ctx context.Context, c *container.Container) {
	if !c.Paused {
		return
	}
	e.runtime().Resume(c.ID)
	e.containers.SetPaused(ctx, c.ID, false)
}

// psArgsRe finds "-o key=PID…" columns renamed to something ps's PID
// header would no longer be found by (Docker's check).
var psArgsRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\s+([^\s]*)=\s*(PID[^\s]*)`) })

// TopContainer is `docker top`: the host's ps with psArgs (default -ef),
// keeping the header and the lines of the container's processes.
func (e *Engine) TopContainer(ctx context.Context, ref string, psArgs []string) (*containertypes.TopResponse, error) {
	args := strings.Join(psArgs, " ")
	if args == "" {
		args = "-ef"
	}
	for _, g := range psArgsRe().FindAllStringSubmatch(args, -1) {
		if g[1] != "pid" {
			return nil, fmt.Errorf(`specifying "%s=%s" is not allowed`, g[1], g[2])
		}
	}
	c, err := e.Container(ctx, ref)
	if err != nil {
		return nil, err
	}
	if c.Status != container.Running {
		return nil, errNotRunning(c.ID)
	}
	pids, err := e.runtime().Pids(c.ID)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID[:12], err)
	}
	argv := strings.Split(args, " ")
	q := make([]string, len(pids))
	for i, p := range pids {
		q[i] = strconv.Itoa(p)
	}
	out, err := exec.CommandContext(ctx, "ps", append(argv, "-q", strings.Join(q, ","))...).Output()
	if err != nil {
		// Some options (f) don't go with -q: all processes, then.
		out, err = exec.CommandContext(ctx, "ps", argv...).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if line, _, _ := strings.Cut(string(ee.Stderr), "\n"); line != "" {
					err = errors.New(line)
				}
			}
			return nil, fmt.Errorf("ps: %w", err)
		}
	}
	return parsePS(out, pids)
}

// parsePS keeps ps's header and the lines of pids (with the continuation
// lines, PID "-", that follow one of them: threads with -L). The last
// column takes the rest of a line (the command and its arguments).
func parsePS(out []byte, pids []int) (*containertypes.TopResponse, error) {
	lines := strings.Split(string(out), "\n")
	r := &containertypes.TopResponse{Titles: strings.Fields(lines[0]), Processes: [][]string{}}
	pidCol := -1
	for i, t := range r.Titles {
		if t == "PID" {
			pidCol = i
			break
		}
	}
	if pidCol < 0 {
		return nil, errors.New("Couldn't find PID field in ps output")
	}
	in := map[int]bool{}
	for _, p := range pids {
		in[p] = true
	}
	add := func(f []string) {
		n := len(r.Titles)
		if len(f) < n {
			f = append(f, make([]string, n-len(f))...)
		}
		row := append(append([]string{}, f[:n-1]...), strings.Join(f[n-1:], " "))
		r.Processes = append(r.Processes, row)
	}
	prev := false
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= pidCol {
			continue
		}
		if f[pidCol] == "-" {
			if prev {
				add(f)
			}
			continue
		}
		p, err := strconv.Atoi(f[pidCol])
		if err != nil {
			return nil, fmt.Errorf("Unexpected pid '%s': %s", f[pidCol], err)
		}
		prev = in[p]
		if prev {
			add(f)
		}
	}
	return r, nil
}
