package network

import (
	"context"
	"errors"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// Docker's network events (its LogNetworkEventWithAttributes): the
// network's ID as the actor, its name and driver type as attributes,
// and for connect and disconnect the container's full ID. Docker emits
// connect for each network of a container as it starts (the predefined
// host and none included) and disconnect as it dies, before the
// container's own "start" and "die"; on a restart by the policy both
// again. berth's endpoints survive such a restart, but the events are
// Docker's all the same, so that whoever follows them sees what they
// would see with Docker.

// Event actions of a network.
const (
	EventCreate     = "create"
	EventDestroy    = "destroy"
	EventConnect    = "connect"
	EventDisconnect = "disconnect"
	EventPrune      = "prune"
)

// Type is the network's driver as Docker's events and inspect name it:
// bridge, host, or null for none.
func (n Network) Type() string {
	switch n.Name {
	case ModeHost:
		return "host"
	case ModeNone:
		return "null"
	}
	if n.Settings.Driver != "" {
		return n.Settings.Driver
	}
	return "bridge"
}

// Event is Docker's event action of network n; containerID ("" for
// none) is the container connected or disconnected.
func (n Network) Event(action, containerID string) store.Event {
	attrs := map[string]string{"name": n.Name, "type": n.Type()}
	if containerID != "" {
		attrs["container"] = containerID
	}
	id := n.ID
	if id == "" {
		id = PredefinedID(n.Name)
	}
	return store.Event{Type: "network", Action: action, Actor: id, Attributes: attrs}
}

// ContainerEvents records Docker's event action (connect or disconnect)
// of container id on each of networks (names: the predefined ones
// included) as of at, in the transaction ctx carries if any. A network
// that is gone has none.
func (s *Store) ContainerEvents(ctx context.Context, id string, networks []string, action string, at time.Time) error {
	for _, name := range networks {
		n, err := s.Network(ctx, name)
		var nf ErrNotFound
		switch {
		case errors.As(err, &nf) && (name == BridgeNetwork || name == ModeHost || name == ModeNone):
			n = &Network{Name: name}
		case errors.As(err, &nf):
			continue
		case err != nil:
			return err
		}
		ev := n.Event(action, id)
		ev.Time = at
		if err := s.db.AddEvent(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}
