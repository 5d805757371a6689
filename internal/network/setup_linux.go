package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/store"
)

// Manager sets up and tears down the networking of one berth root's
// containers. Every setup and teardown holds the root's network lock
// (<root>/run/network.lock), so the nft table rendered from the store is
// never written from a stale read; the lock goes with its holder, even
// after a kill -9.
type Manager struct {
	Root  string
	Store *Store
	// Want is the bridge a root that has none yet is given (see
	// BridgeFromEnv); a root keeps the one it was first given.
	Want Bridge
	// WantMTU is the default bridge's MTU, 0 for LocalMTU (see
	// BridgeMTUFromEnv).
	WantMTU int
}

// NetNSPath is where container id's network namespace is bind-mounted
// while its network is set up: <root>/run/netns/<id>. Its presence is
// the sign that there may be something to tear down.
func (m *Manager) NetNSPath(id string) string { return filepath.Join(m.Root, "run", "netns", id) }

// Request is what a container's network is set up from.
type Request struct {
	ID   string
	Mode string // ModeBridge, ModeNone or ModeHost
	// Networks are the networks of a ModeBridge container, in order: its
	// interfaces are eth0, eth1, … The first that is not internal has
	// the default route and the published ports; the first that is not
	// internal and has IPv6 has the IPv6 default route (each family has
	// its gateway, as in Docker 28).
	Networks   []Attachment
	Bindings   []Binding // published ports (bridge only)
	Hostname   string    // the container's host name (the host's with ModeHost)
	Domainname string
	ExtraHosts []string // --add-host name:address values
	// LinkNetworks are the networks Links resolve on: alias → network
	// (none: any the two share).
	LinkNetworks map[string]string

	// Links are --link aliases on user-defined networks, to the linked
	// container's ID or name: names for this container's resolver alone.
	Links map[string]string
	DNS   DNSOptions
	// Dir receives the hosts, hostname and resolv.conf files the
	// container's spec bind-mounts.
	Dir string
}

// Result is what Setup did: the container's endpoints and published
// ports (none with ModeNone and ModeHost).
type Result struct {
	Endpoints []Endpoint
	Ports     []PublishedPort
}

// Setup gives a container its network before it starts: for bridge, a
// fresh namespace (see NetNSPath) joined to the bridge through a veth
// pair, an address, its published ports in the nft table; for none, a
// namespace with lo alone; for host, nothing. Then it writes the
// container's hosts, hostname and resolv.conf. Whatever a container had
// left from a crash is torn down first; a failure tears down what was
// done.
func (m *Manager) Setup(ctx context.Context, req Request) (res *Result, err error) {
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	res = &Result{}
	extra, err := m.extraHosts(ctx, req)
	if err != nil {
		return nil, err
	}
	if req.Mode == ModeHost {
		return res, writeHostFiles(req, extra)
	}
	if err := m.teardownLocked(ctx, req.ID); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			m.teardownLocked(context.Background(), req.ID)
		}
	}()
	if err := createNetNS(m.NetNSPath(req.ID)); err != nil {
		return nil, err
	}
	if req.Mode == ModeNone {
		return res, writeFiles(req, HostsFile(extra))
	}
	orphans, err := m.Store.Orphans(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range orphans {
		if err := m.teardownLocked(ctx, id); err != nil {
			return nil, err
		}
	}
	routed, routed6 := false, false
	for i, a := range req.Networks {
		n, err := m.network(ctx, a.Network)
		if err != nil {
			return nil, err
		}
		var bindings []Binding
		if !routed && !n.Settings.Internal {
			// Nothing is published from an internal network, as in Docker.
			bindings = req.Bindings
		}
		route4, route6 := !routed && !n.Settings.Internal, !routed6 && !n.Settings.Internal && n.Bridge.IPv6()
		ep, ports, err := m.join(ctx, *n, Endpoint{ContainerID: req.ID, IP: a.IP, IP6: a.IP6, IfName: fmt.Sprintf("eth%d", i), Aliases: a.Aliases, MAC: a.MAC}, bindings, route4, route6)
		if err != nil {
			return nil, err
		}
		routed, routed6 = routed || route4, routed6 || route6
		res.Endpoints = append(res.Endpoints, *ep)
		res.Ports = append(res.Ports, ports...)
	}
	return res, m.writeFiles(ctx, req, extra, res.Endpoints)
}

