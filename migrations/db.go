// Package migrations owns the database: it opens the one SQL database every
// Tidings package shares (SQLite embedded by default, PostgreSQL when one
// machine is not enough) and brings its schema up to date from numbered,
// forward-only SQL files embedded per dialect.
//
// Implementation notes:
//   - SQL is written once for both dialects where possible, with $1, $2, ...
//     placeholders in any order and repeated at will: on SQLite a thin
//     driver wrapper (sqlite.go) rewrites them to SQLite's numbered ?N.
//     Where the dialects differ, ask [DB.Dialect].
//   - SQLite runs in WAL mode with synchronous=FULL, foreign keys on, a busy
//     timeout, and exactly one writer connection: [DB.Tx] always runs on the
//     writer (BEGIN IMMEDIATE), reads go to a separate pool of readers.
//   - PostgreSQL uses one pgx pool for both.
//   - Each package owns its tables and the queries on them; this package
//     owns only schema_version.
package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/mattn/go-sqlite3"
)

// Dialect names a supported SQL database.
type Dialect string

// The supported dialects. The string values are the config's driver names.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Defaults for [Config].
const (
	DefaultBusyTimeout = 5 * time.Second
	DefaultMaxReaders  = 8
	DefaultMaxConns    = 20
)

// Config selects and tunes the database. The zero value is not usable: Driver
// and DSN are required (the serve command fills DSN from the data directory).
type Config struct {
	// Driver is "sqlite" or "postgres".
	Driver string `toml:"driver" doc:"Database driver: \"sqlite\" (embedded, the default) or \"postgres\"."`
	// DSN is the SQLite file path, or a PostgreSQL connection string
	// (URL or key=value form).
	DSN string `toml:"dsn" doc:"SQLite: path of the database file (default <data_dir>/tidings.db). PostgreSQL: a connection string, e.g. \"postgres://tidings:secret@127.0.0.1/tidings\"."`
	// BusyTimeout is how long a SQLite writer waits for a lock held by
	// another process (for example the CLI while serve runs).
	BusyTimeout time.Duration `toml:"busy_timeout" doc:"SQLite: how long to wait for a lock held by another process."`
	// MaxReaders bounds the SQLite reader pool.
	MaxReaders int `toml:"max_readers" doc:"SQLite: maximum number of concurrent reader connections."`
	// MaxConns bounds the PostgreSQL pool.
	MaxConns int `toml:"max_conns" doc:"PostgreSQL: maximum number of open connections."`
}

// DefaultConfig returns the embedded default: SQLite at dsn.
func DefaultConfig(dsn string) Config {
	return Config{Driver: string(SQLite), DSN: dsn, BusyTimeout: DefaultBusyTimeout,
		MaxReaders: DefaultMaxReaders, MaxConns: DefaultMaxConns}
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	switch Dialect(c.Driver) {
	case SQLite, Postgres:
	default:
		errs = append(errs, fmt.Errorf("database.driver: %q is not supported (use \"sqlite\" or \"postgres\")", c.Driver))
	}
	if strings.TrimSpace(c.DSN) == "" {
		errs = append(errs, errors.New("database.dsn: must not be empty"))
	}
	if c.BusyTimeout < 0 {
		errs = append(errs, errors.New("database.busy_timeout: must not be negative"))
	}
	if c.MaxReaders < 1 {
		errs = append(errs, errors.New("database.max_readers: must be at least 1"))
	}
	if c.MaxConns < 2 {
		errs = append(errs, errors.New("database.max_conns: must be at least 2"))
	}
	return errors.Join(errs...)
}

// DB is the shared database handle. It is safe for concurrent use.
type DB struct {
	dialect Dialect
	write   *sql.DB // SQLite: exactly one connection. PostgreSQL: the pool.
	read    *sql.DB // SQLite: reader pool. PostgreSQL: same as write.
	name    string  // path or redacted DSN, for messages
}

// Open opens the database described by c and applies all pending migrations.
// Errors name the path or the DSN, with any password redacted.
func Open(ctx context.Context, c Config) (*DB, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	db, err := open(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", db.name, err)
	}
	return db, nil
}

func open(ctx context.Context, c Config) (*DB, error) {
	switch Dialect(c.Driver) {
	case SQLite:
		return openSQLite(ctx, c)
	default:
		return openPostgres(ctx, c)
	}
}

