package engine

import (
	"context"
	"fmt"

	"github.com/berth-dev/berth/internal/container"
)

// BootResult is one container `system boot` started, or failed to.
type BootResult struct {
	Container *container.Container
	Err       error
}

// Boot is `system boot`, for an init system to run once the machine is
// up: the containers that were running when it went down (their shims
// are gone) are recorded as exited, and those whose restart policy says
// so are started again, as dockerd does when it starts: always, and
// unless-stopped unless a user stopped it, whatever their last exit;
// on-failure when the machine went down under it (or its last exit was a
// failure with retries left).
func (e *Engine) Boot(ctx context.Context) ([]BootResult, error) {
	recorded, err := e.containers.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []BootResult
	for _, c := range recorded {
		wasUp := c.Status == container.Running || c.Status == container.Restarting
		if c, err = e.reconcile(ctx, c); err != nil {
			return out, err
		}
		if c.Status != container.Exited || !bootStarts(c, wasUp) {
			continue
		}
		err := e.StartContainer(ctx, c)
		if err != nil {
			err = fmt.Errorf("start %s: %w", c.Name, err)
		}
		out = append(out, BootResult{Container: c, Err: err})
	}
	return out, nil
}

// bootStarts is the restart policy's decision at boot for exited c,
// which was running when the machine went down if wasUp.
func bootStarts(c *container.Container, wasUp bool) bool {
	p := c.Config.Restart
	switch p.Name {
	case "always":
		return true
	case "unless-stopped":
		return !c.State.ManuallyStopped
	case "on-failure":
		return !c.State.ManuallyStopped && (wasUp || p.ShouldRestart(c.ExitCode, c.State.RestartCount, false))
	}
	return false
}
