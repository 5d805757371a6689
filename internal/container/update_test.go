package container

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestUpdateConfig: a change is recorded whole, a failed one not at all,
// and an unknown container is ErrNotFound.
func TestUpdateConfig(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	c := &Container{ID: NewID(), Name: "lim", Created: time.Now(), Config: Config{Cmd: []string{"sh"}}}
	if err := s.Insert(ctx, c); err != nil {
		t.Fatal(err)
	}
	cfg, err := s.UpdateConfig(ctx, c.ID, func(cfg *Config) error {
		cfg.Resources.Memory = 64 << 20
		cfg.Restart = RestartPolicy{Name: "always"}
		return nil
	})
	if err != nil || cfg.Resources.Memory != 64<<20 {
		t.Fatalf("UpdateConfig: %v %+v", err, cfg)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateConfig(ctx, c.ID, func(cfg *Config) error { cfg.Resources.Memory = 1; return boom }); err != boom {
		t.Errorf("a failed change: %v", err)
	}
	got, err := s.Get(ctx, c.ID)
	if err != nil || got.Config.Resources.Memory != 64<<20 || got.Config.Restart.Name != "always" || got.Config.Cmd[0] != "sh" {
		t.Errorf("recorded: %v %+v", err, got.Config)
	}
	if _, err := s.UpdateConfig(ctx, NewID(), func(*Config) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown container: %v", err)
	}
}
