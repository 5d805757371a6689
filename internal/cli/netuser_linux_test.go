package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// testSubnet is a /24 of 10.214.0.0/16 that no host route overlaps now,
// different for each call of this test binary.
func testSubnet(t *testing.T) string {
	t.Helper()
	seq := bridgeSeq.Add(1)
	routes, _ := exec.Command("ip", "-4", "route").Output()
	for i := 0; i < 250; i++ {
		x := (os.Getpid() + int(seq)*11 + i) % 250
		if !strings.Contains(string(routes), fmt.Sprintf("10.214.%d.", x)) {
			return fmt.Sprintf("10.214.%d.0/24", x)
		}
	}
	t.Fatal("no free test subnet")
	return ""
}

// createNetwork runs `network create` with a bridge of the test's own
// name (so that cleanup can remove it even if berth cannot) and args,
// and removes the network, its containers first, when the test ends.
func (b *berthRoot) createNetwork(name string, args ...string) string {
	b.t.Helper()
	bridge := fmt.Sprintf("btu%d-%d", os.Getpid()%100000, bridgeSeq.Add(1))
	args = append([]string{"network", "create", "-o", "com.docker.network.bridge.name=" + bridge}, args...)
	id := strings.TrimSpace(b.ok(append(args, name)...))
	b.t.Cleanup(func() {
		out, _, _ := b.run("", "ps", "-aq", "--no-trunc")
		for _, c := range strings.Fields(out) {
			b.run("", "rm", "-f", c)
		}
		b.run("", "network", "rm", name)
		exec.Command("ip", "link", "del", bridge).Run()
		exec.Command("nft", "delete", "table", "ip", "berth_"+bridge).Run()
		exec.Command("nft", "delete", "table", "ip6", "berth_"+bridge).Run()
	})
	return id
}

func (b *berthRoot) ipOn(network, ref string) string {
	b.t.Helper()
	return strings.TrimSpace(b.ok("inspect", "-f", fmt.Sprintf("{{(index .NetworkSettings.Networks %q).IPAddress}}", network), ref))
}

func (b *berthRoot) pings(from, to string) bool {
	b.t.Helper()
	_, _, code := b.run("", "exec", from, "ping", "-c", "1", "-W", "2", to)
	return code == 0
}

// hostAddress is an address of the host that is not on a container
// bridge: the source of its route out, or its first global address.
func hostAddress(t *testing.T) string {
	out, _ := exec.Command("ip", "-4", "route", "get", "192.0.2.1").Output()
	if m := regexp.MustCompile(`src (\S+)`).FindStringSubmatch(string(out)); m != nil {
		return m[1]
	}
	out, _ = exec.Command("ip", "-4", "-o", "addr", "show", "scope", "global").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && !strings.HasPrefix(f[1], "b") {
			return strings.Split(f[3], "/")[0]
		}
	}
	t.Skip("the host has no address off a bridge")
	return ""
}

