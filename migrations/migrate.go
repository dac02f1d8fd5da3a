package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The migration files, NNNN_name.sql, numbered from 1 without gaps, one
// folder per dialect. Both folders hold the same steps.
//
//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// ErrSchemaTooNew means the database was migrated by a newer Tidings than this
// binary: running on it could corrupt data, so Open refuses.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary knows; upgrade tidings")

// Step is one numbered migration.
type Step struct {
	Version int
	Name    string
	SQL     string
}

// Steps returns the migrations of a dialect in order.
func Steps(d Dialect) ([]Step, error) {
	return loadSteps(files, string(d))
}

func loadSteps(fsys fs.FS, dir string) ([]Step, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var steps []Step
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration file %s/%s: want NNNN_name.sql", dir, e.Name())
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		steps = append(steps, Step{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].Version < steps[j].Version })
	for i, s := range steps {
		if s.Version != i+1 {
			return nil, fmt.Errorf("migrations %s: step %d is numbered %d (numbers must run 1, 2, 3... without gaps)", dir, i+1, s.Version)
		}
	}
	return steps, nil
}

// Migrate applies every pending step, each in its own transaction. Several
// processes may call it at once: SQLite serialises them on the write lock,
// PostgreSQL on an advisory lock.
func (db *DB) Migrate(ctx context.Context) error {
	steps, err := Steps(db.dialect)
	if err != nil {
		return err
	}
	for {
		done, err := db.migrateOne(ctx, steps)
		if err != nil || done {
			return err
		}
	}
}

// migrationLock is the PostgreSQL advisory lock key for schema changes.
const migrationLock = 0x7469646e // "tidn"

func (db *DB) migrateOne(ctx context.Context, steps []Step) (done bool, err error) {
	err = db.Tx(ctx, func(tx *sql.Tx) error {
		if db.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
				return fmt.Errorf("lock schema: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
			version INTEGER PRIMARY KEY,
			name TEXT NOT NULL,
			applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_version: %w", err)
		}
		cur, err := version(ctx, tx)
		if err != nil {
			return err
		}
		switch {
		case cur > len(steps):
			return fmt.Errorf("%w (database at version %d, binary knows %d)", ErrSchemaTooNew, cur, len(steps))
		case cur == len(steps):
			done = true
			return nil
		}
		s := steps[cur]
		if _, err := tx.ExecContext(ctx, s.SQL); err != nil {
			return fmt.Errorf("migration %04d_%s: %w", s.Version, s.Name, err)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
			s.Version, s.Name, time.Now().Unix())
		return err
	})
	return done, err
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func version(ctx context.Context, q queryer) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return int(v.Int64), nil
}

// Version reports the schema version the database is at.
func (db *DB) Version(ctx context.Context) (int, error) {
	return version(ctx, db.read)
}
