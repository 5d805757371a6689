package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/store"
)

func openStore(t *testing.T, path string) *Store {
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return NewStore(db)
}

// TestAllocateConcurrent: many allocations at once, through separate
// connections as separate processes would, never share an address; a
// released address is handed out again.
func TestAllocateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	ctx := context.Background()
	b := mustBridge(t, "bt1", "10.213.1.0/24")
	if _, err := openStore(t, path).EnsureBridge(ctx, b); err != nil {
		t.Fatal(err)
	}
	const n = 16
	ips := make([]netip.Addr, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		s := openStore(t, path)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ep, _, err := s.Allocate(ctx, b, fmt.Sprint("c", i), nil, nil)
			if err != nil {
				errs <- err
				return
			}
			ips[i] = ep.IP
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[netip.Addr]bool{}
	for _, ip := range ips {
		if seen[ip] || !b.Subnet.Contains(ip) || ip == b.Gateway {
			t.Errorf("address %s given twice or outside %s: %v", ip, b.Subnet, ips)
		}
		seen[ip] = true
	}
	s := openStore(t, path)
	if had, err := s.Release(ctx, "c3"); !had || err != nil {
		t.Fatalf("Release: %v %v", had, err)
	}
	ep, _, err := s.Allocate(ctx, b, "again", nil, nil)
	if err != nil || ep.IP != ips[3] || ep.MAC != MACFor(ips[3]) {
		t.Errorf("after release got %v (%v), want %s", ep, err, ips[3])
	}
}

// TestAllocatePorts: an explicit port taken on 0.0.0.0 refuses the same
// port on any address with Docker's message; two specific addresses
// share a port; ephemeral ports come from the range; a host range takes
// its first free port.
func TestAllocatePorts(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "meta.db"))
	b := mustBridge(t, "bt2", "10.213.2.0/24")
	s.EnsureBridge(ctx, b)
	lo := netip.MustParseAddr("127.0.0.1")
	_, ports, err := s.Allocate(ctx, b, "a", []Binding{
		{Proto: "tcp", HostPortStart: 8080, ContainerPort: 80},
		{Proto: "tcp", ContainerPort: 443},
		{Proto: "udp", HostIP: lo, HostPortStart: 8080, ContainerPort: 53},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := ports[1].HostPort; p < EphemeralRange[0] || p > EphemeralRange[1] {
		t.Errorf("ephemeral port %d", p)
	}
	_, _, err = s.Allocate(ctx, b, "b", []Binding{{Proto: "tcp", HostIP: lo, HostPortStart: 8080, ContainerPort: 80}}, nil)
	if !errors.Is(err, ErrPortAllocated) || err.Error() != "Bind for 127.0.0.1:8080 failed: port is already allocated" {
		t.Errorf("taken port: %v", err)
	}
	if eps, _, _ := s.ContainerEndpoints(ctx, "b"); eps != nil {
		t.Errorf("a failed allocation kept its address: %v", eps)
	}
	_, ports, err = s.Allocate(ctx, b, "c", []Binding{
		{Proto: "udp", HostIP: netip.MustParseAddr("127.0.0.2"), HostPortStart: 8080, ContainerPort: 53},
		{Proto: "tcp", HostPortStart: 8080, HostPortEnd: 8090, ContainerPort: 80},
	}, nil)
	if err != nil || ports[1].HostPort != 8081 {
		t.Errorf("second address / range: %v %v", ports, err)
	}
	all, _ := s.Ports(ctx)
	if len(all) != 5 {
		t.Errorf("Ports: %v", all)
	}
}
