// Package volume is berth's local volume driver: volume records in the
// metadata store (name, driver, labels, the driver's options) and their
// data under <root>/volumes/<name>/_data, as Docker's local driver keeps
// them. A volume with options (`-o type=tmpfs`, `-o type=none,o=bind,
// device=PATH`, any other filesystem) is mounted when a container uses it.
//
// It knows nothing of containers: whether a volume is in use is asked of
// the caller (RemoveOptions.InUse), inside the transaction that removes
// it. It imports only store and archive of berth, and must never import
// cli, engine or runtime.
package volume

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/docker/go-units"

	"github.com/berth-dev/berth/internal/store"
)

// DriverLocal is the one driver: Docker's "local".
const DriverLocal = "local"

// AnonymousLabel marks the volumes made for one container (an image's
// VOLUME, `-v /path`), as Docker 23 and later do: `volume prune` without
// --all removes only these.
const AnonymousLabel = "com.docker.volume.anonymous"

var (
	// ErrNotFound is an unknown volume (wrapped: "get NAME: no such volume").
	ErrNotFound = errors.New("no such volume")
	// ErrInUse is a volume that containers use (see InUseError).
	ErrInUse = errors.New("volume is in use")
	// ErrInvalid is the class of bad names and options (Docker's
	// InvalidParameter).
	ErrInvalid = errors.New("invalid volume configuration")
)

type invalid struct{ error }

func (e invalid) Is(target error) bool { return target == ErrInvalid }
func (e invalid) Unwrap() error        { return e.error }

func invalidf(format string, args ...any) error { return invalid{fmt.Errorf(format, args...)} }

// InUseError is Docker's "remove NAME: volume is in use - [ID, …]".
type InUseError struct {
	Name       string
	Containers []string
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("remove %s: %v - [%s]", e.Name, ErrInUse, strings.Join(e.Containers, ", "))
}

func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// Volume is one volume record.
type Volume struct {
	Name    string
	Driver  string
	Labels  map[string]string // nil when created without (Docker shows null)
	Options map[string]string // the driver's options (-o), nil when none
	Created time.Time
}

// Anonymous reports whether the volume was made for one container.
func (v *Volume) Anonymous() bool {
	_, ok := v.Labels[AnonymousLabel]
	return ok
}

// Store reads and writes the volumes of one berth root.
type Store struct {
	db  *store.DB
	dir string // <root>/volumes
}

// New returns the volumes of db, with their data under dir.
func New(db *store.DB, dir string) *Store { return &Store{db: db, dir: dir} }

// Mountpoint is where the volume's data is on the host, as Docker's
// inspect shows it: <root>/volumes/<name>/_data.
func (s *Store) Mountpoint(name string) string { return filepath.Join(s.dir, name, "_data") }

// CreateOptions are `volume create`'s flags.
type CreateOptions struct {
	Name string // "" for a random 64-hex name (and an anonymous volume)
	// Anonymous labels the volume with AnonymousLabel: made for one
	// container.
	Anonymous bool
	Driver    string // "" for local
	Labels    map[string]string
	Options   map[string]string
}

