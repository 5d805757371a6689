// Package store is berth's metadata store: one SQLite database (meta.db)
// in WAL mode, shared by every berth process using the same root.
//
// Why SQLite: several processes (the CLI, a server, shims) read and write
// the same records; SQLite gives them transactions across processes, a
// crash-safe journal (a kill -9 at any moment leaves the last committed
// state) and concurrent readers with WAL. modernc.org/sqlite is pure Go,
// so the binary stays static (CGO_ENABLED=0). Podman moved its state to
// SQLite for the same reasons.
//
// The package owns the schema and the transaction helper; the queries live
// with the packages that own the records (image, snapshot, …). It imports
// nothing else of berth.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// DB is the open metadata store.
type DB struct {
	db *sql.DB
}

// schema is applied in order; PRAGMA user_version records how many
// statements a database has had. Append, never edit.
var schema = []string{
	`CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)`,
	// Images are keyed by their ID, the digest of their config blob.
	`CREATE TABLE images (
		id TEXT PRIMARY KEY,
		manifest TEXT NOT NULL DEFAULT '',  -- digest of the manifest blob
		media_type TEXT NOT NULL DEFAULT '',
		top_layer TEXT NOT NULL DEFAULT '', -- chain ID of the image's top layer snapshot ('' when none)
		size INTEGER NOT NULL DEFAULT 0,    -- unpacked size of all layers
		created INTEGER NOT NULL DEFAULT 0, -- the config's created time, unix ns
		added INTEGER NOT NULL              -- when this store got it, unix ns
	)`,
	// Names pointing at images: name:tag references, fully normalised.
	`CREATE TABLE tags (ref TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id))`,
	`CREATE INDEX tags_image ON tags(image_id)`,
	// repo@digest of the manifest (or index) an image was pulled or pushed as.
	`CREATE TABLE repo_digests (repo TEXT NOT NULL, digest TEXT NOT NULL, image_id TEXT NOT NULL REFERENCES images(id), PRIMARY KEY (repo, digest))`,
	`CREATE INDEX repo_digests_image ON repo_digests(image_id)`,
	// Blobs an image holds (GC roots): manifest, config, layers, index.
	`CREATE TABLE image_blobs (image_id TEXT NOT NULL REFERENCES images(id), digest TEXT NOT NULL, PRIMARY KEY (image_id, digest))`,
	`CREATE INDEX image_blobs_digest ON image_blobs(digest)`,
	// Where a blob came from, for cross-repository mounts on push.
	`CREATE TABLE blob_sources (digest TEXT NOT NULL, registry TEXT NOT NULL, repo TEXT NOT NULL, PRIMARY KEY (digest, registry, repo))`,
	// Snapshots: committed layers (key = chain ID) and active trees.
	`CREATE TABLE snapshots (
		key TEXT PRIMARY KEY,
		dir TEXT NOT NULL UNIQUE,          -- directory name under snapshots/
		parent TEXT NOT NULL DEFAULT '',
		kind TEXT NOT NULL,                -- committed | active
		size INTEGER NOT NULL DEFAULT 0,
		created INTEGER NOT NULL
	)`,
	// The compressed blob a layer snapshot was unpacked from.
	`CREATE TABLE layers (chain_id TEXT NOT NULL, blob TEXT NOT NULL, diff_id TEXT NOT NULL, PRIMARY KEY (chain_id, blob))`,
	`CREATE INDEX layers_blob ON layers(blob)`,
	// Containers (internal/container owns the queries). name is without
	// Docker's leading "/"; its UNIQUE constraint is what makes two
	// concurrent `run --name x` leave one container.
	`CREATE TABLE containers (
		id TEXT PRIMARY KEY,               -- 64 hex characters
		name TEXT NOT NULL UNIQUE,
		image_id TEXT NOT NULL,            -- digest of the image config
		image TEXT NOT NULL,               -- the image as the user typed it
		command TEXT NOT NULL DEFAULT '',  -- JSON array: entrypoint + cmd
		created INTEGER NOT NULL,          -- unix ns
		config TEXT NOT NULL DEFAULT '{}', -- JSON of the create options
		status TEXT NOT NULL,              -- created | running | exited
		pid INTEGER NOT NULL DEFAULT 0,    -- the container init's host pid
		shim_pid INTEGER NOT NULL DEFAULT 0,
		exit_code INTEGER NOT NULL DEFAULT 0,
		started INTEGER NOT NULL DEFAULT 0, -- unix ns
		finished INTEGER NOT NULL DEFAULT 0 -- unix ns
	)`,
	// What the shim records beyond the status (container.State, JSON):
	// restart count, OOM kill, a manual stop.
	`ALTER TABLE containers ADD COLUMN state TEXT NOT NULL DEFAULT '{}'`,
	// 1 while a running container is frozen (`pause`); cleared with any
	// change of status.
	`ALTER TABLE containers ADD COLUMN paused INTEGER NOT NULL DEFAULT 0`,
	// The events log (`berth events`; see events.go): what happened to
	// containers and images, in commit order (seq), bounded on insert.
	`CREATE TABLE events (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		time INTEGER NOT NULL,             -- unix ns
		type TEXT NOT NULL,                -- container | image | …
		action TEXT NOT NULL,              -- create, start, die, …
		actor TEXT NOT NULL,               -- the container's or image's ID (or name)
		attributes TEXT NOT NULL DEFAULT '{}' -- JSON object: name, image, exitCode, …
	)`,
	`CREATE INDEX events_time ON events(time)`,
	// The build cache (internal/build owns the queries): a build step's
	// inputs (key) and the layer it made. Its blobs and snapshots are GC
	// roots as an image's are.
	`CREATE TABLE build_cache (
		key TEXT PRIMARY KEY,              -- digest of the step's inputs
		blob TEXT NOT NULL DEFAULT '',     -- the compressed layer's digest ('' when the step changed nothing)
		media_type TEXT NOT NULL DEFAULT '',
		size INTEGER NOT NULL DEFAULT 0,   -- of the blob
		diff_id TEXT NOT NULL DEFAULT '',
		chain_id TEXT NOT NULL DEFAULT '', -- the snapshot of the tree after the step
		created INTEGER NOT NULL,          -- unix ns: when the layer was made (its history time)
		last_used INTEGER NOT NULL         -- unix ns
	)`,
	`CREATE INDEX build_cache_blob ON build_cache(blob)`,
	`CREATE INDEX build_cache_chain ON build_cache(chain_id)`,
	// Named and anonymous volumes (internal/volume owns the queries);
	// their data is in volumes/<name>/_data.
	`CREATE TABLE volumes (
		name TEXT PRIMARY KEY,
		driver TEXT NOT NULL,              -- local
		labels TEXT NOT NULL DEFAULT 'null',  -- JSON object, or null as created without
		options TEXT NOT NULL DEFAULT 'null', -- JSON object: the driver's -o options
		created INTEGER NOT NULL           -- unix ns
	)`,
	// Networks (internal/network owns the queries): the default bridge
	// a root was first set up with.
	`CREATE TABLE networks (
		name TEXT PRIMARY KEY,             -- "bridge"
		bridge TEXT NOT NULL,              -- the Linux bridge, berth0
		subnet TEXT NOT NULL,              -- 172.30.0.0/16
		gateway TEXT NOT NULL,             -- the bridge's address
		created INTEGER NOT NULL           -- unix ns
	)`,
	// A container's address while its network is set up (from its start
	// to its teardown). The UNIQUE constraint is what makes two
	// concurrent starts never share an address; no foreign key to
	// containers, so that a row outlives a crash in rm and is collected.
	`CREATE TABLE endpoints (
		container_id TEXT PRIMARY KEY,
		network TEXT NOT NULL REFERENCES networks(name),
		ip TEXT NOT NULL,
		mac TEXT NOT NULL,
		UNIQUE (network, ip)
	)`,
	// Host ports published to a container's endpoint. host_ip is
	// 0.0.0.0 for every address.
	`CREATE TABLE published_ports (
		container_id TEXT NOT NULL REFERENCES endpoints(container_id) ON DELETE CASCADE,
		proto TEXT NOT NULL,
		host_ip TEXT NOT NULL,
		host_port INTEGER NOT NULL,
		container_port INTEGER NOT NULL,
		PRIMARY KEY (proto, host_ip, host_port)
	)`,
	`CREATE INDEX published_ports_container ON published_ports(container_id)`,
	// User-defined networks (network create): their ID (64 hex
	// characters; '' for the default bridge) and the rest of their
	// settings as JSON (driver, ip range, internal, labels, options).
	`ALTER TABLE networks ADD COLUMN id TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE networks ADD COLUMN config TEXT NOT NULL DEFAULT '{}'`,
	// A container may be on several networks (network connect): its
	// endpoints are keyed by (container, network), each with its
	// interface in the container (eth0, eth1, …) and its network-scoped
	// aliases (a JSON array, for the DNS resolver). Published ports
	// belong to one endpoint. SQLite can't change a primary key: the two
	// tables are rebuilt and renamed (the foreign key follows the rename).
	`CREATE TABLE endpoints_v2 (
		container_id TEXT NOT NULL,
		network TEXT NOT NULL REFERENCES networks(name),
		ip TEXT NOT NULL,
		mac TEXT NOT NULL,
		ifname TEXT NOT NULL DEFAULT 'eth0',
		aliases TEXT NOT NULL DEFAULT '[]',
		PRIMARY KEY (container_id, network),
		UNIQUE (network, ip)
	)`,
	`INSERT INTO endpoints_v2 (container_id, network, ip, mac) SELECT container_id, network, ip, mac FROM endpoints`,
	`CREATE TABLE published_ports_v2 (
		container_id TEXT NOT NULL,
		network TEXT NOT NULL,
		proto TEXT NOT NULL,
		host_ip TEXT NOT NULL,
		host_port INTEGER NOT NULL,
		container_port INTEGER NOT NULL,
		PRIMARY KEY (proto, host_ip, host_port),
		FOREIGN KEY (container_id, network) REFERENCES endpoints_v2(container_id, network) ON DELETE CASCADE
	)`,
	`INSERT INTO published_ports_v2 (container_id, network, proto, host_ip, host_port, container_port)
		SELECT p.container_id, e.network, p.proto, p.host_ip, p.host_port, p.container_port
		FROM published_ports p JOIN endpoints e ON e.container_id = p.container_id`,
	`DROP TABLE published_ports`,
	`DROP TABLE endpoints`,
	`ALTER TABLE endpoints_v2 RENAME TO endpoints`,
	`ALTER TABLE published_ports_v2 RENAME TO published_ports`,
	`CREATE INDEX published_ports_container ON published_ports(container_id)`,
	// IPv6 on user-defined networks (network create --ipv6): a network's
	// IPv6 subnet and gateway ('' without), an endpoint's IPv6 address
	// ('' without), unique per network as the IPv4 one.
	`ALTER TABLE networks ADD COLUMN subnet6 TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE networks ADD COLUMN gateway6 TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE endpoints ADD COLUMN ip6 TEXT NOT NULL DEFAULT ''`,
	`CREATE UNIQUE INDEX endpoints_ip6 ON endpoints(network, ip6) WHERE ip6 != ''`,
	// What a build cache entry is, as `builder du` and its filters show
	// it: the step's description and how many builds used it.
	`ALTER TABLE build_cache ADD COLUMN description TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE build_cache ADD COLUMN usage_count INTEGER NOT NULL DEFAULT 1`,
}

