// Package network owns berth's container networking: the default bridge
// network and user-defined ones (each a Linux bridge with a private
// subnet, IPv4 and optionally IPv6, NAT and published ports in nftables
// tables of its own, ip and ip6), the address and port allocations kept
// in the metadata store (one endpoint per container and network, with an
// IPv6 address on a network with IPv6), each container's persistent network
// namespace with one veth pair per network (eth0, eth1, …; network
// connect and disconnect add and remove them on a running container),
// the /etc/hosts, /etc/hostname and /etc/resolv.conf files a container
// gets, and the names files its DNS resolver (package dns, run by the
// container's shim) answers from.
//
// What can be rendered as text (the nft script, the hosts and resolv.conf
// files) is built by pure functions and golden-tested; the kernel work
// (netlink, nsfs bind mounts, `nft -f -`) lives in _linux.go files.
//
// It imports only store of berth; the CLI must never import it (it goes
// through the engine).
package network

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
)

// Network modes a container can have (run --network).
const (
	ModeBridge = "bridge" // the default bridge network (also "default" and "")
	ModeHost   = "host"   // the host's network namespace
	ModeNone   = "none"   // a namespace of its own with only lo
)

// Defaults of the default bridge network, overridden by BERTH_BRIDGE and
// BERTH_BRIDGE_SUBNET (tests use a bridge of their own that way). A root
// keeps the bridge it was first set up with (see Store.EnsureBridge). Its
// MTU is BERTH_BRIDGE_MTU's (see BridgeMTUFromEnv).
const (
	DefaultBridgeName   = "berth0"
	DefaultBridgeSubnet = "172.30.0.0/16"
)

// LocalMTU is the MTU of berth's bridges and veths when the network sets
// none (-o com.docker.network.driver.mtu, BERTH_BRIDGE_MTU for the
// default bridge): the largest a bridge takes,
// close to the loopback's 65536. Traffic that stays on the machine
// (container to container, host to container, published ports reached
// from the host) then moves in 64 KiB packets, as over the loopback, at a
// fraction of the CPU that 1500-byte ones cost. Traffic that leaves the
// machine does not see it: a container's default route carries the MTU
// of the host's own default route (uplinkMTU), so its packets to the
// outside are the size Docker's would be.
const LocalMTU = 65535

// Bridge is a bridge network's link: a Linux bridge whose address is
// the containers' gateway. A network with IPv6 (network create --ipv6)
// has a second subnet and gateway; the default bridge has none.
type Bridge struct {
	Name     string       // the link's name, berth0
	Subnet   netip.Prefix // the containers' addresses, 172.30.0.0/16
	Gateway  netip.Addr   // the bridge's own address, the subnet's first
	Subnet6  netip.Prefix // the containers' IPv6 addresses (zero: no IPv6)
	Gateway6 netip.Addr   // the bridge's own IPv6 address
}

// IPv6 says whether the bridge's network has IPv6.
func (b Bridge) IPv6() bool { return b.Subnet6.IsValid() }

// BridgeFromEnv is the bridge a root gets when it first needs one: the
// defaults, or BERTH_BRIDGE and BERTH_BRIDGE_SUBNET; BERTH_BRIDGE_SUBNET6
// (an IPv6 prefix, /48 to /120) gives it IPv6 too, as Docker's
// fixed-cidr-v6 does. Without it the default bridge is IPv4 only.
func BridgeFromEnv() (Bridge, error) {
	name, subnet := os.Getenv("BERTH_BRIDGE"), os.Getenv("BERTH_BRIDGE_SUBNET")
	if name == "" {
		name = DefaultBridgeName
	}
	if subnet == "" {
		subnet = DefaultBridgeSubnet
	}
	b, err := NewBridge(name, subnet)
	if err != nil {
		return b, err
	}
	if s6 := os.Getenv("BERTH_BRIDGE_SUBNET6"); s6 != "" {
		p, err := netip.ParsePrefix(s6)
		if err != nil || !validSubnet6(p) {
			return Bridge{}, fmt.Errorf("BERTH_BRIDGE_SUBNET6 %q: an IPv6 prefix from /%d to /%d", s6, minSubnet6Bits, maxSubnet6Bits)
		}
		b.Subnet6 = p.Masked()
		b.Gateway6 = b.Subnet6.Addr().Next()
	}
	return b, nil
}

