package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/berth-dev/berth/internal/network/dns"
)

// Connect puts running container req.ID on network a.Network as well
// (network connect): a new endpoint, with the next free interface name
// and the default route if the container has none, then its hosts and
// resolv.conf rewritten from req (whose Networks include a). A failure
// undoes the endpoint.
func (m *Manager) Connect(ctx context.Context, req Request, a Attachment) (ep *Endpoint, err error) {
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	n, err := m.network(ctx, a.Network)
	if err != nil {
		return nil, err
	}
	eps, _, err := m.Store.ContainerEndpoints(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	route, route6 := true, true
	ifname := ""
	for i := 0; ifname == ""; i++ {
		name := fmt.Sprintf("eth%d", i)
		if !slices.ContainsFunc(eps, func(ep Endpoint) bool { return ep.IfName == name }) {
			ifname = name
		}
	}
	for _, ep := range eps {
		if o, err := m.network(ctx, ep.Network); err == nil && !o.Settings.Internal {
			route = false
			route6 = route6 && !ep.IP6.IsValid()
		}
	}
	ep, _, err = m.join(ctx, *n, Endpoint{ContainerID: req.ID, IP: a.IP, IP6: a.IP6, IfName: ifname, Aliases: a.Aliases, MAC: a.MAC}, nil, route, route6)
	if err != nil {
		if !errors.As(err, new(ErrEndpointExists)) {
			m.leave(ctx, req.ID, n.Name)
		}
		return nil, err
	}
	extra, err := m.extraHosts(ctx, req)
	if err != nil {
		return ep, err
	}
	return ep, m.writeFiles(ctx, req, extra, append(eps, *ep))
}

// Disconnect takes running container req.ID off network name (network
// disconnect): its endpoint, published ports and interface go; when that
// interface had the default route (IPv4 or IPv6), the next network that
// is not internal (and has IPv6) gets it; then its hosts and resolv.conf
// are rewritten from req (whose Networks no longer have name).
func (m *Manager) Disconnect(ctx context.Context, req Request, name string) error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.leave(ctx, req.ID, name); err != nil {
		return err
	}
	eps, _, err := m.Store.ContainerEndpoints(ctx, req.ID)
	if err != nil {
		return err
	}
	for _, ep := range eps {
		// In order: the first gets the routes the container lacks, the
		// next only an IPv6 one if the first had no IPv6, and so on.
		if n, err := m.network(ctx, ep.Network); err == nil && !n.Settings.Internal {
			if err := setDefaultRoute(m.NetNSPath(req.ID), ep); err != nil {
				return err
			}
		}
	}
	extra, err := m.extraHosts(ctx, req)
	if err != nil {
		return err
	}
	return m.writeFiles(ctx, req, extra, eps)
}

// leave removes container id's endpoint on network name: its ports from
// the nft table, its record, its veth; then the network's names file is
// rewritten.
func (m *Manager) leave(ctx context.Context, id, name string) error {
	eps, _, err := m.Store.ContainerEndpoints(ctx, id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(eps, func(ep Endpoint) bool { return ep.Network == name })
	if i < 0 {
		return nil
	}
	if _, err := m.Store.ReleaseOn(ctx, id, name); err != nil {
		return err
	}
	if n, err := m.network(ctx, name); err == nil {
		if err := m.applyRules(ctx, *n, ""); err != nil {
			return err
		}
	}
	if err := deleteLink(VethName(id, eps[i].IfName)); err != nil {
		return fmt.Errorf("veth of %s: %w", id, err)
	}
	return m.writeNames(ctx, name)
}

// setDefaultRoute routes the namespace at nsPath's default traffic
// through ep's gateway, unless it has a default route; the same for IPv6
// when ep has an IPv6 address.
func setDefaultRoute(nsPath string, ep Endpoint) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	defer h.Close()
	l, err := h.LinkByName(ep.IfName)
	if err != nil {
		return fmt.Errorf("%s: %w", ep.IfName, err)
	}
	for _, gw := range []netip.Addr{ep.Gateway, ep.Gateway6} {
		if !gw.IsValid() {
			continue
		}
		family := netlink.FAMILY_V4
		if gw.Is6() {
			family = netlink.FAMILY_V6
		}
		routes, err := h.RouteList(nil, family)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(routes, func(r netlink.Route) bool { return r.Dst == nil || r.Dst.IP.IsUnspecified() }) {
			continue
		}
		if err := h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw.AsSlice()}); err != nil {
			return fmt.Errorf("%s: default route via %s: %w", ep.IfName, gw, err)
		}
	}
	return nil
}

