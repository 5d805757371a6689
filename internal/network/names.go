package network

import (
	"context"
	"encoding/json"
	"net/netip"

	"github.com/berth-dev/berth/internal/network/dns"
	"github.com/berth-dev/berth/internal/store"
)

// NameRecords are the DNS records of network name's endpoints: each
// container's address (and then its IPv6 one) with its name, aliases on
// the network, short ID and host name (see dns.Names), by container ID.
func (s *Store) NameRecords(ctx context.Context, name string) ([]dns.Record, error) {
	var out []dns.Record
	err := s.db.View(ctx, func(q store.Querier) error {
		rows, err := q.QueryContext(ctx, `SELECT e.container_id, e.ip, e.ip6, e.aliases, coalesce(c.name, ''), coalesce(json_extract(c.config, '$.hostname'), '')
			FROM endpoints e LEFT JOIN containers c ON c.id = e.container_id WHERE e.network = ? ORDER BY e.container_id`, name)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, ip, ip6, aliases, cname, hostname string
			if err := rows.Scan(&id, &ip, &ip6, &aliases, &cname, &hostname); err != nil {
				return err
			}
			a, err := netip.ParseAddr(ip)
			if err != nil {
				return err
			}
			var al []string
			json.Unmarshal([]byte(aliases), &al)
			names := dns.Names(cname, al, id, hostname)
			out = append(out, dns.Record{ContainerID: id, IP: a, Names: names})
			if a6, err := netip.ParseAddr(ip6); err == nil {
				out = append(out, dns.Record{ContainerID: id, IP: a6, Names: names})
			}
		}
		return rows.Err()
	})
	return out, err
}
