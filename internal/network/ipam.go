package network

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// Store keeps the networks, the containers' addresses and their published
// ports in the metadata store. Every allocation is one transaction, so
// two berth processes never hand out one address or host port twice, and
// a kill -9 at any moment leaves either the whole allocation or none.
type Store struct{ db *store.DB }

// NewStore returns the network records of db.
func NewStore(db *store.DB) *Store { return &Store{db: db} }

// BridgeNetwork is the name of the default bridge network.
const BridgeNetwork = "bridge"

// ErrPortAllocated is a host port another container publishes already.
var ErrPortAllocated = errors.New("port is already allocated")

// ErrNoAddress is a network with no free address left.
var ErrNoAddress = errors.New("no available IPv4 addresses on this network's address pools")

// EnsureBridge records want as the root's default bridge unless it has
// one, and returns the one in effect.
func (s *Store) EnsureBridge(ctx context.Context, want Bridge) (Bridge, error) {
	subnet6, gw6 := "", ""
	if want.IPv6() {
		subnet6, gw6 = want.Subnet6.String(), want.Gateway6.String()
	}
	err := s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT OR IGNORE INTO networks (name, bridge, subnet, gateway, subnet6, gateway6, created) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			BridgeNetwork, want.Name, want.Subnet.String(), want.Gateway.String(), subnet6, gw6, time.Now().UnixNano())
		return err
	})
	if err != nil {
		return Bridge{}, err
	}
	b, ok, err := s.Bridge(ctx)
	if err == nil && !ok {
		err = errors.New("network bridge: not recorded")
	}
	return b, err
}

