package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// uplinkMTU is the MTU of the host's route out (the route's own, else its
// device's), 1500 without one.
func uplinkMTU(t *testing.T) string {
	out, err := exec.Command("ip", "-4", "route", "show", "default").Output()
	if err != nil || len(out) == 0 {
		return "1500"
	}
	line := strings.Split(string(out), "\n")[0]
	if m := regexp.MustCompile(` mtu (?:lock )?(\d+)`).FindStringSubmatch(line); m != nil {
		return m[1]
	}
	m := regexp.MustCompile(` dev (\S+)`).FindStringSubmatch(line)
	if m == nil {
		return "1500"
	}
	mtu, err := os.ReadFile("/sys/class/net/" + m[1] + "/mtu")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(mtu))
}

// TestNetworkMTU: without an MTU option a network's containers get
// 65535 on eth0 (traffic on the machine moves in large packets) and a
// default route with the host uplink's MTU (traffic leaving the machine
// does not); with -o com.docker.network.driver.mtu the option's MTU and
// no route MTU. Either stays the bridge's once its last container has
// gone (the kernel would fall back to 1500).
func TestNetworkMTU(t *testing.T) {
	b := containerRoot(t)
	b.createNetwork("bigmtu", "--subnet", testSubnet(t))
	b.createNetwork("smallmtu", "--subnet", testSubnet(t), "-o", "com.docker.network.driver.mtu=1400")
	uplink := uplinkMTU(t)
	for _, c := range []struct{ network, mtu, route string }{
		{"bigmtu", "65535", " mtu " + uplink},
		{"smallmtu", "1400", ""},
		{"bridge", "65535", " mtu " + uplink},
	} {
		for round := 0; round < 2; round++ { // the second time on a bridge with no port left
			id := strings.TrimSpace(b.ok(runArgs("-d", "--network", c.network, "busybox:test", "sleep", "60")...))
			link, route := eth0AndRoute(t, b, id)
			if !strings.Contains(string(link), " mtu "+c.mtu+" ") || !strings.HasSuffix(strings.TrimSpace(string(route)), "dev eth0"+c.route) {
				t.Errorf("%s, run %d: eth0 and default route:\n%s%s\nwant MTU %s and a route ending %q", c.network, round, link, route, c.mtu, "dev eth0"+c.route)
			}
			b.ok("rm", "-f", id)
		}
	}
}

// TestNetworkBridgeMTU: BERTH_BRIDGE_MTU is the default bridge's MTU
// and its containers' eth0's (with no route MTU), shown in network
// inspect; a new one applies once no container is on the bridge; a bad
// one is refused with a clear error.
func TestNetworkBridgeMTU(t *testing.T) {
	b := containerRootEnv(t, "BERTH_BRIDGE_MTU=1400")
	bridge := b.getenv("BERTH_BRIDGE")
	check := func(mtu string) {
		t.Helper()
		id := strings.TrimSpace(b.ok(runArgs("-d", "busybox:test", "sleep", "60")...))
		link, route := eth0AndRoute(t, b, id)
		br, err := exec.Command("ip", "-o", "link", "show", bridge).Output()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(link), " mtu "+mtu+" ") || !strings.Contains(string(br), " mtu "+mtu+" ") || strings.Contains(string(route), " mtu ") {
			t.Errorf("want MTU %s on eth0 and the bridge, none on the route:\n%s%s%s", mtu, link, br, route)
		}
		if got := b.ok("network", "inspect", "-f", `{{index .Options "com.docker.network.driver.mtu"}}`, "bridge"); got != mtu+"\n" {
			t.Errorf("network inspect bridge: MTU %q, want %s", got, mtu)
		}
		b.ok("rm", "-f", id)
	}
	check("1400")
	b.env = append(b.env, "BERTH_BRIDGE_MTU=9000")
	check("9000")
	for _, bad := range []string{"67", "65536", "big"} {
		b.env = append(b.env, "BERTH_BRIDGE_MTU="+bad)
		if errs := b.fails(125, runArgs("--rm", "busybox:test", "true")...); !strings.Contains(errs, `BERTH_BRIDGE_MTU "`+bad+`": an MTU from 68 to 65535`) {
			t.Errorf("BERTH_BRIDGE_MTU=%s: %q", bad, errs)
		}
	}
}

// TestNetworkNoTrack: a connection between two containers of one network
// is not tracked by conntrack (br_netfilter would look up every packet
// crossing the bridge), while one through a published port on the
// gateway (hairpin) is tracked, and works.
func TestNetworkNoTrack(t *testing.T) {
	if v, err := os.ReadFile("/proc/sys/net/bridge/bridge-nf-call-iptables"); err != nil || strings.TrimSpace(string(v)) != "1" {
		t.Skip("br_netfilter is not active: bridged traffic is never tracked")
	}
	b := containerRoot(t)
	b.createNetwork("tracknet", "--subnet", testSubnet(t))
	hp := freePort(t, 1)
	b.ok(runArgs("-d", "--name", "srv", "--network", "tracknet", "-p", fmt.Sprintf("%d:80", hp), "busybox:test", "sh", "-c", server(80, "hello"))...)
	b.ok(runArgs("-d", "--name", "cli", "--network", "tracknet", "busybox:test", "sleep", "60")...)
	srv, cli := b.ipOn("tracknet", "srv"), b.ipOn("tracknet", "cli")
	gw := strings.TrimSpace(b.ok("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "tracknet"))
	for _, to := range []string{srv + " 80", fmt.Sprintf("%s %d", gw, hp)} {
		waitFor(t, "an answer from "+to, func() bool {
			out, _, _ := b.run("", "exec", "cli", "sh", "-c", "nc -w 2 "+to)
			return out == "hello\n"
		})
	}
	table, err := os.ReadFile("/proc/net/nf_conntrack")
	if err != nil {
		t.Skipf("no /proc/net/nf_conntrack: %v", err)
	}
	direct := regexp.MustCompile(`src=` + regexp.QuoteMeta(cli) + ` dst=` + regexp.QuoteMeta(srv) + ` `)
	hairpin := regexp.MustCompile(`src=` + regexp.QuoteMeta(cli) + ` dst=` + regexp.QuoteMeta(gw) + ` sport=\d+ dport=` + fmt.Sprint(hp) + ` `)
	if direct.Match(table) {
		t.Errorf("the connection %s -> %s between containers of one network is tracked", cli, srv)
	}
	if !hairpin.Match(table) {
		t.Errorf("the connection %s -> %s:%d through the published port is not tracked", cli, gw, hp)
	}
}

// eth0AndRoute are `ip -o link show eth0` and the IPv4 default route in
// container id's network namespace.
func eth0AndRoute(t *testing.T, b *berthRoot, id string) (link, route []byte) {
	t.Helper()
	ns := "--net=" + filepath.Join(b.root, "run", "netns", id)
	link, err := exec.Command("nsenter", ns, "ip", "-o", "link", "show", "eth0").Output()
	if err != nil {
		t.Fatal(err)
	}
	if route, err = exec.Command("nsenter", ns, "ip", "-4", "route", "show", "default").Output(); err != nil {
		t.Fatal(err)
	}
	return link, route
}
