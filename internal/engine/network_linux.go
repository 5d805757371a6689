package engine

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	containertypes "github.com/moby/moby/api/types/container"
	mobynetwork "github.com/moby/moby/api/types/network"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/network/dns"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/shim"
)

// A container's networking lives from its start to its stop: the engine
// sets it up (network.Manager.Setup) just before the shim starts the
// container, into a namespace whose path config.json has had since
// create; it survives the restarts the shim makes by the restart policy.
// It is torn down when the container stops for good: by the shim as it
// ends (NetworkTeardown), and in any case by the engine whenever it sees a
// container that is not running, has no shim and still has network state
// (reconcile), so that a kill -9 of the shim leaks nothing.

// ErrNetworkNotFound is an unknown --network; the message is Docker's.
type ErrNetworkNotFound struct{ Name string }

func (e ErrNetworkNotFound) Error() string { return fmt.Sprintf("network %s not found", e.Name) }

// netMode is a container's network mode: bridge, host or none.
func netMode(cfg container.Config) string {
	switch cfg.NetworkMode {
	case "", "default", network.ModeBridge:
		return network.ModeBridge
	}
	return cfg.NetworkMode
}

// bridged says whether a network mode puts the container on a bridge:
// the default one or a user-defined network.
func bridged(mode string) bool {
	_, shared := sharedNetNS(mode)
	return mode != network.ModeHost && mode != network.ModeNone && !shared
}

// sharedNetNS is the ID of the container whose network namespace a network
// mode (container:<ID>) joins.
func sharedNetNS(mode string) (id string, ok bool) { return strings.CutPrefix(mode, "container:") }

// Docker's errors for what --network container: can't have (runconfig's).
var (
	errJoinedHostname = errors.New("conflicting options: hostname and the network mode")
	errJoinedDNS      = errors.New("conflicting options: dns and the network mode")
	errJoinedHosts    = errors.New("conflicting options: custom host-to-IP mapping and the network mode")
	errJoinedPublish  = errors.New("conflicting options: port publishing and the container type network mode")
	errJoinedExpose   = errors.New("conflicting options: port exposing and the container type network mode")
	errJoinedMAC      = errors.New("conflicting options: mac-address and the network mode")
)

// netDonor is the running container whose network namespace another
// joins (--network container:REF), with Docker's errors.
func (e *Engine) netDonor(ctx context.Context, ref string) (*container.Container, error) {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return nil, err
	}
	if c.Status == container.Restarting {
		return nil, fmt.Errorf("Container %s is restarting, wait until the container is running", ref)
	}
	if c.Status != container.Running || c.Pid == 0 {
		return nil, fmt.Errorf("cannot join network of a non running container: %s", ref)
	}
	return c, nil
}

// attachments are the networks a container is on, in order: the ones
// network connect and disconnect left, else its --network (host and
// none included) with its --ip and --network-alias.
func attachments(cfg container.Config) []container.NetworkAttachment {
	if cfg.Networks != nil {
		return cfg.Networks
	}
	if _, ok := sharedNetNS(cfg.NetworkMode); ok {
		return nil // it has the networks of the container it joins
	}
	return []container.NetworkAttachment{{Network: netMode(cfg), IPv4Address: cfg.IPv4Address, IPv6Address: cfg.IPv6Address, Aliases: cfg.NetworkAliases, MacAddress: cfg.MacAddress}}
}

// bridgedAttachments are the attachments of cfg that are bridge networks.
func bridgedAttachments(cfg container.Config) []container.NetworkAttachment {
	var out []container.NetworkAttachment
	for _, a := range attachments(cfg) {
		if bridged(a.Network) {
			out = append(out, a)
		}
	}
	return out
}

