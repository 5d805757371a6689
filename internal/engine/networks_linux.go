package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	mobynetwork "github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/network"
)

// NetworkCreateOptions are network create's flags: Subnet, Gateway and
// IPRange are the IPv4 subnet's, the ...6 ones the IPv6 subnet's (with
// IPv6, --ipv6).
type NetworkCreateOptions struct {
	Name     string
	Driver   string // "" or bridge
	Subnet   string
	Gateway  string
	IPRange  string
	IPv6     bool
	Subnet6  string
	Gateway6 string
	IPRange6 string
	Internal bool
	Labels   map[string]string
	Options  map[string]string
}

// CreateNetwork makes a user-defined bridge network: its record, its
// bridge and its nft table.
func (e *Engine) CreateNetwork(ctx context.Context, o NetworkCreateOptions) (*mobynetwork.Inspect, error) {
	if o.Driver != "" && o.Driver != "bridge" {
		return nil, fmt.Errorf("plugin %q not found", o.Driver)
	}
	if err := checkNetworkName(o.Name); err != nil {
		return nil, err
	}
	req := network.CreateRequest{Name: o.Name, IPv6: o.IPv6, Settings: network.Settings{
		Driver: "bridge", IPRange: o.IPRange, IPRange6: o.IPRange6, Internal: o.Internal, Labels: o.Labels, Options: o.Options,
	}}
	var err error
	if req.Subnet6, req.Gateway6, err = parseSubnet(o.Subnet6, o.Gateway6, o.IPRange6, true); err != nil {
		return nil, err
	}
	if req.Subnet, req.Gateway, err = parseSubnet(o.Subnet, o.Gateway, o.IPRange, false); err != nil {
		return nil, err
	}
	n, err := e.net.CreateNetwork(ctx, req)
	if err != nil {
		return nil, err
	}
	e.emit(ctx, n.Event(network.EventCreate, ""))
	return e.networkInspect(ctx, *n)
}

// parseSubnet reads a --subnet and its --gateway (of IPv6 when v6, else
// of IPv4), either empty; an --ip-range or gateway needs a subnet.
func parseSubnet(subnet, gateway, ipRange string, v6 bool) (p netip.Prefix, gw netip.Addr, err error) {
	family := func(a netip.Addr) bool { return a.Is6() == v6 && (v6 || a.Is4()) }
	if subnet == "" {
		if gateway != "" || ipRange != "" {
			return p, gw, errors.New("every ip-range or gateway must have a corresponding subnet")
		}
		return p, gw, nil
	}
	if p, err = netip.ParsePrefix(subnet); err != nil || !family(p.Addr()) {
		return p, gw, fmt.Errorf("invalid CIDR address: %s", subnet)
	}
	if gateway != "" {
		if gw, err = netip.ParseAddr(gateway); err != nil || !family(gw) {
			return p, gw, fmt.Errorf("invalid gateway address: %s", gateway)
		}
	}
	return p, gw, nil
}