func openSQLite(ctx context.Context, c Config) (*DB, error) {
	path := c.DSN
	name := fmt.Sprintf("%q", path)
	if dir := filepath.Dir(path); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("open sqlite database %s: %w", name, err)
		}
	}
	// The file holds credentials: create it private. SQLite gives its -wal
	// and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %s: %w", name, err)
	}
	f.Close()
	base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + url.Values{
		"_journal_mode": {"WAL"},
		"_synchronous":  {"FULL"},
		"_foreign_keys": {"on"},
		"_busy_timeout": {fmt.Sprint(c.BusyTimeout.Milliseconds())},
	}.Encode()
	write, err := sql.Open(sqliteDriverName, base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %s: %w", name, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	// The writer creates the file and switches it to WAL before readers open.
	if err := pingSQLite(ctx, write, c.BusyTimeout); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite database %s: %w", name, err)
	}
	read, err := sql.Open(sqliteDriverName, base)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite database %s: %w", name, err)
	}
	read.SetMaxOpenConns(c.MaxReaders)
	read.SetMaxIdleConns(c.MaxReaders)
	return &DB{dialect: SQLite, write: write, read: read, name: name}, nil
}

// pingSQLite opens the first connection, retrying while the file is busy:
// switching a new database to WAL takes an exclusive lock for which SQLite
// does not call the busy handler, so processes (or tests) opening one
// database at the same moment would otherwise fail at once.
func pingSQLite(ctx context.Context, db *sql.DB, patience time.Duration) error {
	deadline := time.Now().Add(patience)
	for {
		err := db.PingContext(ctx)
		var se sqlite3.Error
		busy := errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
		if !busy || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func openPostgres(ctx context.Context, c Config) (*DB, error) {
	name := RedactDSN(c.DSN)
	pool, err := sql.Open("pgx", c.DSN)
	if err != nil {
		return nil, fmt.Errorf("open postgres database %s: %s", name, redactErr(err, c.DSN))
	}
	pool.SetMaxOpenConns(c.MaxConns)
	pool.SetMaxIdleConns(c.MaxConns / 2)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres database %s: %s", name, redactErr(err, c.DSN))
	}
	return &DB{dialect: Postgres, write: pool, read: pool, name: name}, nil
}

// Dialect reports which SQL database this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// String names the database: the SQLite path or the redacted DSN.
func (db *DB) String() string { return db.name }

// Close closes all connections.
func (db *DB) Close() error {
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Ping checks that the database answers, for health checks.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// QueryContext runs a read-only query.
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.read.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a read-only query that returns at most one row.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return db.read.QueryRowContext(ctx, query, args...)
}

// Tx runs fn in a write transaction and commits if fn returns nil, else rolls
// back. On SQLite the transaction holds the single writer (BEGIN IMMEDIATE),
// so read-then-write inside fn is serialised against every other writer.
// On PostgreSQL use [DB.ForUpdate] to lock the rows a decision depends on.
func (db *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
		if err != nil {
			tx.Rollback()
			return
		}
		if cerr := tx.Commit(); cerr != nil {
			err = fmt.Errorf("commit: %w", cerr)
		}
	}()
	return fn(tx)
}

// ForUpdate returns the row-locking suffix for a SELECT inside [DB.Tx]:
// " FOR UPDATE" on PostgreSQL, "" on SQLite (whose writer is already
// exclusive).
func (db *DB) ForUpdate() string {
	if db.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// IsUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY
// constraint failure in either dialect.
func IsUniqueViolation(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique ||
			se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505" // unique_violation
	}
	return false
}

var kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// RedactDSN hides the password in a PostgreSQL DSN in URL or key=value form.
func RedactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.Host != "" || strings.Contains(dsn, "://") {
		if err == nil {
			q := u.Query()
			if q.Has("password") {
				q.Set("password", "xxxxx")
				u.RawQuery = q.Encode()
			}
			return u.Redacted()
		}
		return "(unparsable URL)"
	}
	return kvPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

// redactErr renders err without any password that appears in dsn.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		p := m[2]
		if len(p) >= 2 && p[0] == '\'' && p[len(p)-1] == '\'' {
			p = strings.NewReplacer(`\\`, `\`, `\'`, `'`).Replace(p[1 : len(p)-1])
		}
		if p != "" { // replacing "" would put xxxxx between every character
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}
