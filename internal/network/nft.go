package network

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Ruleset is berth's nftables table for one bridge: NAT out of the
// bridge, the published ports, and the forwarding rules that keep the
// containers unreachable from outside except through them.
//
// It lives in a table of its own (Bridge.Table), family ip, so it never
// edits or depends on anyone else's rules; Script replaces the whole table
// in one `nft -f` transaction, so a reader never sees half a ruleset.
//
// Published ports are two maps looked up by one rule each, whatever their
// number: publish_ranges maps (address, protocol, port range) to the
// container's address, the port kept (-p 9000-9999:9000-9999 is one
// element); publish_ports maps (address, protocol, port) to the
// container's address and port (-p 8080:80, ephemeral ports). An address
// of 0.0.0.0 is published on every local address, as the interval
// 0.0.0.0/0; the rules only look at packets to a local address.
//
// Locally generated connections (to 127.0.0.1:PORT or the host's own
// addresses) are translated in the output hook. Their source stays a
// loopback address, which the kernel would refuse to route out of lo:
// the bridge gets route_localnet=1 and such packets are masqueraded to
// the bridge's address, as Docker does without its userland proxy.
//
// Host input filtering (moby#22054): published traffic is translated in
// prerouting and then forwarded, so rules in the host's input hook never
// see it. berth does not pretend otherwise: its forward chain accepts
// only what it translated (and replies), and because an nftables accept
// is final only within its own table, a drop in any other table's forward
// hook (a host firewall's) still applies to published ports. To publish
// on one address only, use -p 127.0.0.1:8080:80.
//
// Isolation between networks (the default bridge and user-defined ones,
// each with its own bridge and table): a table's forward chain drops
// every new connection into its bridge that comes from another interface
// and was not translated for a published port, so containers of two
// networks never reach each other, whatever order the tables run in.
// Traffic between two containers of one bridge skips connection
// tracking (the raw chain): it is switched, not routed, but the kernel's
// br_netfilter, which Docker and others load, would otherwise look each
// packet up in conntrack on its way through the bridge. Nothing needs the
// state: the forward chain accepts bridge-to-bridge traffic as it is,
// and no rule translates it. Traffic to the gateway (the host, hairpin
// to a published port) and from other interfaces stays tracked.
//
// An Internal network has no way out either: no masquerade, and its
// forward chain drops whatever leaves or enters the bridge from another
// interface (its containers also get no default route); nothing is
// published from it.
//
// A network with IPv6 has a second table of the same name, family ip6,
// with the same maps, chains and rules for its IPv6 subnet and the ports
// published on IPv6 addresses of the host ([::] as the interval ::/0),
// written in the same transaction. One difference: IPv6 has no
// route_localnet, and a reply whose destination is restored to ::1 on
// its way in from the bridge is dropped by the kernel (::1 is only ever
// routed to lo). So a connection to [::1]:PORT is never translated (it
// is refused, rather than hanging), ports are not published on ::1 (the
// engine refuses -p [::1]:…), and the host reaches an IPv6 published
// port at one of its other addresses; those connections keep their
// source address and need no masquerade.
type Ruleset struct {
	Bridge   Bridge
	Internal bool
	Ports    []PublishedPort
}

// Script renders the table (both tables, with IPv6) as an nft script
// that creates or replaces it. The result depends only on the ruleset
// (ports are sorted), so it can be golden-tested.
func (r Ruleset) Script() string {
	var v4, v6 []PublishedPort
	for _, p := range r.Ports {
		if p.HostIP.Is6() {
			v6 = append(v6, p)
		} else {
			v4 = append(v4, p)
		}
	}
	s := r.script4(v4)
	if r.Bridge.IPv6() {
		s += r.script6(v6)
	}
	return s
}

// script4 is the ip table of the network (see Ruleset).
func (r Ruleset) script4(ports []PublishedPort) string {
	b := r.Bridge
	ranges, singles := split(ports, "0.0.0.0/0")
	var s strings.Builder
	writePublishing(&s, "ip", "ipv4_addr", b.Table(), ranges, singles, "")
	fmt.Fprintf(&s, "\tchain raw {\n\t\ttype filter hook prerouting priority raw; policy accept;\n"+
		"\t\tiifname %q ip daddr %s ip daddr != %s notrack\n\t}\n", b.Name, b.Subnet, b.Gateway)
	if r.Internal {
		s.WriteString("\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t}\n")
		s.WriteString(forwardChain(b.Name, true))
		return s.String()
	}
	fmt.Fprintf(&s, `	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %[2]s oifname != %[1]q masquerade
		oifname %[1]q ip saddr 127.0.0.0/8 masquerade
		oifname %[1]q ct status dnat ip saddr %[2]s masquerade
	}
`, b.Name, b.Subnet)
	s.WriteString(forwardChain(b.Name, false))
	return s.String()
}

