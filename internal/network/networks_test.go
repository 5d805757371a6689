package network

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
)

// TestCreateNetworkSubnets: without --subnet a network gets the first
// pool that overlaps neither the host's routes nor another network (nor
// the default bridge's); an overlapping --subnet and a taken name are
// refused with Docker's messages; the gateway is the subnet's first
// address unless given.
func TestCreateNetworkSubnets(t *testing.T) {
	t.Setenv("BERTH_BRIDGE_SUBNET", "172.18.0.0/16")
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "meta.db"))
	routes := []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16"), netip.MustParsePrefix("172.19.5.0/24")}
	a, err := s.CreateNetwork(ctx, CreateRequest{Name: "a"}, routes)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateNetwork(ctx, CreateRequest{Name: "b"}, routes)
	if err != nil {
		t.Fatal(err)
	}
	if a.Bridge.Subnet.String() != "172.20.0.0/16" || b.Bridge.Subnet.String() != "172.21.0.0/16" || a.Bridge.Gateway.String() != "172.20.0.1" {
		t.Errorf("automatic subnets %v %v (gateway %v)", a.Bridge.Subnet, b.Bridge.Subnet, a.Bridge.Gateway)
	}
	if a.Bridge.Name != "br-"+a.ID[:12] {
		t.Errorf("bridge name %q", a.Bridge.Name)
	}
	_, err = s.CreateNetwork(ctx, CreateRequest{Name: "c", Subnet: netip.MustParsePrefix("172.20.3.0/24")}, routes)
	if !errors.Is(err, ErrPoolOverlap) {
		t.Errorf("overlapping subnet: %v", err)
	}
	_, err = s.CreateNetwork(ctx, CreateRequest{Name: "a", Subnet: netip.MustParsePrefix("10.1.0.0/24")}, routes)
	if err == nil || err.Error() != "network with name a already exists" {
		t.Errorf("taken name: %v", err)
	}
	c, err := s.CreateNetwork(ctx, CreateRequest{Name: "c", Subnet: netip.MustParsePrefix("10.1.0.0/24"), Gateway: netip.MustParseAddr("10.1.0.254"),
		Settings: Settings{IPRange: "10.1.0.128/25", Options: map[string]string{OptMTU: "1400"}}}, routes)
	if err != nil {
		t.Fatal(err)
	}
	if c.Bridge.Gateway.String() != "10.1.0.254" || c.Settings.MTU != 1400 {
		t.Errorf("network c: %+v", c)
	}
	got, err := s.Network(ctx, c.ID[:8])
	if err != nil || got.Name != "c" || got.Settings.IPRange != "10.1.0.128/25" {
		t.Errorf("Network by ID prefix: %+v, %v", got, err)
	}

	// Addresses come from the ip range; --ip takes any free address of
	// the subnet, but not one in use.
	ep, _, err := s.AllocateOn(ctx, *got, Endpoint{ContainerID: "x"}, nil, nil)
	if err != nil || ep.IP.String() != "10.1.0.128" || ep.Gateway.String() != "10.1.0.254" {
		t.Fatalf("from the ip range: %+v, %v", ep, err)
	}
	if ep, _, err = s.AllocateOn(ctx, *got, Endpoint{ContainerID: "y", IP: netip.MustParseAddr("10.1.0.9"), Aliases: []string{"db"}}, nil, nil); err != nil || ep.IP.String() != "10.1.0.9" {
		t.Fatalf("--ip: %+v, %v", ep, err)
	}
	if _, _, err = s.AllocateOn(ctx, *got, Endpoint{ContainerID: "z", IP: netip.MustParseAddr("10.1.0.9")}, nil, nil); !errors.Is(err, ErrAddressInUse) {
		t.Errorf("--ip in use: %v", err)
	}
	if err := s.DeleteNetwork(ctx, got); err == nil || !errors.As(err, new(ErrInUse)) {
		t.Errorf("delete in use: %v", err)
	}
	if eps, _ := s.Endpoints(ctx, "c"); len(eps) != 2 || eps[1].IfName != "eth0" || len(eps[1].Aliases) != 1 || eps[1].Aliases[0] != "db" {
		t.Errorf("endpoints: %+v", eps)
	}
	// One endpoint per network and container; a second network is a
	// second endpoint, released alone.
	if _, _, err = s.AllocateOn(ctx, *got, Endpoint{ContainerID: "x"}, nil, nil); !errors.As(err, new(ErrEndpointExists)) {
		t.Errorf("a second endpoint on one network: %v", err)
	}
	br, err := s.EnsureBridge(ctx, mustBridge(t, "berth0", "172.30.0.0/16"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AllocateOn(ctx, Network{Name: BridgeNetwork, Bridge: br}, Endpoint{ContainerID: "x", IfName: "eth1"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if eps, _, _ := s.ContainerEndpoints(ctx, "x"); len(eps) != 2 || eps[0].Network != "c" || eps[1].Network != BridgeNetwork || eps[1].IfName != "eth1" {
		t.Errorf("x's endpoints: %+v", eps)
	}
	if had, err := s.ReleaseOn(ctx, "x", BridgeNetwork); !had || err != nil {
		t.Errorf("ReleaseOn: %v %v", had, err)
	}
	if eps, _, _ := s.ContainerEndpoints(ctx, "x"); len(eps) != 1 {
		t.Errorf("after ReleaseOn: %+v", eps)
	}
	s.Release(ctx, "x")
	s.Release(ctx, "y")
	if err := s.DeleteNetwork(ctx, got); err != nil {
		t.Errorf("delete: %v", err)
	}
}

// TestIPv6Network: --ipv6 without an IPv6 subnet takes the first /64 of
// berth's ULA pool that overlaps nothing (another network's, the host's
// routes), a given one is checked; endpoints get an IPv6 address too
// (from the IPv6 ip range, or --ip6), kept and released with the IPv4
// one; a port on every address is published on 0.0.0.0 and [::] with one
// host port, [::] and 0.0.0.0 don't overlap each other; an IPv6 host
// address on a network without IPv6 is refused.
func TestIPv6Network(t *testing.T) {
	t.Setenv("BERTH_BRIDGE_SUBNET", "172.18.0.0/16")
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "meta.db"))
	routes := []netip.Prefix{netip.MustParsePrefix("fd62:6572:7468::/64"), netip.MustParsePrefix("fd00::/64")}
	a, err := s.CreateNetwork(ctx, CreateRequest{Name: "a", IPv6: true}, routes)
	if err != nil {
		t.Fatal(err)
	}
	if a.Bridge.Subnet6.String() != "fd62:6572:7468:1::/64" || a.Bridge.Gateway6.String() != "fd62:6572:7468:1::1" || !a.Bridge.Subnet.IsValid() {
		t.Errorf("automatic IPv6 subnet: %+v", a.Bridge)
	}
	b, err := s.CreateNetwork(ctx, CreateRequest{Name: "b", IPv6: true, Subnet6: netip.MustParsePrefix("fd00:1::/64"),
		Gateway6: netip.MustParseAddr("fd00:1::fe"), Settings: Settings{IPRange6: "fd00:1::100/120"}}, routes)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []CreateRequest{
		{Name: "c", IPv6: true, Subnet6: netip.MustParsePrefix("fd62:6572:7468:1::/80")}, // overlaps a
		{Name: "c", IPv6: true, Subnet6: netip.MustParsePrefix("fd00::/64")},             // a host route
		{Name: "c", IPv6: true, Subnet6: netip.MustParsePrefix("fd00:2::/127")},
		{Name: "c", IPv6: true, Subnet6: netip.MustParsePrefix("fe80::/64")},
		{Name: "c", IPv6: true, Subnet6: netip.MustParsePrefix("fd00:2::/64"), Gateway6: netip.MustParseAddr("fd00:3::1")},
		{Name: "c", Subnet6: netip.MustParsePrefix("fd00:2::/64")}, // no --ipv6
	} {
		if _, err := s.CreateNetwork(ctx, bad, routes); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	got, err := s.Network(ctx, "b")
	if err != nil || got.Bridge.Subnet6 != b.Bridge.Subnet6 || got.Bridge.Gateway6.String() != "fd00:1::fe" || got.Settings.IPRange6 != "fd00:1::100/120" {
		t.Fatalf("b as recorded: %+v %v", got, err)
	}
	ep, ports, err := s.AllocateOn(ctx, *got, Endpoint{ContainerID: "x"}, []Binding{{Proto: "tcp", HostPortStart: 8080, ContainerPort: 80}}, nil)
	if err != nil || ep.IP6.String() != "fd00:1::100" || ep.PrefixLen6 != 64 || ep.Gateway6.String() != "fd00:1::fe" {
		t.Fatalf("from the IPv6 ip range: %+v, %v", ep, err)
	}
	if len(ports) != 2 || ports[0].HostIP.String() != "0.0.0.0" || ports[1].HostIP.String() != "::" || ports[1].ContainerIP != ep.IP6 || ports[0].ContainerIP != ep.IP {
		t.Errorf("a port on every address: %+v", ports)
	}
	ep, _, err = s.AllocateOn(ctx, *got, Endpoint{ContainerID: "y", IP6: netip.MustParseAddr("fd00:1::9")}, nil, nil)
	if err != nil || ep.IP6.String() != "fd00:1::9" {
		t.Fatalf("--ip6: %+v %v", ep, err)
	}
	if _, _, err = s.AllocateOn(ctx, *got, Endpoint{ContainerID: "z", IP6: netip.MustParseAddr("fd00:1::9")}, nil, nil); !errors.Is(err, ErrAddressInUse) {
		t.Errorf("--ip6 in use: %v", err)
	}
	if _, _, err = s.AllocateOn(ctx, *got, Endpoint{ContainerID: "z", IP6: netip.MustParseAddr("fd00:9::9")}, nil, nil); err == nil {
		t.Error("--ip6 outside the subnet accepted")
	}
	if _, _, err = s.AllocateOn(ctx, *got, Endpoint{ContainerID: "z"}, []Binding{{Proto: "tcp", HostIP: netip.IPv6Unspecified(), HostPortStart: 8080, ContainerPort: 80}}, nil); err == nil || err.Error() != "Bind for [::]:8080 failed: port is already allocated" {
		t.Errorf("[::]:8080 twice: %v", err)
	}
	if eps, _ := s.Endpoints(ctx, "b"); len(eps) != 2 || eps[0].IP6.String() != "fd00:1::100" || eps[1].IP6.String() != "fd00:1::9" {
		t.Errorf("endpoints as recorded: %+v", eps)
	}
	if all, _ := s.NetworkPorts(ctx, "b"); len(all) != 2 || all[1].ContainerIP.String() != "fd00:1::100" {
		t.Errorf("ports as recorded: %+v", all)
	}
	recs, err := s.NameRecords(ctx, "b")
	if err != nil || len(recs) != 4 || recs[1].IP.String() != "fd00:1::100" {
		t.Errorf("name records: %+v %v", recs, err)
	}
	// The released addresses are handed out again.
	s.Release(ctx, "x")
	if ep, _, err = s.AllocateOn(ctx, *got, Endpoint{ContainerID: "w"}, nil, nil); err != nil || ep.IP6.String() != "fd00:1::100" {
		t.Errorf("after release: %+v %v", ep, err)
	}

	// [::] on a network without IPv6; --ip6 there.
	c, err := s.CreateNetwork(ctx, CreateRequest{Name: "c"}, routes)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.AllocateOn(ctx, *c, Endpoint{ContainerID: "v"}, []Binding{{Proto: "tcp", HostIP: netip.IPv6Unspecified(), HostPortStart: 8081, ContainerPort: 80}}, nil)
	if !errors.As(err, new(ErrNoIPv6)) {
		t.Errorf("[::] without IPv6: %v", err)
	}
	ep, ports, err = s.AllocateOn(ctx, *c, Endpoint{ContainerID: "v"}, []Binding{{Proto: "tcp", HostPortStart: 8081, ContainerPort: 80}}, nil)
	if err != nil || ep.IP6.IsValid() || len(ports) != 1 {
		t.Errorf("a port on every address without IPv6: %+v %+v %v", ep, ports, err)
	}
	if _, _, err = s.AllocateOn(ctx, *c, Endpoint{ContainerID: "u", IP6: netip.MustParseAddr("fd00:1::5")}, nil, nil); err == nil {
		t.Error("--ip6 on a network without IPv6 accepted")
	}
}

// TestDefaultBridgeIPv6: BERTH_BRIDGE_SUBNET6 gives the default bridge
// an IPv6 subnet, recorded with it (and kept once recorded); a bad one
// is refused.
func TestDefaultBridgeIPv6(t *testing.T) {
	t.Setenv("BERTH_BRIDGE_SUBNET6", "fd62:6572:7468:fe00::/64")
	want, err := BridgeFromEnv()
	if err != nil || want.Gateway6.String() != "fd62:6572:7468:fe00::1" {
		t.Fatalf("BridgeFromEnv: %+v %v", want, err)
	}
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "meta.db"))
	if _, err := s.EnsureBridge(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Bridge(ctx)
	if err != nil || !ok || got != want {
		t.Errorf("recorded bridge %+v, want %+v (%v)", got, want, err)
	}
	ep, ports, err := s.Allocate(ctx, got, "c", []Binding{{Proto: "tcp", HostPortStart: 8080, ContainerPort: 80}}, nil)
	if err != nil || ep.IP6.String() != "fd62:6572:7468:fe00::2" || len(ports) != 2 {
		t.Errorf("an endpoint on it: %+v %+v %v", ep, ports, err)
	}
	for _, bad := range []string{"zz", "10.0.0.0/24", "fd00::/127", "fe80::/64"} {
		t.Setenv("BERTH_BRIDGE_SUBNET6", bad)
		if _, err := BridgeFromEnv(); err == nil {
			t.Errorf("BERTH_BRIDGE_SUBNET6=%s accepted", bad)
		}
	}
}
