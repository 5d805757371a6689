package cli_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testSubnet6 is a /64 of berth's ULA pool, fd62:6572:7468:ffXX::/64,
// that no host route overlaps now, different for each call of this test
// binary (the pool's first /64s are left to automatic allocation).
func testSubnet6(t *testing.T) string {
	t.Helper()
	seq := bridgeSeq.Add(1)
	routes, _ := exec.Command("ip", "-6", "route").Output()
	for i := 0; i < 250; i++ {
		x := (os.Getpid() + int(seq)*13 + i) % 250
		p := fmt.Sprintf("fd62:6572:7468:ff%02x::", x)
		if !strings.Contains(string(routes), p) {
			return p + "/64"
		}
	}
	t.Fatal("no free IPv6 test subnet")
	return ""
}

// hostAddress6 is a global IPv6 address of the host that is not on a
// container bridge (the source of its route out, or its first one).
func hostAddress6(t *testing.T) string {
	out, _ := exec.Command("ip", "-6", "route", "get", "2001:db8::1").Output()
	if m := regexp.MustCompile(`src (\S+)`).FindStringSubmatch(string(out)); m != nil {
		return m[1]
	}
	out, _ = exec.Command("ip", "-6", "-o", "addr", "show", "scope", "global").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && !strings.HasPrefix(f[1], "b") {
			return strings.Split(f[3], "/")[0]
		}
	}
	t.Skip("the host has no global IPv6 address off a bridge")
	return ""
}

func (b *berthRoot) ip6On(network, ref string) string {
	b.t.Helper()
	return strings.TrimSpace(b.ok("inspect", "-f", fmt.Sprintf("{{(index .NetworkSettings.Networks %q).GlobalIPv6Address}}", network), ref))
}

