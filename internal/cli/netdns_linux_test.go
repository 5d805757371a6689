package cli_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/berth-dev/berth/internal/testutil"
)

// upstreamDNS is a DNS server for the test on addr:53 (UDP) that knows
// one name, upstream.test (192.0.2.99), and answers NXDOMAIN for the
// rest; it counts the questions it gets.
func upstreamDNS(t *testing.T, addr string) *atomic.Int32 {
	t.Helper()
	c, err := net.ListenPacket("udp4", net.JoinHostPort(addr, "53"))
	if err != nil {
		t.Fatalf("upstream DNS server: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	var n atomic.Int32
	go func() {
		buf := make([]byte, 1500)
		for {
			m, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:m])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			n.Add(1)
			rh := dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
			known := strings.EqualFold(q.Name.String(), "upstream.test.")
			if !known {
				rh.RCode = dnsmessage.RCodeNameError
			}
			b := dnsmessage.NewBuilder(nil, rh)
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			if known && q.Type == dnsmessage.TypeA {
				b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: [4]byte{192, 0, 2, 99}})
			}
			if out, err := b.Finish(); err == nil {
				c.WriteTo(out, from)
			}
		}
	}()
	return &n
}

// resolves runs nslookup NAME in container from and returns the
// addresses of its answer, sorted and space-separated ("" when it has
// none).
func (b *berthRoot) resolves(from, name string) string {
	b.t.Helper()
	out, _, _ := b.run("", "exec", from, "nslookup", name)
	_, answer, ok := strings.Cut(out, "Name:")
	if !ok {
		return ""
	}
	var addrs []string
	for _, m := range regexp.MustCompile(`Address:\s*(\d+\.\d+\.\d+\.\d+)\s`).FindAllStringSubmatch(answer, -1) {
		addrs = append(addrs, m[1])
	}
	slices.Sort(addrs)
	return strings.Join(addrs, " ")
}

// dnsRoot is a container root with two user networks (their bridges'
// first addresses are the gateways) and an upstream DNS server of its
// own on net1's gateway, which berth takes for the host's
// (BERTH_RESOLV_CONF).
func dnsRoot(t *testing.T) (b *berthRoot, gw1 string, questions *atomic.Int32) {
	b = containerRoot(t)
	sub1 := testSubnet(t)
	b.createNetwork("net1", "--subnet", sub1)
	b.createNetwork("net2", "--subnet", testSubnet(t))
	gw1 = strings.TrimSuffix(sub1, "0/24") + "1"
	questions = upstreamDNS(t, gw1)
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver "+gw1+"\noptions edns0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.env = append(b.env, "BERTH_RESOLV_CONF="+conf)
	return b, gw1, questions
}

