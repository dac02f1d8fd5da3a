package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tidings/tidings/migrations"
)

// Defaults for [Config].
const (
	DefaultMaxRosterItems = 1000
	DefaultMaxOffline     = 500
	DefaultMaxBlocked     = 1000
	DefaultMaxPrivate     = 100
)

// Errors callers test with errors.Is.
var (
	ErrRosterFull    = errors.New("roster is full")
	ErrOfflineFull   = errors.New("offline message storage is full")
	ErrBlockListFull = errors.New("block list is full")
	ErrPrivateFull   = errors.New("private XML storage is full")
)

// Config bounds what one user may store. A zero or negative field means its
// default.
type Config struct {
	MaxRosterItems int `toml:"max_roster_items" doc:"Most roster items per user. Contact requests from JIDs not in the roster are counted separately against the same limit."`
	MaxOffline     int `toml:"max_offline" doc:"Most messages kept per user while all their clients are offline (RFC 6121 §8.5.2.1.1); further ones are bounced."`
	MaxBlocked     int `toml:"max_blocked" doc:"Most entries in a user's block list (XEP-0191)."`
	MaxPrivate     int `toml:"max_private" doc:"Most private XML storage entries per user (XEP-0049)."`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{MaxRosterItems: DefaultMaxRosterItems, MaxOffline: DefaultMaxOffline,
		MaxBlocked: DefaultMaxBlocked, MaxPrivate: DefaultMaxPrivate}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{{"max_roster_items", c.MaxRosterItems}, {"max_offline", c.MaxOffline},
		{"max_blocked", c.MaxBlocked}, {"max_private", c.MaxPrivate}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("xmpp.storage.%s: must not be negative (0 means the default)", f.name))
		}
	}
	return errors.Join(errs...)
}

// withDefaults fills zero or negative fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	for _, f := range []struct{ v, def *int }{{&c.MaxRosterItems, &d.MaxRosterItems},
		{&c.MaxOffline, &d.MaxOffline}, {&c.MaxBlocked, &d.MaxBlocked}, {&c.MaxPrivate, &d.MaxPrivate}} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return c
}

// Store is the XMPP state of all users. It is safe for concurrent use.
type Store struct {
	db  *migrations.DB
	cfg Config
}

// New returns the store over db.
func New(db *migrations.DB, cfg Config) *Store {
	return &Store{db: db, cfg: cfg.withDefaults()}
}

// Config returns the limits in force (defaults filled in).
func (s *Store) Config() Config { return s.cfg }

// queryer is what a read needs: a *sql.Tx or the *migrations.DB.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// lockUser makes sure owner's xmpp_users row exists and locks it for the
// rest of tx, returning the roster version. Every transaction that checks a
// limit or changes the roster takes this lock first, so on PostgreSQL one
// user's writes are serialised as SQLite's single writer serialises all
// writes: counts stay exact and the version never skips or repeats.
func (s *Store) lockUser(ctx context.Context, tx *sql.Tx, owner int64) (version int64, err error) {
	if _, err := tx.ExecContext(ctx, "INSERT INTO xmpp_users (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING", owner); err != nil {
		return 0, fmt.Errorf("xmpp user %d: %w", owner, err)
	}
	err = tx.QueryRowContext(ctx, "SELECT roster_version FROM xmpp_users WHERE user_id = $1"+s.db.ForUpdate(), owner).Scan(&version)
	if err != nil {
		return 0, fmt.Errorf("lock xmpp user %d: %w", owner, err)
	}
	return version, nil
}

// count runs a SELECT COUNT(*).
func count(ctx context.Context, q queryer, query string, args ...any) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, query, args...).Scan(&n)
	return n, err
}

// Times are stored as unix microseconds.
func fromMicro(us int64) time.Time { return time.UnixMicro(us).UTC() }

func formatVersion(v int64) string { return strconv.FormatInt(v, 10) }
