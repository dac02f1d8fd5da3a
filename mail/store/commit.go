package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/tidings/tidings/migrations"
)

// maxBatch bounds how many deliveries share one commit.
const maxBatch = 64

// ErrClosed is returned for work submitted after Close.
var ErrClosed = errors.New("message store closed")

// committer runs deliveries in group commits: whatever is waiting when a
// commit starts goes into the same transaction, so N concurrent deliveries
// cost one fsync instead of N (Postfix and mox batch for the same reason).
// Each job runs inside its own SAVEPOINT, so a failing job is rolled back
// alone, also on PostgreSQL, which would otherwise abort the whole
// transaction.
type committer struct {
	db   *migrations.DB
	log  *slog.Logger
	jobs chan job
	quit chan struct{}
	done sync.WaitGroup
	once sync.Once
}

type job struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan error
}

func newCommitter(db *migrations.DB, log *slog.Logger) *committer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &committer{db: db, log: log, jobs: make(chan job), quit: make(chan struct{})}
	c.done.Add(1)
	go c.run()
	return c
}

// do runs fn in a group commit and returns its error, or the commit's. Once
// submitted, the job is waited for even if ctx ends: the caller must not
// report failure for mail that was committed.
func (c *committer) do(ctx context.Context, fn func(tx *sql.Tx) error) error {
	done := make(chan error, 1)
	select {
	case c.jobs <- job{ctx: ctx, fn: fn, done: done}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.quit:
		return ErrClosed
	}
	return <-done
}

func (c *committer) run() {
	defer c.done.Done()
	for {
		select {
		case j := <-c.jobs:
			batch := []job{j}
		more:
			for len(batch) < maxBatch {
				select {
				case j := <-c.jobs:
					batch = append(batch, j)
				default:
					break more
				}
			}
			c.commit(batch)
		case <-c.quit:
			return
		}
	}
}

func (c *committer) commit(batch []job) {
	errs := make([]error, len(batch))
	err := c.db.Tx(context.Background(), func(tx *sql.Tx) error {
		for i, j := range batch {
			if _, err := tx.ExecContext(j.ctx, "SAVEPOINT delivery"); err != nil {
				errs[i] = err
				continue
			}
			if errs[i] = safely(j.fn, tx); errs[i] != nil {
				if _, err := tx.Exec("ROLLBACK TO SAVEPOINT delivery"); err != nil {
					return fmt.Errorf("rollback to savepoint: %w", err)
				}
			}
			if _, err := tx.Exec("RELEASE SAVEPOINT delivery"); err != nil {
				return fmt.Errorf("release savepoint: %w", err)
			}
		}
		return nil
	})
	for i, j := range batch {
		if err != nil && errs[i] == nil {
			errs[i] = err
		}
		j.done <- errs[i]
	}
}

// safely runs fn, turning a panic into an error for this job alone.
func safely(fn func(*sql.Tx) error, tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in delivery: %v\n%s", p, debug.Stack())
		}
	}()
	return fn(tx)
}

func (c *committer) close() {
	c.once.Do(func() { close(c.quit) })
	c.done.Wait()
}