// Bridge returns the root's default bridge, ok false when it has none yet.
func (s *Store) Bridge(ctx context.Context) (b Bridge, ok bool, err error) {
	var name, subnet, gw, subnet6, gw6 string
	err = s.db.View(ctx, func(q store.Querier) error {
		return q.QueryRowContext(ctx, `SELECT bridge, subnet, gateway, subnet6, gateway6 FROM networks WHERE name = ?`, BridgeNetwork).Scan(&name, &subnet, &gw, &subnet6, &gw6)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Bridge{}, false, nil
	}
	if err != nil {
		return Bridge{}, false, err
	}
	b.Name = name
	if b.Subnet, err = netip.ParsePrefix(subnet); err != nil {
		return Bridge{}, false, err
	}
	if b.Gateway, err = netip.ParseAddr(gw); err != nil {
		return Bridge{}, false, err
	}
	if subnet6 != "" {
		if b.Subnet6, err = netip.ParsePrefix(subnet6); err != nil {
			return Bridge{}, false, err
		}
		if b.Gateway6, err = netip.ParseAddr(gw6); err != nil {
			return Bridge{}, false, err
		}
	}
	return b, true, nil
}

// PortFree says whether a host port can be bound on the host now (no
// process listens on it): see HostPortFree.
type PortFree func(proto string, ip netip.Addr, port uint16) bool

// EphemeralRange is where ephemeral host ports come from: Docker's
// default dynamic range.
var EphemeralRange = [2]uint16{49153, 60999}

// Allocate gives container id an address on bridge b and the host ports
// of its bindings, in one transaction. An explicit host port that another
// container publishes on an overlapping address fails with Docker's
// message; an ephemeral one is the first free port of EphemeralRange from
// a random start. free (nil: don't ask) also rules out ports the host
// uses.
func (s *Store) Allocate(ctx context.Context, b Bridge, id string, bindings []Binding, free PortFree) (ep *Endpoint, ports []PublishedPort, err error) {
	return s.AllocateOn(ctx, Network{Name: BridgeNetwork, Bridge: b}, Endpoint{ContainerID: id}, bindings, free)
}

// ErrAddressInUse is a --ip another container has.
var ErrAddressInUse = errors.New("Address already in use")

// ErrEndpointExists is a container that has an endpoint on the network
// already; the message is Docker's (libnetwork's).
type ErrEndpointExists struct{ Name, Network string }

func (e ErrEndpointExists) Error() string {
	return fmt.Sprintf("endpoint with name %s already exists in network %s", e.Name, e.Network)
}

// AllocateOn is Allocate on network n for the endpoint want describes
// (ContainerID, and optionally IP, IP6, IfName and Aliases): the address
// is want.IP when valid (--ip; it must be in the subnet and free), else
// the lowest free one of the network's --ip-range (or subnet); on a
// network with IPv6 the endpoint gets an IPv6 address the same way
// (want.IP6, --ip6). A container has at most one endpoint per network
// (ErrEndpointExists).
//
// A binding on every address publishes on 0.0.0.0, and on [::] too when
// the network has IPv6, with one host port for both; a binding on an
// IPv6 address needs a network with IPv6 (ErrNoIPv6).
func (s *Store) AllocateOn(ctx context.Context, n Network, want Endpoint, bindings []Binding, free PortFree) (ep *Endpoint, ports []PublishedPort, err error) {
	b := n.Bridge
	id := want.ContainerID
	ifname := cmp.Or(want.IfName, "eth0")
	aliases, err := json.Marshal(append([]string{}, want.Aliases...))
	if err != nil {
		return nil, nil, err
	}
	err = s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		ep, ports = nil, nil
		var had int
		if err := tx.QueryRow(`SELECT count(*) FROM endpoints WHERE container_id = ? AND network = ?`, id, n.Name).Scan(&had); err != nil {
			return err
		}
		if had > 0 {
			return ErrEndpointExists{id, n.Name}
		}
		used, err := usedAddresses(tx, n.Name)
		if err != nil {
			return err
		}
		ip, err := pickAddress(used, b.Subnet, b.Gateway, n.Settings.IPRange, want.IP)
		if err != nil {
			return err
		}
		var ip6 netip.Addr
		switch {
		case b.IPv6():
			if ip6, err = pickAddress(used, b.Subnet6, b.Gateway6, n.Settings.IPRange6, want.IP6); err != nil {
				return err
			}
		case want.IP6.IsValid():
			return fmt.Errorf("Invalid address %s: It does not belong to any of this network's subnets", want.IP6)
		}
		ep = &Endpoint{ContainerID: id, Network: n.Name, IP: ip, PrefixLen: b.Subnet.Bits(), Gateway: b.Gateway, MAC: cmp.Or(want.MAC, MACFor(ip)),
			IfName: ifname, Aliases: want.Aliases}
		ip6s := ""
		if ip6.IsValid() {
			ep.IP6, ep.PrefixLen6, ep.Gateway6 = ip6, b.Subnet6.Bits(), b.Gateway6
			ip6s = ip6.String()
		}
		if _, err := tx.Exec(`INSERT INTO endpoints (container_id, network, ip, ip6, mac, ifname, aliases) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			id, n.Name, ip.String(), ip6s, ep.MAC, ifname, string(aliases)); err != nil {
			return fmt.Errorf("endpoint of %s: %w", id, err)
		}
		taken, err := takenPorts(tx)
		if err != nil {
			return err
		}
		for _, bd := range bindings {
			hostIPs, err := bindingAddresses(n, bd)
			if err != nil {
				return err
			}
			port, err := pickPort(taken, bd, hostIPs, free)
			if err != nil {
				return err
			}
			for _, hostIP := range hostIPs {
				cip := ip
				if hostIP.Is6() {
					cip = ip6
				}
				p := PublishedPort{ContainerID: id, Proto: bd.Proto, HostIP: hostIP, HostPort: port, ContainerIP: cip, ContainerPort: bd.ContainerPort}
				if _, err := tx.Exec(`INSERT INTO published_ports (container_id, network, proto, host_ip, host_port, container_port) VALUES (?, ?, ?, ?, ?, ?)`,
					id, n.Name, p.Proto, hostIP.String(), port, p.ContainerPort); err != nil {
					return err
				}
				ports = append(ports, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return ep, ports, nil
}

// usedAddresses are the addresses (IPv4 and IPv6) of network's
// endpoints.
func usedAddresses(tx *sql.Tx, network string) (map[netip.Addr]bool, error) {
	rows, err := tx.Query(`SELECT ip, ip6 FROM endpoints WHERE network = ?`, network)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	used := map[netip.Addr]bool{}
	for rows.Next() {
		var s, s6 string
		if err := rows.Scan(&s, &s6); err != nil {
			return nil, err
		}
		for _, v := range []string{s, s6} {
			if a, err := netip.ParseAddr(v); err == nil {
				used[a] = true
			}
		}
	}
	return used, rows.Err()
}

// pickAddress is an endpoint's address in subnet: want when valid (it
// must be in the subnet, not the gateway, and free), else the lowest
// free one of ipRange ("" for the whole subnet).
func pickAddress(used map[netip.Addr]bool, subnet netip.Prefix, gateway netip.Addr, ipRange string, want netip.Addr) (netip.Addr, error) {
	if want.IsValid() {
		if !subnet.Contains(want) || want == gateway {
			return netip.Addr{}, fmt.Errorf("Invalid address %s: It does not belong to any of this network's subnets", want)
		}
		if used[want] {
			return netip.Addr{}, ErrAddressInUse
		}
		return want, nil
	}
	pool := subnet
	if ipRange != "" {
		if p, err := netip.ParsePrefix(ipRange); err == nil {
			pool = p
		}
	}
	return freeAddress(used, subnet, gateway, pool)
}

// freeAddress is the lowest address of pool (within subnet) that is not
// used, not the gateway, not the subnet's network address (IPv6's
// subnet-router anycast one) and, for IPv4, not its broadcast address.
func freeAddress(used map[netip.Addr]bool, subnet netip.Prefix, gateway netip.Addr, pool netip.Prefix) (netip.Addr, error) {
	for a := pool.Masked().Addr(); a.IsValid() && pool.Contains(a); a = a.Next() {
		if a.Is4() && !subnet.Contains(a.Next()) {
			break // the broadcast address
		}
		if a == subnet.Masked().Addr() || a == gateway || used[a] {
			continue
		}
		return a, nil
	}
	if subnet.Addr().Is6() {
		return netip.Addr{}, ErrNoAddress6
	}
	return netip.Addr{}, ErrNoAddress
}

// ErrNoAddress6 is a network with no free IPv6 address left.
var ErrNoAddress6 = errors.New("no available IPv6 addresses on this network's address pools")

// ErrNoIPv6 is a port published on an IPv6 address of the host from a
// network without IPv6: nothing could carry it to the container (berth
// has no userland proxy).
type ErrNoIPv6 struct {
	Network string
	HostIP  netip.Addr
}

func (e ErrNoIPv6) Error() string {
	return fmt.Sprintf("cannot publish a port on [%s]: network %s has no IPv6 (create the network with --ipv6, or publish on an IPv4 address)", e.HostIP, e.Network)
}

// bindingAddresses are the host addresses binding bd of a container on
// network n is published on: its address, or 0.0.0.0 (and [::] with
// IPv6) for every address.
func bindingAddresses(n Network, bd Binding) ([]netip.Addr, error) {
	ip := bd.HostIP.Unmap()
	switch {
	case !ip.IsValid() && n.Bridge.IPv6():
		return []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}, nil
	case !ip.IsValid():
		return []netip.Addr{netip.IPv4Unspecified()}, nil
	case ip.Is6() && !n.Bridge.IPv6():
		return nil, ErrNoIPv6{Network: n.Name, HostIP: ip}
	}
	return []netip.Addr{ip}, nil
}

// portsTaken are the host ports published already, with the addresses
// each is published on, by protocol and port: read once per allocation
// (a range of a thousand ports asked the store a thousand times).
type portsTaken map[string]map[uint16][]netip.Addr

// takenPorts reads the published ports of every container.
func takenPorts(tx *sql.Tx) (portsTaken, error) {
	rows, err := tx.Query(`SELECT proto, host_ip, host_port FROM published_ports`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	t := portsTaken{}
	for rows.Next() {
		var proto, ip string
		var port uint16
		if err := rows.Scan(&proto, &ip, &port); err != nil {
			return nil, err
		}
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, fmt.Errorf("published port %s/%d: %w", ip, port, err)
		}
		t.add(proto, a, port)
	}
	return t, rows.Err()
}

func (t portsTaken) add(proto string, ip netip.Addr, port uint16) {
	if t[proto] == nil {
		t[proto] = map[uint16][]netip.Addr{}
	}
	t[proto][port] = append(t[proto][port], ip)
}

// pickPort chooses the host port of one binding (see Allocate), one
// port free on every address of hostIPs, and adds it to t.
func pickPort(t portsTaken, bd Binding, hostIPs []netip.Addr, free PortFree) (port uint16, err error) {
	defer func() {
		if err == nil {
			for _, ip := range hostIPs {
				t.add(bd.Proto, ip, port)
			}
		}
	}()
	// takenOn is the first address of hostIPs that port is published on
	// already: 0.0.0.0 overlaps every IPv4 address and [::] every IPv6
	// one; two different addresses don't.
	takenOn := func(port uint16) (netip.Addr, bool) {
		for _, h := range hostIPs {
			for _, a := range t[bd.Proto][port] {
				if a == h || a.Is4() == h.Is4() && (a.IsUnspecified() || h.IsUnspecified()) {
					return h, true
				}
			}
		}
		return netip.Addr{}, false
	}
	busyOn := func(port uint16) (netip.Addr, bool) {
		for _, h := range hostIPs {
			if free != nil && !free(bd.Proto, h, port) {
				return h, true
			}
		}
		return netip.Addr{}, false
	}
	usable := func(port uint16) bool {
		if _, t := takenOn(port); t {
			return false
		}
		_, busy := busyOn(port)
		return !busy
	}
	switch {
	case bd.HostPortStart != 0 && bd.HostPortEnd <= bd.HostPortStart:
		if h, t := takenOn(bd.HostPortStart); t {
			return 0, fmt.Errorf("Bind for %s failed: %w", netip.AddrPortFrom(h, bd.HostPortStart), ErrPortAllocated)
		}
		if h, busy := busyOn(bd.HostPortStart); busy {
			return 0, fmt.Errorf("failed to bind host port %s/%s: address already in use", netip.AddrPortFrom(h, bd.HostPortStart), bd.Proto)
		}
		return bd.HostPortStart, nil
	case bd.HostPortStart != 0:
		for p := uint32(bd.HostPortStart); p <= uint32(bd.HostPortEnd); p++ {
			if usable(uint16(p)) {
				return uint16(p), nil
			}
		}
		host := hostIPs[0].String()
		if hostIPs[0].Is6() {
			host = "[" + host + "]"
		}
		return 0, fmt.Errorf("Bind for %s:%d-%d failed: %w", host, bd.HostPortStart, bd.HostPortEnd, ErrPortAllocated)
	}
	lo, hi := uint32(EphemeralRange[0]), uint32(EphemeralRange[1])
	n := hi - lo + 1
	start := rand.Uint32N(n)
	for i := uint32(0); i < n; i++ {
		p := uint16(lo + (start+i)%n)
		if usable(p) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free host port for %s: all ports are allocated", bd.Proto)
}

// Release forgets container id's endpoints and ports; had says whether it
// had any.
func (s *Store) Release(ctx context.Context, id string) (had bool, err error) {
	return s.release(ctx, `container_id = ?`, id)
}

// ReleaseOn forgets container id's endpoint on network name and its
// ports (network disconnect).
func (s *Store) ReleaseOn(ctx context.Context, id, name string) (had bool, err error) {
	return s.release(ctx, `container_id = ? AND network = ?`, id, name)
}

func (s *Store) release(ctx context.Context, where string, args ...any) (had bool, err error) {
	err = s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM published_ports WHERE `+where, args...); err != nil {
			return err
		}
		res, err := tx.Exec(`DELETE FROM endpoints WHERE `+where, args...)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		had = n > 0
		return nil
	})
	return had, err
}

