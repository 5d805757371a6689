package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	volumetypes "github.com/moby/moby/api/types/volume"

	"github.com/berth-dev/berth/internal/volume"
)

// VolumeCreateOptions are `volume create`'s flags.
type VolumeCreateOptions = volume.CreateOptions

// volumeEvent is Docker's event of a volume: its name as the actor.
func volumeEvent(name, action string, attrs map[string]string) Event {
	a := map[string]string{"driver": volume.DriverLocal}
	for k, v := range attrs {
		a[k] = v
	}
	return Event{Type: "volume", Action: action, Actor: name, Attributes: a}
}

// CreateVolume creates a volume, or returns the one of that name.
func (e *Engine) CreateVolume(ctx context.Context, o VolumeCreateOptions) (*volumetypes.Volume, error) {
	v, created, err := e.volumes.Create(ctx, o)
	if err != nil {
		return nil, err
	}
	if created {
		e.emit(ctx, volumeEvent(v.Name, "create", nil))
	}
	return e.volumeType(v), nil
}

// volumeType is a volume as the Engine API shows it.
func (e *Engine) volumeType(v *volume.Volume) *volumetypes.Volume {
	return &volumetypes.Volume{
		CreatedAt: v.Created.Truncate(time.Second).Format(time.RFC3339), Driver: v.Driver,
		Labels: v.Labels, Mountpoint: e.volumes.Mountpoint(v.Name), Name: v.Name,
		Options: v.Options, Scope: "local",
	}
}

// InspectVolume is `volume inspect`.
func (e *Engine) InspectVolume(ctx context.Context, name string) (*volumetypes.Volume, error) {
	v, err := e.volumes.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return e.volumeType(v), nil
}

// volumeInUse is volume.RemoveOptions.InUse: the containers that mount
// the volume, whatever their state (Docker refuses to remove a volume a
// stopped container still refers to).
func (e *Engine) volumeInUse(ctx context.Context, name string) ([]string, error) {
	return e.containers.UsingVolume(ctx, name)
}

// RemoveVolume is `volume rm`: refused while a container uses the volume;
// with force, a missing volume is no error.
func (e *Engine) RemoveVolume(ctx context.Context, name string, force bool) error {
	err := e.volumes.Remove(ctx, name, volume.RemoveOptions{InUse: e.volumeInUse})
	if errors.Is(err, volume.ErrNotFound) && force {
		return nil
	}
	if err == nil {
		e.emit(ctx, volumeEvent(name, "destroy", nil))
	}
	return err
}

// ListVolumes is `volume ls`: the volumes that pass the dangling, driver,
// label, label! and name filters, by name.
func (e *Engine) ListVolumes(ctx context.Context, f Filters) ([]*volumetypes.Volume, error) {
	if err := f.validate("dangling", "driver", "label", "label!", "name"); err != nil {
		return nil, err
	}
	var dangling *bool
	for _, v := range f["dangling"] {
		var d bool
		switch strings.ToLower(v) {
		case "true", "1":
			d = true
		case "false", "0":
		default:
			return nil, fmt.Errorf("invalid filter 'dangling=%s'", v)
		}
		dangling = &d
	}
	vs, err := e.volumes.List(ctx)
	if err != nil {
		return nil, err
	}
	out := []*volumetypes.Volume{}
	for _, v := range vs {
		if !f.match("name", v.Name) || !f.match("driver", v.Driver) || !f.matchLabels("label", v.Labels) {
			continue
		}
		if len(f["label!"]) > 0 && f.matchLabels("label!", v.Labels) {
			continue
		}
		if dangling != nil {
			ids, err := e.volumeInUse(ctx, v.Name)
			if err != nil {
				return nil, err
			}
			if (len(ids) == 0) != *dangling {
				continue
			}
		}
		out = append(out, e.volumeType(v))
	}
	return out, nil
}

// PruneVolumes is `volume prune`: it removes the volumes no container
// uses that pass the label and label! filters: only anonymous ones unless
// the filter all=true (-a), as Docker 23 and later. It returns their
// names and the bytes they held.
func (e *Engine) PruneVolumes(ctx context.Context, f Filters) ([]string, int64, error) {
	if err := f.validate("all", "label", "label!"); err != nil {
		return nil, 0, err
	}
	all := false
	for _, v := range f["all"] {
		switch strings.ToLower(v) {
		case "true", "1":
			all = true
		case "false", "0":
		default:
			return nil, 0, fmt.Errorf("invalid filter 'all=%s': invalid value for all (must be true or false)", v)
		}
	}
	vs, err := e.volumes.List(ctx)
	if err != nil {
		return nil, 0, err
	}
	var deleted []string
	var reclaimed int64
	for _, v := range vs {
		if !all && !v.Anonymous() {
			continue
		}
		if !f.matchLabels("label", v.Labels) || len(f["label!"]) > 0 && f.matchLabels("label!", v.Labels) {
			continue
		}
		size := e.volumes.Size(v)
		if err := e.volumes.Remove(ctx, v.Name, volume.RemoveOptions{InUse: e.volumeInUse}); err != nil {
			continue // in use, or removed by someone else meanwhile
		}
		e.emit(ctx, volumeEvent(v.Name, "destroy", nil))
		deleted = append(deleted, v.Name)
		reclaimed += size
	}
	return deleted, reclaimed, nil
}

// VolumeUsage is `system df`'s Local Volumes row: how many volumes, how
// many containers use, their size and the size of those none uses.
type VolumeUsage struct {
	Total, Active     int
	Size, Reclaimable int64
}

// VolumesDiskUsage adds up the volumes for `system df`.
func (e *Engine) VolumesDiskUsage(ctx context.Context) (VolumeUsage, error) {
	vs, err := e.volumes.List(ctx)
	if err != nil {
		return VolumeUsage{}, err
	}
	u := VolumeUsage{Total: len(vs)}
	for _, v := range vs {
		size := e.volumes.Size(v)
		u.Size += size
		ids, err := e.volumeInUse(ctx, v.Name)
		if err != nil {
			return VolumeUsage{}, err
		}
		if len(ids) > 0 {
			u.Active++
		} else {
			u.Reclaimable += size
		}
	}
	return u, nil
}
