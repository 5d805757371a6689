package network

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}

func mustBridge(t *testing.T, name, subnet string) Bridge {
	b, err := NewBridge(name, subnet)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRulesetScript: the nft script of a table with no port, and with
// single ports, an ephemeral one, a UDP port, a port on 127.0.0.1 and a
// range (one element) — golden files, and nft accepts them (checked in a
// scratch network namespace when we are root and nft is there).
func TestRulesetScript(t *testing.T) {
	b := mustBridge(t, "berth0", "172.30.0.0/16")
	c1, c2 := netip.MustParseAddr("172.30.0.2"), netip.MustParseAddr("172.30.0.3")
	any := netip.IPv4Unspecified()
	lo := netip.MustParseAddr("127.0.0.1")
	cases := map[string]Ruleset{
		"empty": {Bridge: b},
		"ports": {Bridge: b, Ports: []PublishedPort{
			{ContainerID: "a", Proto: "tcp", HostIP: any, HostPort: 8080, ContainerIP: c1, ContainerPort: 80},
			{ContainerID: "a", Proto: "udp", HostIP: any, HostPort: 5353, ContainerIP: c1, ContainerPort: 53},
			{ContainerID: "b", Proto: "tcp", HostIP: lo, HostPort: 8081, ContainerIP: c2, ContainerPort: 80},
			{ContainerID: "b", Proto: "tcp", HostIP: any, HostPort: 9001, ContainerIP: c2, ContainerPort: 9001},
			{ContainerID: "b", Proto: "tcp", HostIP: any, HostPort: 9000, ContainerIP: c2, ContainerPort: 9000},
			{ContainerID: "b", Proto: "tcp", HostIP: any, HostPort: 9002, ContainerIP: c2, ContainerPort: 9002},
			{ContainerID: "a", Proto: "tcp", HostIP: any, HostPort: 9003, ContainerIP: c1, ContainerPort: 9003},
			{ContainerID: "a", Proto: "tcp", HostIP: any, HostPort: 49200, ContainerIP: c1, ContainerPort: 443},
		}},
	}
	// A user-defined network: its own bridge and table; an internal one
	// has no masquerade and drops what crosses its bridge's edge.
	ub := mustBridge(t, "br-0123456789ab", "172.18.0.0/16")
	cases["user"] = Ruleset{Bridge: ub, Ports: []PublishedPort{
		{ContainerID: "u", Proto: "tcp", HostIP: any, HostPort: 8088, ContainerIP: netip.MustParseAddr("172.18.0.2"), ContainerPort: 80},
	}}
	cases["internal"] = Ruleset{Bridge: ub, Internal: true}
	// A network with IPv6: a second table, family ip6, with the ports
	// published on [::] and an IPv6 address of the host; its IPv4 ports
	// stay in the ip table. Internal: no masquerade, drops at the edge.
	v6 := ub
	v6.Subnet6, v6.Gateway6 = netip.MustParsePrefix("fd62:6572:7468:1::/64"), netip.MustParseAddr("fd62:6572:7468:1::1")
	c6 := netip.MustParseAddr("fd62:6572:7468:1::2")
	any6, host6 := netip.IPv6Unspecified(), netip.MustParseAddr("fd00::2")
	u2 := netip.MustParseAddr("172.18.0.2")
	cases["ipv6"] = Ruleset{Bridge: v6, Ports: []PublishedPort{
		{ContainerID: "u", Proto: "tcp", HostIP: any, HostPort: 8080, ContainerIP: u2, ContainerPort: 80},
		{ContainerID: "u", Proto: "tcp", HostIP: any6, HostPort: 8080, ContainerIP: c6, ContainerPort: 80},
		{ContainerID: "u", Proto: "udp", HostIP: any6, HostPort: 5353, ContainerIP: c6, ContainerPort: 53},
		{ContainerID: "u", Proto: "tcp", HostIP: host6, HostPort: 8443, ContainerIP: c6, ContainerPort: 443},
		{ContainerID: "u", Proto: "tcp", HostIP: any6, HostPort: 9000, ContainerIP: c6, ContainerPort: 9000},
		{ContainerID: "u", Proto: "tcp", HostIP: any6, HostPort: 9001, ContainerIP: c6, ContainerPort: 9001},
	}}
	cases["internal6"] = Ruleset{Bridge: v6, Internal: true}
	for name, r := range cases {
		script := r.Script()
		golden(t, "nft-"+name+".nft", []byte(script))
		nftCheck(t, script)
	}
	tb := mustBridge(t, "bt7", "10.213.7.0/24")
	if got := (Ruleset{Bridge: tb}).Script(); !strings.Contains(got, "table ip berth_bt7 {") || !strings.Contains(got, `oifname "bt7" drop`) || strings.Contains(got, "ip6") {
		t.Errorf("a test bridge's table:\n%s", got)
	}
	nftCheck(t, DeleteScript(tb)) // both families, when neither is there
}

// TestRangeIsOneElement: a 1,000-port range is one element of one map.
func TestRangeIsOneElement(t *testing.T) {
	b := mustBridge(t, "berth0", "172.30.0.0/16")
	var ports []PublishedPort
	for p := uint16(20000); p < 21000; p++ {
		ports = append(ports, PublishedPort{ContainerID: "a", Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: p,
			ContainerIP: netip.MustParseAddr("172.30.0.2"), ContainerPort: p})
	}
	script := Ruleset{Bridge: b, Ports: ports}.Script()
	if !strings.Contains(script, "0.0.0.0/0 . tcp . 20000-20999 : 172.30.0.2\n") || strings.Count(script, " : 172.") != 1 {
		t.Errorf("range not one element:\n%s", script)
	}
	nftCheck(t, script)
}

func nftCheck(t *testing.T, script string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return
	}
	cmd := exec.Command("unshare", "-n", "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script + script) // twice: it replaces itself
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("nft refuses the script: %v: %s\n%s", err, out, script)
	}
}

