package cli

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	mobynetwork "github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
)

// newNetworkCommand is `berth network …`.
func newNetworkCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage networks"}
	cmd.AddCommand(newNetworkCreateCommand(g), newNetworkLsCommand(g), newNetworkInspectCommand(g),
		newNetworkRmCommand(g), newNetworkPruneCommand(g), newNetworkConnectCommand(g), newNetworkDisconnectCommand(g))
	return cmd
}

func newNetworkCreateCommand(g *globalOptions) *cobra.Command {
	var o engine.NetworkCreateOptions
	var subnets, gateways, ranges, labels, opts []string
	var ipv6 bool
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			o.IPv6 = ipv6
			if err := setIPAM(&o, subnets, gateways, ranges); err != nil {
				return err
			}
			var err error
			if o.Labels, err = parseLabels(nil, labels); err != nil {
				return err
			}
			if o.Labels == nil {
				o.Labels = map[string]string{}
			}
			o.Options = map[string]string{}
			for _, kv := range opts {
				k, v, _ := strings.Cut(kv, "=")
				o.Options[k] = v
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			n, err := e.CreateNetwork(cmd.Context(), o)
			if err != nil {
				return daemonError(err)
			}
			fmt.Println(n.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Driver, "driver", "d", "bridge", "Driver to manage the Network")
	f.StringArrayVar(&subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	f.StringArrayVar(&gateways, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	f.StringArrayVar(&ranges, "ip-range", nil, "Allocate container ip from a sub-range")
	f.BoolVar(&o.Internal, "internal", false, "Restrict external access to the network")
	f.StringArrayVar(&labels, "label", nil, "Set metadata on a network")
	f.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	f.BoolVar(&ipv6, "ipv6", false, "Enable or disable IPv6 address assignment")
	f.Bool("attachable", false, "Enable manual container attachment")
	f.MarkHidden("attachable")
	return cmd
}

// networkRow is a network as `network ls --format` sees it (Docker's
// network formatter).
type networkRow struct {
	n     *mobynetwork.Inspect
	trunc bool
}

func (r networkRow) ID() string {
	if r.trunc {
		return r.n.ID[:12]
	}
	return r.n.ID
}
func (r networkRow) Name() string      { return r.n.Name }
func (r networkRow) Driver() string    { return r.n.Driver }
func (r networkRow) Scope() string     { return r.n.Scope }
func (r networkRow) IPv4() string      { return strconv.FormatBool(r.n.EnableIPv4) }
func (r networkRow) IPv6() string      { return strconv.FormatBool(r.n.EnableIPv6) }
func (r networkRow) Internal() string  { return strconv.FormatBool(r.n.Internal) }
func (r networkRow) CreatedAt() string { return r.n.Created.String() }
func (r networkRow) Label(name string) string {
	return r.n.Labels[name]
}
func (r networkRow) Labels() string {
	var kv []string
	for k, v := range r.n.Labels {
		kv = append(kv, k+"="+v)
	}
	slices.Sort(kv)
	return strings.Join(kv, ",")
}

// MarshalJSON is `--format json`: every placeholder by name.
func (r networkRow) MarshalJSON() ([]byte, error) {
	return placeholdersJSON(map[string]string{
		"CreatedAt": r.CreatedAt(), "Driver": r.Driver(), "ID": r.ID(), "IPv4": r.IPv4(), "IPv6": r.IPv6(),
		"Internal": r.Internal(), "Labels": r.Labels(), "Name": r.Name(), "Scope": r.Scope(),
	})
}

var networkHeaders = headerMap{
	"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv4": "IPV4", "IPv6": "IPV6",
	"Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
}

func newNetworkLsCommand(g *globalOptions) *cobra.Command {
	var quiet, noTrunc bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := engine.ParseFilters(filters)
			if err != nil {
				return err
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			ns, err := e.ListNetworks(cmd.Context(), f)
			if err != nil {
				return daemonError(err)
			}
			if quiet && format == "" {
				format = "{{.ID}}"
			}
			rows := make([]any, len(ns))
			for i, n := range ns {
				rows[i] = networkRow{n: n, trunc: !noTrunc}
			}
			return formatter{out: os.Stdout, format: format, def: "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", headers: networkHeaders}.print(rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display network IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "Do not truncate the output")
	f.StringVar(&format, "format", "", "Format output using a custom template")
	f.StringArrayVarP(&filters, "filter", "f", nil, `Provide filter values (e.g. "driver=bridge")`)
	return cmd
}

func newNetworkInspectCommand(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			errs, err := inspectEach(g, args, format, func(e *engine.Engine, ref string) (any, error) {
				return e.InspectNetwork(cmd.Context(), ref)
			})
			if err != nil {
				return err
			}
			return daemonErrors(errs)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolP("verbose", "v", false, "Verbose output for diagnostics")
	return cmd
}

func newNetworkRmCommand(g *globalOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachArg(g, cmd, args, func(e *engine.Engine, ref string) error {
				err := e.RemoveNetwork(cmd.Context(), ref)
				if force && errors.As(err, new(engine.ErrNetworkNotFound)) {
					return errSkipArg
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not error if the network does not exist")
	return cmd
}

func newNetworkPruneCommand(g *globalOptions) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := engine.ParseFilters(filters)
			if err != nil {
				return err
			}
			if !force && !ask("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ") {
				return nil
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			deleted, err := e.PruneNetworks(cmd.Context(), f)
			if err != nil {
				return daemonError(err)
			}
			if len(deleted) > 0 {
				fmt.Println("Deleted Networks:")
				for _, name := range deleted {
					fmt.Println(name)
				}
				fmt.Println()
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

func newNetworkConnectCommand(g *globalOptions) *cobra.Command {
	var o engine.ConnectOptions
	var driverOpts []string
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.DriverOpts, err = parseDriverOpts(driverOpts); err != nil {
				return err
			}
			return onEngine(g, func(e *engine.Engine) error { return e.ConnectNetwork(cmd.Context(), args[0], args[1], o) })
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Aliases, "alias", nil, "Add network-scoped alias for the container")
	f.StringVar(&o.IP, "ip", "", "IPv4 address (e.g., \"172.30.100.104\")")
	f.StringVar(&o.IP6, "ip6", "", "IPv6 address (e.g., \"2001:db8::33\")")
	f.Var((*linkList)(&o.Links), "link", "Add link to another container")
	f.StringSliceVar(&driverOpts, "driver-opt", nil, "driver options for the network")
	return cmd
}

// linkList is a --link flag: NAME[:ALIAS] values, checked as the docker
// CLI does.
type linkList []string

func (l *linkList) String() string { return strings.Join(*l, " ") }
func (l *linkList) Type() string   { return "list" }

func (l *linkList) Set(v string) error {
	if v == "" {
		return errors.New("empty string specified for links")
	}
	if name, _, _ := strings.Cut(v, ":"); name == "" || strings.Count(v, ":") > 1 {
		return fmt.Errorf("bad format for links: %s", v)
	}
	*l = append(*l, v)
	return nil
}

// parseDriverOpts is the docker CLI's reading of --driver-opt KEY=VALUE
// (spaces around both trimmed).
func parseDriverOpts(opts []string) (map[string]string, error) {
	out := map[string]string{}
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		if k = strings.TrimSpace(k); !ok || k == "" {
			return nil, errors.New("invalid key/value pair format in driver options")
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

func newNetworkDisconnectCommand(g *globalOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return onEngine(g, func(e *engine.Engine) error { return e.DisconnectNetwork(cmd.Context(), args[0], args[1], force) })
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}

// onEngine runs fn on the engine and reports its error as the daemon's
// (exit 1), as the docker CLI does for the commands that print nothing.
func onEngine(g *globalOptions, fn func(e *engine.Engine) error) error {
	e, err := g.engine()
	if err != nil {
		return err
	}
	defer e.Close()
	if err := fn(e); err != nil {
		return daemonError(err)
	}
	return nil
}
