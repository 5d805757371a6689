package cli

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/berth-dev/berth/internal/engine"
)

// setIPAM sorts network create's --subnet, --gateway and --ip-range
// values into o's IPv4 and IPv6 ones as the docker CLI pairs them: each
// gateway and range goes with the subnet that contains it (with its
// messages). A berth network has at most one subnet of each family.
func setIPAM(o *engine.NetworkCreateOptions, subnets, gateways, ranges []string) error {
	if len(gateways) > len(subnets) || len(ranges) > len(subnets) {
		return errors.New("every ip-range or gateway must have a corresponding subnet")
	}
	var parsed []netip.Prefix
	for _, s := range subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("invalid CIDR address: %s", s)
		}
		for _, q := range parsed {
			if q.Overlaps(p) {
				return errors.New("multiple overlapping subnet configuration is not supported")
			}
		}
		if p.Addr().Is6() {
			if o.Subnet6 != "" {
				return errors.New("berth supports one IPv4 and one IPv6 --subnet per network")
			}
			o.Subnet6 = s
		} else {
			if o.Subnet != "" {
				return errors.New("berth supports one IPv4 and one IPv6 --subnet per network")
			}
			o.Subnet = s
		}
		parsed = append(parsed, p)
	}
	// match is the subnet (index of parsed) that contains a.
	match := func(a netip.Addr) int {
		for i, p := range parsed {
			if p.Contains(a) {
				return i
			}
		}
		return -1
	}
	set := func(v4, v6 *string, value string, a netip.Addr, what string) error {
		i := match(a)
		if i < 0 {
			return fmt.Errorf("no matching subnet for %s %s", what, value)
		}
		dst := v4
		if a.Is6() {
			dst = v6
		}
		if *dst != "" {
			return fmt.Errorf("cannot configure multiple %ss (%s, %s) for the same subnet (%s)", what, value, *dst, subnets[i])
		}
		*dst = value
		return nil
	}
	for _, g := range gateways {
		a, err := netip.ParseAddr(g)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--gateway\" flag: invalid string being converted to IP address: %s", g, g)
		}
		if err := set(&o.Gateway, &o.Gateway6, g, a, "gateway"); err != nil {
			return err
		}
	}
	for _, r := range ranges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--ip-range\" flag: invalid CIDR address: %s", r, r)
		}
		if err := set(&o.IPRange, &o.IPRange6, r, p.Addr(), "range"); err != nil {
			return err
		}
	}
	return nil
}