// TestHostsFile: Docker's layout for the default bridge (defaults,
// --add-host, the container's own line), none (no own line) and host
// (the host's file, then --add-host).
func TestHostsFile(t *testing.T) {
	gw := netip.MustParseAddr("172.30.0.1")
	var extra []HostEntry
	for _, s := range []string{"db:10.0.0.5", "gw:host-gateway", "v6:::1"} {
		e, err := ParseExtraHost(s, gw)
		if err != nil {
			t.Fatal(err)
		}
		extra = append(extra, e)
	}
	golden(t, "hosts-bridge", HostsFile(extra, SelfEntry(netip.MustParseAddr("172.30.0.2"), "abcdef123456", "")))
	golden(t, "hosts-domain", HostsFile(nil, SelfEntry(netip.MustParseAddr("172.30.0.2"), "web", "example.com")))
	golden(t, "hosts-none", HostsFile(nil, nil))
	golden(t, "hosts-host", HostHostsFile([]byte("127.0.0.1 localhost\n192.0.2.2 myhost"), extra[:1]))
	for _, bad := range []string{"nocolon", ":1.2.3.4", "x:notanip"} {
		if _, err := ParseExtraHost(bad, gw); err == nil {
			t.Errorf("ParseExtraHost(%q) accepted", bad)
		}
	}
}

// TestResolvConf: the host's servers minus loopback and IPv6 ones, its
// search and options, with --dns/--dns-search/--dns-option over them;
// systemd-resolved's stub replaced by its upstream file; no servers left
// is said in the file, never replaced by public ones; host networking
// keeps the host's file.
func TestResolvConf(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	etc := write("etc", "# comment\nnameserver 10.255.255.53\nnameserver 127.0.0.1\nnameserver fd00::53\nsearch example.com corp\noptions ndots:2\nsortlist 10.0.0.0\n")
	rc, err := LoadHostResolvConf(etc, filepath.Join(dir, "missing"))
	if err != nil {
		t.Fatal(err)
	}
	rc.Path = "/etc/resolv.conf" // stable goldens
	golden(t, "resolv-bridge", ContainerResolvConf(rc, DNSOptions{}, false))
	golden(t, "resolv-host", ContainerResolvConf(rc, DNSOptions{}, true))
	golden(t, "resolv-overrides", ContainerResolvConf(rc, DNSOptions{
		Servers: []netip.Addr{netip.MustParseAddr("192.0.2.53")}, Search: []string{"a.test", "."}, Options: []string{"ndots:1", "edns0"},
	}, false))

	stub := write("stub", "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n")
	upstream := write("upstream", "nameserver 192.0.2.10\nnameserver 192.0.2.11\nsearch lan\n")
	rc, err = LoadHostResolvConf(stub, upstream)
	if err != nil || rc.Path != upstream || len(rc.Nameservers) != 2 {
		t.Fatalf("stub: %+v, %v", rc, err)
	}
	rc.Path = ResolvedResolvConfPath
	golden(t, "resolv-resolved", ContainerResolvConf(rc, DNSOptions{}, false))

	// A user-defined network's: the resolver, ndots:0 unless an ndots
	// is there, the servers it forwards to (a loopback one is reached
	// from the host's namespace).
	rc, _ = LoadHostResolvConf(etc, filepath.Join(dir, "missing"))
	rc.Path = "/etc/resolv.conf"
	golden(t, "resolv-internal", InternalResolvConf(rc, DNSOptions{}, ResolverUpstreams(rc, DNSOptions{}, true)))
	rc.Options = nil
	golden(t, "resolv-internal-overrides", InternalResolvConf(rc, DNSOptions{Servers: []netip.Addr{netip.MustParseAddr("192.0.2.53")}, Options: []string{"edns0"}},
		ResolverUpstreams(rc, DNSOptions{Servers: []netip.Addr{netip.MustParseAddr("192.0.2.53")}}, true)))
	if ups := ResolverUpstreams(rc, DNSOptions{}, false); ups != nil {
		t.Errorf("an internal network's container forwards to %v", ups)
	}

	rc, _ = LoadHostResolvConf(stub, filepath.Join(dir, "missing"))
	rc.Path = "/etc/resolv.conf"
	got := ContainerResolvConf(rc, DNSOptions{}, false)
	golden(t, "resolv-noserver", got)
	if bytes.Contains(got, []byte("nameserver")) && !bytes.Contains(got, []byte("# No nameserver")) {
		t.Errorf("a server appeared from nowhere:\n%s", got)
	}
}