// TestNetworkDNS: containers on a user network resolve each other by
// name, alias and short ID through 127.0.0.11 (UDP and TCP) and reach
// each other by name; other names go to the host's upstream server; a
// container of another network resolves none of them; a default-bridge
// container keeps the host's servers; the resolv.conf files are
// Docker's.
func TestNetworkDNS(t *testing.T) {
	b, gw1, questions := dnsRoot(t)
	id1 := strings.TrimSpace(b.ok(runArgs("-d", "--name", "d1", "--network", "net1", "--network-alias", "web", "busybox:test", "sleep", "60")...))
	b.ok(runArgs("-d", "--name", "d2", "--network", "net1", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "d3", "--network", "net2", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "d4", "busybox:test", "sleep", "60")...)
	ip1, ip2 := b.ipOn("net1", "d1"), b.ipOn("net1", "d2")
	for _, name := range []string{"d1", "web", id1[:12], "D1", "d1."} {
		if got := b.resolves("d2", name); got != ip1 {
			t.Errorf("d2: nslookup %s = %q, want %s", name, got, ip1)
		}
	}
	if got := b.resolves("d1", "d2"); got != ip2 {
		t.Errorf("d1: nslookup d2 = %q, want %s", got, ip2)
	}
	if !b.pings("d2", "web") || !b.pings("d1", "d2") {
		t.Error("containers do not reach each other by name")
	}
	// TCP, as a client does after a truncated answer.
	if out, errs, code := b.run("", "exec", "d2", "sh", "-c", `printf '\000\024\022\064\001\000\000\001\000\000\000\000\000\000\002d1\000\000\001\000\001' | nc -w 2 127.0.0.11 53 | od -An -tu1 | tr -s ' \n' ' '`); code != 0 || !strings.HasSuffix(strings.TrimSpace(out), strings.ReplaceAll(ip1, ".", " ")) {
		t.Errorf("a TCP question: %q %s (want an answer ending with %s)", out, errs, ip1)
	}
	before := questions.Load()
	if got := b.resolves("d2", "upstream.test"); got != "192.0.2.99" {
		t.Errorf("a name of the upstream server: %q", got)
	}
	if questions.Load() == before {
		t.Error("the upstream server got no question")
	}
	for _, name := range []string{"d1", "web", "d2"} {
		if got := b.resolves("d3", name); got != "" {
			t.Errorf("d3 (net2) resolves %s of net1: %q", name, got)
		}
	}
	if got := b.resolves("d4", "d1"); got != "" {
		t.Errorf("a default-bridge container resolves d1: %q", got)
	}

	resolv := b.ok("exec", "d2", "cat", "/etc/resolv.conf")
	want := "\nnameserver 127.0.0.11\noptions edns0 ndots:0\n\n# Based on host file: '" + b.getenv("BERTH_RESOLV_CONF") +
		"' (internal resolver)\n# ExtServers: [" + gw1 + "]\n# Overrides: []\n# Option ndots from: internal\n"
	if !strings.HasSuffix(resolv, want) {
		t.Errorf("a user network's resolv.conf:\n%s\nwant it to end with:\n%s", resolv, want)
	}
	if resolv := b.ok("exec", "d4", "cat", "/etc/resolv.conf"); strings.Contains(resolv, "127.0.0.11") || !strings.Contains(resolv, "nameserver "+gw1+"\n") {
		t.Errorf("a default-bridge container's resolv.conf:\n%s", resolv)
	}
	if resolv := b.okIn("cat /etc/resolv.conf", "--network", "net2", "--dns", "192.0.2.53"); !strings.Contains(resolv, "nameserver 127.0.0.11\n") || !strings.Contains(resolv, "# ExtServers: [192.0.2.53]\n# Overrides: [nameservers]\n") {
		t.Errorf("--dns on a user network:\n%s", resolv)
	}
	// A container started by run resolves at once: the resolver is
	// there before its process.
	if out := b.okIn("nslookup d1", "--network", "net1"); !strings.Contains(out, ip1) {
		t.Errorf("nslookup in a new container:\n%s", out)
	}
	// The restart policy's restarts keep the resolver (its sockets go
	// from one run to the next with the shim).
	b.ok(runArgs("-d", "--name", "rs", "--restart", "on-failure:2", "--network", "net1", "busybox:test", "sh", "-c", "nslookup d2 | grep '^Address: '; exit 1")...)
	waitFor(t, "rs's last restart", func() bool { return b.ok("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "rs") == "exited 2\n" })
	if logs := b.ok("logs", "rs"); strings.Count(logs, "Address: "+ip2+"\n") != 3 {
		t.Errorf("rs's three runs resolved d2:\n%s", logs)
	}
	// rename: the new name answers, the old one no longer.
	b.ok("rename", "d1", "d1new")
	if got, old := b.resolves("d2", "d1new"), b.resolves("d2", "d1"); got != ip1 || old != "" {
		t.Errorf("after rename: d1new %q (want %s), d1 %q", got, ip1, old)
	}
}

// endpoints lists the networks of a container as inspect shows them:
// "name ip gateway mac aliases" per network, sorted.
func (b *berthRoot) endpoints(ref string) []string {
	b.t.Helper()
	var nets map[string]struct {
		IPAddress, Gateway, MacAddress, NetworkID, EndpointID string
		Aliases                                               []string
	}
	if err := json.Unmarshal([]byte(b.ok("inspect", "-f", "{{json .NetworkSettings.Networks}}", ref)), &nets); err != nil {
		b.t.Fatal(err)
	}
	var out []string
	for name, n := range nets {
		out = append(out, fmt.Sprintf("%s %s %s %s %v", name, n.IPAddress, n.Gateway, n.MacAddress, n.Aliases))
		if n.IPAddress != "" && (len(n.NetworkID) != 64 || len(n.EndpointID) != 64) {
			b.t.Errorf("%s on %s: NetworkID %q, EndpointID %q", ref, name, n.NetworkID, n.EndpointID)
		}
	}
	slices.Sort(out)
	return out
}

// TestNetworkConnect: connect and disconnect on a running container
// change its interfaces, what resolves to it and from it, inspect and
// network inspect; on a created one they take effect at its start;
// Docker's errors; nothing is left after rm.
func TestNetworkConnect(t *testing.T) {
	b, _, _ := dnsRoot(t)
	t0 := fmt.Sprint(time.Now().Unix())
	id1 := strings.TrimSpace(b.ok(runArgs("-d", "--name", "c1", "--network", "net1", "busybox:test", "sleep", "60")...))
	b.ok(runArgs("-d", "--name", "c3", "--network", "net2", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "c4", "busybox:test", "sleep", "60")...)
	if out := b.ok("network", "connect", "--alias", "db", "net2", "c1"); out != "" {
		t.Errorf("connect printed %q", out)
	}
	ip1, ip1b := b.ipOn("net1", "c1"), b.ipOn("net2", "c1")
	addrs := b.ok("exec", "c1", "ip", "-o", "-4", "addr")
	if !regexp.MustCompile(`eth0\s+inet `+regexp.QuoteMeta(ip1)+`/24`).MatchString(addrs) || !regexp.MustCompile(`eth1\s+inet `+regexp.QuoteMeta(ip1b)+`/24`).MatchString(addrs) {
		t.Errorf("after connect, c1 has:\n%s(want eth0 %s, eth1 %s)", addrs, ip1, ip1b)
	}
	for _, name := range []string{"c1", "db"} {
		if got := b.resolves("c3", name); got != ip1b {
			t.Errorf("c3 (net2): nslookup %s = %q, want %s", name, got, ip1b)
		}
	}
	if !b.pings("c3", "c1") || !b.pings("c1", "c3") {
		t.Error("c1 and c3 do not reach each other once on one network")
	}
	eps := b.endpoints("c1")
	if len(eps) != 2 || !strings.HasPrefix(eps[0], "net1 "+ip1+" ") || !strings.HasPrefix(eps[1], "net2 "+ip1b+" ") || !strings.HasSuffix(eps[1], " [db]") {
		t.Errorf("inspect's networks: %q", eps)
	}
	if got := b.ok("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}", "net2"); !strings.Contains(got, "c1 "+ip1b+"/24") {
		t.Errorf("network inspect net2: %q", got)
	}

	// A default-bridge container connected to a user network gets the
	// resolver at once.
	b.ok("network", "connect", "net1", "c4")
	if got := b.resolves("c4", "c1"); got != ip1 {
		t.Errorf("c4 after connect: nslookup c1 = %q, want %s", got, ip1)
	}
	// Off the default bridge, its default route goes through net1's.
	b.ok("network", "disconnect", "bridge", "c4")
	gw1 := strings.TrimSuffix(ip1, "."+ip1[strings.LastIndexByte(ip1, '.')+1:]) + ".1"
	if routes := b.ok("exec", "c4", "ip", "route"); !strings.Contains(routes, "default via "+gw1+" dev eth1") || strings.Contains(routes, "eth0") {
		t.Errorf("c4's routes once off the bridge:\n%s", routes)
	}
	if !b.pings("c4", "c1") {
		t.Error("c4 does not reach c1 once off the bridge")
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "connect", "net2", "c1"}, "endpoint with name c1 already exists in network net2"},
		{[]string{"network", "connect", "nope", "c1"}, "network nope not found"},
		{[]string{"network", "connect", "net1", "nope"}, "No such container: nope"},
		{[]string{"network", "connect", "host", "c1"}, "container cannot be disconnected from host network or connected to host network"},
		{[]string{"network", "connect", "none", "c1"}, "container cannot be connected to multiple networks with one of the networks in private (none) mode"},
		{[]string{"network", "connect", "--alias", "x", "bridge", "c3"}, "network-scoped alias is supported only for containers in user defined networks"},
		{[]string{"network", "disconnect", "bridge", "c3"}, "container " + b.fullID("c3") + " is not connected to network bridge"},
	} {
		if errs := b.fails(1, c.args...); errs != "Error response from daemon: "+c.want+"\n" {
			t.Errorf("berth %s: %q, want %q", strings.Join(c.args, " "), errs, c.want)
		}
	}

	b.ok("network", "disconnect", "net2", "c1")
	if addrs := b.ok("exec", "c1", "ip", "-o", "link"); strings.Contains(addrs, "eth1") {
		t.Errorf("eth1 is still there after disconnect:\n%s", addrs)
	}
	if got := b.resolves("c3", "c1"); got != "" {
		t.Errorf("c3 resolves c1 after its disconnect: %q", got)
	}
	if eps := b.endpoints("c1"); len(eps) != 1 {
		t.Errorf("inspect after disconnect: %q", eps)
	}
	if err := exec.Command("ip", "link", "show", "veth"+id1[:8]+".1").Run(); err == nil {
		t.Error("the host end of c1's eth1 is still there")
	}
	now := fmt.Sprint(time.Now().Add(time.Second).Unix())
	if got := b.eventsOf(id1, t0, now); got != "container create\nnetwork connect\ncontainer start\nnetwork connect\nnetwork disconnect\n" {
		t.Errorf("c1's events: %q", got)
	}

	// A created container: connect takes effect at its start.
	b.ok("create", "--cgroup-parent", testutil.TestCgroupParent(), "--name", "c5", "busybox:test", "sleep", "60")
	b.ok("network", "connect", "--alias", "five", "net1", "c5")
	if errs := b.fails(1, "network", "disconnect", "net2", "c5"); errs != "Error response from daemon: container "+b.fullID("c5")+" is not connected to the network net2\n" {
		t.Errorf("disconnect of a stopped container: %q", errs)
	}
	b.ok("start", "c5")
	ip5 := b.ipOn("net1", "c5")
	if got := b.resolves("c1", "five"); got != ip5 {
		t.Errorf("c1: nslookup five = %q, want %s", got, ip5)
	}
	if links := b.ok("exec", "c5", "ip", "-o", "link"); !strings.Contains(links, " eth0@") || !strings.Contains(links, " eth1@") {
		t.Errorf("c5's links:\n%s", links)
	}

	// Nothing left: no endpoint on the networks, no names, no veth.
	ids := strings.Fields(b.ok("ps", "-aq", "--no-trunc"))
	b.ok(append([]string{"rm", "-f"}, ids...)...)
	for _, n := range []string{"net1", "net2"} {
		if got := b.ok("network", "inspect", "-f", "{{len .Containers}}", n); got != "0\n" {
			t.Errorf("%s keeps %s endpoints", n, got)
		}
		if _, err := os.Stat(filepath.Join(b.root, "run", "dns", n)); err == nil {
			t.Errorf("%s's names file is still there", n)
		}
	}
	links, _ := exec.Command("ip", "-o", "link").Output()
	for _, id := range ids {
		if strings.Contains(string(links), "veth"+id[:8]) {
			t.Errorf("a veth of %s is left:\n%s", id[:12], links)
		}
	}
}

func (b *berthRoot) fullID(ref string) string {
	b.t.Helper()
	return strings.TrimSpace(b.ok("inspect", "-f", "{{.Id}}", ref))
}

// TestNetworkConnectKill9: a container on two networks whose shim is
// killed loses both endpoints, interfaces and names at the next berth
// command, and its addresses are free again.
func TestNetworkConnectKill9(t *testing.T) {
	b, _, _ := dnsRoot(t)
	id := strings.TrimSpace(b.ok(runArgs("-d", "--name", "k1", "--network", "net1", "busybox:test", "sleep", "60")...))
	b.ok(runArgs("-d", "--name", "k2", "--network", "net2", "busybox:test", "sleep", "60")...)
	b.ok("network", "connect", "net2", "k1")
	ip := b.ipOn("net2", "k1")
	if got := b.resolves("k2", "k1"); got != ip {
		t.Fatalf("k2: nslookup k1 = %q, want %s", got, ip)
	}
	b.killShim(id)
	b.ok("ps", "-a")
	for _, veth := range []string{"veth" + id[:11], "veth" + id[:8] + ".1"} {
		if exec.Command("ip", "link", "show", veth).Run() == nil {
			t.Errorf("%s left after kill -9 and ps", veth)
		}
	}
	if got := b.ok("network", "inspect", "-f", "{{len .Containers}}", "net1"); got != "0\n" {
		t.Errorf("net1 keeps %s endpoints", got)
	}
	if got := b.resolves("k2", "k1"); got != "" {
		t.Errorf("k1 still resolves after its end: %q", got)
	}
	b.ok(runArgs("-d", "--name", "k3", "--network", "net2", "--ip", ip, "busybox:test", "sleep", "60")...)
	// Started again, k1 is on both networks again (the config kept them).
	b.ok("start", "k1")
	if eps := b.endpoints("k1"); len(eps) != 2 {
		t.Errorf("k1 restarted on %q", eps)
	}
}

// TestNetworkContainerMode: --network container:NAME shares the running
// container's namespace (its address, its resolver), its hosts and
// resolv.conf and its host name; Docker's conflicts and errors.
func TestNetworkContainerMode(t *testing.T) {
	b, _, _ := dnsRoot(t)
	id := strings.TrimSpace(b.ok(runArgs("-d", "--name", "donor", "--network", "net1", "-h", "web1", "busybox:test", "sleep", "60")...))
	b.ok(runArgs("-d", "--name", "peer", "--network", "net1", "busybox:test", "sleep", "60")...)
	ip := b.ipOn("net1", "donor")
	out := b.okIn("ip -o -4 addr show eth0; hostname; cat /etc/resolv.conf; nslookup peer", "--network", "container:donor")
	for _, want := range []string{"inet " + ip + "/24", "\nweb1\n", "nameserver 127.0.0.11\n", "Name:\tpeer\nAddress: " + b.ipOn("net1", "peer")} {
		if !strings.Contains(out, want) {
			t.Errorf("a container in donor's namespace lacks %q:\n%s", want, out)
		}
	}
	j := strings.TrimSpace(b.ok(runArgs("-d", "--network", "container:"+id[:12], "busybox:test", "sleep", "60")...))
	if got := b.ok("inspect", "-f", "{{.HostConfig.NetworkMode}} {{len .NetworkSettings.Networks}}", j); got != "container:"+id+" 0\n" {
		t.Errorf("inspect: %q", got)
	}
	if errs := b.fails(1, "network", "connect", "net2", j); errs != "Error response from daemon: container sharing network namespace with another container or host cannot be connected to any other network\n" {
		t.Errorf("connect a joined container: %q", errs)
	}
	b.ok("stop", "-t", "0", "peer")
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--network", "container:donor", "-h", "x"}, "conflicting options: hostname and the network mode"},
		{[]string{"--network", "container:donor", "--dns", "192.0.2.1"}, "conflicting options: dns and the network mode"},
		{[]string{"--network", "container:donor", "--add-host", "a:192.0.2.1"}, "conflicting options: custom host-to-IP mapping and the network mode"},
		{[]string{"--network", "container:donor", "-p", "80"}, "conflicting options: port publishing and the container type network mode"},
		{[]string{"--network", "container:donor", "--expose", "80"}, "conflicting options: port exposing and the container type network mode"},
		{[]string{"--network", "container:peer"}, "cannot join network of a non running container: peer"},
		{[]string{"--network", "container:nope"}, "No such container: nope"},
	} {
		if errs := b.fails(125, runArgs(append(append([]string{"--rm"}, c.flags...), "busybox:test", "true")...)...); errs != "Error: "+c.want+"\n" {
			t.Errorf("run %s: %q, want %q", strings.Join(c.flags, " "), errs, c.want)
		}
	}
}

