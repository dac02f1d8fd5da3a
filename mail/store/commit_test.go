package store

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

// TestGroupCommitIsolation: in one batch, a job with an SQL error, a job
// that returns an error and a panicking job are rolled back alone; the
// others commit. On PostgreSQL this needs the savepoints.
func TestGroupCommitIsolation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		ctx := context.Background()
		db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "CREATE TABLE gc (v INTEGER NOT NULL)")
			return err
		})
		c := newCommitter(db, nil)
		defer c.close()
		insert := func(v int) func(*sql.Tx) error {
			return func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "INSERT INTO gc (v) VALUES ($1)", v)
				return err
			}
		}
		mine := errors.New("refused")
		fns := []func(*sql.Tx) error{
			insert(1),
			func(tx *sql.Tx) error {
				insert(2)(tx)
				_, err := tx.ExecContext(ctx, "INSERT INTO nowhere VALUES (1)")
				return err
			},
			insert(3),
			func(tx *sql.Tx) error { insert(4)(tx); return mine },
			func(tx *sql.Tx) error { insert(5)(tx); panic("boom") },
			insert(6),
		}
		batch := make([]job, len(fns))
		for i, fn := range fns {
			batch[i] = job{ctx: ctx, fn: fn, done: make(chan error, 1)}
		}
		c.commit(batch)
		for i, j := range batch {
			err := <-j.done
			if failing := i == 1 || i == 3 || i == 4; failing != (err != nil) {
				t.Errorf("job %d: %v", i, err)
			}
		}
		rows, err := db.QueryContext(ctx, "SELECT v FROM gc ORDER BY v")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []int
		for rows.Next() {
			var v int
			rows.Scan(&v)
			got = append(got, v)
		}
		if len(got) != 3 || got[0] != 1 || got[1] != 3 || got[2] != 6 {
			t.Errorf("committed %v, want [1 3 6]", got)
		}
		c.close()
		if err := c.do(ctx, insert(7)); !errors.Is(err, ErrClosed) {
			t.Errorf("after close: %v", err)
		}
	})
}
