package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/network/dns"
	"github.com/berth-dev/berth/internal/shim"
)

// Docker's errors for connecting a container whose network namespace is
// not its own, or to such a network (runconfig's).
var (
	ErrConflictHostNetwork   = errors.New("container cannot be disconnected from host network or connected to host network")
	ErrConflictSharedNetwork = errors.New("container sharing network namespace with another container or host cannot be connected to any other network")
	ErrConflictNoNetwork     = errors.New("container cannot be connected to multiple networks with one of the networks in private (none) mode")
)

// ConnectOptions are network connect's flags.
type ConnectOptions struct {
	Aliases []string // --alias
	IP      string   // --ip
	IP6     string   // --ip6
	// Links are --link NAME[:ALIAS]: on a user-defined network, ALIAS is
	// a name for NAME that only this container resolves (Docker's
	// endpoint links); on the default bridge they are recorded and do
	// nothing, as in Docker (legacy links are run --link's).
	Links []string
	// DriverOpts are --driver-opt KEY=VALUE, recorded for inspect; the
	// bridge driver has none that berth applies (see checkConnectOptions).
	DriverOpts map[string]string
}

// Endpoint driver options of Docker's bridge driver that change the
// endpoint: berth refuses them rather than ignore them.
var unsupportedDriverOpts = []string{"com.docker.network.endpoint.sysctls", "com.docker.network.endpoint.ifname"}

// checkConnectOptions is Docker's check of --link, and berth's refusal
// of the driver options it does not apply.
func checkConnectOptions(o ConnectOptions) error {
	for _, l := range o.Links {
		if name, _, _ := strings.Cut(l, ":"); name == "" || strings.Count(l, ":") > 1 {
			return fmt.Errorf("bad format for links: %s", l)
		}
	}
	for _, k := range unsupportedDriverOpts {
		if _, ok := o.DriverOpts[k]; ok {
			return fmt.Errorf("driver option %s is not supported by berth", k)
		}
	}
	return nil
}

// ConnectNetwork is `network connect NET CONTAINER`: the container is on
// the network from its next start, and at once when it runs (a new
// interface, its names in the network's DNS, its hosts and resolv.conf
// rewritten).
func (e *Engine) ConnectNetwork(ctx context.Context, netRef, ref string, o ConnectOptions) error {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return err
	}
	n, err := e.network(ctx, netRef)
	if err != nil {
		return err
	}
	if err := checkConnectOptions(o); err != nil {
		return err
	}
	a := container.NetworkAttachment{Network: n.Name, IPv4Address: o.IP, Aliases: o.Aliases, Links: o.Links}
	if len(o.DriverOpts) > 0 {
		a.DriverOpts = o.DriverOpts
	}
	if o.IP != "" {
		ip, err := netip.ParseAddr(o.IP)
		if err != nil || !ip.Is4() {
			return fmt.Errorf("invalid IPv4 address: %s", o.IP)
		}
		a.IPv4Address = ip.String()
	}
	if n.Name == network.BridgeNetwork || !bridged(n.Name) {
		if o.IP != "" || o.IP6 != "" {
			return errors.New("user specified IP address is supported on user defined networks only")
		}
		if len(o.Aliases) > 0 {
			return errors.New("network-scoped alias is supported only for containers in user defined networks")
		}
	}
	if o.IP6 != "" {
		if err := checkIP6(o.IP6, n); err != nil {
			return err
		}
		ip, _ := netip.ParseAddr(o.IP6)
		a.IPv6Address = ip.String()
	}
	unlock, _ := e.lockStart(c.ID, true)
	defer unlock()
	if c, err = e.Container(ctx, c.ID); err != nil {
		return err
	}
	running := c.Status == container.Running || c.Status == container.Restarting
	mode := netMode(c.Config)
	if mode != network.ModeHost && n.Name == network.ModeHost {
		return ErrConflictHostNetwork
	}
	nets := attachments(c.Config)
	for _, cur := range nets {
		if cur.Network == n.Name {
			if running {
				return network.ErrEndpointExists{Name: c.Name, Network: n.Name}
			}
			return nil // Docker keeps the config it has
		}
		if cur.Network == network.ModeHost || n.Name == network.ModeHost {
			return ErrConflictSharedNetwork
		}
		if cur.Network == network.ModeNone || n.Name == network.ModeNone {
			return ErrConflictNoNetwork
		}
	}
	if _, shared := sharedNetNS(mode); shared || mode == network.ModeHost {
		return ErrConflictSharedNetwork
	}
	nets = append(slices.Clone(nets), a)
	if running {
		if err := e.wantBridge(); err != nil {
			return err
		}
		req, err := e.networkRequest(c, bridgedOf(nets))
		if err != nil {
			return err
		}
		e.addLinks(ctx, withNetworks(c, nets), &req, false)
		at := req.Networks[len(req.Networks)-1]
		if _, err := e.net.Connect(ctx, req, at); err != nil {
			var exists network.ErrEndpointExists
			if errors.As(err, &exists) {
				return network.ErrEndpointExists{Name: c.Name, Network: n.Name}
			}
			return err
		}
		if err := e.startResolver(c.ID); err != nil {
			return err
		}
	}
	return e.setNetworks(ctx, c.ID, nets, n, network.EventConnect, running)
}

