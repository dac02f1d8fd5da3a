package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations"
)

// Message is a message's metadata. Envelope is filled only when asked for.
type Message struct {
	MailboxID    int64
	UID          uint32
	ModSeq       uint64
	Size         int64
	InternalDate time.Time
	Flags        []string
	SentDate     time.Time // the Date header; zero if missing or unparsable
	Subject      string    // decoded (RFC 2047)
	From         string    // the first From address, decoded
	To           string
	MessageID    string
	Envelope     *Envelope
	bodyID       int64
}

// Target is one mailbox a delivery goes into.
type Target struct {
	User    accounts.User // its ID and Quota are used
	Mailbox string        // "" means INBOX
	Create  bool          // create the mailbox if it does not exist (Sieve fileinto :create)
	Flags   []string
}

// DeliverOptions apply to all targets of one delivery.
type DeliverOptions struct {
	MaxSize      int64     // refuse bodies larger than this with ErrTooBig (0: no limit)
	InternalDate time.Time // zero: now
	// AllOrNothing stores the message for every target or for none: the
	// first target error fails the whole delivery (SMTP, whose DATA has one
	// reply for all recipients, must not half-accept).
	AllOrNothing bool
	// InTx, if set, runs in the same transaction after the local copies
	// are stored (the outbound queue records remote recipients there), so
	// local and remote recipients commit together. Its error fails the
	// whole delivery.
	InTx func(ctx context.Context, tx *sql.Tx) error
}

// Result is the outcome of a delivery for one target: Err is nil when the
// message was stored.
type Result struct {
	Target    Target
	MailboxID int64
	Mailbox   string
	UID       uint32
	ModSeq    uint64
	Err       error
}

// Deliver stores one message body into every target, sharing one body. It
// returns when the message is durably committed: only then may SMTP answer
// 250. A target that cannot take it (over quota, no such mailbox) gets its
// own Err and the others are stored, unless opt.AllOrNothing. The error
// return is for failures of the whole delivery (I/O, database, ErrTooBig,
// or a target error with AllOrNothing), in which case nothing is stored.
func (s *Store) Deliver(ctx context.Context, body io.Reader, opt DeliverOptions, targets []Target) ([]Result, error) {
	sp, err := s.Spool(body, opt.MaxSize)
	if err != nil {
		return nil, err
	}
	defer sp.Close()
	return s.DeliverSpooled(ctx, sp, opt, targets)
}

// DeliverSpooled is Deliver for a body already spooled (so that filters
// could read it first). opt.MaxSize is not checked again.
func (s *Store) DeliverSpooled(ctx context.Context, sp *Spooled, opt DeliverOptions, targets []Target) ([]Result, error) {
	for _, t := range targets {
		if err := s.EnsureDefaults(ctx, t.User.ID); err != nil {
			return nil, err
		}
	}
	cached := parseHeader(sp.NewReader())
	date := opt.InternalDate
	if date.IsZero() {
		date = time.Now()
	}
	results := make([]Result, len(targets))
	err := s.commits.do(ctx, func(tx *sql.Tx) error {
		stored := false
		if len(targets) > 0 {
			bodyID, err := insertBody(ctx, tx, sp)
			if err != nil {
				return err
			}
			for i, t := range targets {
				r, err := s.deliverOne(ctx, tx, t, bodyID, sp.Size(), date, cached)
				if err != nil && (!isTargetError(err) || opt.AllOrNothing) {
					return err
				}
				r.Err = err
				results[i] = r
				stored = stored || err == nil
			}
		}
		if opt.InTx != nil {
			if err := opt.InTx(ctx, tx); err != nil {
				return err
			}
			stored = true
		}
		if !stored {
			return errNothingStored // roll the body back too
		}
		return nil
	})
	if errors.Is(err, errNothingStored) {
		return results, nil
	}
	if err != nil {
		return results, err
	}
	for _, r := range results {
		if r.Err == nil {
			s.bus.publish(Change{Kind: MessagesAdded, UserID: r.Target.User.ID, MailboxID: r.MailboxID,
				Mailbox: r.Mailbox, UIDs: []uint32{r.UID}, ModSeq: r.ModSeq})
		}
	}
	return results, nil
}

var errNothingStored = errors.New("no target took the message")

func isTargetError(err error) bool {
	return errors.Is(err, ErrOverQuota) || errors.Is(err, ErrNoMailbox) || errors.Is(err, ErrInvalidName) ||
		errors.Is(err, ErrInvalidKeyword)
}

