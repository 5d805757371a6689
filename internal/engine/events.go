package engine

import (
	"context"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/store"
)

// Event is one entry of the events log (`berth events`). berth has no
// daemon to broadcast events, so every use case records them in meta.db
// as it happens, and readers poll the log.
type Event = store.Event

// emit records ev (in the transaction ctx carries, if any). Recording an
// event never fails the use case that emits it: the event is lost, not
// the work.
func (e *Engine) emit(ctx context.Context, ev Event) {
	e.db.AddEvent(ctx, ev)
}

// containerEvent is Docker's event of container c: its ID as the actor,
// its name and image (as typed) and attrs as the attributes.
func containerEvent(c *container.Container, action string, attrs map[string]string) Event {
	a := map[string]string{"name": c.Name, "image": c.Image}
	for k, v := range attrs {
		a[k] = v
	}
	return Event{Type: "container", Action: action, Actor: c.ID, Attributes: a}
}

// killEvent is Docker's "kill" event, with the signal's number.
func killEvent(c *container.Container, sig unix.Signal) Event {
	return containerEvent(c, "kill", map[string]string{"signal": strconv.Itoa(int(sig))})
}

// EventsOptions select what Events reads.
type EventsOptions struct {
	// Since and Until bound the events' times; zero means no bound. Without
	// Since, only events recorded from now on are read.
	Since, Until time.Time
	// Follow keeps reading new events as they are recorded, until ctx is
	// done or Until has passed.
	Follow bool
}

// eventsPoll is how often a follower looks for new events.
const eventsPoll = 100 * time.Millisecond

// Events calls fn with each event o selects, oldest first, and with
// o.Follow each new one as it is recorded.
func (e *Engine) Events(ctx context.Context, o EventsOptions, fn func(Event) error) error {
	q := store.EventQuery{Since: o.Since, Until: o.Until}
	if o.Since.IsZero() {
		last, err := e.db.LastEventSeq(ctx)
		if err != nil {
			return err
		}
		q.After = last
	}
	for {
		evs, err := e.db.Events(ctx, q)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, ev := range evs {
			if err := fn(ev); err != nil {
				return err
			}
			q.After = ev.Seq
		}
		if !o.Follow || (!o.Until.IsZero() && time.Now().After(o.Until)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(eventsPoll):
		}
	}
}
