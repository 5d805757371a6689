package cli

import (
	"errors"
	"fmt"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/spf13/pflag"
)

// healthFlags are run's and create's --health-* and --no-healthcheck.
type healthFlags struct {
	cmd                                           string
	interval, timeout, startPeriod, startInterval time.Duration
	retries                                       int
	none                                          bool
}

func (h *healthFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&h.cmd, "health-cmd", "", "Command to run to check health")
	f.DurationVar(&h.interval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	f.DurationVar(&h.timeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	f.DurationVar(&h.startPeriod, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	f.DurationVar(&h.startInterval, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h) (default 0s)")
	f.IntVar(&h.retries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	f.BoolVar(&h.none, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")
}

// config is the container's healthcheck from the flags, with Docker's
// checks and messages; nil when none was given.
func (h *healthFlags) config(f *pflag.FlagSet) (*dockerspec.HealthcheckConfig, error) {
	given := false
	for _, name := range []string{"health-cmd", "health-interval", "health-timeout", "health-start-period", "health-start-interval", "health-retries"} {
		given = given || f.Changed(name)
	}
	if h.none {
		if given {
			return nil, errors.New("--no-healthcheck conflicts with --health-* options")
		}
		return &dockerspec.HealthcheckConfig{Test: []string{"NONE"}}, nil
	}
	if !given {
		return nil, nil
	}
	for name, d := range map[string]time.Duration{"interval": h.interval, "timeout": h.timeout, "start-period": h.startPeriod, "start-interval": h.startInterval} {
		if d < 0 {
			return nil, fmt.Errorf("--health-%s cannot be negative", name)
		}
		if d > 0 && d < time.Millisecond {
			return nil, fmt.Errorf("--health-%s cannot be less than 1ms", name)
		}
	}
	if h.retries < 0 {
		return nil, errors.New("--health-retries cannot be negative")
	}
	c := &dockerspec.HealthcheckConfig{Interval: h.interval, Timeout: h.timeout, StartPeriod: h.startPeriod,
		StartInterval: h.startInterval, Retries: h.retries}
	if h.cmd != "" {
		c.Test = []string{"CMD-SHELL", h.cmd}
	}
	return c, nil
}
