package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestEventsLog: events come back in commit order with their attributes,
// bounded by time; the log keeps the newest MaxEvents and drops what is
// older than MaxEventAge.
func TestEventsLog(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	base := time.Now()
	for i := 0; i < 3; i++ {
		if err := db.AddEvent(ctx, Event{Time: base.Add(time.Duration(i) * time.Second), Type: "container", Action: fmt.Sprint("a", i), Actor: "x",
			Attributes: map[string]string{"name": "n"}}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := db.Events(ctx, EventQuery{Since: base.Add(time.Second), Until: base.Add(2 * time.Second)})
	if err != nil || len(evs) != 2 || evs[0].Action != "a1" || evs[1].Action != "a2" || evs[0].Attributes["name"] != "n" {
		t.Fatalf("Events: %+v, %v", evs, err)
	}
	if evs, _ := db.Events(ctx, EventQuery{After: evs[0].Seq}); len(evs) != 1 || evs[0].Action != "a2" {
		t.Errorf("After: %+v", evs)
	}
	// Too old: dropped on the next insert.
	db.AddEvent(ctx, Event{Time: base.Add(-MaxEventAge - time.Hour), Type: "image", Action: "old", Actor: "y"})
	if evs, _ := db.Events(ctx, EventQuery{}); len(evs) != 3 {
		t.Errorf("an event older than %v was kept: %+v", MaxEventAge, evs)
	}
	// Too many: fill past the bound in one transaction, then one insert.
	db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for i := 0; i < MaxEvents; i++ {
			tx.Exec(`INSERT INTO events (time, type, action, actor) VALUES (?, 'container', 'fill', 'z')`, base.UnixNano())
		}
		return nil
	})
	db.AddEvent(ctx, Event{Type: "container", Action: "last", Actor: "z"})
	evs, _ = db.Events(ctx, EventQuery{})
	if len(evs) != MaxEvents || evs[len(evs)-1].Action != "last" {
		t.Errorf("%d events kept, the last %q; want %d ending with last", len(evs), evs[len(evs)-1].Action, MaxEvents)
	}
	if seq, _ := db.LastEventSeq(ctx); seq != evs[len(evs)-1].Seq {
		t.Errorf("LastEventSeq %d", seq)
	}
}
