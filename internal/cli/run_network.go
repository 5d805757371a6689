package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/docker/go-connections/nat"
	containertypes "github.com/moby/moby/api/types/container"
	mobynetwork "github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/container"
)

// networkFlags are run's and create's networking flags.
type networkFlags struct {
	network    []string // --network, repeated (NAME or name=NAME,alias=…,ip=…,mac-address=…)
	publish    []string
	publishAll bool
	expose     []string
	addHost    []string
	dns        []string
	dnsSearch  []string
	dnsOption  []string
	ip         string
	ip6        string
	aliases    []string
	mac        string
	domainname string
	links      []string
}

func (n *networkFlags) addFlags(f *pflag.FlagSet) {
	f.StringArrayVar(&n.network, "network", nil, "Connect a container to a network")
	f.StringArrayVar(&n.network, "net", nil, "Connect a container to a network")
	f.MarkHidden("net")
	f.StringArrayVarP(&n.publish, "publish", "p", nil, "Publish a container's port(s) to the host")
	f.BoolVarP(&n.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	f.StringArrayVar(&n.expose, "expose", nil, "Expose a port or a range of ports")
	f.StringArrayVar(&n.addHost, "add-host", nil, "Add a custom host-to-IP mapping (host:ip)")
	f.StringArrayVar(&n.dns, "dns", nil, "Set custom DNS servers")
	f.StringArrayVar(&n.dnsSearch, "dns-search", nil, "Set custom DNS search domains")
	f.StringArrayVar(&n.dnsOption, "dns-option", nil, "Set DNS options")
	f.StringArrayVar(&n.dnsOption, "dns-opt", nil, "Set DNS options")
	f.MarkHidden("dns-opt")
	f.StringVar(&n.ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	f.StringVar(&n.ip6, "ip6", "", "IPv6 address (e.g., 2001:db8::33)")
	f.StringArrayVar(&n.aliases, "network-alias", nil, "Add network-scoped alias for the container")
	f.StringArrayVar(&n.aliases, "net-alias", nil, "Add network-scoped alias for the container")
	f.StringVar(&n.mac, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
	f.StringVar(&n.domainname, "domainname", "", "Container NIS domain name")
	f.StringArrayVar(&n.links, "link", nil, "Add link to another container")
	f.MarkHidden("net-alias")
}

func badFlag(flag, value string, err error) error {
	return fmt.Errorf("invalid argument %q for %q flag: %v", value, flag, err)
}

// config checks the flags as the docker CLI does (its messages) and puts
// them in cfg; the engine knows which networks exist.
func (n *networkFlags) config(cfg *container.Config) error {
	if err := n.networks(cfg); err != nil {
		return err
	}
	cfg.Domainname = n.domainname
	for _, l := range n.links {
		if name, _, _ := strings.Cut(l, ":"); name == "" || strings.Count(l, ":") > 1 {
			return badFlag("--link", l, fmt.Errorf("bad format for links: %s", l))
		}
		cfg.Links = append(cfg.Links, l)
	}
	for _, h := range n.addHost {
		v, err := validateExtraHost(h)
		if err != nil {
			return badFlag("--add-host", h, err)
		}
		cfg.ExtraHosts = append(cfg.ExtraHosts, v)
	}
	for _, d := range n.dns {
		a, err := netip.ParseAddr(strings.TrimSpace(d))
		if err != nil {
			return badFlag("--dns", d, fmt.Errorf("IP address is not correctly formatted: %s", d))
		}
		cfg.DNS = append(cfg.DNS, a.String())
	}
	for _, s := range n.dnsSearch {
		v, err := validateDNSSearch(s)
		if err != nil {
			return badFlag("--dns-search", s, err)
		}
		cfg.DNSSearch = append(cfg.DNSSearch, v)
	}
	cfg.DNSOptions = n.dnsOption
	cfg.PublishAllPorts = n.publishAll
	specs, err := longPortSyntax(n.publish)
	if err != nil {
		return err
	}
	exposed, bindings, err := nat.ParsePortSpecs(specs)
	if err != nil {
		return err
	}
	if len(bindings) > 0 && containertypes.NetworkMode(cfg.NetworkMode).IsHost() {
		fmt.Fprintln(os.Stderr, "WARNING: Published ports are discarded when using host network mode")
		exposed, bindings = nil, nil
	}
	for port, bs := range bindings {
		p, err := mobynetwork.ParsePort(string(port))
		if err != nil {
			return err
		}
		if cfg.PortBindings == nil {
			cfg.PortBindings = mobynetwork.PortMap{}
		}
		cfg.PortBindings[p] = []mobynetwork.PortBinding{}
		for _, b := range bs {
			var ip netip.Addr
			if b.HostIP != "" {
				if ip, err = netip.ParseAddr(b.HostIP); err != nil {
					return err
				}
			}
			cfg.PortBindings[p] = append(cfg.PortBindings[p], mobynetwork.PortBinding{HostIP: ip, HostPort: b.HostPort})
		}
	}
	for port := range exposed {
		p, err := mobynetwork.ParsePort(string(port))
		if err != nil {
			return err
		}
		addExposed(cfg, p)
	}
	for _, e := range n.expose {
		pr, err := mobynetwork.ParsePortRange(e)
		if err != nil {
			return fmt.Errorf("invalid range format for --expose: %w", err)
		}
		for p := range pr.All() {
			addExposed(cfg, p)
		}
	}
	return nil
}

// networks reads --network (repeated, in the simple or the advanced
// syntax), --ip, --network-alias and --mac-address as the docker CLI
// does: the flags go with the first network; several networks are all
// user-defined ones.
func (n *networkFlags) networks(cfg *container.Config) error {
	var atts []container.NetworkAttachment
	for _, v := range n.network {
		a, err := parseNetworkOpt(v)
		if err != nil {
			return badFlag("--network", v, err)
		}
		if slices.ContainsFunc(atts, func(o container.NetworkAttachment) bool { return o.Network == a.Network }) {
			return fmt.Errorf("network %q is specified multiple times", a.Network)
		}
		atts = append(atts, a)
	}
	if len(atts) == 0 {
		atts = []container.NetworkAttachment{{}}
	}
	first := &atts[0]
	if n.ip != "" {
		if first.IPv4Address != "" {
			return errors.New("conflicting options: cannot specify both --ip and per-network IPv4 address")
		}
		first.IPv4Address = n.ip
	}
	if n.ip6 != "" {
		if first.IPv6Address != "" {
			return errors.New("conflicting options: cannot specify both --ip6 and per-network IPv6 address")
		}
		first.IPv6Address = n.ip6
	}
	if len(n.aliases) > 0 {
		if len(first.Aliases) > 0 {
			return errors.New("conflicting options: cannot specify both --network-alias and per-network alias")
		}
		first.Aliases = n.aliases
	}
	if n.mac != "" {
		if first.MacAddress != "" {
			return errors.New("conflicting options: cannot specify both --mac-address and per-network MAC address")
		}
		first.MacAddress = n.mac
	}
	user, other := false, false
	for i := range atts {
		a := &atts[i]
		if m := containertypes.NetworkMode(a.Network); m.IsUserDefined() {
			user = true
		} else {
			other = true
		}
		if a.IPv4Address != "" {
			ip, err := netip.ParseAddr(a.IPv4Address)
			if err != nil || !ip.Is4() {
				return badFlag("--ip", a.IPv4Address, fmt.Errorf("invalid IPv4 address: %s", a.IPv4Address))
			}
			a.IPv4Address = ip.String()
		}
		if a.IPv6Address != "" {
			ip, err := netip.ParseAddr(a.IPv6Address)
			if err != nil || !ip.Is6() || ip.Is4In6() {
				return badFlag("--ip6", a.IPv6Address, fmt.Errorf("invalid IPv6 address: %s", a.IPv6Address))
			}
			a.IPv6Address = ip.String()
		}
		if a.MacAddress != "" {
			mac, err := net.ParseMAC(strings.TrimSpace(a.MacAddress))
			if err != nil || len(mac) != 6 {
				return badFlag("--mac-address", a.MacAddress, fmt.Errorf("%s is not a valid mac address", a.MacAddress))
			}
			a.MacAddress = mac.String()
		}
	}
	if user && other {
		return errors.New("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
	}
	cfg.NetworkMode, cfg.IPv4Address, cfg.IPv6Address, cfg.NetworkAliases, cfg.MacAddress = first.Network, first.IPv4Address, first.IPv6Address, first.Aliases, first.MacAddress
	if len(atts) > 1 {
		cfg.Networks = atts
	}
	return nil
}

// parseNetworkOpt reads one --network value: NAME, or the advanced
// syntax name=NAME,alias=A,ip=IP,ip6=IP6,mac-address=MAC (alias
// repeated).
func parseNetworkOpt(v string) (container.NetworkAttachment, error) {
	var a container.NetworkAttachment
	if !strings.Contains(v, "=") {
		a.Network = v
		return a, nil
	}
	for _, field := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(field, "=")
		if !ok {
			return a, fmt.Errorf("invalid field '%s' must be a key=value pair", field)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "name":
			a.Network = val
		case "alias":
			a.Aliases = append(a.Aliases, val)
		case "ip":
			a.IPv4Address = val
		case "ip6":
			a.IPv6Address = val
		case "mac-address":
			a.MacAddress = val
		case "link-local-ip", "driver-opt", "gw-priority":
			return a, fmt.Errorf("field %s is not supported by berth", k)
		default:
			return a, fmt.Errorf("invalid field key %s", k)
		}
	}
	if a.Network == "" {
		return a, errors.New("network name not specified")
	}
	return a, nil
}

func addExposed(cfg *container.Config, p mobynetwork.Port) {
	if cfg.ExposedPorts == nil {
		cfg.ExposedPorts = mobynetwork.PortSet{}
	}
	cfg.ExposedPorts[p] = struct{}{}
}

// longPortSyntax turns -p's long form (published=8080,target=80,
// protocol=udp) into the short one, as the docker CLI does.
func longPortSyntax(ports []string) ([]string, error) {
	out := make([]string, 0, len(ports))
	for _, p := range ports {
		if !strings.Contains(p, "=") {
			out = append(out, p)
			continue
		}
		params := map[string]string{"protocol": "tcp"}
		for _, kv := range strings.Split(p, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("invalid publish opts format (should be name=value but got '%s')", kv)
			}
			params[k] = v
		}
		out = append(out, fmt.Sprintf("%s:%s/%s", params["published"], params["target"], params["protocol"]))
	}
	return out, nil
}

// validateExtraHost is the docker CLI's check of --add-host: name:address
// or name=address (an address in brackets allowed, or host-gateway),
// returned as name:address.
func validateExtraHost(val string) (string, error) {
	k, v, ok := strings.Cut(val, "=")
	if !ok {
		k, v, ok = strings.Cut(val, ":")
	}
	if !ok || k == "" || strings.Contains(k, ":") {
		return "", fmt.Errorf("bad format for add-host: %q", val)
	}
	if v != "host-gateway" {
		if len(v) > 2 && v[0] == '[' && v[len(v)-1] == ']' {
			v = v[1 : len(v)-1]
		}
		if _, err := netip.ParseAddr(strings.TrimSpace(v)); err != nil {
			return "", fmt.Errorf("invalid IP address in add-host: %q", v)
		}
	}
	return k + ":" + v, nil
}

var (
	domainAlpha = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[a-zA-Z]`) })
	domainRe    = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$`)
	})
)

// validateDNSSearch is the docker CLI's check of a --dns-search domain
// ("." for none).
func validateDNSSearch(val string) (string, error) {
	if val = strings.Trim(val, " "); val == "." {
		return val, nil
	}
	if domainAlpha().FindString(val) == "" {
		return "", fmt.Errorf("%s is not a valid domain", val)
	}
	if ns := domainRe().FindStringSubmatch(val); len(ns) > 0 && len(ns[1]) < 255 {
		return ns[1], nil
	}
	return "", fmt.Errorf("%s is not a valid domain", val)
}
