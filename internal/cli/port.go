package cli

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	containertypes "github.com/moby/moby/api/types/container"
	mobynetwork "github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
)

// newPortCommand is `port CONTAINER [PRIVATE_PORT[/PROTO]]`: the
// container's published ports, as Docker lists them.
func newPortCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return fmt.Errorf("%q requires at least 1 and at most 2 arguments.\nSee '%s --help'.\n\nUsage:  %s", c.CommandPath(), c.CommandPath(), c.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var want mobynetwork.Port
			if len(args) == 2 {
				p, err := mobynetwork.ParsePort(args[1])
				if err != nil {
					return fmt.Errorf("Error: invalid port (%s): %w", args[1], err)
				}
				want = p
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			_, ports, err := e.ContainerPorts(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			found := false
			for _, p := range ports {
				hostPort := net.JoinHostPort(p.HostIP.String(), strconv.Itoa(int(p.HostPort)))
				switch {
				case want.IsZero():
					fmt.Printf("%s -> %s\n", p.Port, hostPort)
				case p.Port == want:
					fmt.Println(hostPort)
				default:
					continue
				}
				found = true
			}
			if !found && !want.IsZero() {
				return fmt.Errorf("No public port '%s' published for %s", want, args[0])
			}
			return nil
		},
	}
}

// newNetworkTeardownCommand is the hidden `network-teardown ID`: what the
// shim runs once a container has stopped for good, to take down its
// network (see engine.NetworkTeardown). Idempotent.
func newNetworkTeardownCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:    "network-teardown ID",
		Hidden: true,
		Args:   exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return engine.NetworkTeardown(g.root, args[0])
		},
	}
}

// displayablePorts is ps's PORTS column as the docker CLI writes it:
// published ports as IP:PUBLIC->PRIVATE/PROTO, runs of consecutive ports
// published on the same numbers as one range, unpublished ones as
// PRIVATE/PROTO.
func displayablePorts(ports []containertypes.PortSummary) string {
	ports = slices.Clone(ports)
	slices.SortFunc(ports, func(a, b containertypes.PortSummary) int {
		return cmp.Or(cmp.Compare(a.PrivatePort, b.PrivatePort), a.IP.Compare(b.IP), cmp.Compare(a.PublicPort, b.PublicPort), cmp.Compare(a.Type, b.Type))
	})
	type group struct{ first, last uint16 }
	groups := map[string]*group{}
	var order, result, mappings []string
	for _, p := range ports {
		key := p.Type
		if p.IP.IsValid() {
			if p.PublicPort != p.PrivatePort {
				mappings = append(mappings, fmt.Sprintf("%s->%d/%s", net.JoinHostPort(p.IP.String(), strconv.Itoa(int(p.PublicPort))), p.PrivatePort, p.Type))
				continue
			}
			key = p.IP.String() + "/" + p.Type
		}
		g := groups[key]
		switch {
		case g == nil:
			groups[key] = &group{p.PrivatePort, p.PrivatePort}
			order = append(order, key)
		case p.PrivatePort == g.last+1:
			g.last = p.PrivatePort
		default:
			result = append(result, portGroup(key, g.first, g.last))
			groups[key] = &group{p.PrivatePort, p.PrivatePort}
		}
	}
	for _, key := range order {
		result = append(result, portGroup(key, groups[key].first, groups[key].last))
	}
	return strings.Join(append(result, mappings...), ", ")
}

func portGroup(key string, first, last uint16) string {
	ip, proto, hasIP := strings.Cut(key, "/")
	if !hasIP {
		proto, ip = ip, ""
	}
	ports := strconv.Itoa(int(first))
	if first != last {
		ports += "-" + strconv.Itoa(int(last))
	}
	if ip != "" {
		ports = net.JoinHostPort(ip, ports) + "->" + ports
	}
	return ports + "/" + proto
}
