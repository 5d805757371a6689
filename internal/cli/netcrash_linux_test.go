package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestNetworkKill9DuringSetup kills `berth run -d` and `berth start` with
// SIGKILL in the middle of their network setup, again and again, on the
// default bridge and on a user network, with a published port and a
// published range: each kill comes a little later after the container's
// namespace file appears (the setup's first step), so that the kills land
// on every step of it (namespace, address and ports in meta.db, nft
// table, veth, files). After each kill the next berth command (ps -a)
// must have torn down whatever the killed one left for a container that
// is not running; after container prune nothing of any of them is left:
// no veth on either bridge, no namespace file or mount, no element in
// either nft table, no endpoint (network rm succeeds), and a new
// container gets the network's first address.
func TestNetworkKill9DuringSetup(t *testing.T) {
	b := containerRoot(t)
	b.createNetwork("crashnet", "--subnet", testSubnet(t))
	userBridge := strings.TrimSpace(b.ok("network", "inspect", "-f", `{{index .Options "com.docker.network.bridge.name"}}`, "crashnet"))
	bridges := []string{b.getenv("BERTH_BRIDGE"), userBridge}
	hp := freePort(t, 3)
	ports := []string{"-p", fmt.Sprintf("127.0.0.1:%d:80", hp), "-p", fmt.Sprintf("127.0.0.1:%d-%d:%d-%d", hp+1, hp+2, hp+1, hp+2)}
	nsDir := filepath.Join(b.root, "run", "netns")
	var delays []time.Duration
	for _, ms := range []float64{0, 0.5, 1, 2, 3, 5, 7, 10, 14, 19, 25, 32, 40, 50, 65} {
		delays = append(delays, time.Duration(ms*float64(time.Millisecond)))
	}
	killed, leftNS, leftVeth, leftRule := 0, 0, 0, 0
	for i := 0; i < 2*len(delays); i++ {
		delay := delays[i%len(delays)]
		args := slices.Clone(ports)
		if i%2 == 1 {
			args = append(args, "--network", "crashnet")
		}
		args = append(args, "busybox:test", "sleep", "60")
		var cmd *exec.Cmd
		if i%3 == 2 { // start a created container
			id := strings.TrimSpace(b.ok(append([]string{"create", "--cgroup-parent", runArgs()[2]}, args...)...))
			cmd = exec.Command(berthBin, "--root", b.root, "start", id)
		} else {
			cmd = exec.Command(berthBin, append([]string{"--root", b.root}, runArgs(append([]string{"-d"}, args...)...)...)...)
		}
		cmd.Env = b.env
		before := dirNames(nsDir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		// Kill delay after a new namespace file shows up.
	wait:
		for {
			select {
			case <-done:
				break wait
			default:
			}
			if len(dirNames(nsDir)) > len(before) {
				time.Sleep(delay)
				if cmd.Process.Signal(syscall.SIGKILL) == nil {
					<-done
					if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
						killed++
					}
				}
				break wait
			}
			time.Sleep(100 * time.Microsecond)
		}
		<-done
		// Before any berth command looks: what the kill left.
		if len(dirNames(nsDir)) > len(before) {
			leftNS++
		}
		for _, br := range bridges {
			if out, _ := exec.Command("ip", "-o", "link", "show", "master", br).Output(); len(out) > 0 {
				leftVeth++
			}
			if out, _ := exec.Command("nft", "list", "map", "ip", "berth_"+br, "publish_ports").Output(); strings.Contains(string(out), "elements") {
				leftRule++
			}
		}
		b.ok("ps", "-a") // the next berth command
		b.assertNoNetworkLeft(t, fmt.Sprintf("kill %d (%v after setup began)", i, delay), bridges, b.settled())
		// A container the kill came too late for runs and holds the ports.
		for id := range b.runningIDs() {
			b.ok("rm", "-f", id)
		}
	}
	t.Logf("%d of %d commands killed during their setup; left for the next command: %d namespace files, %d veths, %d nft elements",
		killed, 2*len(delays), leftNS, leftVeth, leftRule)
	if killed < len(delays) {
		t.Errorf("only %d kills landed before the command finished: the test did not exercise the setup", killed)
	}
	b.ok("container", "prune", "-f")
	if out := b.ok("ps", "-aq"); out != "" {
		t.Errorf("containers left after prune: %q", out)
	}
	b.assertNoNetworkLeft(t, "after container prune", bridges, nil)
	id := strings.TrimSpace(b.ok(runArgs("-d", "--network", "crashnet", "busybox:test", "sleep", "60")...))
	subnet := strings.TrimSpace(b.ok("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "crashnet"))
	if got, want := b.ipOn("crashnet", id), strings.TrimSuffix(subnet, "0/24")+"2"; got != want {
		t.Errorf("a new container got %s, not the network's first address %s: an address leaked", got, want)
	}
	b.ok("rm", "-f", id)
	b.ok("network", "rm", "crashnet")
}

// settled waits until every container whose shim is alive runs (a kill
// that came after the shim started leaves a container starting) and
// returns the running ones.
func (b *berthRoot) settled() map[string]bool {
	b.t.Helper()
	var running map[string]bool
	waitFor(b.t, "the started containers to run", func() bool {
		running = b.runningIDs()
		for _, id := range strings.Fields(b.ok("ps", "-aq", "--no-trunc")) {
			f, err := os.Open(filepath.Join(b.root, "containers", id, "shim.lock"))
			if err != nil {
				continue
			}
			free := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) == nil
			f.Close()
			if !free && !running[id] {
				return false
			}
		}
		return true
	})
	return running
}

// runningIDs are the full IDs of the root's running containers.
func (b *berthRoot) runningIDs() map[string]bool {
	b.t.Helper()
	out := b.ok("ps", "-q", "--no-trunc")
	ids := map[string]bool{}
	for _, id := range strings.Fields(out) {
		ids[id] = true
	}
	return ids
}

var ipv4 = regexp.MustCompile(`\b\d+\.\d+\.\d+\.\d+\b`)

// assertNoNetworkLeft checks that nothing of a container that is not
// running is left: its namespace file and mount, its veth on bridges,
// its address in their nft tables and in the networks' endpoints.
func (b *berthRoot) assertNoNetworkLeft(t *testing.T, when string, bridges []string, running map[string]bool) {
	t.Helper()
	nsDir := filepath.Join(b.root, "run", "netns")
	for _, n := range dirNames(nsDir) {
		if !running[n] {
			t.Errorf("%s: namespace file %s left", when, n)
		}
	}
	for _, m := range mountsUnder(nsDir) {
		if !running[filepath.Base(m)] {
			t.Errorf("%s: namespace mount %s left", when, m)
		}
	}
	veths := map[string]bool{}
	ips := map[string]bool{}
	for id := range running {
		veths["veth"+id[:11]] = true
		for _, ip := range strings.Fields(b.ok("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", id)) {
			ips[ip] = true
		}
	}
	for _, br := range bridges {
		out, _ := exec.Command("ip", "-o", "link", "show", "master", br).Output()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			if name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@"); !veths[name] {
				t.Errorf("%s: %s left on %s", when, name, br)
			}
		}
		table, _ := exec.Command("nft", "list", "table", "ip", "berth_"+br).Output() // none before the bridge's first use
		for _, line := range strings.Split(string(table), "\n") {
			if _, value, ok := strings.Cut(line, " : "); ok {
				if ip := ipv4.FindString(value); ip != "" && !ips[ip] {
					t.Errorf("%s: nft element %q left in berth_%s", when, strings.TrimSpace(line), br)
				}
			}
		}
	}
	for _, n := range []string{"bridge", "crashnet"} {
		out, _, code := b.run("", "network", "inspect", "-f", "{{range $id, $e := .Containers}}{{$id}} {{end}}", n)
		if code != 0 {
			continue // the default bridge before its first use
		}
		for _, id := range strings.Fields(out) {
			if !running[id] {
				t.Errorf("%s: endpoint of %s left on %s", when, id, n)
			}
		}
	}
}

func dirNames(dir string) []string {
	ents, _ := os.ReadDir(dir)
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
