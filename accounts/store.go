// Package accounts is the one user base of Tidings: domains with their
// service switches, users (whose address is also their Jabber ID), aliases,
// SCRAM credentials, per-user contacts, the failed-login throttle every
// protocol shares, and a change feed that lets protocol servers end the live
// sessions of a user whose password changed or who was disabled or deleted.
//
// Implementation notes:
//   - Names are normalised once, here: localparts with PRECIS
//     UsernameCaseMapped plus the email dot-atom rules ([NormalizeLocalpart]),
//     domains to IDNA A-labels ([NormalizeDomain]). Everything stored and
//     compared is canonical.
//   - No password is stored: SCRAM-SHA-1 and SCRAM-SHA-256 salted keys are
//     (RFC 5802). PLAIN and LOGIN are verified by recomputing StoredKey.
//   - Every change that must end sessions writes a row into account_events
//     in the same transaction. [Store.Watch] tails that table and calls the
//     subscribers, so a change made by the CLI (another process) or by
//     another node on PostgreSQL takes effect in the server too.
//   - Tables: domains, users, credentials, aliases, contacts, account_events.
//     No other package writes them.
package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidings/tidings/migrations"
)

// Errors callers test with errors.Is. Returned errors wrap them with the
// name they concern ("user juliet@example.org: not found").
var (
	ErrNotFound        = errors.New("not found")
	ErrExists          = errors.New("already exists")
	ErrBadCredentials  = errors.New("invalid username or password")
	ErrDisabled        = errors.New("account is disabled")
	ErrServiceDisabled = errors.New("service is not enabled for this account")
	ErrDomainInUse     = errors.New("domain still has users or aliases")
)

// PasswordError says why a new password was refused.
type PasswordError struct{ Reason string }

func (e *PasswordError) Error() string { return "password refused: " + e.Reason }

// Store is the account store. It is safe for concurrent use.
type Store struct {
	db       *migrations.DB
	cfg      Config
	log      *slog.Logger
	throttle *Throttle
	hub      *hub
	metrics  *metrics

	dummyOnce sync.Once
	dummy     SCRAMCredential // verified against for unknown users
}

// New returns a store over db. reg may be nil (no metrics); log may be nil.
func New(db *migrations.DB, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "accounts")
	m := newMetrics(reg)
	return &Store{
		db: db, cfg: cfg, log: log,
		throttle: NewThrottle(cfg.Throttle, log, m),
		hub:      newHub(),
		metrics:  m,
	}, nil
}

// Throttle returns the shared failed-login throttle, for protocol servers
// that verify credentials themselves (SCRAM).
func (s *Store) Throttle() *Throttle { return s.throttle }

// Config returns the configuration the store runs with.
func (s *Store) Config() Config { return s.cfg }

func unix(t int64) time.Time { return time.Unix(t, 0).UTC() }

// tx runs fn in a write transaction and then wakes the event watcher.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	err := s.db.Tx(ctx, fn)
	if err == nil {
		s.hub.poke()
	}
	return err
}

// domainID returns the id of a canonical domain, locking its row on
// PostgreSQL so that address creation in one domain is serialised (users and
// aliases share one namespace that no single UNIQUE index covers).
func (s *Store) domainID(ctx context.Context, tx *sql.Tx, domain string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, "SELECT id FROM domains WHERE name = $1"+s.db.ForUpdate(), domain).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("domain %s: %w", domain, ErrNotFound)
	}
	return id, err
}

// addressTaken reports what already holds local@domain: "user", "alias" or "".
func addressTaken(ctx context.Context, tx *sql.Tx, domainID int64, local string) (string, error) {
	var kind string
	err := tx.QueryRowContext(ctx, `SELECT 'user' FROM users WHERE domain_id = $1 AND localpart = $2
		UNION ALL SELECT 'alias' FROM aliases WHERE domain_id = $1 AND localpart = $2`, domainID, local).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return kind, err
}

func recordEvent(ctx context.Context, tx *sql.Tx, kind EventKind, address, domain string) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO account_events (kind, address, domain, created_at) VALUES ($1, $2, $3, $4)",
		string(kind), address, domain, time.Now().Unix())
	return err
}