// join gives container want.ContainerID an endpoint on network n (see
// Store.AllocateOn), publishes bindings, and connects its namespace to
// the bridge (with the default routes route4 and route6 ask for when n
// is not internal); then n's names file is rewritten.
func (m *Manager) join(ctx context.Context, n Network, want Endpoint, bindings []Binding, route4, route6 bool) (*Endpoint, []PublishedPort, error) {
	if err := ensureBridge(n.Bridge, n.Settings.MTU); err != nil {
		return nil, nil, err
	}
	ep, ports, err := m.Store.AllocateOn(ctx, n, want, bindings, HostPortFree)
	if err != nil {
		return nil, nil, err
	}
	if err := m.applyRules(ctx, n, ""); err != nil {
		return nil, nil, err
	}
	internal := n.Settings.Internal
	if err := setupVeth(n.Bridge, ep, m.NetNSPath(want.ContainerID), route4 && !internal, route6 && !internal); err != nil {
		return nil, nil, err
	}
	return ep, ports, m.writeNames(ctx, n.Name)
}

// network is the network a bridge-mode container joins: the default
// bridge (recorded on first use), or user-defined network name.
func (m *Manager) network(ctx context.Context, name string) (*Network, error) {
	if name == "" || name == BridgeNetwork {
		b, err := m.Store.EnsureBridge(ctx, m.Want)
		if err != nil {
			return nil, err
		}
		return &Network{Name: BridgeNetwork, Bridge: b, Settings: Settings{MTU: m.WantMTU}}, nil
	}
	return m.Store.Network(ctx, name)
}

// applyRules renders network n's table from the store, leaving out the
// ports of container except ("" for none), and applies it.
func (m *Manager) applyRules(ctx context.Context, n Network, except string) error {
	ports, err := m.Store.NetworkPorts(ctx, n.Name)
	if err != nil {
		return err
	}
	kept := ports[:0]
	for _, p := range ports {
		if p.ContainerID != except {
			kept = append(kept, p)
		}
	}
	return applyNft(Ruleset{Bridge: n.Bridge, Internal: n.Settings.Internal, Ports: kept}.Script())
}

// Teardown removes what Setup made for container id: its ports from the
// nft table, its address and ports from the store, its veth pair and its
// namespace (in that order, so that the namespace file is the last thing
// to go). Nothing there is not an error.
func (m *Manager) Teardown(ctx context.Context, id string) error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return m.teardownLocked(ctx, id)
}

func (m *Manager) teardownLocked(ctx context.Context, id string) error {
	eps, ports, err := m.Store.ContainerEndpoints(ctx, id)
	if err != nil {
		return err
	}
	if len(eps) == 0 && !m.HasState(id) {
		// Nothing set up, or nothing left: a veth goes with the
		// namespace its peer is in (a new container's start).
		return nil
	}
	for _, ep := range eps {
		if !slices.ContainsFunc(ports, func(p PublishedPort) bool { return p.ContainerIP == ep.IP || p.ContainerIP == ep.IP6 }) {
			continue
		}
		if n, err := m.Store.Network(ctx, ep.Network); err != nil {
			return err
		} else if err := m.applyRules(ctx, *n, id); err != nil {
			return err
		}
	}
	if len(eps) > 0 {
		if _, err := m.Store.Release(ctx, id); err != nil {
			return err
		}
	}
	veths := []string{VethName(id, "eth0")}
	for _, ep := range eps {
		veths = append(veths, VethName(id, ep.IfName))
		if err := m.writeNames(ctx, ep.Network); err != nil {
			return err
		}
	}
	for _, v := range veths {
		if err := deleteLink(v); err != nil {
			return fmt.Errorf("veth of %s: %w", id, err)
		}
	}
	return removeNetNS(m.NetNSPath(id))
}

// HasState reports whether container id may have networking left to
// tear down (its namespace file is there).
func (m *Manager) HasState(id string) bool {
	_, err := os.Lstat(m.NetNSPath(id))
	return err == nil
}

// HostLockPath is the host-wide lock of network creation.
const HostLockPath = "/run/berth/network-create.lock"

