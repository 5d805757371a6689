package container

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

func newStore(t *testing.T) *Store {
	db, err := store.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(db)
}

func TestInsertGetAndNames(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := &Container{ID: "abc" + strings.Repeat("0", 61), Name: "web", ImageID: "sha256:x", Image: "busybox", Created: time.Now()}
	if err := s.Insert(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := &Container{ID: "abd" + strings.Repeat("0", 61), ImageID: "sha256:x", Image: "busybox", Created: time.Now()}
	if err := s.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.Name, "_") {
		t.Errorf("generated name %q", b.Name)
	}
	err := s.Insert(ctx, &Container{ID: NewID(), Name: "web", Created: time.Now()})
	var nc *NameConflictError
	if !errors.As(err, &nc) || !errors.Is(err, ErrNameInUse) || nc.ID != a.ID {
		t.Fatalf("a taken name: %v", err)
	}
	for ref, want := range map[string]string{a.ID: a.ID, "web": a.ID, "/web": a.ID, "abc": a.ID, b.Name: b.ID, "abd0": b.ID} {
		c, err := s.Get(ctx, ref)
		if err != nil || c.ID != want {
			t.Errorf("Get(%q) = %v, %v; want %s", ref, c, err, want)
		}
	}
	if _, err := s.Get(ctx, "ab"); err == nil || !strings.Contains(err.Error(), "multiple IDs") {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	if used, _ := s.UsesImage(ctx, "sha256:x"); !used {
		t.Error("UsesImage: false")
	}
}

// MarkDead never overwrites an exit the shim recorded.
func TestMarkDead(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	c := &Container{ID: NewID(), Created: time.Now()}
	if err := s.Insert(ctx, c); err != nil {
		t.Fatal(err)
	}
	s.SetRunning(ctx, c.ID, 10, 9, time.Now(), 0)
	s.SetExited(ctx, c.ID, 3, time.Now(), false, false)
	if changed, err := s.MarkDead(ctx, c.ID, 137, time.Now()); err != nil || changed {
		t.Fatalf("MarkDead after a recorded exit: %v %v", changed, err)
	}
	s.SetRunning(ctx, c.ID, 11, 9, time.Now(), 0)
	if changed, _ := s.MarkDead(ctx, c.ID, 137, time.Now()); !changed {
		t.Fatal("MarkDead of a running container changed nothing")
	}
	got, _ := s.Get(ctx, c.ID)
	if got.Status != Exited || got.ExitCode != 137 || got.Pid != 0 || got.Finished.IsZero() {
		t.Errorf("after MarkDead: %+v", got)
	}
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{"web": true, "/web": true, "a": false, "a/b": false, "_x": false, "x.y-z_1": true} {
		if _, err := CheckName(name); (err == nil) != ok {
			t.Errorf("CheckName(%q): %v", name, err)
		}
	}
}

// The state the shim records: restarts counted, an OOM kill and a manual
// stop kept until a user starts the container again.
func TestState(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	c := &Container{ID: NewID(), Created: time.Now()}
	if err := s.Insert(ctx, c); err != nil {
		t.Fatal(err)
	}
	get := func() *Container {
		t.Helper()
		got, err := s.Get(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.SetRunning(ctx, c.ID, 10, 9, time.Now(), 0))
	must(s.SetExited(ctx, c.ID, 137, time.Now(), true, true))
	if got := get(); got.Status != Restarting || !got.State.OOMKilled || got.ShimPid != 9 || got.ExitCode != 137 {
		t.Fatalf("after an OOM kill with a restart due: %+v", got)
	}
	must(s.SetRunning(ctx, c.ID, 11, 9, time.Now(), 1))
	if got := get(); got.Status != Running || got.State.OOMKilled || got.State.RestartCount != 1 {
		t.Fatalf("after the restart: %+v", got)
	}
	must(s.SetManuallyStopped(ctx, c.ID))
	must(s.SetExited(ctx, c.ID, 0, time.Now(), false, false))
	if got := get(); got.Status != Exited || !got.State.ManuallyStopped || got.ShimPid != 0 {
		t.Fatalf("after a stop: %+v", got)
	}
	must(s.SetRunning(ctx, c.ID, 12, 8, time.Now(), 2))
	if got := get(); !got.State.ManuallyStopped || got.State.RestartCount != 2 {
		t.Fatalf("a restart by the policy cleared the manual stop: %+v", got)
	}
	must(s.SetRunning(ctx, c.ID, 13, 8, time.Now(), 0))
	if got := get(); got.State != (State{}) {
		t.Fatalf("a start by a user left %+v", got.State)
	}
}

// TestSetNameAndPaused: a rename to a taken name is Docker's conflict and
// changes nothing; paused is recorded only for a running container and
// cleared by any change of status. (The names are no hex: "a" could be
// an ID prefix.)
func TestSetNameAndPaused(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := &Container{ID: NewID(), Name: "web", Created: time.Now()}
	b := &Container{ID: NewID(), Name: "db", Created: time.Now()}
	for _, c := range []*Container{a, b} {
		if err := s.Insert(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	err := s.SetName(ctx, a.ID, "db")
	var nc *NameConflictError
	if !errors.As(err, &nc) || nc.ID != b.ID || nc.Name != "db" {
		t.Fatalf("rename to a taken name: %v", err)
	}
	if err := s.SetName(ctx, a.ID, "www"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "www"); err != nil || got.ID != a.ID {
		t.Fatalf("get by the new name: %v, %v", got, err)
	}
	if _, err := s.Get(ctx, "web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the old name still resolves: %v", err)
	}

	if ok, err := s.SetPaused(ctx, a.ID, true); ok || err != nil {
		t.Errorf("paused a created container: %v, %v", ok, err)
	}
	if err := s.SetRunning(ctx, a.ID, 10, 9, time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SetPaused(ctx, a.ID, true); !ok || err != nil {
		t.Fatalf("pause: %v, %v", ok, err)
	}
	if got, _ := s.Get(ctx, a.ID); !got.Paused || got.Status != Running {
		t.Errorf("after pause: %+v", got)
	}
	if err := s.SetExited(ctx, a.ID, 137, time.Now(), false, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, a.ID); got.Paused {
		t.Error("an exited container is still recorded paused")
	}
}

func TestUsingVolume(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mk := func(name string, created time.Time, mps ...MountPoint) *Container {
		c := &Container{ID: NewID(), Name: name, Created: created, Config: Config{MountPoints: mps}}
		if err := s.Insert(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	now := time.Now()
	a := mk("first", now, MountPoint{Type: "volume", Name: "data", Destination: "/d"}, MountPoint{Type: "volume", Name: "data", Destination: "/e"})
	b := mk("second", now.Add(time.Second), MountPoint{Type: "volume", Name: "data", Destination: "/d"})
	mk("bind", now, MountPoint{Type: "bind", Source: "data", Destination: "/d"})
	mk("none", now)
	ids, err := s.UsingVolume(ctx, "data")
	if err != nil || strings.Join(ids, ",") != a.ID+","+b.ID {
		t.Errorf("UsingVolume(data): %v %v", ids, err)
	}
	if ids, err := s.UsingVolume(ctx, "other"); err != nil || len(ids) != 0 {
		t.Errorf("UsingVolume(other): %v %v", ids, err)
	}
}
