package engine

import (
	"slices"
	"strings"
	"testing"

	mobynetwork "github.com/moby/moby/api/types/network"
)

func ports(t *testing.T, specs ...string) []mobynetwork.Port {
	var out []mobynetwork.Port
	for _, s := range specs {
		p, err := mobynetwork.ParsePort(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestLinkEnv: the variables of one link as Docker's daemon/links makes
// them (the expected values written out from its rules): TCP ports
// first, per-port variables for every port, _START/_END for each run of
// consecutive ports of one protocol after the variables of the port that
// ends it, the link's name, the linked container's environment but HOME
// and PATH.
func TestLinkEnv(t *testing.T) {
	const ip = "172.17.0.2"
	for _, c := range []struct {
		name, alias string
		ports       []string
		env         []string
		want        []string
	}{{
		name: "one port", alias: "db", ports: []string{"6379/tcp"},
		env: []string{"PASSWORD=gordon", "HOME=/root", "PATH=/bin", "EMPTY=", "NOVALUE"},
		want: []string{
			"DB_PORT=tcp://172.17.0.2:6379",
			"DB_PORT_6379_TCP=tcp://172.17.0.2:6379", "DB_PORT_6379_TCP_ADDR=172.17.0.2", "DB_PORT_6379_TCP_PORT=6379", "DB_PORT_6379_TCP_PROTO=tcp",
			"DB_NAME=/web/db",
			"DB_ENV_PASSWORD=gordon", "DB_ENV_EMPTY=",
		},
	}, {
		name: "no ports, a dash in the alias", alias: "my-db", env: nil,
		want: []string{"MY_DB_NAME=/web/my-db"},
	}, {
		name: "a range, then a UDP port (TCP comes first even with a higher number)", alias: "db",
		ports: []string{"53/udp", "6381/tcp", "6379/tcp", "6380/tcp"},
		want: []string{
			"DB_PORT=tcp://172.17.0.2:6379",
			"DB_PORT_6379_TCP=tcp://172.17.0.2:6379", "DB_PORT_6379_TCP_ADDR=172.17.0.2", "DB_PORT_6379_TCP_PORT=6379", "DB_PORT_6379_TCP_PROTO=tcp",
			"DB_PORT_6380_TCP=tcp://172.17.0.2:6380", "DB_PORT_6380_TCP_ADDR=172.17.0.2", "DB_PORT_6380_TCP_PORT=6380", "DB_PORT_6380_TCP_PROTO=tcp",
			"DB_PORT_6381_TCP=tcp://172.17.0.2:6381", "DB_PORT_6381_TCP_ADDR=172.17.0.2", "DB_PORT_6381_TCP_PORT=6381", "DB_PORT_6381_TCP_PROTO=tcp",
			"DB_PORT_53_UDP=udp://172.17.0.2:53", "DB_PORT_53_UDP_ADDR=172.17.0.2", "DB_PORT_53_UDP_PORT=53", "DB_PORT_53_UDP_PROTO=udp",
			"DB_PORT_6379_TCP_START=tcp://172.17.0.2:6379", "DB_PORT_6379_TCP_PORT_START=6379",
			"DB_PORT_6379_TCP_END=tcp://172.17.0.2:6381", "DB_PORT_6379_TCP_PORT_END=6381",
			"DB_NAME=/web/db",
		},
	}, {
		name: "two ranges; the same numbers in another protocol are no range", alias: "db",
		ports: []string{"9001/tcp", "8000/tcp", "9000/tcp", "8001/tcp", "8001/udp", "8002/udp"},
		want: []string{
			"DB_PORT=tcp://172.17.0.2:8000",
			"DB_PORT_8000_TCP=tcp://172.17.0.2:8000", "DB_PORT_8000_TCP_ADDR=172.17.0.2", "DB_PORT_8000_TCP_PORT=8000", "DB_PORT_8000_TCP_PROTO=tcp",
			"DB_PORT_8001_TCP=tcp://172.17.0.2:8001", "DB_PORT_8001_TCP_ADDR=172.17.0.2", "DB_PORT_8001_TCP_PORT=8001", "DB_PORT_8001_TCP_PROTO=tcp",
			"DB_PORT_9000_TCP=tcp://172.17.0.2:9000", "DB_PORT_9000_TCP_ADDR=172.17.0.2", "DB_PORT_9000_TCP_PORT=9000", "DB_PORT_9000_TCP_PROTO=tcp",
			"DB_PORT_8000_TCP_START=tcp://172.17.0.2:8000", "DB_PORT_8000_TCP_PORT_START=8000",
			"DB_PORT_8000_TCP_END=tcp://172.17.0.2:8001", "DB_PORT_8000_TCP_PORT_END=8001",
			"DB_PORT_9001_TCP=tcp://172.17.0.2:9001", "DB_PORT_9001_TCP_ADDR=172.17.0.2", "DB_PORT_9001_TCP_PORT=9001", "DB_PORT_9001_TCP_PROTO=tcp",
			"DB_PORT_8001_UDP=udp://172.17.0.2:8001", "DB_PORT_8001_UDP_ADDR=172.17.0.2", "DB_PORT_8001_UDP_PORT=8001", "DB_PORT_8001_UDP_PROTO=udp",
			"DB_PORT_9000_TCP_START=tcp://172.17.0.2:9000", "DB_PORT_9000_TCP_PORT_START=9000",
			"DB_PORT_9000_TCP_END=tcp://172.17.0.2:9001", "DB_PORT_9000_TCP_PORT_END=9001",
			"DB_PORT_8002_UDP=udp://172.17.0.2:8002", "DB_PORT_8002_UDP_ADDR=172.17.0.2", "DB_PORT_8002_UDP_PORT=8002", "DB_PORT_8002_UDP_PROTO=udp",
			"DB_PORT_8001_UDP_START=udp://172.17.0.2:8001", "DB_PORT_8001_UDP_PORT_START=8001",
			"DB_PORT_8001_UDP_END=udp://172.17.0.2:8002", "DB_PORT_8001_UDP_PORT_END=8002",
			"DB_NAME=/web/db",
		},
	}} {
		got := linkEnv("web", c.alias, ip, ports(t, c.ports...), c.env)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s:\n%s\nwant\n%s", c.name, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
		for _, kv := range got {
			k, _, _ := strings.Cut(kv, "=")
			if !isLinkVar(k, []string{c.alias}) {
				t.Errorf("%s: isLinkVar(%s) is false", c.name, k)
			}
		}
	}
}
