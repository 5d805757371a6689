package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
)

func TestUpdateNestsAndRunsAfterCommit(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var ran []string
	err = db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		tx.Exec(`INSERT INTO settings (name, value) VALUES ('a', '1')`)
		// A nested Update joins the transaction instead of deadlocking.
		if err := db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO settings (name, value) VALUES ('b', '2')`)
			AfterCommit(ctx, func() { ran = append(ran, "after") })
			return err
		}); err != nil {
			return err
		}
		if len(ran) != 0 {
			t.Error("AfterCommit ran before the commit")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ran) != 1 {
		t.Errorf("AfterCommit ran %d times", len(ran))
	}
	if v, _ := db.Setting(ctx, "b"); v != "2" {
		t.Errorf("b = %q", v)
	}
	// A failing transaction leaves nothing and runs no after-commit hook.
	ran = nil
	db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		tx.Exec(`INSERT INTO settings (name, value) VALUES ('c', '3')`)
		AfterCommit(ctx, func() { ran = append(ran, "after") })
		return errors.New("boom")
	})
	if v, _ := db.Setting(ctx, "c"); v != "" || len(ran) != 0 {
		t.Errorf("rolled-back transaction left c=%q, hooks %v", v, ran)
	}
}

func TestConcurrentOpensAndWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(path)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			errs <- db.Update(context.Background(), func(_ context.Context, tx *sql.Tx) error {
				var n int
				tx.QueryRow(`SELECT count(*) FROM settings`).Scan(&n)
				_, err := tx.Exec(`INSERT INTO settings (name, value) VALUES (?, 'x')`, string(rune('a'+n)))
				return err
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	db, _ := Open(path)
	defer db.Close()
	var n int
	db.db.QueryRow(`SELECT count(*) FROM settings`).Scan(&n)
	if n != 16 {
		t.Errorf("%d rows after 16 read-then-write transactions, want 16", n)
	}
}