// lock takes the root's network lock.
func (m *Manager) lock() (func(), error) {
	return lockFile(filepath.Join(m.Root, "run", "network.lock"))
}

// lockFile takes an exclusive flock of path (made if missing).
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, &os.SyscallError{Syscall: "flock " + path, Err: err}
	}
	return func() { f.Close() }, nil
}

// DeleteRootBridge removes the bridge and nft table of the root whose
// store is s, when it has one (tests clean up so).
func DeleteRootBridge(ctx context.Context, s *Store) error {
	b, ok, err := s.Bridge(ctx)
	if err != nil || !ok {
		return err
	}
	return DeleteBridge(b)
}

// Teardown is Manager.Teardown for a process that has no engine (the
// shim, once the container has stopped for good): it opens root's store
// when the container's namespace file says there is something to undo
// (setup makes it first, teardown removes it last).
func Teardown(root, id string) error {
	if !(&Manager{Root: root}).HasState(id) {
		return nil // --network host, or nothing left: no store to open
	}
	db, err := store.Open(filepath.Join(root, "meta.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	m := &Manager{Root: root, Store: NewStore(db)}
	return m.Teardown(context.Background(), id)
}

// Files a container's spec bind-mounts from its bundle directory.
const (
	HostsFileName    = "hosts"
	HostnameFileName = "hostname"
	ResolvFileName   = "resolv.conf"
)

func writeFiles(req Request, hosts []byte) error {
	host, err := LoadHostResolvConf(HostResolvConf(), ResolvedResolvConfPath)
	if err != nil {
		return err
	}
	return writeAll(req.Dir, hosts, []byte(req.Hostname+"\n"), ContainerResolvConf(host, req.DNS, false))
}

func writeHostFiles(req Request, extra []HostEntry) error {
	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	host, err := LoadHostResolvConf(HostResolvConf(), "")
	if err != nil {
		return err
	}
	return writeAll(req.Dir, HostHostsFile(hosts, extra), []byte(req.Hostname+"\n"), ContainerResolvConf(host, req.DNS, true))
}

func writeAll(dir string, hosts, hostname, resolv []byte) error {
	for name, data := range map[string][]byte{HostsFileName: hosts, HostnameFileName: hostname, ResolvFileName: resolv} {
		// In place: a running container's bind mount holds the inode.
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Gateway is the default bridge's address (for --add-host host-gateway):
// the root's bridge, or the one it would get.
func (m *Manager) Gateway(ctx context.Context) netip.Addr {
	if b, ok, _ := m.Store.Bridge(ctx); ok {
		return b.Gateway
	}
	return m.Want.Gateway
}

// CreateNetwork records a user-defined network (see Store.CreateNetwork)
// and makes its bridge and nft table at once, as Docker does, so that
// the subnet shows in the host's routes for whoever allocates next.
func (m *Manager) CreateNetwork(ctx context.Context, req CreateRequest) (*Network, error) {
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Other roots allocate from the same pools, seeing each other's
	// networks only as the host's routes: one creation at a time on the
	// host, until the new bridge's route is there.
	unlockHost, err := lockFile(HostLockPath)
	if err != nil {
		return nil, err
	}
	defer unlockHost()
	routes, err := hostRoutes()
	if err != nil {
		return nil, err
	}
	n, err := m.Store.CreateNetwork(ctx, req, routes)
	if err != nil {
		return nil, err
	}
	if err := m.bringUp(ctx, *n); err != nil {
		m.Store.DeleteNetwork(context.Background(), n)
		DeleteBridge(n.Bridge)
		return nil, err
	}
	return n, nil
}

func (m *Manager) bringUp(ctx context.Context, n Network) error {
	if err := ensureBridge(n.Bridge, n.Settings.MTU); err != nil {
		return err
	}
	return m.applyRules(ctx, n, "")
}

// RemoveNetwork removes user-defined network n: its record (refused
// while containers are on it), then its bridge and nft table.
func (m *Manager) RemoveNetwork(ctx context.Context, n *Network) error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.Store.DeleteNetwork(ctx, n); err != nil {
		return err
	}
	os.Remove(filepath.Join(NamesDir(m.Root), n.Name))
	return DeleteBridge(n.Bridge)
}
