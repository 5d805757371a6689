package cli_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var bridgeSeq atomic.Int32

// testBridgeEnv gives a test's berth root a bridge and subnet of its own
// (BERTH_BRIDGE, BERTH_BRIDGE_SUBNET), so that tests never touch a real
// berth0 nor share addresses between roots, and removes the bridge and
// its nft table once the test's containers are gone.
func testBridgeEnv(t *testing.T) []string {
	seq := bridgeSeq.Add(1)
	name := fmt.Sprintf("bt%d-%d", os.Getpid()%100000, seq)
	routes, _ := exec.Command("ip", "-4", "route").Output()
	subnet := ""
	for i := 0; i < 250; i++ {
		x := (os.Getpid() + int(seq)*7 + i) % 250
		if !strings.Contains(string(routes), fmt.Sprintf("10.213.%d.", x)) {
			subnet = fmt.Sprintf("10.213.%d.0/24", x)
			break
		}
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", name).Run()
		exec.Command("nft", "delete", "table", "ip", "berth_"+name).Run()
		exec.Command("nft", "delete", "table", "ip6", "berth_"+name).Run()
	})
	return []string{"BERTH_BRIDGE=" + name, "BERTH_BRIDGE_SUBNET=" + subnet}
}

func (b *berthRoot) getenv(k string) string {
	for _, e := range b.env {
		if v, ok := strings.CutPrefix(e, k+"="); ok {
			v2 := v
			for _, e2 := range b.env { // the last one wins
				if w, ok := strings.CutPrefix(e2, k+"="); ok {
					v2 = w
				}
			}
			return v2
		}
	}
	return ""
}

// gateway is the test bridge's address.
func (b *berthRoot) gateway() string {
	return strings.TrimSuffix(b.getenv("BERTH_BRIDGE_SUBNET"), "0/24") + "1"
}

func (b *berthRoot) ipOf(ref string) string {
	b.t.Helper()
	return strings.TrimSpace(b.ok("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", ref))
}