// TestNetworkIPv6: a network created with --ipv6 has an IPv4 and an IPv6
// subnet (given, or a /64 of berth's ULA pool) in inspect and ls; its
// containers get an IPv6 address (--ip6 honoured), a default IPv6 route,
// their own line in /etc/hosts, and reach each other by name over IPv6;
// the resolver answers AAAA; a port published on every address is
// reached over IPv6 at the host's address, from the host, from a
// container of another network and of its own, but [::1] is refused; two IPv6 networks
// are isolated; network connect --ip6; Docker-like errors for IPv6
// publishing berth can't do and bad --ip6 values; network rm leaves no
// bridge, table or route.
func TestNetworkIPv6(t *testing.T) {
	b := containerRoot(t)
	host6 := hostAddress6(t)
	sub6 := testSubnet6(t)
	prefix6 := strings.TrimSuffix(sub6, "/64")
	b.createNetwork("v6a", "--ipv6", "--subnet", testSubnet(t), "--subnet", sub6)
	b.createNetwork("v6b", "--ipv6")
	b.createNetwork("v4only", "--subnet", testSubnet(t))
	bridge := strings.TrimSpace(b.ok("network", "inspect", "-f", `{{index .Options "com.docker.network.bridge.name"}}`, "v6a"))

	if got := b.ok("network", "inspect", "-f", "{{.EnableIPv6}} {{len .IPAM.Config}} {{(index .IPAM.Config 1).Subnet}} {{(index .IPAM.Config 1).Gateway}}", "v6a"); got != fmt.Sprintf("true 2 %s %s1\n", sub6, prefix6) {
		t.Errorf("inspect v6a: %q", got)
	}
	auto := strings.TrimSpace(b.ok("network", "inspect", "-f", "{{(index .IPAM.Config 1).Subnet}}", "v6b"))
	if p, err := netip.ParsePrefix(auto); err != nil || p.Bits() != 64 || !netip.MustParsePrefix("fd62:6572:7468::/48").Contains(p.Addr()) {
		t.Errorf("automatic IPv6 subnet %q", auto)
	}
	if got := b.ok("network", "ls", "--filter", "name=v", "--format", "{{.Name}} {{.IPv6}}"); got != "v4only false\nv6a true\nv6b true\n" {
		t.Errorf("ls: %q", got)
	}

	hp := freePort(t, 1)
	fixed := prefix6 + "77"
	b.ok(runArgs("-d", "--name", "s1", "--network", "v6a", "-p", fmt.Sprintf("%d:80", hp), "busybox:test", "sh", "-c", server(80, "six"))...)
	b.ok(runArgs("-d", "--name", "s2", "--network", "v6a", "--ip6", fixed, "--hostname", "two", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "s3", "--network", "v6b", "busybox:test", "sleep", "60")...)
	ip1, ip2, ip3 := b.ip6On("v6a", "s1"), b.ip6On("v6a", "s2"), b.ip6On("v6b", "s3")
	if !strings.HasPrefix(ip1, prefix6) || ip2 != fixed || ip3 == "" {
		t.Fatalf("IPv6 addresses %q %q %q, subnet %s", ip1, ip2, ip3, sub6)
	}
	if got := b.ok("inspect", "-f", `{{with index .NetworkSettings.Networks "v6a"}}{{.GlobalIPv6PrefixLen}} {{.IPv6Gateway}} {{.IPAMConfig.IPv6Address}}{{end}}`, "s2"); got != fmt.Sprintf("64 %s1 %s\n", prefix6, fixed) {
		t.Errorf("inspect s2: %q", got)
	}
	if hosts := b.ok("exec", "s2", "cat", "/etc/hosts"); !strings.Contains(hosts, fixed+"\ttwo\n") || !strings.Contains(hosts, b.ipOn("v6a", "s2")+"\ttwo\n") {
		t.Errorf("/etc/hosts:\n%s", hosts)
	}
	if route := b.ok("exec", "s2", "ip", "-6", "route", "show", "default"); !strings.Contains(route, "via "+prefix6+"1") {
		t.Errorf("IPv6 default route: %q", route)
	}
	if _, errs, code := b.run("", "exec", "s2", "ping", "-6", "-c", "1", "-W", "2", "s1"); code != 0 {
		t.Errorf("ping -6 s1 from s2: %s", errs)
	}
	if out := b.ok("exec", "s1", "nslookup", "-type=aaaa", "s2", "127.0.0.11"); !strings.Contains(out, "Address: "+fixed) {
		t.Errorf("AAAA of s2:\n%s", out)
	}

	// The published port: on 0.0.0.0 and [::]; at the host's IPv6
	// address from the host and from a container of another network.
	if got := b.ok("port", "s1", "80"); got != fmt.Sprintf("0.0.0.0:%d\n[::]:%d\n", hp, hp) {
		t.Errorf("port s1 80: %q", got)
	}
	if got := b.ok("ps", "--filter", "name=s1", "--format", "{{.Ports}}"); got != fmt.Sprintf("0.0.0.0:%d->80/tcp, [::]:%d->80/tcp\n", hp, hp) {
		t.Errorf("ps PORTS: %q", got)
	}
	if got := b.ok("network", "inspect", "-f", "{{range .Containers}}{{.IPv6Address}} {{end}}", "v6a"); !strings.Contains(got, fixed+"/64 ") || !strings.Contains(got, ip1+"/64 ") {
		t.Errorf("network inspect Containers: %q", got)
	}
	addr6 := net.JoinHostPort(host6, fmt.Sprint(hp))
	if got := dialRead(t, addr6); got != "six\n" {
		t.Errorf("%s: %q", addr6, got)
	}
	if got := dialRead(t, fmt.Sprintf("127.0.0.1:%d", hp)); got != "six\n" {
		t.Errorf("127.0.0.1:%d: %q", hp, got)
	}
	if out, _, _ := b.run("", "exec", "s3", "nc", host6, fmt.Sprint(hp)); out != "six\n" {
		t.Errorf("%s from another network: %q", addr6, out)
	}
	if out, _, _ := b.run("", "exec", "s2", "nc", host6, fmt.Sprint(hp)); out != "six\n" {
		t.Errorf("%s from s1's own network (hairpin): %q", addr6, out)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("[::1]:%d", hp), 2*time.Second); err == nil {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 10)
		if n, _ := c.Read(buf); n > 0 {
			t.Errorf("[::1]:%d answered %q: it should not be translated", hp, buf[:n])
		}
		c.Close()
	}
	// A port on one IPv6 address only; gone from the ip6 table with its
	// container.
	hp2 := freePort(t, 1)
	b.ok(runArgs("-d", "--name", "s4", "--network", "v6a", "-p", fmt.Sprintf("[%s]:%d:80", host6, hp2), "busybox:test", "sh", "-c", server(80, "four"))...)
	if got := dialRead(t, net.JoinHostPort(host6, fmt.Sprint(hp2))); got != "four\n" {
		t.Errorf("[%s]:%d: %q", host6, hp2, got)
	}
	table, _ := exec.Command("nft", "list", "table", "ip6", "berth_"+bridge).Output()
	if !strings.Contains(string(table), fmt.Sprintf("%s . tcp . %d : %s . 80", host6, hp2, b.ip6On("v6a", "s4"))) {
		t.Errorf("[%s]:%d is not in the ip6 table:\n%s", host6, hp2, table)
	}
	b.ok("rm", "-f", "s4")
	if table, _ := exec.Command("nft", "list", "table", "ip6", "berth_"+bridge).Output(); strings.Contains(string(table), fmt.Sprintf(" . tcp . %d ", hp2)) {
		t.Errorf("s4's port is left in the ip6 table:\n%s", table)
	}
	// Isolation: v6b's container reaches none of v6a's addresses.
	if b.pings("s3", ip1) {
		t.Error("a container of v6b reaches one of v6a over IPv6")
	}
	// network connect --ip6: s3 joins v6a and then reaches s1.
	joined := prefix6 + "88"
	b.ok("network", "connect", "--ip6", joined, "v6a", "s3")
	if got := b.ip6On("v6a", "s3"); got != joined {
		t.Errorf("connect --ip6: %q", got)
	}
	if !b.pings("s3", ip1) {
		t.Error("s3 does not reach s1 once connected to v6a")
	}

	// Each family has its gateway: a container on an IPv4-only network
	// first takes its IPv6 default route from the first network that has
	// IPv6, at run and at connect; it goes with that network.
	gw6 := "via " + prefix6 + "1"
	b.ok(runArgs("-d", "--name", "s5", "--network", "v4only", "--network", "v6a", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "s6", "--network", "v4only", "busybox:test", "sleep", "60")...)
	b.ok("network", "connect", "v6a", "s6")
	for _, c := range []string{"s5", "s6"} {
		if route := b.ok("exec", c, "ip", "-6", "route", "show", "default"); !strings.Contains(route, gw6+" dev eth1") {
			t.Errorf("%s's IPv6 default route: %q", c, route)
		}
		if route := b.ok("exec", c, "ip", "route", "show", "default"); !strings.Contains(route, "dev eth0") {
			t.Errorf("%s's IPv4 default route: %q", c, route)
		}
	}
	b.ok("network", "disconnect", "v6a", "s6")
	if route := b.ok("exec", "s6", "ip", "-6", "route", "show", "default"); route != "" {
		t.Errorf("s6's IPv6 default route after disconnect: %q", route)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{runArgs("--rm", "--network", "v4only", "-p", fmt.Sprintf("[::]:%d:80", hp+1), "busybox:test", "true"), "network v4only has no IPv6"},
		{runArgs("--rm", "-p", fmt.Sprintf("[%s]:%d:80", host6, hp+1), "busybox:test", "true"), "network bridge has no IPv6"},
		{runArgs("--rm", "--network", "v6a", "-p", fmt.Sprintf("[::1]:%d:80", hp+1), "busybox:test", "true"), "cannot publish 80/tcp on [::1]"},
		{runArgs("--rm", "--network", "v6a", "--ip6", "10.0.0.1", "busybox:test", "true"), `invalid argument "10.0.0.1" for "--ip6" flag: invalid IPv6 address: 10.0.0.1`},
		{runArgs("--rm", "--network", "v6a", "--ip6", "fd00:dead::1", "busybox:test", "true"), "Invalid address fd00:dead::1: It does not belong to any of this network's subnets"},
		{runArgs("--rm", "--network", "v6a", "--ip6", fixed, "busybox:test", "true"), "Address already in use"},
		{runArgs("--rm", "--network", "v4only", "--ip6", fixed, "busybox:test", "true"), "network v4only has no IPv6"},
	} {
		if errs := b.fails(125, c.args...); !strings.Contains(errs, c.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("berth %s: %q, want %q", strings.Join(c.args, " "), errs, c.want)
		}
	}
	if errs := b.fails(1, "network", "create", "--subnet", "fd00:beef::/64", "nov6"); !strings.Contains(errs, "add --ipv6") {
		t.Errorf("an IPv6 subnet without --ipv6: %q", errs)
	}

	// network rm: the bridge, both tables and the IPv6 route go.
	for _, c := range []string{"s1", "s2", "s3", "s5", "s6"} {
		b.ok("rm", "-f", c)
	}
	b.ok("network", "rm", "v6a")
	if err := exec.Command("ip", "link", "show", bridge).Run(); err == nil {
		t.Errorf("bridge %s is still there", bridge)
	}
	for _, family := range []string{"ip", "ip6"} {
		if err := exec.Command("nft", "list", "table", family, "berth_"+bridge).Run(); err == nil {
			t.Errorf("table %s berth_%s is still there", family, bridge)
		}
	}
	if routes, _ := exec.Command("ip", "-6", "route").Output(); strings.Contains(string(routes), prefix6) {
		t.Errorf("a route to %s is left:\n%s", sub6, routes)
	}
}

