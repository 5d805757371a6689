package build

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/util/entitlements"

	"github.com/berth-dev/berth/internal/cdi"
)

// cdiRegistry is the CDI devices RUN --device can name, read once per
// build from the configured spec directories.
func (r *run) cdiRegistry() (*cdi.Registry, error) {
	r.cdiOnce.Do(func() {
		dirs := r.b.cfg.CDISpecDirs
		if dirs == nil {
			dirs = cdi.DefaultSpecDirs
		}
		r.cdi, r.cdiErr = cdi.Load(dirs)
	})
	return r.cdi, r.cdiErr
}

// runDevices resolves a RUN's --device requests to registered CDI
// devices and checks that the build may use them, as BuildKit's
// ValidateEntitlements: a device is allowed by --allow device (all), by
// --allow device=NAME naming it (or its kind or class), by an alias
// (--allow device=NAME,alias=ALIAS, the Dockerfile naming ALIAS), or by
// its autoallow annotation. An optional device that is not registered is
// left out; a required one is an error.
func (r *run) runDevices(reqs []*instructions.Device) ([]string, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	reg, err := r.cdiRegistry()
	if err != nil {
		return nil, err
	}
	var cfg *entitlements.DevicesConfig
	for _, a := range r.o.Allow {
		e, c, err := entitlements.Parse(a)
		if err != nil {
			return nil, err
		}
		if e != entitlements.EntitlementDevice {
			continue
		}
		if cfg == nil {
			cfg = &entitlements.DevicesConfig{}
		}
		if err := cfg.Merge(c); err != nil {
			return nil, err
		}
	}
	granted := map[string]bool{}
	if cfg != nil {
		for name, alias := range cfg.Devices {
			if alias == "" {
				for _, d := range reg.Find(name) {
					granted[d] = true
				}
			}
		}
	}
	var out, forbidden []string
	for _, req := range reqs {
		name, aliased := req.Name, false
		if cfg != nil {
			if real, ok := cfg.Devices[name]; ok && real != "" {
				name, aliased = real, true
			}
		}
		found := reg.Find(name)
		if len(found) == 0 && req.Required {
			err := fmt.Errorf("required device %q is not registered", name)
			if errs := reg.Errors(); len(errs) > 0 {
				msgs := make([]string, len(errs))
				for i, e := range errs {
					msgs[i] = e.Error()
				}
				err = fmt.Errorf("%w (CDI specs skipped: %s)", err, strings.Join(msgs, "; "))
			}
			return nil, err
		}
		for _, d := range found {
			if (cfg != nil && cfg.All) || aliased || granted[d] || reg.AutoAllowed(d) {
				out = append(out, d)
			} else {
				forbidden = append(forbidden, d)
			}
		}
	}
	switch len(forbidden) {
	case 0:
	case 1:
		return nil, fmt.Errorf("device %s is requested by the build but not allowed", forbidden[0])
	default:
		return nil, fmt.Errorf("devices %s are requested by the build but not allowed", strings.Join(forbidden, ", "))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