// freePort is a port of 127.0.0.1 nothing uses now (n in a row for n > 1).
func freePort(t *testing.T, n int) int {
	t.Helper()
	for tries := 0; tries < 50; tries++ {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ok := p+n < 65536
		for i := 1; i < n && ok; i++ {
			l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", p+i))
			ok = err == nil
			if ok {
				l.Close()
			}
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// dialRead connects to addr from the host, retrying until the
// container's server answers, and returns what it sends.
func dialRead(t *testing.T, addr string) string {
	t.Helper()
	var got string
	waitFor(t, "an answer from "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 100)
		n, _ := c.Read(buf)
		got = string(buf[:n])
		return n > 0
	})
	return got
}

// server is a command that answers every TCP connection on port with msg.
func server(port int, msg string) string {
	return fmt.Sprintf("while true; do echo %s | nc -l -p %d; done", msg, port)
}

// TestNetworkBridge: containers on the default bridge get an address of
// its subnet, reach the gateway and each other, and Docker's hosts,
// hostname and resolv.conf; inspect shows the endpoint; stop takes the
// veth away and start brings it back.
func TestNetworkBridge(t *testing.T) {
	b := containerRoot(t)
	a := strings.TrimSpace(b.ok(runArgs("-d", "--name", "na", "busybox:test", "sleep", "60")...))
	b.ok(runArgs("-d", "--name", "nc", "-h", "web", "--add-host", "db:192.0.2.7", "--add-host", "gw=host-gateway", "busybox:test", "sleep", "60")...)
	ipA, ipC := b.ipOf("na"), b.ipOf("nc")
	prefix := strings.TrimSuffix(b.getenv("BERTH_BRIDGE_SUBNET"), "0/24")
	if !strings.HasPrefix(ipA, prefix) || !strings.HasPrefix(ipC, prefix) || ipA == ipC {
		t.Fatalf("addresses %q and %q, subnet %s", ipA, ipC, b.getenv("BERTH_BRIDGE_SUBNET"))
	}
	got := b.ok("inspect", "-f", "{{.HostConfig.NetworkMode}} {{with .NetworkSettings.Networks.bridge}}{{.Gateway}} {{.IPPrefixLen}} {{.MacAddress}}{{end}}", "na")
	parts := strings.Fields(got)
	if len(parts) != 4 || parts[0] != "bridge" || parts[1] != b.gateway() || parts[2] != "24" || !strings.HasPrefix(parts[3], "02:42:") {
		t.Errorf("inspect: %q", got)
	}
	for _, target := range []string{b.gateway(), ipC} {
		if out, errs, code := b.run("", "exec", "na", "ping", "-c", "1", "-W", "5", target); code != 0 {
			t.Errorf("ping %s from a: %s %s", target, out, errs)
		}
	}
	hosts := b.ok("exec", "nc", "cat", "/etc/hosts")
	want := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n" +
		"192.0.2.7\tdb\n" + b.gateway() + "\tgw\n" + ipC + "\tweb\n"
	if hosts != want {
		t.Errorf("/etc/hosts:\n%s\nwant:\n%s", hosts, want)
	}
	if got := b.ok("exec", "nc", "cat", "/etc/hostname"); got != "web\n" {
		t.Errorf("/etc/hostname: %q", got)
	}
	if got := b.ok("exec", "na", "hostname"); got != a[:12]+"\n" {
		t.Errorf("hostname: %q", got)
	}
	resolv := b.ok("exec", "na", "cat", "/etc/resolv.conf")
	if !strings.HasPrefix(resolv, "# Generated by berth.") || strings.Contains(resolv, "nameserver 127.") {
		t.Errorf("resolv.conf:\n%s", resolv)
	}
	for _, l := range strings.Split(resolv, "\n") {
		if ns, ok := strings.CutPrefix(l, "nameserver "); ok && !strings.Contains(hostNameservers(), ns) {
			t.Errorf("resolv.conf names %s, which the host's files don't", ns)
		}
	}
	veth := "veth" + a[:11]
	if err := exec.Command("ip", "link", "show", veth).Run(); err != nil {
		t.Errorf("no %s while a runs", veth)
	}
	b.ok("stop", "-t", "1", "na")
	if err := exec.Command("ip", "link", "show", veth).Run(); err == nil {
		t.Errorf("%s is still there after stop", veth)
	}
	if got := b.ok("inspect", "-f", "{{json .NetworkSettings.Networks.bridge.IPAddress}}", "na"); got != "\"\"\n" {
		t.Errorf("a stopped container's address: %q", got)
	}
	b.ok("start", "na")
	if out, errs, code := b.run("", "exec", "na", "ping", "-c", "1", "-W", "5", ipC); code != 0 {
		t.Errorf("ping after a restart: %s %s", out, errs)
	}
}

func hostNameservers() string {
	etc, _ := os.ReadFile("/etc/resolv.conf")
	resolved, _ := os.ReadFile("/run/systemd/resolve/resolv.conf")
	return string(etc) + string(resolved)
}

// TestNetworkDNSFlags: --dns, --dns-search and --dns-option replace the
// host's; a domain-less run keeps the host's search list.
func TestNetworkDNSFlags(t *testing.T) {
	b := containerRoot(t)
	out, errs, code := b.runIn("cat /etc/resolv.conf", "--dns", "192.0.2.53", "--dns", "192.0.2.54", "--dns-search", "a.test", "--dns-option", "ndots:3")
	if code != 0 {
		t.Fatal(errs)
	}
	for _, want := range []string{"\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch a.test\noptions ndots:3\n", "# Overrides: [nameservers search options]"} {
		if !strings.Contains(out, want) {
			t.Errorf("resolv.conf lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []struct{ flag, value, msg string }{
		{"--dns", "nope", `invalid argument "nope" for "--dns" flag: IP address is not correctly formatted: nope`},
		{"--add-host", "nocolon", `invalid argument "nocolon" for "--add-host" flag: bad format for add-host: "nocolon"`},
		{"--add-host", "h:1.2.3", `invalid argument "h:1.2.3" for "--add-host" flag: invalid IP address in add-host: "1.2.3"`},
		{"--dns-search", "-bad", `invalid argument "-bad" for "--dns-search" flag: -bad is not a valid domain`},
	} {
		errs := b.fails(125, runArgs("--rm", bad.flag, bad.value, "busybox:test", "true")...)
		if errs != "Error: "+bad.msg+"\n" {
			t.Errorf("%s %s: %q", bad.flag, bad.value, errs)
		}
	}
}

// TestNetworkModes: none has lo alone (up), host sees the host's
// interfaces and its hosts file; an unknown network is refused.
func TestNetworkModes(t *testing.T) {
	b := containerRoot(t)
	out, errs, code := b.runIn("ip -o link", "--network", "none")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], "1: lo: <LOOPBACK,UP") {
		t.Errorf("--network none: links %q %s", out, errs)
	}
	if got := b.ok("inspect", "-f", "{{.HostConfig.NetworkMode}} {{len .NetworkSettings.Networks}}", strings.TrimSpace(b.ok(runArgs("-d", "--network", "none", "busybox:test", "true")...))); got != "none 1\n" {
		t.Errorf("inspect of none: %q", got)
	}
	// Other tests on this machine add and remove veths meanwhile: only
	// the interfaces there both before and after must be seen.
	before, _ := net.Interfaces()
	out, errs, code = b.runIn("ip -o link | cut -d: -f2", "--network", "host", "--add-host", "extra:192.0.2.9")
	after, _ := net.Interfaces()
	if code != 0 {
		t.Fatalf("--network host: %s", errs)
	}
	for _, i := range before {
		if !slices.ContainsFunc(after, func(a net.Interface) bool { return a.Name == i.Name }) {
			continue
		}
		if !strings.Contains(out, " "+i.Name+"\n") && !strings.Contains(out, " "+i.Name+"@") {
			t.Errorf("--network host does not see %s: %q", i.Name, out)
		}
	}
	hosts, _, _ := b.runIn("cat /etc/hosts; hostname", "--network", "host", "--add-host", "extra:192.0.2.9")
	hostHosts, _ := os.ReadFile("/etc/hosts")
	name, _ := os.Hostname()
	if !strings.HasPrefix(hosts, string(hostHosts)) || !strings.HasSuffix(hosts, "192.0.2.9\textra\n"+name+"\n") {
		t.Errorf("--network host /etc/hosts and name:\n%s", hosts)
	}
	if errs := b.fails(125, runArgs("--rm", "--network", "nope", "busybox:test", "true")...); errs != "Error: network nope not found\n" {
		t.Errorf("unknown network: %q", errs)
	}
	if _, errs, code := b.run("", runArgs("--rm", "--network", "host", "-p", "80:80", "busybox:test", "true")...); code != 0 || errs != "WARNING: Published ports are discarded when using host network mode\n" {
		t.Errorf("host with -p: %d %q", code, errs)
	}
}

// TestNetworkPublish: -p 127.0.0.1:PORT:80 reached from the host, a
// range as one map element, an ephemeral port shown by port and ps,
// -P with --expose, a UDP port, Docker's errors for bad values and a
// taken port.
func TestNetworkPublish(t *testing.T) {
	b := containerRoot(t)
	hp := freePort(t, 1)
	rp := freePort(t, 2)
	script := server(80, "eighty") + " & " + server(rp, "first") + " & " + server(rp+1, "second") + " & " + server(7000, "seven") + " & wait"
	id := strings.TrimSpace(b.ok(runArgs("-d", "--name", "web", "-p", fmt.Sprintf("127.0.0.1:%d:80", hp),
		"-p", fmt.Sprintf("127.0.0.1:%d-%d:%d-%d", rp, rp+1, rp, rp+1), "-p", "80", "--expose", "7000", "-P",
		"busybox:test", "sh", "-c", script)...))
	if got := dialRead(t, fmt.Sprintf("127.0.0.1:%d", hp)); got != "eighty\n" {
		t.Errorf("127.0.0.1:%d: %q", hp, got)
	}
	for i, want := range []string{"first\n", "second\n"} {
		if got := dialRead(t, fmt.Sprintf("127.0.0.1:%d", rp+i)); got != want {
			t.Errorf("range port %d: %q", rp+i, got)
		}
	}
	// The range is one element of berth's table.
	table, _ := exec.Command("nft", "list", "table", "ip", "berth_"+b.getenv("BERTH_BRIDGE")).Output()
	if !strings.Contains(string(table), fmt.Sprintf("127.0.0.1 . tcp . %d-%d : %s", rp, rp+1, b.ipOf("web"))) {
		t.Errorf("the range is not one element:\n%s", table)
	}
	// Ephemeral ports: -p 80 on every address, -P's for the exposed 7000.
	eph := strings.TrimSpace(b.ok("port", "web", "80"))
	m := regexp.MustCompile(`(?m)^0\.0\.0\.0:(\d+)$`).FindStringSubmatch(eph)
	if m == nil || !strings.Contains(eph, fmt.Sprintf("127.0.0.1:%d", hp)) {
		t.Fatalf("port web 80: %q", eph)
	}
	if got := dialRead(t, "127.0.0.1:"+m[1]); got != "eighty\n" {
		t.Errorf("ephemeral port %s: %q", m[1], got)
	}
	seven := strings.TrimSpace(b.ok("port", "web", "7000/tcp"))
	if got := dialRead(t, strings.Replace(seven, "0.0.0.0", "127.0.0.1", 1)); got != "seven\n" {
		t.Errorf("-P port %s: %q", seven, got)
	}
	all := b.ok("port", id)
	for _, want := range []string{fmt.Sprintf("80/tcp -> 127.0.0.1:%d\n", hp), "80/tcp -> 0.0.0.0:" + m[1] + "\n", fmt.Sprintf("%d/tcp -> 127.0.0.1:%d\n", rp, rp), "7000/tcp -> " + seven + "\n"} {
		if !strings.Contains(all, want) {
			t.Errorf("port lacks %q:\n%s", want, all)
		}
	}
	ps := b.ok("ps", "--format", "{{.Ports}}")
	for _, want := range []string{fmt.Sprintf("127.0.0.1:%d-%d->%d-%d/tcp", rp, rp+1, rp, rp+1), "0.0.0.0:" + m[1] + "->80/tcp", fmt.Sprintf("127.0.0.1:%d->80/tcp", hp)} {
		if !strings.Contains(ps, want) {
			t.Errorf("ps PORTS lacks %q: %q", want, ps)
		}
	}
	if errs := b.fails(1, "port", "web", "81"); errs != "Error: No public port '81/tcp' published for web\n" {
		t.Errorf("port of an unpublished port: %q", errs)
	}
	// Taken: the same port and address, or every address.
	for _, spec := range []string{fmt.Sprintf("127.0.0.1:%d:80", hp), fmt.Sprintf("%d:81", hp)} {
		errs := b.fails(125, runArgs("-d", "-p", spec, "busybox:test", "sleep", "5")...)
		if !strings.Contains(errs, "failed: port is already allocated") || !strings.Contains(errs, fmt.Sprintf(":%d failed", hp)) {
			t.Errorf("-p %s while web has it: %q", spec, errs)
		}
	}
	for spec, msg := range map[string]string{
		"abc":         "invalid containerPort: abc",
		"x:80":        "invalid hostPort: x",
		"1.2.3:80:80": "invalid IP address: 1.2.3",
		"80/bogus":    "invalid proto: bogus",
		"1-3:80-81":   "invalid ranges specified for container and host Ports: 80-81 and 1-3",
	} {
		if errs := b.fails(125, runArgs("--rm", "-p", spec, "busybox:test", "true")...); errs != "Error: "+msg+"\n" {
			t.Errorf("-p %s: %q, want %q", spec, errs, msg)
		}
	}
	// inspect: the bindings asked for and those made.
	got := b.ok("inspect", "-f", `{{json .HostConfig.PortBindings}} {{.HostConfig.PublishAllPorts}} {{len .NetworkSettings.Ports}}`, "web")
	if !strings.Contains(got, fmt.Sprintf(`"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"%d"},{"HostIp":"","HostPort":""}]`, hp)) || !strings.HasSuffix(got, " true 4\n") {
		t.Errorf("inspect ports: %s", got)
	}
}

// udpEcho builds a static program answering every UDP datagram on :5353
// with "echo:" and its content (busybox has no UDP server).
func udpEcho(t *testing.T) string {
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte(`package main

import "net"

func main() {
	c, err := net.ListenPacket("udp4", ":5353")
	if err != nil {
		panic(err)
	}
	buf := make([]byte, 1500)
	for {
		n, addr, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		c.WriteTo(append([]byte("echo:"), buf[:n]...), addr)
	}
}
`), 0o644)
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "udpecho"), src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the UDP echo server: %v: %s", err, out)
	}
	return filepath.Join(dir, "udpecho")
}