// TestNetworkIPv6DefaultBridge: BERTH_BRIDGE_SUBNET6 gives the default
// bridge IPv6 (Docker's fixed-cidr-v6): its containers get an IPv6
// address, and -p 8080:80 publishes on [::] too; without it, an IPv6
// host address there is refused.
func TestNetworkIPv6DefaultBridge(t *testing.T) {
	host6 := hostAddress6(t)
	sub6 := testSubnet6(t)
	b := containerRootEnv(t, "BERTH_BRIDGE_SUBNET6="+sub6)
	prefix6 := strings.TrimSuffix(sub6, "/64")
	if got := b.ok("network", "inspect", "-f", "{{.EnableIPv6}} {{(index .IPAM.Config 1).Subnet}}", "bridge"); got != "true "+sub6+"\n" {
		t.Errorf("inspect bridge: %q", got)
	}
	hp := freePort(t, 1)
	b.ok(runArgs("-d", "--name", "d1", "-p", fmt.Sprintf("%d:80", hp), "busybox:test", "sh", "-c", server(80, "dflt"))...)
	ip6 := strings.TrimSpace(b.ok("inspect", "-f", "{{.NetworkSettings.Networks.bridge.GlobalIPv6Address}}", "d1"))
	if !strings.HasPrefix(ip6, prefix6) {
		t.Fatalf("IPv6 address %q, subnet %s", ip6, sub6)
	}
	if got := dialRead(t, net.JoinHostPort(host6, fmt.Sprint(hp))); got != "dflt\n" {
		t.Errorf("[%s]:%d: %q", host6, hp, got)
	}

	plain := containerRoot(t)
	if errs := plain.fails(125, runArgs("--rm", "-p", fmt.Sprintf("[::]:%d:80", hp+1), "busybox:test", "true")...); !strings.Contains(errs, "network bridge has no IPv6") {
		t.Errorf("[::] on an IPv4-only default bridge: %q", errs)
	}
}