// Open opens (creating and migrating) the database at path.
func Open(path string) (*DB, error) {
	// busy_timeout makes writers queue behind each other instead of
	// failing; _txlock=immediate takes the write lock at BEGIN, so two
	// read-then-write transactions can't deadlock on the upgrade.
	dsn := "file:" + path + "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	d := &DB{db: db}
	if err := d.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return d, nil
}

func (d *DB) migrate() error {
	// Most opens find the schema current: a read says so without taking
	// the write lock.
	var v int
	if err := d.db.QueryRow(`PRAGMA user_version`).Scan(&v); err == nil && v == len(schema) {
		return nil
	}
	return d.Update(context.Background(), func(_ context.Context, tx *sql.Tx) error {
		var v int
		if err := tx.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
			return err
		}
		if v > len(schema) {
			return fmt.Errorf("database schema %d is newer than this berth (%d): upgrade berth", v, len(schema))
		}
		for i := v; i < len(schema); i++ {
			if _, err := tx.Exec(schema[i]); err != nil {
				return fmt.Errorf("schema step %d: %w", i, err)
			}
		}
		if v != len(schema) {
			if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, len(schema))); err != nil {
				return err
			}
		}
		return nil
	})
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Update runs fn in a write transaction, committed when fn returns nil.
// The ctx fn gets carries the transaction: an Update or View called with
// it joins the transaction instead of waiting for the write lock (which
// the caller holds). SQLITE_BUSY past the busy timeout is retried.
func (d *DB) Update(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if t, ok := ctx.Value(txKey{}).(*txState); ok {
		return fn(ctx, t.tx)
	}
	for attempt := 0; ; attempt++ {
		err := d.tx(ctx, fn)
		if err == nil || !isBusy(err) || attempt == 5 {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
	}
}

type txKey struct{}

type txState struct {
	tx    *sql.Tx
	after []func()
}

// AfterCommit runs fn once the transaction ctx carries has committed (at
// once when there is none): file removals that must not happen unless the
// records that point at the files are gone for good.
func AfterCommit(ctx context.Context, fn func()) {
	if t, ok := ctx.Value(txKey{}).(*txState); ok {
		t.after = append(t.after, fn)
		return
	}
	fn()
}

func (d *DB) tx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("metadata: begin: %w", err)
	}
	t := &txState{tx: tx}
	if err := fn(context.WithValue(ctx, txKey{}, t), tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("metadata: commit: %w", err)
	}
	for _, f := range t.after {
		f()
	}
	return nil
}

// View runs fn with a read-only view of the store (inside the transaction
// ctx carries, if any).
func (d *DB) View(ctx context.Context, fn func(q Querier) error) error {
	if t, ok := ctx.Value(txKey{}).(*txState); ok {
		return fn(t.tx)
	}
	return fn(d.db)
}

// Querier is what readers need: *sql.DB and *sql.Tx both are.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Strings runs query, which selects one column of text, through View
// and returns its rows.
func (d *DB) Strings(ctx context.Context, query string, args ...any) ([]string, error) {
	var out []string
	err := d.View(ctx, func(q Querier) error {
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				return err
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	return out, err
}

// Setting returns a settings value ("" when unset).
func (d *DB) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := d.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetSettingOnce records name=value unless name is set, and returns the
// value in effect.
func (d *DB) SetSettingOnce(ctx context.Context, name, value string) (string, error) {
	err := d.Update(ctx, func(_ context.Context, tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)`, name, value)
		return err
	})
	if err != nil {
		return "", err
	}
	return d.Setting(ctx, name)
}

func isBusy(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "database is locked")
}
