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
	err := s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT OR IGNORE INTO networks (name, bridge, subnet, gateway, created) VALUES (?, ?, ?, ?, ?)`,
			BridgeNetwork, want.Name, want.Subnet.String(), want.Gateway.String(), time.Now().UnixNano())
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
	var name, subnet, gw string
	err = s.db.View(ctx, func(q store.Querier) error {
		return q.QueryRowContext(ctx, `SELECT bridge, subnet, gateway FROM networks WHERE name = ?`, BridgeNetwork).Scan(&name, &subnet, &gw)
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
// (ContainerID, and optionally IP, IfName and Aliases): the address is
// want.IP when valid (--ip; it must be in the subnet and free), else the
// lowest free one of the network's --ip-range (or subnet). A container
// has at most one endpoint per network (ErrEndpointExists).
func (s *Store) AllocateOn(ctx context.Context, n Network, want Endpoint, bindings []Binding, free PortFree) (ep *Endpoint, ports []PublishedPort, err error) {
	b := n.Bridge
	id, ip := want.ContainerID, want.IP
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
		addr := ip
		if addr.IsValid() {
			if !b.Subnet.Contains(addr) || addr == b.Gateway {
				return fmt.Errorf("Invalid address %s: It does not belong to any of this network's subnets", addr)
			}
			if used[addr] {
				return ErrAddressInUse
			}
		} else {
			pool := b.Subnet
			if n.Settings.IPRange != "" {
				if p, err := netip.ParsePrefix(n.Settings.IPRange); err == nil {
					pool = p
				}
			}
			if addr, err = freeAddress(used, b, pool); err != nil {
				return err
			}
		}
		ip := addr
		ep = &Endpoint{ContainerID: id, Network: n.Name, IP: ip, PrefixLen: b.Subnet.Bits(), Gateway: b.Gateway, MAC: cmp.Or(want.MAC, MACFor(ip)),
			IfName: ifname, Aliases: want.Aliases}
		if _, err := tx.Exec(`INSERT INTO endpoints (container_id, network, ip, mac, ifname, aliases) VALUES (?, ?, ?, ?, ?, ?)`,
			id, n.Name, ip.String(), ep.MAC, ifname, string(aliases)); err != nil {
			return fmt.Errorf("endpoint of %s: %w", id, err)
		}
		taken, err := takenPorts(tx)
		if err != nil {
			return err
		}
		for _, bd := range bindings {
			hostIP := bd.HostIP
			if !hostIP.IsValid() {
				hostIP = netip.IPv4Unspecified()
			}
			port, err := pickPort(taken, bd, hostIP, free)
			if err != nil {
				return err
			}
			p := PublishedPort{ContainerID: id, Proto: bd.Proto, HostIP: hostIP, HostPort: port, ContainerIP: ip, ContainerPort: bd.ContainerPort}
			if _, err := tx.Exec(`INSERT INTO published_ports (container_id, network, proto, host_ip, host_port, container_port) VALUES (?, ?, ?, ?, ?, ?)`,
				id, n.Name, p.Proto, hostIP.String(), port, p.ContainerPort); err != nil {
				return err
			}
			ports = append(ports, p)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return ep, ports, nil
}

// usedAddresses are the addresses of network's endpoints.
func usedAddresses(tx *sql.Tx, network string) (map[netip.Addr]bool, error) {
	rows, err := tx.Query(`SELECT ip FROM endpoints WHERE network = ?`, network)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	used := map[netip.Addr]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		if a, err := netip.ParseAddr(s); err == nil {
			used[a] = true
		}
	}
	return used, rows.Err()
}

// freeAddress is the lowest address of pool (within b's subnet) that is
// not used, not the gateway, not the subnet's network or broadcast
// address.
func freeAddress(used map[netip.Addr]bool, b Bridge, pool netip.Prefix) (netip.Addr, error) {
	for a := pool.Masked().Addr(); pool.Contains(a); a = a.Next() {
		if !b.Subnet.Contains(a.Next()) {
			break // the broadcast address
		}
		if a == b.Subnet.Masked().Addr() || a == b.Gateway || used[a] {
			continue
		}
		return a, nil
	}
	return netip.Addr{}, ErrNoAddress
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

// pickPort chooses the host port of one binding (see Allocate) and adds
// it to t.
func pickPort(t portsTaken, bd Binding, hostIP netip.Addr, free PortFree) (port uint16, err error) {
	defer func() {
		if err == nil {
			t.add(bd.Proto, hostIP, port)
		}
	}()
	taken := func(port uint16) (bool, error) {
		// 0.0.0.0 overlaps every address; two different addresses don't.
		for _, a := range t[bd.Proto][port] {
			if a == hostIP || a.IsUnspecified() || hostIP.IsUnspecified() {
				return true, nil
			}
		}
		return false, nil
	}
	usable := func(port uint16) (bool, error) {
		t, err := taken(port)
		if err != nil || t {
			return false, err
		}
		return free == nil || free(bd.Proto, hostIP, port), nil
	}
	switch {
	case bd.HostPortStart != 0 && bd.HostPortEnd <= bd.HostPortStart:
		t, err := taken(bd.HostPortStart)
		if err != nil {
			return 0, err
		}
		if t {
			return 0, fmt.Errorf("Bind for %s failed: %w", netip.AddrPortFrom(hostIP, bd.HostPortStart), ErrPortAllocated)
		}
		if free != nil && !free(bd.Proto, hostIP, bd.HostPortStart) {
			return 0, fmt.Errorf("failed to bind host port %s/%s: address already in use", netip.AddrPortFrom(hostIP, bd.HostPortStart), bd.Proto)
		}
		return bd.HostPortStart, nil
	case bd.HostPortStart != 0:
		for p := uint32(bd.HostPortStart); p <= uint32(bd.HostPortEnd); p++ {
			ok, err := usable(uint16(p))
			if err != nil {
				return 0, err
			}
			if ok {
				return uint16(p), nil
			}
		}
		return 0, fmt.Errorf("Bind for %s:%d-%d failed: %w", hostIP, bd.HostPortStart, bd.HostPortEnd, ErrPortAllocated)
	}
	lo, hi := uint32(EphemeralRange[0]), uint32(EphemeralRange[1])
	n := hi - lo + 1
	start := rand.Uint32N(n)
	for i := uint32(0); i < n; i++ {
		p := uint16(lo + (start+i)%n)
		ok, err := usable(p)
		if err != nil {
			return 0, err
		}
		if ok {
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
		rows, err := q.QueryContext(ctx, `SELECT e.container_id, e.network, e.ip, e.mac, e.ifname, e.aliases, n.subnet, n.gateway
			FROM endpoints e JOIN networks n ON n.name = e.network WHERE `+where+` ORDER BY e.container_id, length(e.ifname), e.ifname`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ep Endpoint
			var ip, aliases, subnet, gw string
			if err := rows.Scan(&ep.ContainerID, &ep.Network, &ip, &ep.MAC, &ep.IfName, &aliases, &subnet, &gw); err != nil {
				return err
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
		rows, err := q.QueryContext(ctx, `SELECT p.container_id, p.proto, p.host_ip, p.host_port, e.ip, p.container_port
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