// TestNetworkMACDomain: --mac-address is eth0's (and inspect's),
// --domainname the kernel's and the hosts file's; Docker's errors.
func TestNetworkMACDomain(t *testing.T) {
	b := containerRoot(t)
	out := b.okIn("cat /sys/class/net/eth0/address /proc/sys/kernel/domainname; tail -n1 /etc/hosts", "--mac-address", "92:D0:C6:0A:29:33", "--domainname", "example.org", "-h", "web")
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || lines[0] != "92:d0:c6:0a:29:33" || lines[1] != "example.org" || !strings.HasSuffix(lines[2], "\tweb.example.org web") {
		t.Errorf("--mac-address and --domainname:\n%s", out)
	}
	id := strings.TrimSpace(b.ok(runArgs("-d", "--mac-address", "92:d0:c6:0a:29:34", "--domainname", "example.org", "busybox:test", "sleep", "60")...))
	if got := b.ok("inspect", "-f", "{{.NetworkSettings.Networks.bridge.MacAddress}} {{.Config.Domainname}}", id); got != "92:d0:c6:0a:29:34 example.org\n" {
		t.Errorf("inspect: %q", got)
	}
	if errs := b.fails(125, runArgs("--rm", "--mac-address", "92:d0:zz", "busybox:test", "true")...); errs != "Error: invalid argument \"92:d0:zz\" for \"--mac-address\" flag: 92:d0:zz is not a valid mac address\n" {
		t.Errorf("a bad MAC: %q", errs)
	}
	if errs := b.fails(125, runArgs("--rm", "--network", "host", "--mac-address", "92:d0:c6:0a:29:35", "busybox:test", "true")...); errs != "Error: conflicting options: mac-address and the network mode\n" {
		t.Errorf("a MAC with host networking: %q", errs)
	}
}

