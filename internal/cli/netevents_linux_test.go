package cli_test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestNetworkEvents: Docker's network events, in order: create; connect
// before a container's start and disconnect before its die (on each of
// its networks, the default bridge and none included, again at a
// restart by the policy); connect and disconnect of a running
// container (none for a stopped one); destroy at rm and prune, and
// prune's own event. The actor is the network's ID, with its name and
// type and the container's full ID.
func TestNetworkEvents(t *testing.T) {
	b := containerRoot(t)
	since := fmt.Sprintf("%d.%09d", time.Now().Unix(), time.Now().Nanosecond())
	time.Sleep(10 * time.Millisecond)
	netID := b.createNetwork("evnet", "--subnet", testSubnet(t))
	b.createNetwork("evgone", "--subnet", testSubnet(t), "--label", "gone=yes")
	web := strings.TrimSpace(b.ok(runArgs("-d", "--name", "evweb", "--network", "evnet", "busybox:test", "sleep", "60")...))
	b.ok("stop", "-t", "0", "evweb")
	b.ok("network", "connect", "evgone", "evweb") // stopped: no event
	b.ok("network", "disconnect", "evgone", "evweb")
	b.ok("start", "evweb")
	b.ok("network", "connect", "bridge", "evweb")
	b.ok("network", "disconnect", "bridge", "evweb")
	b.ok("rm", "-f", "evweb")
	b.ok(runArgs("--name", "evnone", "--network", "none", "busybox:test", "true")...)
	none := strings.TrimSpace(b.ok("inspect", "-f", "{{.Id}}", "evnone"))
	b.ok("rm", "evnone")
	b.ok("network", "rm", "evnet")
	b.ok("network", "prune", "-f", "--filter", "label=gone")
	until := fmt.Sprint(time.Now().Add(time.Second).Unix())

	got := b.ok("events", "--since", since, "--until", until, "--filter", "type=network",
		"--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}} {{.Actor.Attributes.container}}")
	want := strings.Join([]string{
		"network create evnet bridge <no value>",
		"network create evgone bridge <no value>",
		"network connect evnet bridge " + web,    // run
		"network disconnect evnet bridge " + web, // stop
		"network connect evnet bridge " + web,    // start
		"network connect bridge bridge " + web,
		"network disconnect bridge bridge " + web,
		"network disconnect evnet bridge " + web, // rm -f
		"network connect none null " + none,
		"network disconnect none null " + none,
		"network destroy evnet bridge <no value>",
		"network destroy evgone bridge <no value>",
		"network prune <no value> <no value> <no value>",
	}, "\n") + "\n"
	if got != want {
		t.Errorf("network events:\n%s\nwant:\n%s", got, want)
	}
	// Each before the container's own event; the actor is the network.
	all := b.eventsOf(web, since, until)
	if !strings.Contains(all, "network connect\ncontainer start\n") || !strings.Contains(all, "network disconnect\ncontainer die\n") {
		t.Errorf("container and network events out of Docker's order:\n%s", all)
	}
	if got := b.ok("events", "--since", since, "--until", until, "--filter", "network=evnet", "--filter", "event=create", "--format", "{{.Actor.ID}}"); got != netID+"\n" {
		t.Errorf("create's actor %q, want the network's ID %s", got, netID)
	}

	// A restart by the policy: disconnect, die, connect, start again.
	since = fmt.Sprintf("%d.%09d", time.Now().Unix(), time.Now().Nanosecond())
	time.Sleep(10 * time.Millisecond)
	b.ok(runArgs("-d", "--name", "evrestart", "--restart", "on-failure:1", "busybox:test", "sh", "-c", "sleep 1; exit 1")...)
	waitFor(t, "evrestart's restart", func() bool {
		return strings.TrimSpace(b.ok("inspect", "-f", "{{.RestartCount}} {{.State.Running}}", "evrestart")) == "1 false"
	})
	until = fmt.Sprint(time.Now().Add(time.Second).Unix())
	got = b.ok("events", "--since", since, "--until", until, "--filter", "container=evrestart", "--filter", "type=container", "--filter", "event=start", "--filter", "event=die", "--format", "{{.Action}}")
	net := b.ok("events", "--since", since, "--until", until, "--filter", "type=network", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
	if got != "start\ndie\nstart\ndie\n" || net != "connect bridge\ndisconnect bridge\nconnect bridge\ndisconnect bridge\n" {
		t.Errorf("a restart's events: container\n%snetwork\n%s", got, net)
	}

	// A stop while the policy waits to restart (or while it runs): one
	// die and one disconnect per start and connect, never a second.
	since = fmt.Sprintf("%d.%09d", time.Now().Unix(), time.Now().Nanosecond())
	time.Sleep(10 * time.Millisecond)
	loop := strings.TrimSpace(b.ok(runArgs("-d", "--restart", "always", "busybox:test", "sh", "-c", "exit 1")...))
	waitFor(t, "three restarts", func() bool {
		n, _ := strconv.Atoi(strings.TrimSpace(b.ok("inspect", "-f", "{{.RestartCount}}", loop)))
		return n >= 3
	})
	b.ok("stop", "-t", "0", loop)
	until = fmt.Sprint(time.Now().Add(time.Second).Unix())
	count := map[string]int{}
	for _, a := range strings.Split(strings.TrimSpace(b.eventsOf(loop, since, until)), "\n") {
		count[a]++
	}
	if starts := count["container start"]; starts < 4 || count["container die"] != starts || count["network connect"] != starts || count["network disconnect"] != starts {
		t.Errorf("a stopped restart loop's events: %v, want as many die, connect and disconnect as start", count)
	}

	// A shim killed -9: the next command records the die, with the
	// disconnect before it.
	since = fmt.Sprintf("%d.%09d", time.Now().Unix(), time.Now().Nanosecond())
	time.Sleep(10 * time.Millisecond)
	orphan := strings.TrimSpace(b.ok(runArgs("-d", "busybox:test", "sleep", "60")...))
	shim := lockHolder(t, filepath.Join(b.root, "containers", orphan, "shim.lock"))
	if err := unix.Kill(shim, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shim's end", func() bool { return unix.Kill(shim, 0) != nil || isZombie(shim) })
	b.ok("ps", "-a")
	until = fmt.Sprint(time.Now().Add(time.Second).Unix())
	if got := b.eventsOf(orphan, since, until); got != "container create\nnetwork connect\ncontainer start\nnetwork disconnect\ncontainer die\n" {
		t.Errorf("events of a container whose shim was killed: %q", got)
	}
}

// eventsOf are the events of container id between since and until, its
// own and the networks' that name it, as "TYPE ACTION" lines.
func (b *berthRoot) eventsOf(id, since, until string) string {
	b.t.Helper()
	var out strings.Builder
	all := b.ok("events", "--since", since, "--until", until, "--format", `{{.Type}}|{{.Action}}|{{.Actor.ID}}|{{index .Actor.Attributes "container"}}`)
	for _, l := range strings.Split(strings.TrimSpace(all), "\n") {
		f := strings.Split(l, "|")
		if len(f) == 4 && (f[0] == "container" && f[2] == id || f[0] == "network" && f[3] == id) {
			out.WriteString(f[0] + " " + f[1] + "\n")
		}
	}
	return out.String()
}

// TestNetworkConnectLink: connect --link NAME:ALIAS on a user-defined
// network is a name only the connected container resolves, to NAME's
// address on that network (not on another they share), at once and
// after a restart, until it disconnects; --driver-opt is recorded;
// inspect shows both on the endpoint; Docker's errors.
func TestNetworkConnectLink(t *testing.T) {
	b, _, _ := dnsRoot(t)
	b.ok(runArgs("-d", "--name", "back", "--network", "net1", "busybox:test", "sleep", "60")...)
	b.ok("network", "connect", "net2", "back")
	b.ok(runArgs("-d", "--name", "other", "--network", "net1", "busybox:test", "sleep", "60")...)
	b.ok(runArgs("-d", "--name", "front", "--network", "net2", "busybox:test", "sleep", "60")...)
	b.ok("network", "connect", "--link", "back:db", "--driver-opt", "com.example.color = red", "net1", "front")
	ip := b.ipOn("net1", "back")
	if got := b.resolves("front", "db"); got != ip {
		t.Errorf("front: nslookup db = %q, want %s (back on net1 alone)", got, ip)
	}
	if got := b.resolves("other", "db"); got != "" {
		t.Errorf("another container resolves front's link: %q", got)
	}
	if got := b.ok("inspect", "-f", "{{json .NetworkSettings.Networks.net1.Links}} {{json .NetworkSettings.Networks.net1.DriverOpts}} {{json .NetworkSettings.Networks.net2.Links}}", "front"); got != `["back:db"] {"com.example.color":"red"} null`+"\n" {
		t.Errorf("inspect: %q", got)
	}
	b.ok("restart", "-t", "0", "front")
	if got := b.resolves("front", "db"); got != ip {
		t.Errorf("front after a restart: nslookup db = %q, want %s", got, ip)
	}
	b.ok("network", "disconnect", "net1", "front")
	if got := b.resolves("front", "db"); got != "" {
		t.Errorf("front resolves db once off net1: %q", got)
	}
	// On the default bridge a link is recorded and does nothing, as in
	// Docker (legacy links are run --link's).
	b.ok("network", "connect", "--link", "back:db", "bridge", "front")
	if got := b.ok("inspect", "-f", "{{json .NetworkSettings.Networks.bridge.Links}}", "front"); got != `["back:db"]`+"\n" {
		t.Errorf("inspect of a link on the bridge: %q", got)
	}

	if errs := b.fails(125, "network", "connect", "--link", "a:b:c", "net1", "other"); !strings.Contains(errs, `invalid argument "a:b:c" for "--link" flag: bad format for links: a:b:c`) {
		t.Errorf("a bad --link: %q", errs)
	}
	if errs := b.fails(1, "network", "connect", "--driver-opt", "novalue", "net2", "other"); errs != "Error: invalid key/value pair format in driver options\n" {
		t.Errorf("a bad --driver-opt: %q", errs)
	}
	if errs := b.fails(1, "network", "connect", "--driver-opt", "com.docker.network.endpoint.sysctls=net.ipv4.conf.IFNAME.log_martians=1", "net2", "other"); errs != "Error response from daemon: driver option com.docker.network.endpoint.sysctls is not supported by berth\n" {
		t.Errorf("an endpoint sysctl: %q", errs)
	}
}