// writePublishing opens table t of family (ip, ip6), whose addresses
// are of nft type addr, with its port maps (ranges and singles) and the
// prerouting and output chains that translate with them; the output
// chain's rules start with outPrefix.
func writePublishing(s *strings.Builder, family, addr, t string, ranges, singles []element, outPrefix string) {
	// Declaring the table first makes the delete succeed when it is new.
	fmt.Fprintf(s, "table %[1]s %[2]s\ndelete table %[1]s %[2]s\ntable %[1]s %[2]s {\n", family, t)
	fmt.Fprintf(s, "\tmap publish_ranges {\n\t\ttype %[1]s . inet_proto . inet_service : %[1]s\n\t\tflags interval\n", addr)
	writeElements(s, ranges)
	s.WriteString("\t}\n")
	fmt.Fprintf(s, "\tmap publish_ports {\n\t\ttype %[1]s . inet_proto . inet_service : %[1]s . inet_service\n\t\tflags interval\n", addr)
	writeElements(s, singles)
	s.WriteString("\t}\n")
	publish := func(prefix string) string {
		var r string
		for _, m := range []string{"publish_ranges", "publish_ports"} {
			r += fmt.Sprintf("\t\t%smeta l4proto { tcp, udp, sctp } fib daddr type local dnat %[2]s to %[2]s daddr . meta l4proto . th dport map @%s\n", prefix, family, m)
		}
		return r
	}
	s.WriteString("\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n" + publish("") + "\t}\n")
	// The output hook has no "dstnat" keyword in nft; -100 is its value.
	s.WriteString("\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n" + publish(outPrefix) + "\t}\n")
}

// forwardChain is the forward chain of a table of bridge br and its
// closing brace (see Ruleset).
func forwardChain(br string, internal bool) string {
	if internal {
		return fmt.Sprintf(`	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname %[1]q oifname %[1]q accept
		iifname %[1]q drop
		oifname %[1]q drop
	}
}
`, br)
	}
	return fmt.Sprintf(`	chain forward {
		type filter hook forward priority filter; policy accept;
		oifname %[1]q ct state established,related accept
		oifname %[1]q ct status dnat accept
		oifname %[1]q iifname %[1]q accept
		oifname %[1]q drop
	}
}
`, br)
}

// script6 is the ip6 table of a network with IPv6 (see Ruleset).
func (r Ruleset) script6(ports []PublishedPort) string {
	b := r.Bridge
	ranges, singles := split(ports, "::/0")
	var s strings.Builder
	writePublishing(&s, "ip6", "ipv6_addr", b.Table(), ranges, singles, "ip6 daddr != ::1 ")
	fmt.Fprintf(&s, "\tchain raw {\n\t\ttype filter hook prerouting priority raw; policy accept;\n"+
		"\t\tiifname %q ip6 daddr %s ip6 daddr != %s notrack\n\t}\n", b.Name, b.Subnet6, b.Gateway6)
	if r.Internal {
		s.WriteString("\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t}\n")
	} else {
		fmt.Fprintf(&s, `	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip6 saddr %[2]s oifname != %[1]q masquerade
		oifname %[1]q ct status dnat ip6 saddr %[2]s masquerade
	}
`, b.Name, b.Subnet6)
	}
	s.WriteString(forwardChain(b.Name, r.Internal))
	return s.String()
}

// element is one map entry: key => value.
type element struct{ key, value string }

func writeElements(s *strings.Builder, els []element) {
	if len(els) == 0 {
		return
	}
	s.WriteString("\t\telements = {\n")
	for i, e := range els {
		sep := ","
		if i == len(els)-1 {
			sep = ""
		}
		fmt.Fprintf(s, "\t\t\t%s : %s%s\n", e.key, e.value, sep)
	}
	s.WriteString("\t\t}\n")
}

// split sorts the ports and turns runs of consecutive ports published on
// the same port numbers (host port = container port) of one container,
// address and protocol into range elements; the rest are single ports.
// A port on every address has the key any (0.0.0.0/0, ::/0).
func split(ports []PublishedPort, any string) (ranges, singles []element) {
	ports = slices.Clone(ports)
	slices.SortFunc(ports, func(a, b PublishedPort) int {
		return cmp.Or(a.HostIP.Compare(b.HostIP), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.HostPort, b.HostPort))
	})
	addr := func(p PublishedPort) string {
		if p.HostIP.IsUnspecified() || !p.HostIP.IsValid() {
			return any
		}
		return p.HostIP.String()
	}
	for i := 0; i < len(ports); {
		p := ports[i]
		if p.HostPort != p.ContainerPort {
			singles = append(singles, element{
				key:   fmt.Sprintf("%s . %s . %d", addr(p), p.Proto, p.HostPort),
				value: fmt.Sprintf("%s . %d", p.ContainerIP, p.ContainerPort),
			})
			i++
			continue
		}
		j := i + 1
		for j < len(ports) {
			q := ports[j]
			if q.HostIP != p.HostIP || q.Proto != p.Proto || q.ContainerIP != p.ContainerIP ||
				q.HostPort != q.ContainerPort || int(q.HostPort) != int(p.HostPort)+(j-i) {
				break
			}
			j++
		}
		last := ports[j-1].HostPort
		port := fmt.Sprint(p.HostPort)
		if last != p.HostPort {
			port = fmt.Sprintf("%d-%d", p.HostPort, last)
		}
		ranges = append(ranges, element{
			key:   fmt.Sprintf("%s . %s . %s", addr(p), p.Proto, port),
			value: p.ContainerIP.String(),
		})
		i = j
	}
	return ranges, singles
}

// DeleteScript removes the tables of bridge b, ip and ip6 (nothing when
// they are gone).
func DeleteScript(b Bridge) string {
	t := b.Table()
	return fmt.Sprintf("table ip %s\ndelete table ip %s\ntable ip6 %s\ndelete table ip6 %s\n", t, t, t, t)
}