// deliverOne inserts one row. Target errors are returned without touching
// the transaction, so the other targets can still commit.
func (s *Store) deliverOne(ctx context.Context, tx *sql.Tx, t Target, bodyID int64, size int64, date time.Time, h cachedHeader) (Result, error) {
	r := Result{Target: t}
	flags, err := normalizeFlags(t.Flags)
	if err != nil {
		return r, err
	}
	name, err := NormalizeMailboxName(cmp.Or(t.Mailbox, "INBOX"))
	if err != nil {
		return r, err
	}
	m, err := scanMailbox(tx.QueryRowContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes m WHERE m.user_id = $1 AND m.name = $2", t.User.ID, name))
	switch {
	case errors.Is(err, sql.ErrNoRows) && t.Create:
		if m, err = createMailbox(ctx, tx, t.User.ID, name, ""); err != nil {
			return r, err
		}
	case errors.Is(err, sql.ErrNoRows):
		return r, fmt.Errorf("%w: %s", ErrNoMailbox, name)
	case err != nil:
		return r, err
	}
	r.MailboxID, r.Mailbox = m.ID, m.Name
	if err := chargeQuota(ctx, tx, t.User, size, 1); err != nil {
		return r, err
	}
	if r.UID, r.ModSeq, err = nextUID(ctx, tx, m.ID); err != nil {
		return r, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO messages (mailbox_id, uid, modseq, body_id, size, internal_date, flags, seen, deleted,
		sent_date, subject, from_addr, to_addr, message_id, envelope, search_from, search_to, search_cc, search_bcc, search_subject)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
		m.ID, r.UID, r.ModSeq, bodyID, size, date.Unix(), strings.Join(flags, " "), hasFlag(flags, `\Seen`), hasFlag(flags, `\Deleted`),
		unixOrZero(h.sentDate), h.subject, h.from, h.to, h.messageID, h.envelopeJSON,
		h.search.from, h.search.to, h.search.cc, h.search.bcc, h.search.subject)
	return r, err
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// nextUID takes the mailbox's next UID and a new MODSEQ, atomically.
func nextUID(ctx context.Context, tx *sql.Tx, mailboxID int64) (uint32, uint64, error) {
	var uid uint32
	var modseq uint64
	err := tx.QueryRowContext(ctx, `UPDATE mailboxes SET uidnext = uidnext + 1, highest_modseq = highest_modseq + 1
		WHERE id = $1 RETURNING uidnext - 1, highest_modseq`, mailboxID).Scan(&uid, &modseq)
	return uid, modseq, err
}

// chargeQuota adds to the user's usage, refusing with ErrOverQuota if that
// would exceed the quota (0: unlimited). Atomic under concurrency: the
// check and the update are one statement.
func chargeQuota(ctx context.Context, tx *sql.Tx, u accounts.User, bytes, messages int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE mail_usage SET bytes = bytes + $2, messages = messages + $3
		WHERE user_id = $1 AND ($4 = 0 OR bytes + $2 <= $4)`, u.ID, bytes, messages, int64(u.Quota))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w (%s)", ErrOverQuota, u.Address)
	}
	return nil
}

// lockUser takes the lock on the user's mail_usage row (PostgreSQL; SQLite's
// writer is exclusive already). Every transaction that changes a user's
// messages takes it before any other row of that user's mail, deliveries
// through chargeQuota, so that they run one after the other instead of
// locking message, mailbox and usage rows in different orders (deadlock,
// SQLSTATE 40P01) or expunging rows another transaction is removing.
func (s *Store) lockUser(ctx context.Context, tx *sql.Tx, userID int64) error {
	if s.db.Dialect() != migrations.Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT user_id FROM mail_usage WHERE user_id = $1 FOR UPDATE", userID)
	return err
}

// addUsage changes usage without a quota check (removals).
func addUsage(ctx context.Context, tx *sql.Tx, userID, bytes, messages int64) error {
	_, err := tx.ExecContext(ctx, "UPDATE mail_usage SET bytes = bytes + $2, messages = messages + $3 WHERE user_id = $1",
		userID, bytes, messages)
	return err
}

// Usage returns the bytes and messages a user's mailboxes hold.
func (s *Store) Usage(ctx context.Context, userID int64) (bytes, messages int64, err error) {
	err = s.db.QueryRowContext(ctx, "SELECT bytes, messages FROM mail_usage WHERE user_id = $1", userID).Scan(&bytes, &messages)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	return bytes, messages, err
}

// UIDRange is an inclusive range of UIDs; Stop 0 means "to the end" (*).
type UIDRange struct{ Start, Stop uint32 }

// AllUIDs is the UID set of every message. An empty set means no message:
// operating on the whole mailbox must be asked for explicitly, so that a
// caller's empty selection can never turn into "everything".
var AllUIDs = []UIDRange{{Start: 1, Stop: 0}}

// uidWhere renders a UID set as SQL over column uid with args from $n on.
func uidWhere(set []UIDRange, n int) (string, []any) {
	if len(set) == 0 {
		return "FALSE", nil
	}
	var parts []string
	var args []any
	for _, r := range set {
		stop := r.Stop
		if stop == 0 {
			stop = ^uint32(0)
		}
		start := min(r.Start, stop)
		stop = max(r.Start, stop)
		parts = append(parts, fmt.Sprintf("uid BETWEEN $%d AND $%d", n, n+1))
		args = append(args, start, stop)
		n += 2
	}
	return "(" + strings.Join(parts, " OR ") + ")", args
}

const messageCols = "mailbox_id, uid, modseq, size, internal_date, flags, sent_date, subject, from_addr, to_addr, message_id, body_id"

func scanMessage(row interface{ Scan(...any) error }, envelope *string) (Message, error) {
	var m Message
	var internal, sent int64
	var flags string
	dest := []any{&m.MailboxID, &m.UID, &m.ModSeq, &m.Size, &internal, &flags, &sent, &m.Subject, &m.From, &m.To, &m.MessageID, &m.bodyID}
	if envelope != nil {
		dest = append(dest, envelope)
	}
	if err := row.Scan(dest...); err != nil {
		return m, err
	}
	m.InternalDate = time.Unix(internal, 0).UTC()
	if sent != 0 {
		m.SentDate = time.Unix(sent, 0).UTC()
	}
	m.Flags = splitFlags(flags)
	if envelope != nil && *envelope != "" {
		m.Envelope = new(Envelope)
		if err := json.Unmarshal([]byte(*envelope), m.Envelope); err != nil {
			return m, fmt.Errorf("message %d: cached envelope: %w", m.UID, err)
		}
	}
	return m, nil
}

// List returns the messages of a mailbox in a UID set (AllUIDs for all),
// by ascending UID, with their envelopes if asked.
func (s *Store) List(ctx context.Context, mailboxID int64, set []UIDRange, withEnvelope bool) ([]Message, error) {
	where, args := uidWhere(set, 2)
	cols := messageCols
	if withEnvelope {
		cols += ", envelope"
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+cols+" FROM messages WHERE mailbox_id = $1 AND "+where+" ORDER BY uid",
		append([]any{mailboxID}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Message
	var env string
	for rows.Next() {
		var envp *string
		if withEnvelope {
			envp = &env
		}
		m, err := scanMessage(rows, envp)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Open returns a message's metadata (with envelope) and its body. The
// body reads with ctx.
func (s *Store) Open(ctx context.Context, mailboxID int64, uid uint32) (Message, *Body, error) {
	var env string
	m, err := scanMessage(s.db.QueryRowContext(ctx, "SELECT "+messageCols+", envelope FROM messages WHERE mailbox_id = $1 AND uid = $2",
		mailboxID, uid), &env)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, nil, fmt.Errorf("%w: uid %d", ErrNoMessage, uid)
	}
	if err != nil {
		return Message{}, nil, err
	}
	return m, newBody(ctx, s.db, m.bodyID, m.Size), nil
}

// Indexed is the light view of a message that selecting a mailbox needs.
type Indexed struct {
	UID    uint32
	ModSeq uint64
	Flags  []string
}

// Index returns the messages of a mailbox from UID from on, ascending,
// with only UID, MODSEQ and flags: what IMAP SELECT and resynchronisation
// need, several times cheaper than List on a large mailbox.
func (s *Store) Index(ctx context.Context, mailboxID int64, from uint32) ([]Indexed, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT uid, modseq, flags FROM messages WHERE mailbox_id = $1 AND uid >= $2 ORDER BY uid", mailboxID, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Indexed
	for rows.Next() {
		var m Indexed
		var flags string
		if err := rows.Scan(&m.UID, &m.ModSeq, &flags); err != nil {
			return nil, err
		}
		m.Flags = splitFlags(flags)
		out = append(out, m)
	}
	return out, rows.Err()
}