// BridgeMTUFromEnv is the MTU of the default bridge and its veths:
// BERTH_BRIDGE_MTU (68 to 65535, dockerd's --mtu), or 0 for LocalMTU.
// It is read at each use, not recorded: the bridge takes a new one once
// no container is on it (veths take their bridge's MTU when made).
func BridgeMTUFromEnv() (int, error) {
	v := os.Getenv("BERTH_BRIDGE_MTU")
	if v == "" {
		return 0, nil
	}
	mtu, err := strconv.Atoi(v)
	if err != nil || mtu < 68 || mtu > 65535 {
		return 0, fmt.Errorf("BERTH_BRIDGE_MTU %q: an MTU from 68 to 65535", v)
	}
	return mtu, nil
}

// NewBridge checks a bridge's name and subnet (an IPv4 prefix of /8 to
// /29) and gives it the subnet's first address as its gateway.
func NewBridge(name, subnet string) (Bridge, error) {
	if len(name) == 0 || len(name) > 15 {
		return Bridge{}, fmt.Errorf("bridge name %q: 1 to 15 characters", name)
	}
	p, err := netip.ParsePrefix(subnet)
	if err != nil || !p.Addr().Is4() || p.Bits() < 8 || p.Bits() > 29 {
		return Bridge{}, fmt.Errorf("bridge subnet %q: an IPv4 prefix from /8 to /29", subnet)
	}
	p = p.Masked()
	return Bridge{Name: name, Subnet: p, Gateway: p.Addr().Next()}, nil
}

// Table is the name of berth's nftables table for bridge b: "berth" for
// the default bridge, "berth_<bridge>" for another, so that a test's
// bridge never touches the real one's rules.
func (b Bridge) Table() string {
	if b.Name == DefaultBridgeName {
		return "berth"
	}
	return "berth_" + b.Name
}

// PublishedPort is one host port forwarded to a container: traffic to
// HostIP:HostPort (HostIP 0.0.0.0 for every address of the host) goes to
// ContainerIP:ContainerPort.
type PublishedPort struct {
	ContainerID   string
	Proto         string // tcp, udp or sctp
	HostIP        netip.Addr
	HostPort      uint16
	ContainerIP   netip.Addr
	ContainerPort uint16
}

// Binding is a port a container asks to publish (from -p, or -P with the
// image's EXPOSE): HostPortStart 0 for an ephemeral port; a range
// HostPortStart..HostPortEnd picks the first free port of it.
type Binding struct {
	Proto string
	// HostIP invalid (zero) is every address: 0.0.0.0, and [::] too on a
	// network with IPv6.
	HostIP        netip.Addr
	HostPortStart uint16
	HostPortEnd   uint16
	ContainerPort uint16
}

// Endpoint is a container's place on one network: a veth pair whose
// container end is IfName, with its address.
type Endpoint struct {
	ContainerID string
	Network     string // the network's name: "bridge", or a user-defined one's
	IP          netip.Addr
	PrefixLen   int
	Gateway     netip.Addr
	// IP6 is the endpoint's IPv6 address on a network with IPv6 (zero
	// without), with its prefix length and gateway.
	IP6        netip.Addr
	PrefixLen6 int
	Gateway6   netip.Addr
	MAC        string
	IfName     string   // eth0, eth1, … in the order the container joined its networks
	Aliases    []string // --network-alias, connect --alias: more names for the resolver
}

// Attachment is a network a container is to be on (run --network,
// network connect), as its endpoint is asked for.
type Attachment struct {
	Network string     // the network's name; "" or "bridge" for the default bridge
	IP      netip.Addr // --ip (zero: any)
	IP6     netip.Addr // --ip6 (zero: any, on a network with IPv6)
	Aliases []string
	MAC     string // --mac-address ("": derived from the address)
}

// MACFor is the MAC address Docker derives from an IPv4 address:
// 02:42 followed by the address's four bytes.
func MACFor(ip netip.Addr) string {
	b := ip.As4()
	return fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}
