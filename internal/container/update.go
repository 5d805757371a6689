package container

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// UpdateConfig changes the recorded Config of container id with change,
// in one transaction: concurrent updates don't lose each other's changes.
// An error from change leaves the record as it was and is returned.
func (s *Store) UpdateConfig(ctx context.Context, id string, change func(*Config) error) (Config, error) {
	var cfg Config
	err := s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var data string
		err := tx.QueryRow(`SELECT config FROM containers WHERE id = ?`, id).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		cfg = Config{}
		if err := json.Unmarshal([]byte(data), &cfg); err != nil {
			return fmt.Errorf("container %s: config: %w", id, err)
		}
		if err := change(&cfg); err != nil {
			return err
		}
		out, err := json.Marshal(cfg)
		if err != nil {
			return err
		}
		_, err = tx.Exec(`UPDATE containers SET config = ? WHERE id = ?`, string(out), id)
		return err
	})
	return cfg, err
}
