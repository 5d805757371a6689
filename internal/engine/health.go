package engine

import (
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	containertypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/shim"
)

// activeHealthcheck is mergeHealthcheck unless it is none (NONE).
func activeHealthcheck(c *container.Container, img *dockerspec.DockerOCIImage) *dockerspec.HealthcheckConfig {
	h := mergeHealthcheck(c, img)
	if h == nil || h.Test[0] == "NONE" {
		return nil
	}
	return h
}

// health is the health the shim of container c recorded, or nil for a
// container without a healthcheck.
func (e *Engine) health(c *container.Container, img *dockerspec.DockerOCIImage) *containertypes.Health {
	if activeHealthcheck(c, img) == nil {
		return nil
	}
	h := shim.ReadHealth(e.containerDir(c.ID))
	if h == nil && c.Status == container.Running {
		h = &containertypes.Health{Status: containertypes.Starting}
	}
	return h
}

// mergeHealthcheck is container c's healthcheck, as Docker merges it:
// each zero field of the run's takes the image's; nil for none.
func mergeHealthcheck(c *container.Container, img *dockerspec.DockerOCIImage) *dockerspec.HealthcheckConfig {
	var out dockerspec.HealthcheckConfig
	if c.Config.Healthcheck != nil {
		out = *c.Config.Healthcheck
	}
	if img != nil && img.Config.Healthcheck != nil {
		ih := img.Config.Healthcheck
		if len(out.Test) == 0 {
			out.Test = ih.Test
		}
		if out.Interval == 0 {
			out.Interval = ih.Interval
		}
		if out.Timeout == 0 {
			out.Timeout = ih.Timeout
		}
		if out.StartPeriod == 0 {
			out.StartPeriod = ih.StartPeriod
		}
		if out.StartInterval == 0 {
			out.StartInterval = ih.StartInterval
		}
		if out.Retries == 0 {
			out.Retries = ih.Retries
		}
	}
	if len(out.Test) == 0 {
		return nil
	}
	return &out
}