// checkNetwork refuses an unknown network at create, --ip and
// --network-alias off a user-defined network, and bad DNS or host
// entries that an API client could send past the CLI's checks.
func (e *Engine) checkNetwork(ctx context.Context, cfg *container.Config) error {
	user := false
	var first *network.Network // the bridge network of NetworkMode
	var err error
	switch m := containertypes.NetworkMode(cfg.NetworkMode); {
	case netMode(*cfg) == network.ModeBridge, m.IsHost(), m.IsNone():
	case m.IsContainer():
		switch {
		case cfg.Hostname != "":
			return errJoinedHostname
		case len(cfg.DNS) > 0:
			return errJoinedDNS
		case len(cfg.ExtraHosts) > 0:
			return errJoinedHosts
		case len(cfg.PortBindings) > 0 || cfg.PublishAllPorts:
			return errJoinedPublish
		case len(cfg.ExposedPorts) > 0:
			return errJoinedExpose
		case cfg.MacAddress != "":
			return errJoinedMAC
		}
		donor, err := e.netDonor(ctx, m.ConnectedContainer())
		if err != nil {
			return err
		}
		cfg.NetworkMode = "container:" + donor.ID
		// Its own UTS namespace, with the donor's names, as Docker's.
		cfg.Hostname = hostnameOf(donor)
		cfg.Domainname = donor.Config.Domainname
	default:
		n, err := e.net.Store.Network(ctx, cfg.NetworkMode)
		var nf network.ErrNotFound
		if errors.As(err, &nf) {
			return ErrNetworkNotFound{cfg.NetworkMode}
		}
		if err != nil {
			return err
		}
		cfg.NetworkMode, user, first = n.Name, true, n
	}
	cfg.NetworkMode = netMode(*cfg)
	if cfg.NetworkMode == network.ModeBridge {
		// The default bridge as recorded, or as it would be made.
		if first, err = e.network(ctx, network.BridgeNetwork); err != nil {
			return err
		}
	}
	if cfg.MacAddress != "" && cfg.NetworkMode == network.ModeHost {
		return errJoinedMAC
	}
	if cfg.IPv4Address != "" {
		if !user {
			return errors.New("user specified IP address is supported on user defined networks only")
		}
		a, err := netip.ParseAddr(cfg.IPv4Address)
		if err != nil || !a.Is4() {
			return fmt.Errorf("invalid IPv4 address: %s", cfg.IPv4Address)
		}
	}
	if cfg.IPv6Address != "" {
		if !user {
			return errors.New("user specified IP address is supported on user defined networks only")
		}
		if err := checkIP6(cfg.IPv6Address, first); err != nil {
			return err
		}
	}
	if len(cfg.NetworkAliases) > 0 && !user {
		return errors.New("network-scoped alias is supported only for containers in user defined networks")
	}
	if cfg.Networks != nil {
		// Several --network: all user-defined, the first NetworkMode's.
		if !user {
			return errors.New("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
		}
		for i := range cfg.Networks {
			a := &cfg.Networks[i]
			n, err := e.net.Store.Network(ctx, a.Network)
			if errors.As(err, new(network.ErrNotFound)) || err == nil && n.Name == network.BridgeNetwork {
				return ErrNetworkNotFound{a.Network}
			}
			if err != nil {
				return err
			}
			a.Network = n.Name
			if a.IPv4Address != "" {
				if ip, err := netip.ParseAddr(a.IPv4Address); err != nil || !ip.Is4() {
					return fmt.Errorf("invalid IPv4 address: %s", a.IPv4Address)
				}
			}
			if a.IPv6Address != "" {
				if err := checkIP6(a.IPv6Address, n); err != nil {
					return err
				}
			}
		}
		cfg.Networks[0] = container.NetworkAttachment{Network: cfg.NetworkMode, IPv4Address: cfg.IPv4Address, IPv6Address: cfg.IPv6Address,
			Aliases: cfg.NetworkAliases, MacAddress: cfg.MacAddress}
	}
	for _, s := range cfg.DNS {
		if _, err := netip.ParseAddr(s); err != nil {
			return fmt.Errorf("%s is not an ip address", s)
		}
	}
	for _, h := range cfg.ExtraHosts {
		if _, err := network.ParseExtraHost(h, netip.IPv4Unspecified()); err != nil {
			return err
		}
	}
	for p, bs := range cfg.PortBindings {
		for _, b := range bs {
			if err := checkHostIP(p, b.HostIP.Unmap(), cfg.NetworkMode, first); err != nil {
				return err
			}
			if _, _, err := hostPorts(b.HostPort); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkIP6 is the check of a --ip6 on user-defined network n: an IPv6
// address, and a network with IPv6.
func checkIP6(s string, n *network.Network) error {
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is6() || ip.Is4In6() {
		return fmt.Errorf("invalid IPv6 address: %s", s)
	}
	if n != nil && !n.Bridge.IPv6() {
		return fmt.Errorf("invalid IPv6 address %s: network %s has no IPv6 (create it with --ipv6)", s, n.Name)
	}
	return nil
}

// checkHostIP refuses what berth can't publish on (it has no userland
// proxy): an IPv6 address of the host when the container's first network
// (mode; n when a bridge network) has no IPv6, and [::1], which the
// kernel never routes to a container (see network.Ruleset).
func checkHostIP(p mobynetwork.Port, ip netip.Addr, mode string, n *network.Network) error {
	if !ip.Is6() {
		return nil
	}
	if ip.IsLoopback() {
		return fmt.Errorf("cannot publish %s on [::1]: the kernel can't forward IPv6 loopback traffic to a container and berth has no userland proxy (publish on 127.0.0.1, or on [::] and connect to another IPv6 address of the host)", p)
	}
	if mode == network.ModeNone || n != nil && !n.Bridge.IPv6() {
		return fmt.Errorf("cannot publish %s on [%s]: network %s has no IPv6 (create a network with --ipv6, or publish on an IPv4 address)", p, ip, mode)
	}
	return nil
}

// hostPorts reads a binding's HostPort: "" (ephemeral), "8080" or a
// range "8000-8010".
func hostPorts(s string) (start, end uint16, err error) {
	if s == "" {
		return 0, 0, nil
	}
	pr, err := mobynetwork.ParsePortRange(s)
	if err != nil {
		return 0, 0, fmt.Errorf("invalid hostPort: %s", s)
	}
	return pr.Start(), pr.End(), nil
}

// networkOptions puts the container's network namespace and its hosts,
// hostname and resolv.conf files (written at each start) into the spec.
// A container that joins another's namespace has that container's
// files, and its namespace as it is at each start (see joinNetwork).
func (e *Engine) networkOptions(c *container.Container, o *oci.Options) {
	dir := e.containerDir(c.ID)
	if netMode(c.Config) == network.ModeHost {
		o.NetNS = oci.NetNSHost
	} else if donor, ok := sharedNetNS(c.Config.NetworkMode); ok {
		o.NetNS = e.net.NetNSPath(donor)
		dir = e.containerDir(donor)
	} else {
		o.NetNS = e.net.NetNSPath(c.ID)
	}
	for _, f := range []struct{ name, dest string }{
		{network.ResolvFileName, "/etc/resolv.conf"},
		{network.HostnameFileName, "/etc/hostname"},
		{network.HostsFileName, "/etc/hosts"},
	} {
		o.Mounts = append(o.Mounts, specs.Mount{Destination: f.dest, Type: "bind", Source: filepath.Join(dir, f.name),
			Options: []string{"rbind", "rprivate"}})
	}
}

// exposedPorts are the container's exposed ports, sorted: the image's
// EXPOSE, --expose and those -p publishes.
func exposedPorts(cfg container.Config, img *dockerspec.DockerOCIImage) []mobynetwork.Port {
	set := map[mobynetwork.Port]bool{}
	if img != nil {
		for p := range img.Config.ExposedPorts {
			if port, err := mobynetwork.ParsePort(p); err == nil {
				set[port] = true
			}
		}
	}
	for p := range cfg.ExposedPorts {
		set[p] = true
	}
	for p := range cfg.PortBindings {
		set[p] = true
	}
	out := make([]mobynetwork.Port, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePort)
	return out
}

func comparePort(a, b mobynetwork.Port) int {
	return cmp.Or(cmp.Compare(a.Num(), b.Num()), cmp.Compare(a.Proto(), b.Proto()))
}

// bindings are the ports to publish at a start: -p's, then for -P every
// other exposed port on an ephemeral host port.
func bindings(cfg container.Config, img *dockerspec.DockerOCIImage) ([]network.Binding, error) {
	var out []network.Binding
	for _, p := range exposedPorts(cfg, img) {
		bs, ok := cfg.PortBindings[p]
		if !ok {
			if cfg.PublishAllPorts {
				out = append(out, network.Binding{Proto: string(p.Proto()), ContainerPort: p.Num()})
			}
			continue
		}
		for _, b := range bs {
			start, end, err := hostPorts(b.HostPort)
			if err != nil {
				return nil, err
			}
			out = append(out, network.Binding{Proto: string(p.Proto()), HostIP: b.HostIP, HostPortStart: start, HostPortEnd: end, ContainerPort: p.Num()})
		}
	}
	return out, nil
}

// setupNetwork sets container c's network up for a start (see
// network.Manager.Setup).
func (e *Engine) setupNetwork(ctx context.Context, c *container.Container, img *dockerspec.DockerOCIImage) error {
	if err := e.wantBridge(); err != nil {
		return err
	}
	// Containers that stopped without anyone looking since (their shim
	// ended) give their addresses and ports back first.
	if ids, err := e.net.Store.EndpointIDs(ctx); err == nil {
		for _, id := range ids {
			if other, err := e.containers.Get(ctx, id); err == nil && id != c.ID {
				e.reconcile(ctx, other)
			}
		}
	}
	if id, ok := sharedNetNS(c.Config.NetworkMode); ok {
		return e.joinNetwork(ctx, c, id)
	}
	req, err := e.networkRequest(c, nil)
	if err != nil {
		return err
	}
	if req.Mode == network.ModeBridge {
		if req.Bindings, err = bindings(c.Config, img); err != nil {
			return err
		}
	}
	if hasLinks(c) {
		env, err := e.addLinks(ctx, c, &req, true)
		if err != nil {
			return err
		}
		if err := e.setLinkEnv(c, env); err != nil {
			return err
		}
	}
	_, err = e.net.Setup(ctx, req)
	if err != nil && errors.Is(err, network.ErrPortAllocated) {
		return fmt.Errorf("driver failed programming external connectivity on endpoint %s (%s): %w", c.Name, c.ID, err)
	}
	return err
}

// joinNetwork points the spec of container c, which joins container
// id's network namespace, at that namespace as it is now: the donor must
// run, and its namespace may be the host's.
func (e *Engine) joinNetwork(ctx context.Context, c *container.Container, id string) error {
	donor, err := e.netDonor(ctx, id)
	if err != nil {
		return err
	}
	path := fmt.Sprintf("/proc/%d/ns/net", donor.Pid)
	return e.editSpec(c.ID, func(s *specs.Spec) error {
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = path
				return nil
			}
		}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: path})
		return nil
	})
}