// TestNetworkUserDefined: two containers on a user-defined network reach
// each other (one at the address --ip gave it); a container on another
// user network and one on the default bridge reach neither; network
// inspect lists the endpoints; rm is refused while containers are on the
// network and then removes its bridge and nft table.
func TestNetworkUserDefined(t *testing.T) {
	b := containerRoot(t)
	sub1, sub2 := testSubnet(t), testSubnet(t)
	id1 := b.createNetwork("net1", "--subnet", sub1, "--label", "team=a")
	b.createNetwork("net2", "--subnet", sub2)
	prefix1 := strings.TrimSuffix(sub1, "0/24")
	fixed := prefix1 + "77"
	b.ok(runArgs("-d", "--name", "u1", "--network", "net1", "--network-alias", "web", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "u2", "--network", "net1", "--ip", fixed, "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "u3", "--network", "net2", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "u4", "busybox:test", "sleep", "60")...)
	ip1, ip2, ip3 := b.ipOn("net1", "u1"), b.ipOn("net1", "u2"), b.ipOn("net2", "u3")
	if !strings.HasPrefix(ip1, prefix1) || ip2 != fixed || !strings.HasPrefix(ip3, strings.TrimSuffix(sub2, "0/24")) {
		t.Fatalf("addresses %s %s %s, subnets %s %s", ip1, ip2, ip3, sub1, sub2)
	}
	if !b.pings("u1", ip2) || !b.pings("u2", ip1) {
		t.Error("containers of one network do not reach each other")
	}
	if !b.pings("u1", prefix1+"1") {
		t.Error("a container does not reach its network's gateway")
	}
	if b.pings("u3", ip1) {
		t.Error("a container of net2 reaches one of net1")
	}
	if b.pings("u4", ip1) {
		t.Error("a container of the default bridge reaches one of net1")
	}
	if b.pings("u1", ip3) {
		t.Error("a container of net1 reaches one of net2")
	}
	if errs := b.fails(125, runArgs("--rm", "--network", "net1", "--ip", fixed, "busybox:test", "true")...); errs != "Error: Address already in use\n" {
		t.Errorf("--ip in use: %q", errs)
	}
	if errs := b.fails(125, runArgs("--rm", "--network", "net1", "--ip", "192.0.2.5", "busybox:test", "true")...); !strings.Contains(errs, "Invalid address 192.0.2.5: It does not belong to any of this network's subnets") {
		t.Errorf("--ip off the subnet: %q", errs)
	}
	// ps --filter network= takes a name or an ID prefix.
	for _, ref := range []string{"net1", id1[:12]} {
		if got := b.ok("ps", "--format", "{{.Names}}", "--filter", "network="+ref); got != "u2\nu1\n" {
			t.Errorf("ps --filter network=%s: %q", ref, got)
		}
	}
	if got := b.ok("ps", "--format", "{{.Names}}", "--filter", "network=bridge"); got != "u4\n" {
		t.Errorf("ps --filter network=bridge: %q", got)
	}
	got := b.ok("inspect", "-f", `{{with .NetworkSettings.Networks.net1}}{{.NetworkID}} {{.Aliases}} {{.Gateway}}{{end}} {{.HostConfig.NetworkMode}}`, "u1")
	if want := fmt.Sprintf("%s [web] %s1 net1", id1, prefix1); strings.TrimSpace(got) != want {
		t.Errorf("container inspect: %q, want %q", got, want)
	}

	var nets []struct {
		Name, Id, Scope, Driver string
		Internal                bool
		IPAM                    struct {
			Config []struct{ Subnet, Gateway string }
		}
		Containers map[string]struct{ Name, IPv4Address, MacAddress string }
		Labels     map[string]string
	}
	if err := json.Unmarshal([]byte(b.ok("network", "inspect", "net1")), &nets); err != nil || len(nets) != 1 {
		t.Fatalf("network inspect: %v", err)
	}
	n := nets[0]
	if n.Name != "net1" || n.Id != id1 || n.Scope != "local" || n.Driver != "bridge" || n.Internal || n.Labels["team"] != "a" ||
		len(n.IPAM.Config) != 1 || n.IPAM.Config[0].Subnet != sub1 || n.IPAM.Config[0].Gateway != prefix1+"1" {
		t.Errorf("network inspect: %+v", n)
	}
	names := map[string]string{}
	for _, c := range n.Containers {
		names[c.Name] = c.IPv4Address
		if !strings.HasPrefix(c.MacAddress, "02:42:") {
			t.Errorf("endpoint MAC %q", c.MacAddress)
		}
	}
	if len(names) != 2 || names["u1"] != ip1+"/24" || names["u2"] != ip2+"/24" {
		t.Errorf("network inspect's containers: %v", names)
	}

	bridge := strings.TrimSpace(b.ok("network", "inspect", "-f", `{{index .Options "com.docker.network.bridge.name"}}`, "net1"))
	errs := b.fails(1, "network", "rm", "net1")
	if want := fmt.Sprintf("Error response from daemon: error while removing network: network net1 id %s has active endpoints\n", id1); errs != want {
		t.Errorf("rm in use: %q, want %q", errs, want)
	}
	b.ok("rm", "-f", "u1", "u2")
	if out := b.ok("network", "rm", "net1"); out != "net1\n" {
		t.Errorf("network rm: %q", out)
	}
	if err := exec.Command("ip", "link", "show", bridge).Run(); err == nil {
		t.Errorf("bridge %s is still there", bridge)
	}
	if err := exec.Command("nft", "list", "table", "ip", "berth_"+bridge).Run(); err == nil {
		t.Errorf("table berth_%s is still there", bridge)
	}
	if errs := b.fails(125, runArgs("--rm", "--network", "net1", "busybox:test", "true")...); !strings.Contains(errs, "network net1 not found") {
		t.Errorf("run on a removed network: %q", errs)
	}
}

// TestNetworkInternal: containers of an --internal network reach each
// other but have no default route and do not reach the host's address,
// which a container of an ordinary network (with -o …mtu=1400, which
// its eth0 gets) does.
func TestNetworkInternal(t *testing.T) {
	b := containerRoot(t)
	host := hostAddress(t)
	b.createNetwork("inner", "--internal", "--subnet", testSubnet(t))
	b.createNetwork("outer", "--subnet", testSubnet(t), "-o", "com.docker.network.driver.mtu=1400")
	b.ok(runArgs("-d", "--name", "i1", "--network", "inner", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "i2", "--network", "inner", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "o1", "--network", "outer", "busybox:test", "sleep", "60")...)
	if !b.pings("i1", b.ipOn("inner", "i2")) {
		t.Error("containers of an internal network do not reach each other")
	}
	if routes := b.ok("exec", "i1", "ip", "route"); strings.Contains(routes, "default") {
		t.Errorf("an internal network's container has a default route:\n%s", routes)
	}
	if mtu := b.ok("exec", "o1", "cat", "/sys/class/net/eth0/mtu"); mtu != "1400\n" {
		t.Errorf("-o com.docker.network.driver.mtu=1400: eth0's MTU is %q", mtu)
	}
	if !b.pings("o1", host) {
		t.Fatalf("a container of an ordinary network does not reach the host's %s", host)
	}
	if b.pings("i1", host) {
		t.Errorf("a container of an internal network reaches the host's %s", host)
	}
	if got := b.ok("network", "inspect", "-f", "{{.Internal}}", "inner"); got != "true\n" {
		t.Errorf("inspect Internal: %q", got)
	}
}

// TestNetworkCommands: ls's columns with the predefined networks, its
// filters, -q and --format; an automatic subnet; Docker's errors for an
// overlapping subnet, a duplicate name, --ip and --network-alias off a
// user network, removing a predefined network; prune.
func TestNetworkCommands(t *testing.T) {
	b := containerRoot(t)
	sub := testSubnet(t)
	id := b.createNetwork("lsnet", "--subnet", sub, "--label", "k=v")
	autoID := strings.TrimSpace(b.ok("network", "create", "auto"))
	t.Cleanup(func() {
		b.run("", "network", "rm", "auto")
		exec.Command("ip", "link", "del", "br-"+autoID[:12]).Run()
		exec.Command("nft", "delete", "table", "ip", "berth_br-"+autoID[:12]).Run()
	})
	autoSub := strings.TrimSpace(b.ok("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "auto"))
	if autoSub == "" || autoSub == sub {
		t.Errorf("automatic subnet %q", autoSub)
	}
	if err := exec.Command("ip", "link", "show", "br-"+autoID[:12]).Run(); err != nil {
		t.Errorf("network create made no bridge br-%s: %v", autoID[:12], err)
	}

	lines := strings.Split(strings.TrimSpace(b.ok("network", "ls")), "\n")
	if !regexp.MustCompile(`^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$`).MatchString(lines[0]) {
		t.Errorf("ls header %q", lines[0])
	}
	var rows []string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		rows = append(rows, strings.Join(f[1:], " "))
		if len(f[0]) != 12 {
			t.Errorf("ls ID %q", f[0])
		}
	}
	if want := []string{"auto bridge local", "bridge bridge local", "host host local", "lsnet bridge local", "none null local"}; strings.Join(rows, "|") != strings.Join(want, "|") {
		t.Errorf("ls rows %q, want %q", rows, want)
	}
	if got := b.ok("network", "ls", "-q", "--filter", "label=k=v"); got != id[:12]+"\n" {
		t.Errorf("ls -q --filter label: %q", got)
	}
	if got := b.ok("network", "ls", "--filter", "name=lsn", "--format", "{{.Name}} {{.Driver}} {{.Labels}}"); got != "lsnet bridge k=v\n" {
		t.Errorf("ls --filter name --format: %q", got)
	}
	if got := b.ok("network", "ls", "--filter", "driver=null", "--format", "{{.Name}}"); got != "none\n" {
		t.Errorf("ls --filter driver: %q", got)
	}
	if got := b.ok("network", "ls", "--filter", "id="+id[:10], "--format", "{{.Name}}"); got != "lsnet\n" {
		t.Errorf("ls --filter id: %q", got)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"network", "create", "--subnet", sub, "dup"}, 1, "Error response from daemon: invalid pool request: Pool overlaps with other one on this address space\n"},
		{[]string{"network", "create", "--subnet", "10.215.0.0/24", "lsnet"}, 1, "Error response from daemon: network with name lsnet already exists\n"},
		{[]string{"network", "create", "-d", "overlay", "x"}, 1, "Error response from daemon: plugin \"overlay\" not found\n"},
		{[]string{"network", "rm", "bridge"}, 1, "Error response from daemon: bridge is a pre-defined network and cannot be removed\n"},
		{[]string{"network", "inspect", "nope"}, 1, "Error response from daemon: network nope not found\n"},
		{runArgs("--ip", "10.9.9.9", "busybox:test", "true"), 125, "Error: user specified IP address is supported on user defined networks only\n"},
		{runArgs("--network-alias", "x", "busybox:test", "true"), 125, "Error: network-scoped alias is supported only for containers in user defined networks\n"},
	} {
		errs := b.fails(c.code, c.args...)
		if errs != c.want {
			t.Errorf("berth %s: %q, want %q", strings.Join(c.args, " "), errs, c.want)
		}
	}

	b.ok(runArgs("-d", "--name", "p1", "--network", "lsnet", "busybox:test", "sleep", "60")...)
	if got := b.ok("network", "prune", "-f"); got != "Deleted Networks:\nauto\n\n" {
		t.Errorf("prune: %q", got)
	}
	if got := b.ok("network", "ls", "--filter", "type=custom", "--format", "{{.Name}}"); got != "lsnet\n" {
		t.Errorf("after prune: %q", got)
	}
}
