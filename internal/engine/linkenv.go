package engine

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	mobynetwork "github.com/moby/moby/api/types/network"
)

// linkEnv are Docker's environment variables of one legacy link (its
// daemon/links), for container parent's link alias to a container at ip
// that exposes ports and has childEnv. With ALIAS the alias in capitals
// and "-" as "_", and the ports sorted TCP first, then by number:
//
//	ALIAS_PORT=proto://ip:port                 the first port
//	ALIAS_PORT_<port>_<PROTO>=proto://ip:port  for each port, with
//	  …_ADDR=ip, …_PORT=port and …_PROTO=proto
//	ALIAS_PORT_<first>_<PROTO>_START=proto://ip:first, …_PORT_START=first,
//	ALIAS_PORT_<first>_<PROTO>_END=proto://ip:last, …_PORT_END=last
//	  for each run of consecutive ports of one protocol (after the
//	  variables of the port that ends it, as Docker orders them)
//	ALIAS_NAME=/parent/alias
//	ALIAS_ENV_<k>=v                            for each of childEnv but HOME and PATH
func linkEnv(parent, alias, ip string, ports []mobynetwork.Port, childEnv []string) []string {
	p := strings.ToUpper(strings.ReplaceAll(alias, "-", "_"))
	ports = slices.Clone(ports)
	slices.SortFunc(ports, tcpFirst)
	var env []string
	url := func(port mobynetwork.Port) string { return fmt.Sprintf("%s://%s:%d", port.Proto(), ip, port.Num()) }
	key := func(port mobynetwork.Port) string {
		return fmt.Sprintf("%s_PORT_%d_%s", p, port.Num(), strings.ToUpper(string(port.Proto())))
	}
	if len(ports) > 0 {
		env = append(env, p+"_PORT="+url(ports[0]))
	}
	// first..last is the run of consecutive ports the loop is in.
	first, last := 0, 0
	for i, port := range ports {
		k := key(port)
		env = append(env, k+"="+url(port), k+"_ADDR="+ip, fmt.Sprintf("%s_PORT=%d", k, port.Num()), fmt.Sprintf("%s_PROTO=%s", k, port.Proto()))
		if i > 0 && port.Num() == ports[last].Num()+1 && port.Proto() == ports[last].Proto() {
			last = i
			if i < len(ports)-1 {
				continue
			}
		}
		if last != first {
			k := key(ports[first])
			env = append(env, k+"_START="+url(ports[first]), fmt.Sprintf("%s_PORT_START=%d", k, ports[first].Num()),
				k+"_END="+url(ports[last]), fmt.Sprintf("%s_PORT_END=%d", k, ports[last].Num()))
		}
		first, last = i, i
	}
	env = append(env, fmt.Sprintf("%s_NAME=/%s/%s", p, parent, alias))
	for _, kv := range childEnv {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "HOME" || k == "PATH" {
			continue
		}
		env = append(env, fmt.Sprintf("%s_ENV_%s=%s", p, k, v))
	}
	return env
}

// tcpFirst orders ports as Docker's links do: TCP before the other
// protocols, then by number (others by protocol, then number).
func tcpFirst(a, b mobynetwork.Port) int {
	if a.Proto() == b.Proto() {
		return cmp.Compare(a.Num(), b.Num())
	}
	if a.Proto() == mobynetwork.TCP {
		return -1
	}
	if b.Proto() == mobynetwork.TCP {
		return 1
	}
	return cmp.Compare(a.Proto(), b.Proto())
}

// isLinkVar says whether variable k is one linkEnv makes for one of
// aliases.
func isLinkVar(k string, aliases []string) bool {
	for _, a := range aliases {
		p := strings.ToUpper(strings.ReplaceAll(a, "-", "_"))
		if k == p+"_NAME" || k == p+"_PORT" || strings.HasPrefix(k, p+"_PORT_") || strings.HasPrefix(k, p+"_ENV_") {
			return true
		}
	}
	return false
}