// checkNetworkName is Docker's check of a network name.
func checkNetworkName(name string) error {
	if name == "" {
		return errors.New("network name cannot be empty")
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && strings.ContainsRune("_.-", r)
		if !ok {
			return fmt.Errorf("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
		}
	}
	return nil
}

// networks are the root's networks: the predefined bridge, host and none
// (the bridge as recorded, or as it would be made) and the user-defined
// ones.
func (e *Engine) networks(ctx context.Context) ([]network.Network, error) {
	recorded, err := e.net.Store.Networks(ctx)
	if err != nil {
		return nil, err
	}
	var out []network.Network
	if !slices.ContainsFunc(recorded, func(n network.Network) bool { return n.Name == network.BridgeNetwork }) {
		want, err := network.BridgeFromEnv()
		if err != nil {
			return nil, err
		}
		out = append(out, network.Network{Name: network.BridgeNetwork, ID: network.PredefinedID(network.BridgeNetwork), Bridge: want})
	}
	for _, name := range []string{network.ModeHost, network.ModeNone} {
		out = append(out, network.Network{Name: name, ID: network.PredefinedID(name)})
	}
	return append(out, recorded...), nil
}

// network finds a network by name, ID or unique ID prefix.
func (e *Engine) network(ctx context.Context, ref string) (*network.Network, error) {
	nets, err := e.networks(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		if n.Name == ref || n.ID == ref {
			return &n, nil
		}
	}
	var found []network.Network
	for _, n := range nets {
		if ref != "" && strings.HasPrefix(n.ID, ref) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 1:
		return &found[0], nil
	case 0:
		return nil, ErrNetworkNotFound{ref}
	}
	return nil, fmt.Errorf("network %s is ambiguous (%d matches found based on ID prefix)", ref, len(found))
}

func predefined(n network.Network) bool { return slices.Contains(network.Predefined, n.Name) }

// networkInspect is Docker's view of network n, with the containers that
// have an endpoint on it.
func (e *Engine) networkInspect(ctx context.Context, n network.Network) (*mobynetwork.Inspect, error) {
	out := &mobynetwork.Inspect{Network: mobynetwork.Network{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Settings.Driver, EnableIPv4: true, EnableIPv6: n.Bridge.IPv6(),
		IPAM:     mobynetwork.IPAM{Driver: "default", Options: map[string]string{}, Config: []mobynetwork.IPAMConfig{}},
		Internal: n.Settings.Internal, Options: n.Settings.Options, Labels: n.Settings.Labels,
	}, Containers: map[string]mobynetwork.EndpointResource{}}
	switch n.Name {
	case network.ModeHost, network.ModeNone:
		// Docker's: no IPAM options nor configuration (null).
		out.Driver, out.EnableIPv4 = n.Type(), false
		out.IPAM.Options, out.IPAM.Config = nil, nil
	case network.BridgeNetwork:
		// The daemon makes it with no IPAM options (null), and these.
		out.Driver = "bridge"
		out.IPAM.Options = nil
		mtu, err := network.BridgeMTUFromEnv()
		if err != nil {
			return nil, err
		}
		out.Options = map[string]string{
			network.OptBridgeName:                            n.Bridge.Name,
			"com.docker.network.bridge.default_bridge":       "true",
			"com.docker.network.bridge.enable_icc":           "true",
			"com.docker.network.bridge.enable_ip_masquerade": "true",
			"com.docker.network.bridge.host_binding_ipv4":    "0.0.0.0",
			network.OptMTU: strconv.Itoa(cmp.Or(mtu, network.LocalMTU)),
		}
	}
	if out.Created.IsZero() {
		out.Created = time.Unix(0, 0)
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if n.Bridge.Subnet.IsValid() {
		cfg := mobynetwork.IPAMConfig{Subnet: n.Bridge.Subnet, Gateway: n.Bridge.Gateway}
		if n.Settings.IPRange != "" {
			cfg.IPRange, _ = netip.ParsePrefix(n.Settings.IPRange)
		}
		out.IPAM.Config = append(out.IPAM.Config, cfg)
	}
	if n.Bridge.IPv6() {
		cfg := mobynetwork.IPAMConfig{Subnet: n.Bridge.Subnet6, Gateway: n.Bridge.Gateway6}
		if n.Settings.IPRange6 != "" {
			cfg.IPRange, _ = netip.ParsePrefix(n.Settings.IPRange6)
		}
		out.IPAM.Config = append(out.IPAM.Config, cfg)
	}
	if n.Name == network.ModeHost || n.Name == network.ModeNone {
		// The running containers of that mode: an endpoint with no
		// address, as Docker's sandbox has.
		cs, err := e.containers.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if c.Status == container.Running && slices.Contains(c.Config.NetworkNames(), n.Name) {
				out.Containers[c.ID] = mobynetwork.EndpointResource{Name: c.Name, EndpointID: endpointID(c.ID, n.Name)}
			}
		}
	}
	if !n.Bridge.Subnet.IsValid() {
		return out, nil
	}
	eps, err := e.net.Store.Endpoints(ctx, n.Name)
	if err != nil {
		return nil, err
	}
	for _, ep := range eps {
		r := mobynetwork.EndpointResource{EndpointID: endpointID(ep.ContainerID, n.Name), IPv4Address: netip.PrefixFrom(ep.IP, n.Bridge.Subnet.Bits())}
		if ep.IP6.IsValid() {
			r.IPv6Address = netip.PrefixFrom(ep.IP6, ep.PrefixLen6)
		}
		if c, err := e.containers.Get(ctx, ep.ContainerID); err == nil {
			r.Name = c.Name
		}
		if mac, err := net.ParseMAC(ep.MAC); err == nil {
			r.MacAddress = mobynetwork.HardwareAddr(mac)
		}
		out.Containers[ep.ContainerID] = r
	}
	return out, nil
}

// InspectNetwork is `network inspect REF`, with the Status of Docker's
// API 1.52.
func (e *Engine) InspectNetwork(ctx context.Context, ref string) (*mobynetwork.Inspect, error) {
	n, err := e.network(ctx, ref)
	if err != nil {
		return nil, err
	}
	out, err := e.networkInspect(ctx, *n)
	if err != nil {
		return nil, err
	}
	var eps []network.Endpoint
	if n.Bridge.Subnet.IsValid() {
		if eps, err = e.net.Store.Endpoints(ctx, n.Name); err != nil {
			return nil, err
		}
	}
	out.Status = ipamStatus(*n, eps)
	return out, nil
}

// ipamStatus is Docker's IPAM status of network n with endpoints eps:
// for its subnet, the addresses in use (as Docker counts them: the
// network and broadcast addresses, the gateway, the containers') and
// those left to allocate in its --ip-range (else the subnet).
func ipamStatus(n network.Network, eps []network.Endpoint) *mobynetwork.Status {
	st := &mobynetwork.Status{}
	subnet := n.Bridge.Subnet
	if !subnet.IsValid() {
		return st
	}
	used := map[netip.Addr]bool{n.Bridge.Gateway: true}
	if host := subnet.Addr().BitLen() - subnet.Bits(); host > 1 {
		used[subnet.Addr()] = true
		used[lastAddr(subnet)] = true
	}
	for _, ep := range eps {
		used[ep.IP] = true
	}
	pool := subnet
	if r, err := netip.ParsePrefix(n.Settings.IPRange); err == nil {
		pool = r.Masked()
	}
	var inUse, inPool uint64
	for a := range used {
		if subnet.Contains(a) {
			inUse++
		}
		if pool.Contains(a) {
			inPool++
		}
	}
	size := uint64(1) << min(63, pool.Addr().BitLen()-pool.Bits())
	st.IPAM.Subnets = mobynetwork.SubnetStatuses{subnet: {IPsInUse: inUse, DynamicIPsAvailable: size - inPool}}
	return st
}

// lastAddr is the last address of prefix p (IPv4's broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	host := len(b)*8 - p.Bits()
	for i := len(b) - 1; host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// ListNetworks is `network ls`: the networks that pass f (driver, id,
// label, name, scope, type custom|builtin, dangling), by name.
func (e *Engine) ListNetworks(ctx context.Context, f Filters) ([]*mobynetwork.Inspect, error) {
	if err := f.validate("dangling", "driver", "id", "label", "name", "scope", "type"); err != nil {
		return nil, err
	}
	for _, t := range f["type"] {
		if t != "custom" && t != "builtin" {
			return nil, fmt.Errorf("invalid filter: 'type'='%s'", t)
		}
	}
	nets, err := e.networks(ctx)
	if err != nil {
		return nil, err
	}
	var out []*mobynetwork.Inspect
	for _, n := range nets {
		in, err := e.networkInspect(ctx, n)
		if err != nil {
			return nil, err
		}
		typ := "custom"
		if predefined(n) {
			typ = "builtin"
		}
		if !f.match("name", n.Name) || !f.match("id", n.ID) || !f.match("driver", in.Driver) || !f.match("scope", "local") ||
			!f.match("type", typ) || !f.matchLabels("label", in.Labels) {
			continue
		}
		if d := f["dangling"]; len(d) > 0 {
			dangling := !predefined(n) && len(in.Containers) == 0
			if (d[0] == "true" || d[0] == "1") != dangling {
				continue
			}
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b *mobynetwork.Inspect) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// RemoveNetwork is `network rm REF`: refused for the predefined networks
// and while containers are on it.
func (e *Engine) RemoveNetwork(ctx context.Context, ref string) error {
	n, err := e.network(ctx, ref)
	if err != nil {
		return err
	}
	if predefined(*n) {
		return fmt.Errorf("%s is a pre-defined network and cannot be removed", n.Name)
	}
	e.releaseStopped(ctx, n.Name)
	if err := e.net.RemoveNetwork(ctx, n); err != nil {
		return err
	}
	e.emit(ctx, n.Event(network.EventDestroy, ""))
	return nil
}

// releaseStopped gives back the endpoints on network name of containers
// that stopped without anyone looking since.
func (e *Engine) releaseStopped(ctx context.Context, name string) {
	eps, err := e.net.Store.Endpoints(ctx, name)
	if err != nil {
		return
	}
	for _, ep := range eps {
		if c, err := e.containers.Get(ctx, ep.ContainerID); err == nil {
			e.reconcile(ctx, c)
		}
	}
}

// PruneNetworks is `network prune`: removes the user-defined networks no
// container is on (that pass f: label, label!, until) and returns their
// names.
func (e *Engine) PruneNetworks(ctx context.Context, f Filters) ([]string, error) {
	if err := f.validate("label", "label!", "until"); err != nil {
		return nil, err
	}
	var until time.Time
	if u := f["until"]; len(u) > 1 {
		return nil, errors.New("more than one until filter specified")
	} else if len(u) == 1 {
		t, err := ParseTimestamp(u[0], time.Now())
		if err != nil {
			return nil, err
		}
		until = t
	}
	nets, err := e.net.Store.Networks(ctx)
	if err != nil {
		return nil, err
	}
	deleted := []string{}
	for _, n := range nets {
		if predefined(n) || !f.matchLabels("label", n.Settings.Labels) {
			continue
		}
		if len(f["label!"]) > 0 && f.matchLabels("label!", n.Settings.Labels) {
			continue
		}
		if !until.IsZero() && !n.Created.Before(until) {
			continue
		}
		e.releaseStopped(ctx, n.Name)
		if err := e.net.RemoveNetwork(ctx, &n); err != nil {
			var inUse network.ErrInUse
			if errors.As(err, &inUse) {
				continue
			}
			return deleted, err
		}
		e.emit(ctx, n.Event(network.EventDestroy, ""))
		deleted = append(deleted, n.Name)
	}
	// Docker's, with nothing to reclaim for a network.
	e.emit(ctx, Event{Type: "network", Action: network.EventPrune, Attributes: map[string]string{"reclaimed": "0"}})
	return deleted, nil
}
