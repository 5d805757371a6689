package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestUpdateNestsAndRunsAfterCommit(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var ran []string
	err = db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		tx.Exec(`INSERT INTO settings (name, value) VALUES ('a', '1')`)
		// A nested Update joins the transaction instead of deadlocking.
		if err := db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO settings (name, value) VALUES ('b', '2')`)
			AfterCommit(ctx, func() { ran = append(ran, "after") })
			return err
		}); err != nil {
			return err
		}
		if len(ran) != 0 {
			t.Error("AfterCommit ran before the commit")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ran) != 1 {
		t.Errorf("AfterCommit ran %d times", len(ran))
	}
	if v, _ := db.Setting(ctx, "b"); v != "2" {
		t.Errorf("b = %q", v)
	}
	// A failing transaction leaves nothing and runs no after-commit hook.
	ran = nil
	db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		tx.Exec(`INSERT INTO settings (name, value) VALUES ('c', '3')`)
		AfterCommit(ctx, func() { ran = append(ran, "after") })
		return errors.New("boom")
	})
	if v, _ := db.Setting(ctx, "c"); v != "" || len(ran) != 0 {
		t.Errorf("rolled-back transaction left c=%q, hooks %v", v, ran)
	}
}

func TestConcurrentOpensAndWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(path)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			errs <- db.Update(context.Background(), func(_ context.Context, tx *sql.Tx) error {
				var n int
				tx.QueryRow(`SELECT count(*) FROM settings`).Scan(&n)
				_, err := tx.Exec(`INSERT INTO settings (name, value) VALUES (?, 'x')`, string(rune('a'+n)))
				return err
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	db, _ := Open(path)
	defer db.Close()
	var n int
	db.db.QueryRow(`SELECT count(*) FROM settings`).Scan(&n)
	if n != 16 {
		t.Errorf("%d rows after 16 read-then-write transactions, want 16", n)
	}
}

// TestEndpointsMigration: endpoints and published ports recorded before
// containers could have several networks keep their rows, now keyed by
// (container, network), the ports on their endpoint.
func TestEndpointsMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	old := 0
	for i, s := range schema {
		if strings.HasPrefix(s, "CREATE TABLE endpoints_v2") {
			old = i
		}
	}
	full := schema
	schema = full[:old]
	db, err := Open(path)
	schema = full
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, q := range []string{
			`INSERT INTO networks (name, bridge, subnet, gateway, created) VALUES ('bridge', 'berth0', '172.30.0.0/16', '172.30.0.1', 0)`,
			`INSERT INTO endpoints (container_id, network, ip, mac) VALUES ('c1', 'bridge', '172.30.0.2', '02:42:ac:1e:00:02')`,
			`INSERT INTO published_ports (container_id, proto, host_ip, host_port, container_port) VALUES ('c1', 'tcp', '0.0.0.0', 8080, 80)`,
		} {
			if _, err := tx.Exec(q); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if db, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ifname, aliases, network string
	if err := db.db.QueryRow(`SELECT ifname, aliases FROM endpoints WHERE container_id = 'c1' AND network = 'bridge'`).Scan(&ifname, &aliases); err != nil || ifname != "eth0" || aliases != "[]" {
		t.Errorf("migrated endpoint: %q %q %v", ifname, aliases, err)
	}
	if err := db.db.QueryRow(`SELECT network FROM published_ports WHERE container_id = 'c1'`).Scan(&network); err != nil || network != "bridge" {
		t.Errorf("migrated port: %q %v", network, err)
	}
	// The foreign key followed the rename: a released endpoint takes its
	// ports along.
	if _, err := db.db.Exec(`DELETE FROM endpoints WHERE container_id = 'c1'`); err != nil {
		t.Fatal(err)
	}
	var n int
	if db.db.QueryRow(`SELECT count(*) FROM published_ports`).Scan(&n); n != 0 {
		t.Errorf("%d ports outlived their endpoint", n)
	}
}
