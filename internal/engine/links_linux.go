package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/network"
)

// Legacy links (run --link NAME[:ALIAS]) on the default bridge, as
// Docker's: the container finds the linked one in its /etc/hosts (alias,
// host name and name) and in environment variables (ALIAS_NAME,
// ALIAS_PORT…, ALIAS_ENV_…; see linkEnv), both made at each start from
// the linked container as it runs then. On a user-defined network a link
// (run --link on the first network, network connect --link on the one
// connected to) is a name only this container's resolver knows, to the
// linked container's address on that network (which need not exist
// yet), as in Docker.

var errJoinedLinks = errors.New("conflicting options: container type network can't be used with links. This would result in undefined behavior")

// parseLink splits NAME[:ALIAS] (the alias is the name without one).
func parseLink(l string) (name, alias string) {
	name, alias, ok := strings.Cut(l, ":")
	if !ok || alias == "" {
		alias = name
	}
	return strings.TrimPrefix(name, "/"), strings.TrimPrefix(alias, "/")
}

// checkLinks is Docker's check of --link at create: each linked container
// exists and is not on the host's network.
func (e *Engine) checkLinks(ctx context.Context, cfg *container.Config) error {
	if len(cfg.Links) == 0 {
		return nil
	}
	if _, ok := sharedNetNS(cfg.NetworkMode); ok {
		return errJoinedLinks
	}
	if cfg.NetworkMode != network.BridgeNetwork {
		return nil // names for the resolver, resolved when asked
	}
	for _, l := range cfg.Links {
		name, _ := parseLink(l)
		child, err := e.containers.Get(ctx, name)
		if err != nil {
			return fmt.Errorf("could not get container for %s: %w", name, err)
		}
		if netMode(child.Config) == network.ModeHost {
			return errors.New("conflicting options: host type networking can't be used with links. This would result in undefined behavior")
		}
	}
	return nil
}

// addLinks resolves container c's links: their hosts entries go into
// req (name:address, as --add-host) and their environment variables are
// returned. strict (a start) wants every linked container running;
// else (a connect rewriting the files) the links that can't be made are
// left out.
func (e *Engine) addLinks(ctx context.Context, c *container.Container, req *network.Request, strict bool) (env []string, err error) {
	var hosts []string
	legacy := netMode(c.Config) == network.BridgeNetwork
	req.Links, req.LinkNetworks = map[string]string{}, map[string]string{}
	for _, l := range c.Config.Links {
		name, alias := parseLink(l)
		child, err := e.Container(ctx, name)
		req.Links[alias] = name
		if err == nil {
			req.Links[alias] = child.ID
		}
		if !legacy {
			// The links of the first network's endpoint, as the docker
			// CLI sends them.
			req.LinkNetworks[alias] = netMode(c.Config)
			continue
		}
		if err == nil && child.Status != container.Running {
			err = fmt.Errorf("Cannot link to a non running container: /%s AS /%s/%s", child.Name, c.Name, alias)
		} else if err != nil {
			err = fmt.Errorf("could not get container for %s: %w", name, err)
		}
		var eps []network.Endpoint
		if err == nil {
			eps, _, err = e.net.Store.ContainerEndpoints(ctx, child.ID)
		}
		if err != nil {
			if strict {
				return nil, err
			}
			continue
		}
		i := slices.IndexFunc(eps, func(ep network.Endpoint) bool { return ep.Network == network.BridgeNetwork })
		if i < 0 {
			continue // not on the default bridge: nothing to reach it by
		}
		ip := eps[i].IP.String()
		names := alias + " " + hostnameOf(child)
		if alias != child.Name {
			names += " " + child.Name
		}
		hosts = append(hosts, names+":"+ip)
		_, img := e.imageOf(ctx, child)
		var imgEnv []string
		if img != nil {
			imgEnv = img.Config.Env
		}
		env = append(env, linkEnv(c.Name, alias, ip, exposedPorts(child.Config, img), mergeEnv(imgEnv, child.Config.Env))...)
	}
	// connect --link: names on the user-defined network connected to.
	for _, a := range attachments(c.Config) {
		if a.Network == network.BridgeNetwork || !bridged(a.Network) {
			continue
		}
		for _, l := range a.Links {
			name, alias := parseLink(l)
			req.Links[alias], req.LinkNetworks[alias] = name, a.Network
			if child, err := e.containers.Get(ctx, name); err == nil {
				req.Links[alias] = child.ID
			}
		}
	}
	req.ExtraHosts = append(slices.Clone(req.ExtraHosts), hosts...)
	return env, nil
}

// hasLinks says whether container c has links to resolve at its start:
// run --link, or connect --link on a user-defined network.
func hasLinks(c *container.Container) bool {
	return len(c.Config.Links) > 0 || slices.ContainsFunc(attachments(c.Config), func(a container.NetworkAttachment) bool {
		return len(a.Links) > 0 && a.Network != network.BridgeNetwork && bridged(a.Network)
	})
}

// hostnameOf is container c's host name: -h, else its short ID.
func hostnameOf(c *container.Container) string {
	if c.Config.Hostname != "" {
		return c.Config.Hostname
	}
	return c.ID[:12]
}

// setLinkEnv puts a start's link variables into container id's spec in
// place of the last start's, before the container's own (which win).
func (e *Engine) setLinkEnv(c *container.Container, env []string) error {
	var aliases []string
	for _, l := range c.Config.Links {
		_, a := parseLink(l)
		aliases = append(aliases, a)
	}
	return e.editSpec(c.ID, func(s *specs.Spec) error {
		mine := map[string]bool{} // -e: never a link's
		for _, kv := range c.Config.Env {
			k, _, _ := strings.Cut(kv, "=")
			mine[k] = true
		}
		own := slices.DeleteFunc(slices.Clone(s.Process.Env), func(kv string) bool {
			k, _, _ := strings.Cut(kv, "=")
			return isLinkVar(k, aliases) && !mine[k]
		})
		var out []string
		for _, kv := range env {
			k, _, _ := strings.Cut(kv, "=")
			if !slices.ContainsFunc(own, func(o string) bool { return strings.HasPrefix(o, k+"=") }) {
				out = append(out, kv)
			}
		}
		s.Process.Env = append(out, own...)
		return nil
	})
}

// linksConfig is inspect's HostConfig.Links: "/NAME:/PARENT/ALIAS" for
// legacy links (the default bridge's); on a user-defined network they
// are the endpoint's Links, as in Docker.
func linksConfig(c *container.Container) []string {
	if netMode(c.Config) != network.BridgeNetwork {
		return nil
	}
	var out []string
	for _, l := range c.Config.Links {
		name, alias := parseLink(l)
		out = append(out, "/"+name+":/"+c.Name+"/"+alias)
	}
	return out
}