// networkRequest is what container c's network is set up from; nets
// (when not nil) replaces its attachments.
func (e *Engine) networkRequest(c *container.Container, nets []container.NetworkAttachment) (network.Request, error) {
	cfg := c.Config
	if nets == nil {
		nets = bridgedAttachments(cfg)
	}
	req := network.Request{ID: c.ID, Mode: network.ModeNone, Hostname: cfg.Hostname, Domainname: cfg.Domainname, ExtraHosts: cfg.ExtraHosts, Dir: e.containerDir(c.ID)}
	if netMode(cfg) == network.ModeHost {
		req.Mode = network.ModeHost
	} else if len(nets) > 0 || bridged(netMode(cfg)) {
		req.Mode = network.ModeBridge
	}
	for _, a := range nets {
		at := network.Attachment{Network: a.Network, Aliases: a.Aliases, MAC: a.MacAddress}
		if a.IPv4Address != "" {
			ip, err := netip.ParseAddr(a.IPv4Address)
			if err != nil {
				return req, fmt.Errorf("invalid IPv4 address: %s", a.IPv4Address)
			}
			at.IP = ip
		}
		if a.IPv6Address != "" {
			ip, err := netip.ParseAddr(a.IPv6Address)
			if err != nil {
				return req, fmt.Errorf("invalid IPv6 address: %s", a.IPv6Address)
			}
			at.IP6 = ip
		}
		req.Networks = append(req.Networks, at)
	}
	if req.Hostname == "" {
		req.Hostname = c.ID[:12]
		if req.Mode == network.ModeHost {
			h, err := os.Hostname()
			if err != nil {
				return req, err
			}
			req.Hostname = h
		}
	}
	if len(cfg.DNS) > 0 {
		req.DNS.Servers = []netip.Addr{}
		for _, s := range cfg.DNS {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return req, fmt.Errorf("%s is not an ip address", s)
			}
			req.DNS.Servers = append(req.DNS.Servers, a)
		}
	}
	if len(cfg.DNSSearch) > 0 {
		req.DNS.Search = cfg.DNSSearch
	}
	if len(cfg.DNSOptions) > 0 {
		req.DNS.Options = cfg.DNSOptions
	}
	return req, nil
}

