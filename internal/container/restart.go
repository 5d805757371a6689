package container

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RestartPolicy is --restart: Name is "no" (or ""), "always",
// "unless-stopped" or "on-failure", MaximumRetryCount its ":N".
type RestartPolicy struct {
	Name              string `json:"name,omitempty"`
	MaximumRetryCount int    `json:"maximumRetryCount,omitempty"`
}

// ParseRestartPolicy parses a --restart value with Docker's rules and
// messages.
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	name, count, hasCount := strings.Cut(s, ":")
	p := RestartPolicy{Name: name}
	switch name {
	case "", "no", "always", "unless-stopped", "on-failure":
	default:
		return p, fmt.Errorf("invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", name)
	}
	if hasCount {
		n, err := strconv.Atoi(count)
		if err != nil {
			return p, errors.New("invalid restart policy format: maximum retry count must be an integer")
		}
		if name != "on-failure" {
			return p, fmt.Errorf("invalid restart policy: maximum retry count can only be used with 'on-failure'")
		}
		if n < 0 {
			return p, errors.New("invalid restart policy: maximum retry count cannot be negative")
		}
		p.MaximumRetryCount = n
	}
	if p.Name == "" {
		p.Name = "no"
	}
	return p, nil
}

// IsNone reports a policy that never restarts.
func (p RestartPolicy) IsNone() bool { return p.Name == "" || p.Name == "no" }

// ShouldRestart is Docker's decision after an exit with code, given the
// restarts already made and whether a user stopped the container.
func (p RestartPolicy) ShouldRestart(code, restarts int, manuallyStopped bool) bool {
	if manuallyStopped {
		return false
	}
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return code != 0 && (p.MaximumRetryCount == 0 || restarts < p.MaximumRetryCount)
	}
	return false
}

// Back-off between restarts, as Docker's restart manager: 100 ms,
// doubling after each restart up to a minute, and back to 100 ms after a
// run of at least 10 s.
const (
	backoffMin   = 100 * time.Millisecond
	backoffMax   = time.Minute
	backoffReset = 10 * time.Second
)

// NextBackoff is the delay before the next restart, given the previous
// delay (0 for none yet) and how long the container ran.
func NextBackoff(prev, ran time.Duration) time.Duration {
	if prev == 0 || ran >= backoffReset {
		return backoffMin
	}
	if prev *= 2; prev > backoffMax {
		prev = backoffMax
	}
	return prev
}