var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`) })

// CheckName refuses a name the local driver refuses, with Docker's message.
func CheckName(name string) error {
	if len(name) == 1 {
		return invalidf("create %s: volume name is too short, names should be at least two alphanumeric characters", name)
	}
	if !validName().MatchString(name) {
		return invalidf("create %s: %q includes invalid characters for a local volume name, only %q are allowed. If you intended to pass a host directory, use absolute path",
			name, name, "[a-zA-Z0-9][a-zA-Z0-9_.-]")
	}
	return nil
}

// CheckDriver refuses every driver but local, as dockerd without plugins.
func CheckDriver(driver string) error {
	if driver != "" && driver != DriverLocal {
		return invalidf("error looking up volume plugin %s: plugin %q not found", driver, driver)
	}
	return nil
}

// checkOptions is the local driver's validateOpts, its messages and its
// order made deterministic.
func checkOptions(opts map[string]string) error {
	for k := range opts {
		switch k {
		case "type", "o", "device", "size":
		default:
			return invalidf("invalid option: %q", k)
		}
	}
	if v, ok := opts["size"]; ok {
		size, err := units.RAMInBytes(v)
		if err != nil {
			return invalid{err}
		}
		if size > 0 {
			return invalidf("quota size requested but no quota support")
		}
	}
	for _, req := range []struct{ opt, needs string }{
		{"device", "type"}, {"type", "device"}, {"o", "device"}, {"o", "type"},
	} {
		if _, ok := opts[req.opt]; ok {
			if _, ok := opts[req.needs]; !ok {
				return invalidf("missing required option: %q", req.needs)
			}
		}
	}
	return nil
}

// Create records a volume and makes its directory; a name that exists is
// returned as it is (created false), as Docker's `volume create` does.
func (s *Store) Create(ctx context.Context, o CreateOptions) (v *Volume, created bool, err error) {
	labels := o.Labels
	if o.Name == "" {
		o.Name = randomName()
		o.Anonymous = true
	} else if err := CheckName(o.Name); err != nil {
		return nil, false, err
	}
	if o.Anonymous {
		labels = map[string]string{AnonymousLabel: ""}
		for k, val := range o.Labels {
			labels[k] = val
		}
	}
	if err := CheckDriver(o.Driver); err != nil {
		return nil, false, fmt.Errorf("create %s: %w", o.Name, err)
	}
	if err := checkOptions(o.Options); err != nil {
		return nil, false, fmt.Errorf("create %s: %w", o.Name, err)
	}
	v = &Volume{Name: o.Name, Driver: DriverLocal, Labels: labels, Options: o.Options, Created: time.Now()}
	err = s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		old, err := get(ctx, tx, o.Name)
		if err == nil {
			v = old
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		l, _ := json.Marshal(v.Labels)
		op, _ := json.Marshal(v.Options)
		if _, err := tx.Exec(`INSERT INTO volumes (name, driver, labels, options, created) VALUES (?, ?, ?, ?, ?)`,
			v.Name, v.Driver, string(l), string(op), v.Created.UnixNano()); err != nil {
			return fmt.Errorf("volume record: %w", err)
		}
		// The directory within the transaction: a failure leaves no
		// record. One left by a removal cut short goes first.
		if err := s.removeDir(v.Name); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(s.dir, v.Name), 0o701); err != nil {
			return err
		}
		if err := os.MkdirAll(s.Mountpoint(v.Name), 0o755); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return v, created, nil
}

func randomName() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return fmt.Sprintf("%x", b)
}

// Get returns volume name.
func (s *Store) Get(ctx context.Context, name string) (*Volume, error) {
	var v *Volume
	err := s.db.View(ctx, func(q store.Querier) error {
		var err error
		v, err = get(ctx, q, name)
		return err
	})
	return v, err
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const columns = `name, driver, labels, options, created`

func scan(row interface{ Scan(...any) error }) (*Volume, error) {
	var v Volume
	var labels, opts string
	var created int64
	if err := row.Scan(&v.Name, &v.Driver, &labels, &opts, &created); err != nil {
		return nil, err
	}
	json.Unmarshal([]byte(labels), &v.Labels)
	json.Unmarshal([]byte(opts), &v.Options)
	v.Created = time.Unix(0, created)
	return &v, nil
}

func get(ctx context.Context, q rowQuerier, name string) (*Volume, error) {
	v, err := scan(q.QueryRowContext(ctx, `SELECT `+columns+` FROM volumes WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get %s: %w", name, ErrNotFound)
	}
	return v, err
}

// List returns every volume, by name.
func (s *Store) List(ctx context.Context) ([]*Volume, error) {
	var out []*Volume
	err := s.db.View(ctx, func(q store.Querier) error {
		rows, err := q.QueryContext(ctx, `SELECT `+columns+` FROM volumes ORDER BY name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	return out, err
}

// RemoveOptions tune Remove.
type RemoveOptions struct {
	// InUse returns the IDs of the containers that use the volume. It is
	// called inside the transaction that removes the record (its ctx
	// carries it), so a container can't take the volume meanwhile.
	InUse func(ctx context.Context, name string) ([]string, error)
}

// Remove removes volume name: its record, then (once that is committed)
// its directory, after unmounting what its driver mounted there. A volume
// in use is an *InUseError and nothing changes.
func (s *Store) Remove(ctx context.Context, name string, o RemoveOptions) error {
	return s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := get(ctx, tx, name); err != nil {
			return err
		}
		if o.InUse != nil {
			ids, err := o.InUse(ctx, name)
			if err != nil {
				return err
			}
			if len(ids) > 0 {
				return &InUseError{Name: name, Containers: ids}
			}
		}
		// Unmounted inside the transaction: a mount that won't go keeps
		// the record (and the data) for a later try. The files go once
		// the record is gone for good.
		if err := s.Release(name); err != nil {
			return fmt.Errorf("remove %s: %w", name, err)
		}
		if _, err := tx.Exec(`DELETE FROM volumes WHERE name = ?`, name); err != nil {
			return err
		}
		store.AfterCommit(ctx, func() { s.removeDir(name) })
		return nil
	})
}
