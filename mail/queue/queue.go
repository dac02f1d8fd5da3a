// Package queue is the durable outbound queue: mail for remote recipients
// is recorded in the database in the same transaction that answers the
// client (so 250 means it is safe), then delivered to the recipients' MX
// hosts with retries, and bounced with a DSN when it cannot be.
//
// Implementation notes:
//   - Each remote recipient has its own row and schedule. Attempts group the
//     due recipients of one message and one domain into one SMTP
//     transaction.
//   - Routing follows RFC 5321 §5.1: MX records by preference, or the
//     domain's own A/AAAA when there is no MX; a null MX (RFC 7505) fails at
//     once. Connection-level failures try the next address and host.
//   - TLS: STARTTLS whenever the peer offers it (opportunistic, not
//     verified); for domains listed in require_tls_domains it is required
//     and the certificate verified, else the attempt fails temporarily.
//   - Retries back off exponentially from retry_base, capped at retry_max
//     (Postfix: 300 s to 4000 s); after delay_warning a delay DSN goes to the
//     sender once, after lifetime (5 days) a failure DSN (RFC 3464). A 5xx
//     reply fails at once. Nothing is sent back for the null sender.
//   - A recipient row is deleted in the transaction right after the remote
//     250; a crash in between re-sends it after restart (at least once;
//     exactly once is impossible without the peer's help).
//   - Leases: a worker leases the rows it works on; at start, leases are
//     cleared, which assumes one node works the queue (multi-node claiming
//     with SKIP LOCKED is future work).
//   - Tables: queue_messages, queue_recipients.
package queue

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations"
)

// Defaults after Postfix (mail_params.h) and the issue.
const (
	DefaultRetryBase      = 5 * time.Minute
	DefaultRetryMax       = time.Hour
	DefaultLifetime       = 5 * 24 * time.Hour
	DefaultDelayWarning   = 4 * time.Hour
	DefaultConcurrency    = 20
	DefaultPerDomain      = 5
	DefaultConnectTimeout = 30 * time.Second // Postfix smtp_connect_timeout
	DefaultCommandTimeout = 5 * time.Minute  // RFC 5321 §4.5.3.2: 5 min for most replies
	leaseTime             = 30 * time.Minute
)