// lockStart holds container id's start lock from its network's setup
// until its shim runs: while it is held, the network is not torn down as
// a stopped container's.
func (e *Engine) lockStart(id string, block bool) (unlock func(), ok bool) {
	f, err := os.OpenFile(filepath.Join(e.containerDir(id), "network.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return func() {}, !block
	}
	how := unix.LOCK_EX
	if !block {
		how |= unix.LOCK_NB
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return func() {}, false
	}
	return func() { f.Close() }, true
}

// releaseNetwork tears down container c's network if it has stopped (not
// running, no shim, no start under way) and left some.
func (e *Engine) releaseNetwork(ctx context.Context, c *container.Container) {
	if c.Status == container.Running || c.Status == container.Restarting || !e.net.HasState(c.ID) {
		return
	}
	dir := e.containerDir(c.ID)
	if shim.Alive(dir) {
		return
	}
	unlock, ok := e.lockStart(c.ID, false)
	if !ok {
		return
	}
	defer unlock()
	if shim.Alive(dir) { // started between the look and the lock
		return
	}
	e.net.Teardown(ctx, c.ID)
}

// NetworkTeardown tears down container id's networking in root (see
// network.Teardown): for the shim once the container has stopped for good,
// or `berth network-teardown`.
func NetworkTeardown(root, id string) error { return network.Teardown(root, id) }

// PortMapping is one published port of a running container.
type PortMapping struct {
	Port     mobynetwork.Port // the container's port and protocol
	HostIP   netip.Addr
	HostPort uint16
}

// ContainerPorts lists the published ports of running container ref,
// sorted by container port, as `docker port` shows them.
func (e *Engine) ContainerPorts(ctx context.Context, ref string) (*container.Container, []PortMapping, error) {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	if c.Status != container.Running && c.Status != container.Restarting {
		return c, nil, nil
	}
	_, ports, err := e.net.Store.ContainerEndpoints(ctx, c.ID)
	if err != nil {
		return nil, nil, err
	}
	out := make([]PortMapping, 0, len(ports))
	for _, p := range ports {
		port, _ := mobynetwork.PortFrom(p.ContainerPort, mobynetwork.IPProtocol(p.Proto))
		out = append(out, PortMapping{Port: port, HostIP: p.HostIP, HostPort: p.HostPort})
	}
	slices.SortFunc(out, func(a, b PortMapping) int {
		return cmp.Or(comparePort(a.Port, b.Port), a.HostIP.Compare(b.HostIP), cmp.Compare(a.HostPort, b.HostPort))
	})
	return c, out, nil
}

// networkSettings is inspect's NetworkSettings: every network the
// container is on, with its endpoint while the container runs (Docker's
// fields of a stopped one are empty), its published ports, and its
// exposed ports that are not (null).
func (e *Engine) networkSettings(ctx context.Context, c *container.Container, img *dockerspec.DockerOCIImage) *containertypes.NetworkSettings {
	ns := &containertypes.NetworkSettings{Ports: mobynetwork.PortMap{}, Networks: map[string]*mobynetwork.EndpointSettings{}}
	running := c.Status == container.Running || c.Status == container.Restarting
	for _, a := range attachments(c.Config) {
		es := &mobynetwork.EndpointSettings{Aliases: a.Aliases, Links: a.Links, DriverOpts: a.DriverOpts}
		if a.Network == c.Config.NetworkMode && a.Network != network.BridgeNetwork && bridged(a.Network) {
			// run --link on a user-defined network: the endpoint's, as
			// the docker CLI sends them.
			es.Links = append(slices.Clone(c.Config.Links), a.Links...)
		}
		ip4, err4 := netip.ParseAddr(a.IPv4Address)
		ip6, err6 := netip.ParseAddr(a.IPv6Address)
		if err4 == nil || err6 == nil {
			es.IPAMConfig = &mobynetwork.EndpointIPAMConfig{IPv4Address: ip4, IPv6Address: ip6}
		}
		ns.Networks[a.Network] = es
	}
	if !running {
		if !c.Started.IsZero() {
			e.keptEndpointSettings(ctx, c, ns)
		}
		return ns
	}
	if _, shared := sharedNetNS(c.Config.NetworkMode); !shared && netMode(c.Config) != network.ModeHost {
		ns.SandboxKey = e.net.NetNSPath(c.ID)
	}
	for _, name := range []string{network.ModeHost, network.ModeNone} {
		// Docker's endpoint on the host or none network has no address.
		if es := ns.Networks[name]; es != nil {
			es.NetworkID, es.EndpointID = network.PredefinedID(name), endpointID(c.ID, name)
			ns.SandboxID = c.ID
		}
	}
	eps, ports, err := e.net.Store.ContainerEndpoints(ctx, c.ID)
	if err != nil || len(eps) == 0 {
		return ns
	}
	ns.SandboxID = c.ID
	for _, ep := range eps {
		es := ns.Networks[ep.Network]
		if es == nil {
			es = &mobynetwork.EndpointSettings{Aliases: ep.Aliases}
			ns.Networks[ep.Network] = es
		}
		es.NetworkID = network.PredefinedID(network.BridgeNetwork)
		if n, err := e.net.Store.Network(ctx, ep.Network); err == nil {
			es.NetworkID = n.ID
		}
		es.EndpointID = endpointID(c.ID, ep.Network)
		es.IPAddress, es.Gateway, es.IPPrefixLen = ep.IP, ep.Gateway, ep.PrefixLen
		if ep.IP6.IsValid() {
			es.GlobalIPv6Address, es.GlobalIPv6PrefixLen, es.IPv6Gateway = ep.IP6, ep.PrefixLen6, ep.Gateway6
		}
		if mac, err := net.ParseMAC(ep.MAC); err == nil {
			es.MacAddress = mobynetwork.HardwareAddr(mac)
		}
		es.DNSNames = nil
		if ep.Network != network.BridgeNetwork {
			es.DNSNames = dns.Names(c.Name, ep.Aliases, c.ID, c.Config.Hostname)
		}
	}
	for _, p := range exposedPorts(c.Config, img) {
		ns.Ports[p] = nil
	}
	for _, p := range ports {
		port, _ := mobynetwork.PortFrom(p.ContainerPort, mobynetwork.IPProtocol(p.Proto))
		ns.Ports[port] = append(ns.Ports[port], mobynetwork.PortBinding{HostIP: p.HostIP, HostPort: strconv.Itoa(int(p.HostPort))})
	}
	return ns
}

// keptEndpointSettings are what Docker keeps of the endpoints of a
// container that ran and stopped: each network's ID and, on a
// user-defined network, the container's DNS names.
func (e *Engine) keptEndpointSettings(ctx context.Context, c *container.Container, ns *containertypes.NetworkSettings) {
	for name, es := range ns.Networks {
		n, err := e.network(ctx, name)
		if err != nil {
			continue // gone since
		}
		es.NetworkID = n.ID
		if bridged(name) && name != network.BridgeNetwork {
			es.DNSNames = dns.Names(c.Name, es.Aliases, c.ID, c.Config.Hostname)
		}
	}
}

// endpointID is the ID of container id's endpoint on network name: 64
// hex characters, as Docker's, derived from both (the container's own
// ID on the default bridge, as before containers had several).
func endpointID(id, name string) string {
	if name == network.BridgeNetwork {
		return id
	}
	sum := sha256.Sum256([]byte("berth endpoint " + id + " " + name))
	return hex.EncodeToString(sum[:])
}

// portSummaries are ps's Ports: the published ports of a running
// container and its exposed ports that are not published.
func (e *Engine) portSummaries(ctx context.Context, c *container.Container, img *dockerspec.DockerOCIImage) []containertypes.PortSummary {
	out := []containertypes.PortSummary{}
	if c.Status != container.Running && c.Status != container.Restarting || netMode(c.Config) == network.ModeHost {
		return out
	}
	_, ports, _ := e.net.Store.ContainerEndpoints(ctx, c.ID)
	published := map[mobynetwork.Port]bool{}
	for _, p := range ports {
		port, _ := mobynetwork.PortFrom(p.ContainerPort, mobynetwork.IPProtocol(p.Proto))
		published[port] = true
		out = append(out, containertypes.PortSummary{IP: p.HostIP, PrivatePort: p.ContainerPort, PublicPort: p.HostPort, Type: p.Proto})
	}
	if len(bridgedAttachments(c.Config)) == 0 {
		return out
	}
	for _, p := range exposedPorts(c.Config, img) {
		if !published[p] {
			out = append(out, containertypes.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
		}
	}
	return out
}

// setNetworkConfig shows the network flags in inspect's HostConfig.
func setNetworkConfig(hc *containertypes.HostConfig, cfg container.Config) {
	hc.NetworkMode = containertypes.NetworkMode(netMode(cfg))
	hc.PortBindings = mobynetwork.PortMap{}
	for p, bs := range cfg.PortBindings {
		hc.PortBindings[p] = bs
	}
	hc.PublishAllPorts = cfg.PublishAllPorts
	hc.ExtraHosts = cfg.ExtraHosts
	hc.DNSOptions, hc.DNSSearch = cfg.DNSOptions, cfg.DNSSearch
	hc.DNS = []netip.Addr{}
	for _, s := range cfg.DNS {
		if a, err := netip.ParseAddr(s); err == nil {
			hc.DNS = append(hc.DNS, a)
		}
	}
	if len(hc.DNSOptions) == 0 {
		hc.DNSOptions = []string{}
	}
	if len(hc.DNSSearch) == 0 {
		hc.DNSSearch = []string{}
	}
}
