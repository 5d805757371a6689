package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestNetworkInspectShape: network inspect has Docker's fields and
// values: the default bridge's options and null IPAM options, host and
// none with null IPAM and their running containers (an endpoint with no
// address, the one container inspect shows), each network's Containers,
// Labels and Created, and API 1.52's Status (addresses in use and left,
// counted as Docker counts them).
func TestNetworkInspectShape(t *testing.T) {
	b := containerRoot(t)
	sub := testSubnet(t)
	prefix := strings.TrimSuffix(sub, "0/24")
	b.createNetwork("shapenet", "--subnet", sub, "--ip-range", prefix+"128/25", "--label", "tier=db")
	b.ok(runArgs("-d", "--name", "onnet", "--network", "shapenet", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "onbridge", "busybox:test", "sleep", "60")...)
	onhost := strings.TrimSpace(b.ok(runArgs("-d", "--name", "onhost", "--network", "host", "busybox:test", "sleep", "60")...))
	onnone := strings.TrimSpace(b.ok(runArgs("-d", "--name", "onnone", "--network", "none", "busybox:test", "sleep", "60")...))
	b.ok("create", "--name", "notrunning", "--network", "none", "busybox:test")
	b.ok("create", "--name", "neverran", "--network", "shapenet", "busybox:test")

	type endpoint struct{ Name, EndpointID, MacAddress, IPv4Address, IPv6Address string }
	var nets []struct {
		Name    string
		Created time.Time
		IPAM    struct {
			Driver  string
			Options map[string]string
			Config  []map[string]string
		}
		Options    map[string]string
		Labels     map[string]string
		Containers map[string]endpoint
		Status     *struct {
			IPAM struct {
				Subnets map[string]struct{ IPsInUse, DynamicIPsAvailable uint64 }
			}
		}
	}
	out := b.ok("network", "inspect", "bridge", "shapenet", "host", "none")
	if err := json.Unmarshal([]byte(out), &nets); err != nil || len(nets) != 4 {
		t.Fatalf("network inspect: %v\n%s", err, out)
	}
	raw := []map[string]any{}
	json.Unmarshal([]byte(out), &raw)
	for i, n := range nets {
		ipam := raw[i]["IPAM"].(map[string]any)
		if _, ok := raw[i]["Status"]; !ok {
			t.Errorf("%s: no Status", n.Name)
		}
		switch n.Name {
		case "bridge":
			want := map[string]string{
				"com.docker.network.bridge.default_bridge": "true", "com.docker.network.bridge.enable_icc": "true",
				"com.docker.network.bridge.enable_ip_masquerade": "true", "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
				"com.docker.network.bridge.name": b.getenv("BERTH_BRIDGE"), "com.docker.network.driver.mtu": "65535",
			}
			if len(n.Options) != len(want) {
				t.Errorf("bridge options %v, want %v", n.Options, want)
			}
			for k, v := range want {
				if n.Options[k] != v {
					t.Errorf("bridge option %s = %q, want %q", k, n.Options[k], v)
				}
			}
			if ipam["Options"] != nil || len(n.Containers) != 1 {
				t.Errorf("bridge: IPAM options %v (want null), containers %v", ipam["Options"], n.Containers)
			}
			if st := n.Status.IPAM.Subnets[b.getenv("BERTH_BRIDGE_SUBNET")]; st.IPsInUse != 4 || st.DynamicIPsAvailable != 252 {
				t.Errorf("bridge status %+v, want 4 in use (network, broadcast, gateway, onbridge) and 252 left", n.Status)
			}
		case "shapenet":
			if n.Labels["tier"] != "db" || n.Created.Before(time.Now().Add(-time.Hour)) || len(n.IPAM.Options) != 0 || ipam["Options"] == nil {
				t.Errorf("shapenet: labels %v, created %v, IPAM options %v (want {})", n.Labels, n.Created, ipam["Options"])
			}
			var ep endpoint
			for _, e := range n.Containers {
				ep = e
			}
			if len(n.Containers) != 1 || ep.Name != "onnet" || !strings.HasPrefix(ep.IPv4Address, prefix) || !strings.HasSuffix(ep.IPv4Address, "/24") ||
				!strings.HasPrefix(ep.MacAddress, "02:42:") || len(ep.EndpointID) != 64 {
				t.Errorf("shapenet containers: %+v", n.Containers)
			}
			// The range .128/25 holds onnet and the broadcast address.
			if st := n.Status.IPAM.Subnets[sub]; st.IPsInUse != 4 || st.DynamicIPsAvailable != 126 {
				t.Errorf("shapenet status %+v, want 4 in use and 126 left in the range", n.Status)
			}
			// Stopped, it keeps the network's ID and its DNS names, as
			// Docker's; never started, it has neither.
			b.ok("stop", "-t", "0", "onnet")
			id := strings.TrimSpace(b.ok("inspect", "-f", "{{.Id}}", "onnet"))
			f := "{{.NetworkSettings.Networks.shapenet.NetworkID}} {{.NetworkSettings.Networks.shapenet.DNSNames}} {{.NetworkSettings.Networks.shapenet.EndpointID}}|{{.NetworkSettings.Networks.shapenet.IPAddress}}"
			netID := strings.TrimSpace(b.ok("network", "inspect", "-f", "{{.Id}}", "shapenet"))
			if got := b.ok("inspect", "-f", f, "onnet"); got != netID+" [onnet "+id[:12]+"] |invalid IP\n" {
				t.Errorf("a stopped container's endpoint: %q", got)
			}
			if got := b.ok("inspect", "-f", "{{.NetworkSettings.Networks.shapenet.NetworkID}}|{{.NetworkSettings.Networks.shapenet.DNSNames}}", "neverran"); got != "|[]\n" {
				t.Errorf("a never started container's endpoint: %q", got)
			}
		case "host", "none":
			id := map[string]string{"host": onhost, "none": onnone}[n.Name]
			ep, ok := n.Containers[id]
			if ipam["Options"] != nil || ipam["Config"] != nil || len(n.Containers) != 1 || !ok || ep.Name != "on"+n.Name || ep.IPv4Address != "" || ep.MacAddress != "" {
				t.Errorf("%s: IPAM %v (want null options and config), containers %+v", n.Name, ipam, n.Containers)
			}
			name := "on" + n.Name
			if got := b.ok("inspect", "-f", "{{(index .NetworkSettings.Networks \""+n.Name+"\").EndpointID}}", name); got != ep.EndpointID+"\n" || len(ep.EndpointID) != 64 {
				t.Errorf("%s: inspect's endpoint %q, network inspect's %q", name, got, ep.EndpointID)
			}
			if n.Status == nil || len(n.Status.IPAM.Subnets) != 0 {
				t.Errorf("%s: status %+v, want an empty IPAM status", n.Name, n.Status)
			}
		}
	}
}