// TestNetworkIPv6Masquerade: a container of an IPv6 network reaches an
// IPv6 host beyond the host (a scratch namespace behind a veth, with no
// route back to the container's subnet): it is forwarded and
// masqueraded to the host's address on the way out.
func TestNetworkIPv6Masquerade(t *testing.T) {
	b := containerRoot(t)
	seq := bridgeSeq.Add(1)
	ns := fmt.Sprintf("b6out%d-%d", os.Getpid()%100000, seq)
	veth, peer := fmt.Sprintf("vo%d-%d", os.Getpid()%100000, seq), fmt.Sprintf("vp%d-%d", os.Getpid()%100000, seq)
	outside := testSubnet6(t)
	prefix := strings.TrimSuffix(outside, "/64")
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", veth).Run()
		exec.Command("ip", "netns", "del", ns).Run()
	})
	for _, args := range [][]string{
		{"netns", "add", ns},
		{"link", "add", veth, "type", "veth", "peer", "name", peer, "netns", ns},
		{"addr", "add", prefix + "1/64", "dev", veth, "nodad"},
		{"link", "set", veth, "up"},
		{"-n", ns, "addr", "add", prefix + "2/64", "dev", peer, "nodad"},
		{"-n", ns, "link", "set", peer, "up"},
		{"-n", ns, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	srv := exec.Command("ip", "netns", "exec", ns, "busybox", "nc", "-ll", "-p", "80", "-e", "echo", "outside")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })

	b.createNetwork("v6out", "--ipv6", "--subnet", testSubnet(t), "--subnet", testSubnet6(t))
	var out string
	waitFor(t, "an answer from ["+prefix+"2]:80", func() bool {
		out, _, _ = b.run("", runArgs("--rm", "--network", "v6out", "busybox:test", "nc", "-w", "2", prefix+"2", "80")...)
		return out == "outside\n"
	})
}