// TestNetworkLink: --link NAME:ALIAS on the default bridge gives the
// linked container's address in /etc/hosts under the alias, its host
// name and name, and Docker's environment variables (a port range's
// too); Docker's errors.
func TestNetworkLink(t *testing.T) {
	b := containerRoot(t)
	b.ok(runArgs("-d", "--name", "db", "-h", "dbhost", "-e", "DBPASS=secret", "--expose", "5432", "--expose", "7000-7001/udp", "busybox:test", "sleep", "60")...)
	ip := b.ipOf("db")
	b.ok(runArgs("-d", "--name", "app", "--link", "db:database", "-e", "DATABASE_ENV_DBPASS=mine", "busybox:test", "sleep", "60")...)
	if hosts := b.ok("exec", "app", "cat", "/etc/hosts"); !strings.Contains(hosts, ip+"\tdatabase dbhost db\n") {
		t.Errorf("/etc/hosts:\n%s", hosts)
	}
	env := b.ok("exec", "app", "env")
	for _, want := range []string{
		"DATABASE_PORT=tcp://" + ip + ":5432", "DATABASE_PORT_5432_TCP=tcp://" + ip + ":5432", "DATABASE_PORT_5432_TCP_ADDR=" + ip,
		"DATABASE_PORT_5432_TCP_PORT=5432", "DATABASE_PORT_5432_TCP_PROTO=tcp", "DATABASE_NAME=/app/database",
		"DATABASE_ENV_DBPASS=mine", // the container's own variable wins
		"DATABASE_PORT_7001_UDP=udp://" + ip + ":7001", "DATABASE_PORT_7000_UDP_START=udp://" + ip + ":7000",
		"DATABASE_PORT_7000_UDP_PORT_START=7000", "DATABASE_PORT_7000_UDP_END=udp://" + ip + ":7001", "DATABASE_PORT_7000_UDP_PORT_END=7001",
	} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
	if !b.pings("app", "database") {
		t.Error("app does not reach database")
	}
	if got := b.ok("inspect", "-f", "{{.HostConfig.Links}}", "app"); got != "[/db:/app/database]\n" {
		t.Errorf("inspect: %q", got)
	}
	// A connect rewrites /etc/hosts: the link stays.
	b.createNetwork("lnet", "--subnet", testSubnet(t))
	b.ok("network", "connect", "lnet", "app")
	if hosts := b.ok("exec", "app", "cat", "/etc/hosts"); !strings.Contains(hosts, ip+"\tdatabase dbhost db\n") || !strings.Contains(hosts, b.ipOn("lnet", "app")+"\t") {
		t.Errorf("/etc/hosts after connect:\n%s", hosts)
	}
	b.ok("stop", "-t", "0", "db")
	if errs := b.fails(1, "restart", "-t", "0", "app"); !strings.Contains(errs, "Cannot link to a non running container: /db AS /app/database") {
		t.Errorf("a link to a stopped container: %q", errs)
	}
	if errs := b.fails(125, runArgs("--rm", "--link", "nope:x", "busybox:test", "true")...); errs != "Error: could not get container for nope: No such container: nope\n" {
		t.Errorf("a link to nothing: %q", errs)
	}
}

