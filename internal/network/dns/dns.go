// Package dns is the DNS resolver a container on a user-defined network
// finds at 127.0.0.11:53 (UDP and TCP), as Docker's embedded resolver:
// it answers the names of the containers that share a network with the
// asking one (container name, network aliases, short ID, host name, each
// also as NAME.NETWORK: A, and AAAA on networks with IPv6; PTR for their
// addresses) and forwards every other question to the servers the
// container's resolver file names.
//
// There is no daemon: each container's shim runs its resolver, on
// sockets bound inside the container's network namespace (Listen) and
// served from the shim's own goroutines, so forwarded questions leave
// from the host's namespace. The resolver never opens the metadata
// store (a shim's memory is paid per container): berth keeps one names
// file per user-defined network in a directory of the root (see Format),
// rewritten atomically whenever an endpoint joins or leaves the network,
// and the resolver rereads the directory when inotify says it changed.
// A container's view is the union of the files that list it.
//
// Every packet is untrusted: questions are parsed with
// golang.org/x/net/dns/dnsmessage, anything malformed is dropped or
// answered FORMERR, answers are bounded, TCP connections and forwards are
// limited in number and time.
//
// It imports nothing of berth.
package dns

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// Record is one container's endpoint on a network: its address and the
// names it answers to there.
type Record struct {
	ContainerID string
	IP          netip.Addr
	Names       []string // container name first (PTR answers use it)
}

// Format is a network's names file: a comment, then one line per record,
// "<container ID> <address> <name>...". The order is the records'.
func Format(network string, recs []Record) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# berth: the DNS names of network %s (container, address, names)\n", network)
	for _, r := range recs {
		fmt.Fprintf(&b, "%s %s %s\n", r.ContainerID, r.IP, strings.Join(r.Names, " "))
	}
	return []byte(b.String())
}

// Parse reads a names file (see Format); lines it can't read are skipped.
func Parse(r io.Reader) []Record {
	var out []Record
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		ip, err := netip.ParseAddr(f[1])
		if err != nil {
			continue
		}
		out = append(out, Record{ContainerID: f[0], IP: ip, Names: f[2:]})
	}
	return out
}

// Names are the names Docker gives an endpoint in its network's DNS:
// the container's name, its aliases on the network, its short ID and its
// host name, each once.
func Names(name string, aliases []string, id, hostname string) []string {
	var out []string
	for _, n := range slices.Concat([]string{name}, aliases, []string{id[:min(12, len(id))], hostname}) {
		if n != "" && !slices.Contains(out, n) && !strings.ContainsAny(n, " \t\n") {
			out = append(out, n)
		}
	}
	return out
}

// ConfigName is the resolver's file in a container's bundle directory:
// the servers it forwards to, as "nameserver ADDRESS" lines, and the
// container's links on user-defined networks, "link ALIAS CONTAINER
// [NETWORK]" (an ID, or a name), names that only this container
// resolves, to that container's address on NETWORK (Docker's endpoint
// links), or on every network they share without one. Its presence is
// what tells the shim to run a resolver.
const ConfigName = "resolver.conf"

// Config is what a resolver file says.
type Config struct {
	Servers []netip.Addr
	Links   map[string]string // alias → container ID or name
	// LinkNetworks are the networks links resolve on: alias → network
	// name (none: every network shared).
	LinkNetworks map[string]string
}

// FormatConfig is the resolver file of c (links sorted by alias).
func FormatConfig(c Config) []byte {
	var b strings.Builder
	b.WriteString("# berth: the servers this container's DNS resolver forwards to, and its links\n")
	for _, s := range c.Servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	aliases := slices.Sorted(maps.Keys(c.Links))
	for _, a := range aliases {
		if n := c.LinkNetworks[a]; n != "" {
			fmt.Fprintf(&b, "link %s %s %s\n", a, c.Links[a], n)
			continue
		}
		fmt.Fprintf(&b, "link %s %s\n", a, c.Links[a])
	}
	return []byte(b.String())
}

// readConfig reads a resolver file (nothing when there is none).
func readConfig(path string) Config {
	c := Config{Links: map[string]string{}, LinkNetworks: map[string]string{}}
	data, err := os.ReadFile(path)
	if err != nil {
		return c
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == "nameserver":
			if a, err := netip.ParseAddr(f[1]); err == nil {
				c.Servers = append(c.Servers, a)
			}
		case (len(f) == 3 || len(f) == 4) && f[0] == "link":
			c.Links[strings.ToLower(f[1])] = f[2]
			if len(f) == 4 {
				c.LinkNetworks[strings.ToLower(f[1])] = f[3]
			}
		}
	}
	return c
}