// Config tunes the queue.
type Config struct {
	RetryBase         time.Duration `toml:"retry_base" doc:"Delay before the first retry; it doubles with every attempt."`
	RetryMax          time.Duration `toml:"retry_max" doc:"Longest delay between attempts."`
	Lifetime          time.Duration `toml:"lifetime" doc:"How long to keep trying before bouncing the message to its sender."`
	DelayWarning      time.Duration `toml:"delay_warning" doc:"After this long, tell the sender (once) that delivery is delayed; 0 never."`
	Concurrency       int           `toml:"concurrency" doc:"Most deliveries in progress at once."`
	PerDomain         int           `toml:"per_domain" doc:"Most deliveries in progress to one destination domain."`
	Port              int           `toml:"port" doc:"TCP port of remote mail servers (25; change only for tests)."`
	ConnectTimeout    time.Duration `toml:"connect_timeout" doc:"How long to wait for a remote server to accept a connection."`
	CommandTimeout    time.Duration `toml:"command_timeout" doc:"How long to wait for each reply of a remote server."`
	RequireTLSDomains []string      `toml:"require_tls_domains" doc:"Destination domains whose servers must offer STARTTLS with a valid certificate."`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{RetryBase: DefaultRetryBase, RetryMax: DefaultRetryMax, Lifetime: DefaultLifetime,
		DelayWarning: DefaultDelayWarning, Concurrency: DefaultConcurrency, PerDomain: DefaultPerDomain, Port: 25,
		ConnectTimeout: DefaultConnectTimeout, CommandTimeout: DefaultCommandTimeout}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, msg string) {
		if !ok {
			errs = append(errs, errors.New("queue."+msg))
		}
	}
	check(c.RetryBase >= time.Second && c.RetryMax >= c.RetryBase, "retry_base/retry_max: need 1s <= retry_base <= retry_max")
	check(c.Lifetime >= c.RetryBase, "lifetime: must be at least retry_base")
	check(c.DelayWarning >= 0, "delay_warning: must not be negative")
	check(c.Concurrency >= 1 && c.PerDomain >= 1, "concurrency/per_domain: must be at least 1")
	check(c.Port > 0 && c.Port < 65536, "port: not a TCP port")
	check(c.ConnectTimeout >= time.Second && c.CommandTimeout >= time.Second, "connect_timeout/command_timeout: must be at least 1s")
	for _, d := range c.RequireTLSDomains {
		if _, err := accounts.NormalizeDomain(d); err != nil {
			errs = append(errs, fmt.Errorf("queue.require_tls_domains: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Resolver looks up mail routes; *net.Resolver is one. Tests use their own
// DNS server through a net.Resolver with a custom Dial.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// LocalDeliverer delivers to local recipients: DSNs to local senders, and
// queued mail (filter redirects, vacation replies) whose recipient is on one
// of our domains. An error wrapping ErrPermanent fails the recipient for
// good; any other error is retried.
type LocalDeliverer interface {
	DeliverLocal(ctx context.Context, sender, to string, msg []byte) error
}

// ErrPermanent marks a local delivery failure that retrying cannot fix
// (no such user).
var ErrPermanent = errors.New("permanent failure")

// Deps are what the queue needs from the rest of Tidings.
type Deps struct {
	DB        *migrations.DB
	Hostname  string
	Resolver  Resolver    // nil: net.DefaultResolver
	VerifyTLS *tls.Config // client TLS settings (RootCAs) for require_tls_domains; nil: system roots
	Local     LocalDeliverer
	IsLocal   func(ctx context.Context, domain string) bool
	Log       *slog.Logger
	Now       func() time.Time // nil: time.Now
}

// Queue is the outbound queue.
type Queue struct {
	cfg        Config
	d          Deps
	requireTLS map[string]bool
	wake       chan struct{}
}

// New returns a queue. Call Start to run deliveries.
func New(cfg Config, d Deps) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.DB == nil || d.Hostname == "" || d.Local == nil || d.IsLocal == nil {
		return nil, errors.New("queue: DB, Hostname, Local and IsLocal are required")
	}
	if d.Resolver == nil {
		d.Resolver = net.DefaultResolver
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	d.Log = d.Log.With("component", "queue")
	if d.Now == nil {
		d.Now = time.Now
	}
	q := &Queue{cfg: cfg, d: d, requireTLS: map[string]bool{}, wake: make(chan struct{}, 1)}
	for _, dom := range cfg.RequireTLSDomains {
		n, _ := accounts.NormalizeDomain(dom)
		q.requireTLS[n] = true
	}
	return q, nil
}

// Enqueue records a message for remote recipients inside tx (the
// transaction that also stores local copies), so the caller may answer 250
// once tx commits. Call Poke after the commit.
func (q *Queue) Enqueue(ctx context.Context, tx *sql.Tx, sender string, rcpts []string, body []byte) error {
	now := q.d.Now().Unix()
	var id int64
	if err := tx.QueryRowContext(ctx, "INSERT INTO queue_messages (sender, body, size, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
		sender, body, len(body), now).Scan(&id); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	for _, r := range rcpts {
		at := strings.LastIndexByte(r, '@')
		domain, err := accounts.NormalizeDomain(r[at+1:])
		if at <= 0 || err != nil {
			return fmt.Errorf("queue: recipient %q has no valid domain", r)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO queue_recipients (message_id, rcpt, domain, next_attempt) VALUES ($1, $2, $3, $4)",
			id, r, domain, now); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
	}
	return nil
}

// Poke wakes the delivery loop (after an Enqueue committed).
func (q *Queue) Poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Entry is one queued recipient, for `tidings queue list`.
type Entry struct {
	ID          int64     `json:"id"`
	MessageID   int64     `json:"message_id"`
	Sender      string    `json:"sender"`
	Recipient   string    `json:"recipient"`
	Size        int64     `json:"size"`
	Queued      time.Time `json:"queued"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error"`
}

// List returns every queued recipient, oldest first.
func List(ctx context.Context, db *migrations.DB) ([]Entry, error) {
	rows, err := db.QueryContext(ctx, `SELECT r.id, m.id, m.sender, r.rcpt, m.size, m.created_at, r.attempts, r.next_attempt, r.last_error
		FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id ORDER BY m.created_at, r.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var created, next int64
		if err := rows.Scan(&e.ID, &e.MessageID, &e.Sender, &e.Recipient, &e.Size, &created, &e.Attempts, &next, &e.LastError); err != nil {
			return nil, err
		}
		e.Queued, e.NextAttempt = time.Unix(created, 0).UTC(), time.Unix(next, 0).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// ErrNoEntry is returned by Retry and Drop for an unknown id.
var ErrNoEntry = errors.New("no such queue entry")

// Retry makes queued recipients due now: one recipient id, or all (id 0).
// A running server picks them up within its poll interval.
func Retry(ctx context.Context, db *migrations.DB, id int64) (int64, error) {
	return change(ctx, db, id, "UPDATE queue_recipients SET next_attempt = 0, leased_until = 0 WHERE $1 = 0 OR id = $1")
}

// Drop removes a queued recipient without a bounce; the message goes when
// its last recipient does.
func Drop(ctx context.Context, db *migrations.DB, id int64) (int64, error) {
	return change(ctx, db, id, "DELETE FROM queue_recipients WHERE id = $1",
		"DELETE FROM queue_messages WHERE NOT EXISTS (SELECT 1 FROM queue_recipients r WHERE r.message_id = queue_messages.id)")
}

// change runs statements in one transaction; the first takes id and its
// row count is returned (ErrNoEntry for a given id that matched nothing).
func change(ctx context.Context, db *migrations.DB, id int64, first string, more ...string) (int64, error) {
	var n int64
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, first, id)
		if err != nil {
			return err
		}
		if n, _ = res.RowsAffected(); n == 0 && id != 0 {
			return fmt.Errorf("%w: %d", ErrNoEntry, id)
		}
		for _, q := range more {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