// TestNetworkPublishUDP: a published UDP port answers from the host.
func TestNetworkPublishUDP(t *testing.T) {
	b := containerRoot(t)
	bin := udpEcho(t)
	up := freePort(t, 1)
	id := strings.TrimSpace(b.ok("create", "--cgroup-parent", runArgs()[2], "-p", fmt.Sprintf("127.0.0.1:%d:5353/udp", up), "busybox:test", "/udpecho"))
	b.ok("cp", bin, id+":/udpecho")
	b.ok("start", id)
	if got := b.ok("port", id); got != fmt.Sprintf("5353/udp -> 127.0.0.1:%d\n", up) {
		t.Errorf("port: %q", got)
	}
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", up))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got string
	waitFor(t, "a UDP answer", func() bool {
		c.Write([]byte("hi"))
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		got = string(buf[:n])
		return err == nil
	})
	if got != "echo:hi" {
		t.Errorf("UDP answer %q", got)
	}
}

// TestNetworkKill9: a kill -9 of the shim leaves nothing once berth looks
// again (ps -a): no veth, no nft element, no namespace file, and the
// address is given to the next container.
func TestNetworkKill9(t *testing.T) {
	b := containerRoot(t)
	hp := freePort(t, 1)
	id := strings.TrimSpace(b.ok(runArgs("-d", "-p", fmt.Sprintf("127.0.0.1:%d:80", hp), "busybox:test", "sh", "-c", server(80, "x"))...))
	ip := b.ipOf(id)
	dialRead(t, fmt.Sprintf("127.0.0.1:%d", hp))
	b.killShim(id)
	b.ok("ps", "-a")
	veth := "veth" + id[:11]
	if exec.Command("ip", "link", "show", veth).Run() == nil {
		t.Errorf("%s left after kill -9 and ps", veth)
	}
	if _, err := os.Stat(filepath.Join(b.root, "run", "netns", id)); !os.IsNotExist(err) {
		t.Errorf("network namespace file left: %v", err)
	}
	table, _ := exec.Command("nft", "list", "table", "ip", "berth_"+b.getenv("BERTH_BRIDGE")).Output()
	if strings.Contains(string(table), ip) || strings.Contains(string(table), strconv.Itoa(hp)) {
		t.Errorf("nft rules left for %s:\n%s", ip, table)
	}
	next := strings.TrimSpace(b.ok(runArgs("-d", "-p", fmt.Sprintf("127.0.0.1:%d:80", hp), "busybox:test", "sleep", "30")...))
	if got := b.ipOf(next); got != ip {
		t.Errorf("the next container got %s, not the freed %s", got, ip)
	}
	b.ok("rm", "-f", id, next)
	if exec.Command("ip", "link", "show", "veth"+next[:11]).Run() == nil {
		t.Errorf("rm -f left the veth")
	}
}