// Orphans lists the containers that have an endpoint but no record any
// more (a crash in the middle of rm).
func (s *Store) Orphans(ctx context.Context) ([]string, error) {
	return s.db.Strings(ctx, `SELECT container_id FROM endpoints WHERE container_id NOT IN (SELECT id FROM containers)`)
}

// EndpointIDs lists the containers that have an endpoint.
func (s *Store) EndpointIDs(ctx context.Context) ([]string, error) {
	return s.db.Strings(ctx, `SELECT container_id FROM endpoints`)
}

// ContainerEndpoints returns container id's endpoints, by interface
// name (eth0 first), and its published ports (none when it has no
// endpoint).
func (s *Store) ContainerEndpoints(ctx context.Context, id string) ([]Endpoint, []PublishedPort, error) {
	eps, err := s.endpoints(ctx, `e.container_id = ?`, id)
	if err != nil || len(eps) == 0 {
		return nil, nil, err
	}
	ports, err := s.ports(ctx, `WHERE p.container_id = ?`, id)
	return eps, ports, err
}

// Endpoints lists the endpoints on network name, by container ID.
func (s *Store) Endpoints(ctx context.Context, name string) ([]Endpoint, error) {
	return s.endpoints(ctx, `e.network = ?`, name)
}

func (s *Store) endpoints(ctx context.Context, where string, args ...any) ([]Endpoint, error) {
	var out []Endpoint
	err := s.db.View(ctx, func(q store.Querier) error {
		rows, err := q.QueryContext(ctx, `SELECT e.container_id, e.network, e.ip, e.ip6, e.mac, e.ifname, e.aliases, n.subnet, n.gateway, n.subnet6, n.gateway6
			FROM endpoints e JOIN networks n ON n.name = e.network WHERE `+where+` ORDER BY e.container_id, length(e.ifname), e.ifname`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ep Endpoint
			var ip, ip6, aliases, subnet, gw, subnet6, gw6 string
			if err := rows.Scan(&ep.ContainerID, &ep.Network, &ip, &ip6, &ep.MAC, &ep.IfName, &aliases, &subnet, &gw, &subnet6, &gw6); err != nil {
				return err
			}
			if ip6 != "" {
				p6, err := netip.ParsePrefix(subnet6)
				if err != nil {
					return fmt.Errorf("endpoint of %s on %s: IPv6 subnet: %w", ep.ContainerID, ep.Network, err)
				}
				if ep.IP6, err = netip.ParseAddr(ip6); err != nil {
					return err
				}
				if ep.Gateway6, err = netip.ParseAddr(gw6); err != nil {
					return err
				}
				ep.PrefixLen6 = p6.Bits()
			}
			p, err := netip.ParsePrefix(subnet)
			if err != nil {
				return err
			}
			ep.PrefixLen = p.Bits()
			if ep.IP, err = netip.ParseAddr(ip); err != nil {
				return err
			}
			if ep.Gateway, err = netip.ParseAddr(gw); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(aliases), &ep.Aliases); err != nil {
				return fmt.Errorf("endpoint of %s on %s: aliases: %w", ep.ContainerID, ep.Network, err)
			}
			out = append(out, ep)
		}
		return rows.Err()
	})
	return out, err
}

