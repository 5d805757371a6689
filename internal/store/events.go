package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// The events log is kept here rather than with one owner because every
// kind of record writes to it, often in the transaction that changes the
// record (a container's exit and its "die" event are one commit), and
// packages such as container may import nothing but store.

// Event is one entry of the events log, as Docker's events.Message says
// it: what (Type, Action) happened to whom (Actor, Attributes) and when.
type Event struct {
	Seq        int64 // order of commit, set by AddEvent
	Time       time.Time
	Type       string
	Action     string
	Actor      string
	Attributes map[string]string
}

// The log is bounded: an insert drops events older than MaxEventAge and
// all but the newest MaxEvents, whichever leaves fewer.
const (
	MaxEvents   = 10000
	MaxEventAge = 7 * 24 * time.Hour
)

// AddEvent appends ev to the log (in the transaction ctx carries, if
// any), stamped now when ev.Time is zero.
func (d *DB) AddEvent(ctx context.Context, ev Event) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	attrs, err := json.Marshal(ev.Attributes)
	if err != nil {
		return err
	}
	if ev.Attributes == nil {
		attrs = []byte("{}")
	}
	return d.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO events (time, type, action, actor, attributes) VALUES (?, ?, ?, ?, ?)`,
			ev.Time.UnixNano(), ev.Type, ev.Action, ev.Actor, string(attrs))
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		seq, _ := res.LastInsertId()
		_, err = tx.Exec(`DELETE FROM events WHERE seq <= ? OR time < ?`, seq-MaxEvents, time.Now().Add(-MaxEventAge).UnixNano())
		return err
	})
}

// EventQuery selects events: those after seq After with Since <= time
// (<= Until), zero times meaning no bound, in commit order.
type EventQuery struct {
	After        int64
	Since, Until time.Time
}

// Events returns the events q selects.
func (d *DB) Events(ctx context.Context, q EventQuery) ([]Event, error) {
	query := `SELECT seq, time, type, action, actor, attributes FROM events WHERE seq > ?`
	args := []any{q.After}
	if !q.Since.IsZero() {
		query += ` AND time >= ?`
		args = append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		query += ` AND time <= ?`
		args = append(args, q.Until.UnixNano())
	}
	var out []Event
	err := d.View(ctx, func(qr Querier) error {
		rows, err := qr.QueryContext(ctx, query+` ORDER BY seq`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ev Event
			var ns int64
			var attrs string
			if err := rows.Scan(&ev.Seq, &ns, &ev.Type, &ev.Action, &ev.Actor, &attrs); err != nil {
				return err
			}
			ev.Time = time.Unix(0, ns)
			json.Unmarshal([]byte(attrs), &ev.Attributes)
			out = append(out, ev)
		}
		return rows.Err()
	})
	return out, err
}

// LastEventSeq is the seq of the newest event (0 for none).
func (d *DB) LastEventSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	err := d.View(ctx, func(q Querier) error {
		return q.QueryRowContext(ctx, `SELECT max(seq) FROM events`).Scan(&seq)
	})
	return seq.Int64, err
}
