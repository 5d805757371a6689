package volume

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/berth-dev/berth/internal/store"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	root := t.TempDir()
	db, err := store.Open(filepath.Join(root, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(db, filepath.Join(root, "volumes"))
}

func TestCreateGetListRemove(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	v, created, err := s.Create(ctx, CreateOptions{Name: "data", Labels: map[string]string{"a": "b"}})
	if err != nil || !created {
		t.Fatalf("create: %v, created %v", err, created)
	}
	if fi, err := os.Stat(s.Mountpoint("data")); err != nil || !fi.IsDir() {
		t.Fatalf("_data: %v", err)
	}
	// A second create of the name returns the volume as it is.
	again, created, err := s.Create(ctx, CreateOptions{Name: "data", Labels: map[string]string{"other": ""}})
	if err != nil || created || again.Labels["a"] != "b" {
		t.Fatalf("second create: %+v, created %v, %v", again, created, err)
	}
	anon, _, err := s.Create(ctx, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(anon.Name) || !anon.Anonymous() || v.Anonymous() {
		t.Errorf("anonymous volume %+v", anon)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}
	inUse := func(ctx context.Context, name string) ([]string, error) { return []string{"c1", "c2"}, nil }
	err = s.Remove(ctx, "data", RemoveOptions{InUse: inUse})
	if !errors.Is(err, ErrInUse) || err.Error() != "remove data: volume is in use - [c1, c2]" {
		t.Fatalf("remove in use: %v", err)
	}
	if _, err := s.Get(ctx, "data"); err != nil {
		t.Fatalf("the refused remove changed something: %v", err)
	}
	if err := s.Remove(ctx, "data", RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "data")); !os.IsNotExist(err) {
		t.Errorf("volume directory left: %v", err)
	}
	if _, err := s.Get(ctx, "data"); !errors.Is(err, ErrNotFound) || err.Error() != "get data: no such volume" {
		t.Errorf("get after remove: %v", err)
	}
	if err := s.Remove(ctx, "data", RemoveOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove twice: %v", err)
	}
}

func TestCreateRefuses(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, c := range []struct {
		o    CreateOptions
		want string
	}{
		{CreateOptions{Name: "a"}, "create a: volume name is too short, names should be at least two alphanumeric characters"},
		{CreateOptions{Name: "a/b"}, `create a/b: "a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
		{CreateOptions{Name: "ok", Driver: "nfs"}, `create ok: error looking up volume plugin nfs: plugin "nfs" not found`},
		{CreateOptions{Name: "ok", Options: map[string]string{"foo": "x"}}, `create ok: invalid option: "foo"`},
		{CreateOptions{Name: "ok", Options: map[string]string{"type": "tmpfs"}}, `create ok: missing required option: "device"`},
		{CreateOptions{Name: "ok", Options: map[string]string{"device": "tmpfs"}}, `create ok: missing required option: "type"`},
		{CreateOptions{Name: "ok", Options: map[string]string{"size": "1g"}}, `create ok: quota size requested but no quota support`},
	} {
		_, _, err := s.Create(ctx, c.o)
		if err == nil || err.Error() != c.want || !errors.Is(err, ErrInvalid) {
			t.Errorf("create %+v: %v, want %q", c.o, err, c.want)
		}
	}
	if list, _ := s.List(ctx); len(list) != 0 {
		t.Errorf("refused creates left %d volumes", len(list))
	}
}

func TestUse(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	dev := t.TempDir()
	cases := []struct {
		opts map[string]string
		want Use
	}{
		{nil, Use{Source: s.Mountpoint("v0")}},
		{map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}, Use{Source: s.Mountpoint("v1"), Mount: true}},
		{map[string]string{"type": "none", "device": dev, "o": "bind"}, Use{Source: dev}},
		{map[string]string{"type": "none", "device": dev, "o": "bind,ro"}, Use{Source: dev, ReadOnly: true}},
	}
	for i, c := range cases {
		v, _, err := s.Create(ctx, CreateOptions{Name: "v" + string(rune('0'+i)), Options: c.opts})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Use(v); err != nil || got != c.want {
			t.Errorf("use %v: %+v %v, want %+v", c.opts, got, err, c.want)
		}
	}
	v, _, _ := s.Create(ctx, CreateOptions{Name: "missing", Options: map[string]string{"type": "none", "device": "/nonexistent/x", "o": "bind"}})
	if _, err := s.Use(v); err == nil || err.Error() != "error while mounting volume '"+s.Mountpoint("missing")+"': failed to mount local volume: mount /nonexistent/x:"+s.Mountpoint("missing")+", flags: 0x1000: no such file or directory" {
		t.Errorf("use of a missing device: %v", err)
	}
}