// TestNetworkLinkUserNetwork: on a user-defined network a link is a
// name only the linking container resolves, even to a container made
// after it.
func TestNetworkLinkUserNetwork(t *testing.T) {
	b, _, _ := dnsRoot(t)
	b.ok(runArgs("-d", "--name", "front", "--network", "net1", "--link", "later:backend", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "later", "--network", "net1", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "other", "--network", "net1", "busybox:test", "sleep", "60")...)
	if got, want := b.resolves("front", "backend"), b.ipOn("net1", "later"); got != want {
		t.Errorf("front: nslookup backend = %q, want %s", got, want)
	}
	if got := b.resolves("other", "backend"); got != "" {
		t.Errorf("another container resolves front's link: %q", got)
	}
	// The endpoint's links, as the docker CLI sends them; no legacy link.
	if got := b.ok("inspect", "-f", "{{json .NetworkSettings.Networks.net1.Links}} {{json .HostConfig.Links}}", "front"); got != `["later:backend"] null`+"\n" {
		t.Errorf("inspect: %q", got)
	}
}

// TestNetworkRunSeveral: run --network twice (the second in the advanced
// syntax) starts the container on both, eth0 and eth1, each with its
// names; Docker's errors for mixing and repeating.
func TestNetworkRunSeveral(t *testing.T) {
	b, _, _ := dnsRoot(t)
	b.ok(runArgs("-d", "--name", "m1", "--network", "net1", "--network-alias", "one", "--network", "name=net2,alias=two", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "p1", "--network", "net1", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "p2", "--network", "net2", "busybox:test", "sleep", "60")...)
	ip1, ip2 := b.ipOn("net1", "m1"), b.ipOn("net2", "m1")
	addrs := b.ok("exec", "m1", "ip", "-o", "-4", "addr")
	if !strings.Contains(addrs, "eth0    inet "+ip1+"/") || !strings.Contains(addrs, "eth1    inet "+ip2+"/") {
		t.Errorf("m1's addresses (want eth0 %s, eth1 %s):\n%s", ip1, ip2, addrs)
	}
	if got := b.resolves("p1", "one"); got != ip1 {
		t.Errorf("p1: nslookup one = %q, want %s", got, ip1)
	}
	if got := b.resolves("p2", "two"); got != ip2 {
		t.Errorf("p2: nslookup two = %q, want %s", got, ip2)
	}
	if got := b.resolves("p2", "one"); got != "" {
		t.Errorf("net1's alias resolves on net2: %q", got)
	}
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--network", "net1", "--network", "bridge"}, "conflicting options: cannot attach both user-defined and non-user-defined network-modes"},
		{[]string{"--network", "net1", "--network", "net1"}, `network "net1" is specified multiple times`},
		{[]string{"--network", "name=net1,ip=10.0.0.1", "--ip", "10.0.0.2"}, "conflicting options: cannot specify both --ip and per-network IPv4 address"},
		{[]string{"--network", "name=net1,color=red"}, `invalid argument "name=net1,color=red" for "--network" flag: invalid field key color`},
		{[]string{"--network", "net1", "--network", "nope"}, "network nope not found"},
	} {
		if errs := b.fails(125, runArgs(append(append([]string{"--rm"}, c.flags...), "busybox:test", "true")...)...); errs != "Error: "+c.want+"\n" {
			t.Errorf("run %s: %q, want %q", strings.Join(c.flags, " "), errs, c.want)
		}
	}
}