// extraHosts are req's --add-host entries (host-gateway is the default
// bridge's address).
func (m *Manager) extraHosts(ctx context.Context, req Request) ([]HostEntry, error) {
	gateway := m.Gateway(ctx)
	var extra []HostEntry
	for _, h := range req.ExtraHosts {
		e, err := ParseExtraHost(h, gateway)
		if err != nil {
			return nil, err
		}
		extra = append(extra, e)
	}
	return extra, nil
}

// writeFiles writes the hosts, hostname and resolv.conf of a container
// on bridge networks with endpoints eps: its name at each of its
// addresses; on a user-defined network, the resolver's address as the
// nameserver and the resolver's file (dns.ConfigName) with the servers it
// forwards to; else the host's servers (and no resolver file).
func (m *Manager) writeFiles(ctx context.Context, req Request, extra []HostEntry, eps []Endpoint) error {
	var self []*HostEntry
	user, external := false, false
	for _, ep := range eps {
		self = append(self, SelfEntry(ep.IP, req.Hostname, req.Domainname))
		if ep.IP6.IsValid() {
			self = append(self, SelfEntry(ep.IP6, req.Hostname, req.Domainname))
		}
		if ep.Network == BridgeNetwork {
			external = true
			continue
		}
		user = true
		if n, err := m.Store.Network(ctx, ep.Network); err == nil && !n.Settings.Internal {
			external = true
		}
	}
	hosts := HostsFile(extra, self...)
	conf := filepath.Join(req.Dir, dns.ConfigName)
	if !user {
		if err := os.Remove(conf); err != nil && !os.IsNotExist(err) {
			return err
		}
		return writeFiles(req, hosts)
	}
	host, err := LoadHostResolvConf(HostResolvConf(), ResolvedResolvConfPath)
	if err != nil {
		return err
	}
	ext := ResolverUpstreams(host, req.DNS, external)
	if err := writeFileAtomic(conf, dns.FormatConfig(dns.Config{Servers: ext, Links: req.Links, LinkNetworks: req.LinkNetworks})); err != nil {
		return err
	}
	return writeAll(req.Dir, hosts, []byte(req.Hostname+"\n"), InternalResolvConf(host, req.DNS, ext))
}

// NamesDir is where root keeps the DNS names of its user-defined
// networks, one file per network (see package dns).
func NamesDir(root string) string { return filepath.Join(root, "run", "dns") }

// writeNames rewrites network name's names file from its endpoints (the
// default bridge has none: its containers know each other only by
// --add-host, as in Docker).
func (m *Manager) writeNames(ctx context.Context, name string) error {
	if name == BridgeNetwork || name == "" {
		return nil
	}
	recs, err := m.Store.NameRecords(ctx, name)
	if err != nil {
		return err
	}
	path := filepath.Join(NamesDir(m.Root), name)
	if len(recs) == 0 {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(NamesDir(m.Root), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(path, dns.Format(name, recs))
}

// writeFileAtomic replaces path with data through a temporary file and a
// rename, so that a reader sees the old file or the new one.
func writeFileAtomic(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Renamed rewrites the names files of the networks container id is on,
// after its name changed (rename).
func (m *Manager) Renamed(ctx context.Context, id string) error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	eps, _, err := m.Store.ContainerEndpoints(ctx, id)
	if err != nil {
		return err
	}
	for _, ep := range eps {
		if err := m.writeNames(ctx, ep.Network); err != nil {
			return err
		}
	}
	return nil
}
