package network

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// Network is a bridge network: the default one ("bridge") or a
// user-defined one (network create). Each has a Linux bridge and an nft
// table of its own (Bridge.Table).
type Network struct {
	ID       string // 64 hex characters
	Name     string
	Created  time.Time
	Bridge   Bridge
	Settings Settings
}

// Settings are a user-defined network's options beyond its bridge.
type Settings struct {
	Driver   string            `json:"driver,omitempty"` // bridge
	IPRange  string            `json:"ipRange,omitempty"`
	IPRange6 string            `json:"ipRange6,omitempty"` // --ip-range of the IPv6 subnet
	Internal bool              `json:"internal,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Options  map[string]string `json:"options,omitempty"` // -o, as given
	MTU      int               `json:"mtu,omitempty"`
}

// Options of -o that berth understands (Docker's names).
const (
	OptBridgeName = "com.docker.network.bridge.name"
	OptMTU        = "com.docker.network.driver.mtu"
)

// Predefined are the networks every root has, in `network ls` order.
var Predefined = []string{BridgeNetwork, ModeHost, ModeNone}

// PredefinedID is the ID of a predefined network: fixed, derived from
// its name, so that it is the same in every listing.
func PredefinedID(name string) string {
	sum := sha256.Sum256([]byte("berth network " + name))
	return hex.EncodeToString(sum[:])
}

// ErrNotFound is an unknown network; the message is Docker's.
type ErrNotFound struct{ Name string }

func (e ErrNotFound) Error() string { return fmt.Sprintf("network %s not found", e.Name) }

// ErrInUse is a network with containers on it (rm refuses it).
type ErrInUse struct{ Name, ID string }

func (e ErrInUse) Error() string {
	return fmt.Sprintf("error while removing network: network %s id %s has active endpoints", e.Name, e.ID)
}

// ErrPoolOverlap is a --subnet overlapping another network's.
var ErrPoolOverlap = errors.New("invalid pool request: Pool overlaps with other one on this address space")

// Pools are where subnets come from when network create has no --subnet,
// as Docker's defaults: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s.
func Pools() []netip.Prefix {
	var out []netip.Prefix
	for i := 17; i <= 31; i++ {
		out = append(out, netip.MustParsePrefix(fmt.Sprintf("172.%d.0.0/16", i)))
	}
	for i := 0; i < 256; i += 16 {
		out = append(out, netip.MustParsePrefix(fmt.Sprintf("192.168.%d.0/20", i)))
	}
	return out
}

// ULAPool is where the IPv6 subnets of networks created with --ipv6 and
// no IPv6 --subnet come from: a unique local /48 of berth's own (its
// global ID spells "berth" in ASCII, 62 65 72 74 68), carved into /64s,
// as Docker carves its fd00::/8-derived pool.
var ULAPool = netip.MustParsePrefix("fd62:6572:7468::/48")

// Pools6 are the /64s of ULAPool, in order.
func Pools6() func(yield func(netip.Prefix) bool) {
	return func(yield func(netip.Prefix) bool) {
		base := ULAPool.Addr().As16()
		for i := 0; i < 1<<16; i++ {
			a := base
			a[6], a[7] = byte(i>>8), byte(i)
			if !yield(netip.PrefixFrom(netip.AddrFrom16(a), 64)) {
				return
			}
		}
	}
}

// CreateRequest is what network create asks for; a zero Subnet takes a
// free one of Pools, a zero Gateway the subnet's first address. With
// IPv6, a zero Subnet6 takes a free /64 of ULAPool, a zero Gateway6 the
// subnet's first address.
type CreateRequest struct {
	Name     string
	Subnet   netip.Prefix
	Gateway  netip.Addr
	IPv6     bool
	Subnet6  netip.Prefix
	Gateway6 netip.Addr
	Settings Settings
}

// NewNetwork checks req and makes its network record (not stored yet):
// taken are the prefixes its subnet must not overlap (other networks',
// the host's routes).
func NewNetwork(req CreateRequest, taken []netip.Prefix) (*Network, error) {
	n := &Network{Name: req.Name, Created: time.Now(), Settings: req.Settings}
	if n.Settings.Driver == "" {
		n.Settings.Driver = "bridge"
	}
	id := make([]byte, 32)
	rand.Read(id)
	n.ID = hex.EncodeToString(id)
	bridge := "br-" + n.ID[:12]
	for k, v := range req.Settings.Options {
		switch k {
		case OptBridgeName:
			bridge = v
		case OptMTU:
			mtu, err := strconv.Atoi(v)
			if err != nil || mtu < 68 {
				return nil, fmt.Errorf("invalid MTU number: %s", v)
			}
			n.Settings.MTU = mtu
		}
	}
	subnet := req.Subnet.Masked()
	overlaps := func(p netip.Prefix) bool {
		return slices.ContainsFunc(taken, func(t netip.Prefix) bool { return t.Overlaps(p) })
	}
	if !req.Subnet.IsValid() {
		for _, p := range Pools() {
			if !overlaps(p) {
				subnet = p
				break
			}
		}
		if !subnet.IsValid() {
			return nil, errors.New("all predefined address pools have been fully subnetted")
		}
	} else if overlaps(subnet) {
		return nil, ErrPoolOverlap
	}
	b, err := NewBridge(bridge, subnet.String())
	if err != nil {
		return nil, err
	}
	if req.Gateway.IsValid() {
		if !subnet.Contains(req.Gateway) {
			return nil, fmt.Errorf("invalid pool request: gateway %s is not in subnet %s", req.Gateway, subnet)
		}
		b.Gateway = req.Gateway
	}
	if r := req.Settings.IPRange; r != "" {
		p, err := netip.ParsePrefix(r)
		if err != nil || !p.Addr().Is4() {
			return nil, fmt.Errorf("invalid CIDR address: %s", r)
		}
		if !subnet.Contains(p.Addr()) || p.Bits() < subnet.Bits() {
			return nil, fmt.Errorf("invalid pool request: ip range %s is not in subnet %s", r, subnet)
		}
		n.Settings.IPRange = p.Masked().String()
	}
	if req.IPv6 {
		if err := n.setIPv6(req, &b, overlaps); err != nil {
			return nil, err
		}
	} else if req.Subnet6.IsValid() || req.Settings.IPRange6 != "" || req.Gateway6.IsValid() {
		return nil, errors.New("an IPv6 subnet, gateway or ip-range needs IPv6: add --ipv6")
	}
	n.Bridge = b
	return n, nil
}

// Smallest and largest IPv6 subnets a network takes: a /64 is the norm
// (and what the pool gives); up to a /120 for a handful of containers.
const (
	minSubnet6Bits = 48
	maxSubnet6Bits = 120
)

// validSubnet6 says whether p can be a network's IPv6 subnet.
func validSubnet6(p netip.Prefix) bool {
	a := p.Addr()
	return a.Is6() && !a.Is4In6() && p.Bits() >= minSubnet6Bits && p.Bits() <= maxSubnet6Bits &&
		!a.IsLoopback() && !a.IsMulticast() && !a.IsLinkLocalUnicast()
}

// setIPv6 gives the network of req its IPv6 subnet (req's, or the first
// /64 of Pools6 that overlaps nothing taken), gateway and ip range.
func (n *Network) setIPv6(req CreateRequest, b *Bridge, overlaps func(netip.Prefix) bool) error {
	subnet := req.Subnet6.Masked()
	if !req.Subnet6.IsValid() {
		for p := range Pools6() {
			if !overlaps(p) {
				subnet = p
				break
			}
		}
		if !subnet.IsValid() {
			return errors.New("all predefined IPv6 address pools have been fully subnetted")
		}
	} else {
		if !validSubnet6(subnet) {
			return fmt.Errorf("invalid IPv6 subnet %s: a unicast, non-link-local IPv6 prefix from /%d to /%d", req.Subnet6, minSubnet6Bits, maxSubnet6Bits)
		}
		if overlaps(subnet) {
			return ErrPoolOverlap
		}
	}
	b.Subnet6, b.Gateway6 = subnet, subnet.Addr().Next()
	if req.Gateway6.IsValid() {
		if !subnet.Contains(req.Gateway6) || req.Gateway6 == subnet.Addr() {
			return fmt.Errorf("invalid pool request: gateway %s is not in subnet %s", req.Gateway6, subnet)
		}
		b.Gateway6 = req.Gateway6
	}
	if r := n.Settings.IPRange6; r != "" {
		p, err := netip.ParsePrefix(r)
		if err != nil || !p.Addr().Is6() {
			return fmt.Errorf("invalid CIDR address: %s", r)
		}
		if !subnet.Contains(p.Addr()) || p.Bits() < subnet.Bits() {
			return fmt.Errorf("invalid pool request: ip range %s is not in subnet %s", r, subnet)
		}
		n.Settings.IPRange6 = p.Masked().String()
	}
	return nil
}

// CreateNetwork allocates and records a user-defined network in one
// transaction: a name taken, or a subnet overlapping another network's
// or one of hostRoutes, is refused.
func (s *Store) CreateNetwork(ctx context.Context, req CreateRequest, hostRoutes []netip.Prefix) (*Network, error) {
	var n *Network
	err := s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		nets, err := s.Networks(ctx)
		if err != nil {
			return err
		}
		taken := slices.Clone(hostRoutes)
		for _, o := range nets {
			if o.Name == req.Name {
				return fmt.Errorf("network with name %s already exists", req.Name)
			}
			taken = append(taken, o.Bridge.Subnet)
			if o.Bridge.IPv6() {
				taken = append(taken, o.Bridge.Subnet6)
			}
		}
		if want, err := BridgeFromEnv(); err == nil && !slices.ContainsFunc(nets, func(o Network) bool { return o.Name == BridgeNetwork }) {
			taken = append(taken, want.Subnet) // the default bridge's, once made
			if want.IPv6() {
				taken = append(taken, want.Subnet6)
			}
		}
		if slices.Contains(Predefined, req.Name) {
			return fmt.Errorf("network with name %s already exists", req.Name)
		}
		if n, err = NewNetwork(req, taken); err != nil {
			return err
		}
		for _, o := range nets {
			if o.Bridge.Name == n.Bridge.Name {
				return fmt.Errorf("bridge name %s is already in use by network %s", n.Bridge.Name, o.Name)
			}
		}
		cfg, err := json.Marshal(n.Settings)
		if err != nil {
			return err
		}
		subnet6, gw6 := "", ""
		if n.Bridge.IPv6() {
			subnet6, gw6 = n.Bridge.Subnet6.String(), n.Bridge.Gateway6.String()
		}
		_, err = tx.Exec(`INSERT INTO networks (name, bridge, subnet, gateway, subnet6, gateway6, created, id, config) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			n.Name, n.Bridge.Name, n.Bridge.Subnet.String(), n.Bridge.Gateway.String(), subnet6, gw6, n.Created.UnixNano(), n.ID, string(cfg))
		return err
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Networks lists the recorded networks (the default bridge once it has
// been set up, and the user-defined ones), by name.
func (s *Store) Networks(ctx context.Context) ([]Network, error) {
	var out []Network
	err := s.db.View(ctx, func(q store.Querier) error {
		rows, err := q.QueryContext(ctx, `SELECT name, bridge, subnet, gateway, subnet6, gateway6, created, id, config FROM networks ORDER BY name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n Network
			var subnet, gw, subnet6, gw6, cfg string
			var created int64
			if err := rows.Scan(&n.Name, &n.Bridge.Name, &subnet, &gw, &subnet6, &gw6, &created, &n.ID, &cfg); err != nil {
				return err
			}
			if subnet6 != "" {
				if n.Bridge.Subnet6, err = netip.ParsePrefix(subnet6); err != nil {
					return fmt.Errorf("network %s: IPv6 subnet: %w", n.Name, err)
				}
				if n.Bridge.Gateway6, err = netip.ParseAddr(gw6); err != nil {
					return fmt.Errorf("network %s: IPv6 gateway: %w", n.Name, err)
				}
			}
			if n.Bridge.Subnet, err = netip.ParsePrefix(subnet); err != nil {
				return err
			}
			if n.Bridge.Gateway, err = netip.ParseAddr(gw); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(cfg), &n.Settings); err != nil {
				return fmt.Errorf("network %s: %w", n.Name, err)
			}
			if n.Settings.Driver == "" {
				n.Settings.Driver = "bridge"
			}
			if n.ID == "" {
				n.ID = PredefinedID(n.Name)
			}
			n.Created = time.Unix(0, created)
			out = append(out, n)
		}
		return rows.Err()
	})
	return out, err
}

// Network finds a recorded network by name, ID or unique ID prefix.
func (s *Store) Network(ctx context.Context, ref string) (*Network, error) {
	nets, err := s.Networks(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		if n.Name == ref || n.ID == ref {
			return &n, nil
		}
	}
	var found []Network
	for _, n := range nets {
		if ref != "" && strings.HasPrefix(n.ID, ref) {
			found = append(found, n)
		}
	}
	if len(found) == 1 {
		return &found[0], nil
	}
	if len(found) > 1 {
		return nil, fmt.Errorf("network %s is ambiguous (%d matches found based on ID prefix)", ref, len(found))
	}
	return nil, ErrNotFound{ref}
}

// DeleteNetwork forgets network name, refused while a container has an
// endpoint on it.
func (s *Store) DeleteNetwork(ctx context.Context, n *Network) error {
	return s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var count int
		if err := tx.QueryRow(`SELECT count(*) FROM endpoints WHERE network = ?`, n.Name).Scan(&count); err != nil {
			return err
		}
		if count > 0 {
			return ErrInUse{n.Name, n.ID}
		}
		_, err := tx.Exec(`DELETE FROM networks WHERE name = ?`, n.Name)
		return err
	})
}
