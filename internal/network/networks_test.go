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