// NetworkPorts lists the published ports of network name's containers.
func (s *Store) NetworkPorts(ctx context.Context, name string) ([]PublishedPort, error) {
	return s.ports(ctx, `WHERE e.network = ?`, name)
}

// Ports lists every published port.
func (s *Store) Ports(ctx context.Context) ([]PublishedPort, error) { return s.ports(ctx, "") }

func (s *Store) ports(ctx context.Context, where string, args ...any) ([]PublishedPort, error) {
	var out []PublishedPort
	err := s.db.View(ctx, func(q store.Querier) error {
		// A port on an IPv6 address of the host goes to the endpoint's
		// IPv6 address.
		rows, err := q.QueryContext(ctx, `SELECT p.container_id, p.proto, p.host_ip, p.host_port,
			CASE WHEN instr(p.host_ip, ':') > 0 THEN e.ip6 ELSE e.ip END, p.container_port
			FROM published_ports p JOIN endpoints e ON e.container_id = p.container_id AND e.network = p.network `+where+` ORDER BY p.proto, p.host_port, p.host_ip`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p PublishedPort
			var hip, cip string
			if err := rows.Scan(&p.ContainerID, &p.Proto, &hip, &p.HostPort, &cip, &p.ContainerPort); err != nil {
				return err
			}
			if p.HostIP, err = netip.ParseAddr(hip); err != nil {
				return err
			}
			if p.ContainerIP, err = netip.ParseAddr(cip); err != nil {
				return err
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, err
}