// killShim kills the shim of running container ref (kill -9) and waits
// until it is gone.
func (b *berthRoot) killShim(ref string) {
	b.t.Helper()
	pid, _ := strconv.Atoi(strings.TrimSpace(b.ok("inspect", "-f", "{{.State.Pid}}", ref)))
	shim := parentOf(pid)
	if shim <= 1 {
		b.t.Fatalf("no shim above %d", pid)
	}
	if err := unix.Kill(shim, unix.SIGKILL); err != nil {
		b.t.Fatal(err)
	}
	waitFor(b.t, "the shim's death", func() bool { return unix.Kill(shim, 0) != nil })
}

func parentOf(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// TestNetworkConcurrentRuns: runs at the same time never share an
// address.
func TestNetworkConcurrentRuns(t *testing.T) {
	b := containerRoot(t)
	const n = 6
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, errs, code := b.run("", runArgs("-d", "busybox:test", "sleep", "30")...)
			if code != 0 {
				t.Errorf("run %d: %s", i, errs)
			}
			ids[i] = strings.TrimSpace(out)
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" {
			continue
		}
		ip := b.ipOf(id)
		if ip == "" || seen[ip] {
			t.Errorf("address %q given twice or not at all", ip)
		}
		seen[ip] = true
	}
}

// TestNetworkHostForwardFilter documents what berth does about
// moby#22054: published traffic is forwarded, so a drop in another
// table's forward hook (a host firewall's) applies to it: berth's own
// accept does not override it. Here container A reaches B's published
// port through the host; a host rule dropping it stops it, and removing
// the rule lets it through again.
func TestNetworkHostForwardFilter(t *testing.T) {
	b := containerRoot(t)
	hp := freePort(t, 1)
	b.ok(runArgs("-d", "--name", "srv", "-p", fmt.Sprintf("%d:80", hp), "busybox:test", "sh", "-c", server(80, "through"))...)
	b.ok(runArgs("-d", "--name", "cli", "busybox:test", "sleep", "60")...)
	dial := func() (string, int) {
		out, _, code := b.run("", "exec", "cli", "nc", "-w", "2", b.gateway(), strconv.Itoa(hp))
		return out, code
	}
	waitFor(t, "the published port through the host", func() bool { out, _ := dial(); return out == "through\n" })
	table := fmt.Sprintf("berthtest_fw%d", os.Getpid())
	rule := fmt.Sprintf("table ip %s {\n chain forward {\n  type filter hook forward priority 10; policy accept;\n  ip daddr %s tcp dport 80 drop\n }\n}\n", table, b.ipOf("srv"))
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rule)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "ip", table).Run() })
	if out, _ := dial(); out != "" {
		t.Errorf("the host's forward filter did not apply to a published port: %q", out)
	}
	exec.Command("nft", "delete", "table", "ip", table).Run()
	waitFor(t, "the port once the filter is gone", func() bool { out, _ := dial(); return out == "through\n" })
}

// TestNetworkPortFreedAtExit: a detached container that exits by itself
// gives its host port back to the next run, even when no berth command
// looked at it in between.
func TestNetworkPortFreedAtExit(t *testing.T) {
	b := containerRoot(t)
	hp := freePort(t, 1)
	spec := fmt.Sprintf("127.0.0.1:%d:80", hp)
	id := strings.TrimSpace(b.ok(runArgs("-d", "-p", spec, "busybox:test", "sh", "-c", "sleep 0.2")...))
	waitFor(t, "the shim's exit", func() bool {
		f, err := os.Open(filepath.Join(b.root, "containers", id, "shim.lock"))
		if err != nil {
			return false
		}
		defer f.Close()
		return unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) == nil
	})
	b.ok(runArgs("-d", "-p", spec, "busybox:test", "sleep", "30")...)
}
