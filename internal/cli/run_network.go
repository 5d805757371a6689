package cli

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
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
	network    string
	publish    []string
	publishAll bool
	expose     []string
	addHost    []string
	dns        []string
	dnsSearch  []string
	dnsOption  []string
	ip         string
	aliases    []string
}

func (n *networkFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&n.network, "network", "", "Connect a container to a network (bridge, host or none)")
	f.StringVar(&n.network, "net", "", "Connect a container to a network")
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
	f.StringArrayVar(&n.aliases, "network-alias", nil, "Add network-scoped alias for the container")
	f.StringArrayVar(&n.aliases, "net-alias", nil, "Add network-scoped alias for the container")
	f.MarkHidden("net-alias")
}

func badFlag(flag, value string, err error) error {
	return fmt.Errorf("invalid argument %q for %q flag: %v", value, flag, err)
}

// config checks the flags as the docker CLI does (its messages) and puts
// them in cfg; the engine knows which networks exist.
func (n *networkFlags) config(cfg *container.Config) error {
	cfg.NetworkMode = n.network
	if n.ip != "" {
		a, err := netip.ParseAddr(n.ip)
		if err != nil || !a.Is4() {
			return badFlag("--ip", n.ip, fmt.Errorf("invalid IPv4 address: %s", n.ip))
		}
		cfg.IPv4Address = a.String()
	}
	cfg.NetworkAliases = n.aliases
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
	if len(bindings) > 0 && containertypes.NetworkMode(n.network).IsHost() {
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
