package oci

import (
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const allCaps = "ALL"

// setCapabilities sets the bounding, effective and permitted sets (not
// inheritable or ambient, as Docker since 25) to Docker's defaults,
// tweaked by --cap-add and --cap-drop, or to every capability the engine
// holds for --privileged (daemon/oci_linux.go WithCapabilities).
func setCapabilities(s *specs.Spec, o *Options) error {
	known, held := host.caps()
	// Docker checks both lists when the container is created, even
	// with --privileged, which then ignores them.
	add, err := normalizeCaps(o.CapAdd, known, held)
	if err != nil {
		return err
	}
	drop, err := normalizeCaps(o.CapDrop, known, held)
	if err != nil {
		return err
	}
	var caps []string
	switch {
	case o.Privileged:
		caps = slices.Clone(held)
	case slices.Contains(add, allCaps):
		for _, c := range held {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
	case slices.Contains(drop, allCaps):
		caps = add
	default:
		for _, c := range defaultCapabilities() {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
		caps = append(caps, add...)
	}
	s.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding:  caps,
		Effective: slices.Clone(caps),
		Permitted: slices.Clone(caps),
	}
	return nil
}

// normalizeCaps upper-cases names and adds CAP_ (moby's
// caps.NormalizeLegacyCapabilities); a name berth does not know, or one
// the engine itself lacks, is an error.
func normalizeCaps(names, known, held []string) ([]string, error) {
	var out []string
	for _, c := range names {
		c = strings.ToUpper(c)
		if c == allCaps {
			out = append(out, c)
			continue
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		switch {
		case !slices.Contains(known, c):
			return nil, invalidf("unknown capability: %q", c)
		case len(held) > 0 && !slices.Contains(held, c):
			return nil, invalidf("capability not supported by your kernel or not available in the current environment: %q", c)
		}
		out = append(out, c)
	}
	return out, nil
}
