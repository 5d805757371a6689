package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runHooks runs hooks in order, each with the container's state on stdin,
// and stops at the first failure: for the hooks that run before the
// process, a failure fails the operation.
func runHooks(kind string, hooks []specs.Hook, st *specs.State) error {
	return runHooksWith(kind, hooks, st, nil)
}

// runHooksWarn runs every hook even when some fail, reporting each failure
// to warn: the spec's rule for poststart and poststop hooks.
func runHooksWarn(kind string, hooks []specs.Hook, st *specs.State, warn func(string, ...any)) {
	runHooksWith(kind, hooks, st, func(err error) { warn("%v", err) })
}

func runHooksWith(kind string, hooks []specs.Hook, st *specs.State, onError func(error)) error {
	if len(hooks) == 0 {
		return nil
	}
	state, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(h, state); err != nil {
			err = fmt.Errorf("%s hook #%d (%s): %w", kind, i, h.Path, err)
			if onError == nil {
				return err
			}
			onError(err)
		}
	}
	return nil
}

func runHook(h specs.Hook, state []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("timeout must be positive, got %d", *h.Timeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args = h.Args
	if len(cmd.Args) == 0 {
		cmd.Args = []string{h.Path}
	}
	cmd.Env = h.Env
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("timed out after %ds", *h.Timeout)
		}
		if msg := bytes.TrimSpace(out.Bytes()); len(msg) > 0 {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}

// hooksOf returns the spec's hooks, never nil.
func hooksOf(s *specs.Spec) *specs.Hooks {
	if s.Hooks == nil {
		return &specs.Hooks{}
	}
	return s.Hooks
}