// DisconnectNetwork is `network disconnect [-f] NET CONTAINER`: the
// container leaves the network, at once when it runs.
func (e *Engine) DisconnectNetwork(ctx context.Context, netRef, ref string, force bool) error {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return err
	}
	n, err := e.network(ctx, netRef)
	if err != nil {
		if !force {
			return err
		}
		n = &network.Network{Name: netRef} // -f: forget a network that is gone
	}
	unlock, _ := e.lockStart(c.ID, true)
	defer unlock()
	if c, err = e.Container(ctx, c.ID); err != nil {
		return err
	}
	running := c.Status == container.Running || c.Status == container.Restarting
	if running && netMode(c.Config) == network.ModeHost && n.Name == network.ModeHost {
		return ErrConflictHostNetwork
	}
	nets := attachments(c.Config)
	i := slices.IndexFunc(nets, func(a container.NetworkAttachment) bool { return a.Network == n.Name })
	if i < 0 {
		if running {
			return fmt.Errorf("container %s is not connected to network %s", c.ID, n.Name)
		}
		return fmt.Errorf("container %s is not connected to the network %s", c.ID, n.Name)
	}
	nets = slices.Delete(slices.Clone(nets), i, i+1)
	if running && bridged(n.Name) {
		req, err := e.networkRequest(c, append([]container.NetworkAttachment{}, bridgedOf(nets)...))
		if err != nil {
			return err
		}
		e.addLinks(ctx, withNetworks(c, nets), &req, false)
		if err := e.net.Disconnect(ctx, req, n.Name); err != nil {
			return err
		}
	}
	return e.setNetworks(ctx, c.ID, nets, n, network.EventDisconnect, running)
}

// wantBridge reads the default bridge from the environment for a setup
// or a connect that may make it (BERTH_BRIDGE, BERTH_BRIDGE_SUBNET) or
// take it with its MTU (BERTH_BRIDGE_MTU).
func (e *Engine) wantBridge() error {
	want, err := network.BridgeFromEnv()
	if err != nil {
		return err
	}
	mtu, err := network.BridgeMTUFromEnv()
	if err != nil {
		return err
	}
	e.net.Want, e.net.WantMTU = want, mtu
	return nil
}

// withNetworks is container c as it is once on nets.
func withNetworks(c *container.Container, nets []container.NetworkAttachment) *container.Container {
	cc := *c
	cc.Config.Networks = nets
	return &cc
}

// bridgedOf are the bridge networks of nets.
func bridgedOf(nets []container.NetworkAttachment) []container.NetworkAttachment {
	return slices.DeleteFunc(slices.Clone(nets), func(a container.NetworkAttachment) bool { return !bridged(a.Network) })
}

// startResolver has the shim of running container id serve its DNS
// resolver if it needs one now (a connect to its first user-defined
// network) and does not yet.
func (e *Engine) startResolver(id string) error {
	return shim.RequestResolver(e.containerDir(id), dns.ConfigName)
}

// setNetworks records nets as container id's networks and, when it runs,
// Docker's network event (connect, disconnect) of network n (none for a
// network that is gone). Docker has no event for a container that does
// not run: its endpoints change at its next start.
func (e *Engine) setNetworks(ctx context.Context, id string, nets []container.NetworkAttachment, n *network.Network, action string, running bool) error {
	if _, err := e.containers.UpdateConfig(ctx, id, func(cfg *container.Config) error {
		cfg.Networks = nets
		return nil
	}); err != nil {
		return err
	}
	if running && n.ID != "" {
		e.emit(ctx, n.Event(action, id))
	}
	return nil
}
