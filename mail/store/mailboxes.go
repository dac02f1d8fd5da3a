package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tidings/tidings/migrations"
)

// Separator is the mailbox hierarchy delimiter.
const Separator = "/"

// maxMailboxName bounds a mailbox name in bytes (Dovecot uses 255 too).
const maxMailboxName = 255

// Mailbox is one folder of a user.
type Mailbox struct {
	ID            int64
	UserID        int64
	Name          string // "INBOX" or a '/'-separated UTF-8 path
	SpecialUse    string // RFC 6154 attribute, e.g. `\Sent`, or ""
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Subscribed    bool
}

// Status is a mailbox with its counts (RFC 9051 STATUS).
type Status struct {
	Mailbox
	Messages int
	Unseen   int
	Deleted  int
	Size     int64
}

// DefaultMailboxes are created for every user: INBOX and the special-use
// folders clients expect (RFC 6154).
var DefaultMailboxes = []struct{ Name, SpecialUse string }{
	{"INBOX", ""}, {"Sent", `\Sent`}, {"Drafts", `\Drafts`},
	{"Trash", `\Trash`}, {"Junk", `\Junk`}, {"Archive", `\Archive`},
}

// NormalizeMailboxName checks a mailbox name and returns its canonical
// form: "INBOX" in any case is INBOX (RFC 9051 §5.1).
func NormalizeMailboxName(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrInvalidName, name, why)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > maxMailboxName:
		return bad(fmt.Sprintf("longer than %d bytes", maxMailboxName))
	case !utf8.ValidString(name):
		return bad("not UTF-8")
	case strings.HasPrefix(name, Separator) || strings.HasSuffix(name, Separator) || strings.Contains(name, Separator+Separator):
		return bad("empty hierarchy level")
	case strings.ContainsAny(name, "*%"):
		return bad("'*' and '%' are LIST wildcards")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return bad("control character")
	}
	if first, rest, _ := strings.Cut(name, Separator); strings.EqualFold(first, "INBOX") {
		if rest == "" {
			return "INBOX", nil
		}
		return "INBOX" + Separator + rest, nil
	}
	return name, nil
}

const mailboxCols = "m.id, m.user_id, m.name, m.special_use, m.uidvalidity, m.uidnext, m.highest_modseq, m.subscribed"

func scanMailbox(row interface{ Scan(...any) error }) (Mailbox, error) {
	var m Mailbox
	err := row.Scan(&m.ID, &m.UserID, &m.Name, &m.SpecialUse, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &m.Subscribed)
	return m, err
}

// EnsureDefaults creates the user's missing default mailboxes. It is cheap
// when they exist and safe to call concurrently.
func (s *Store) EnsureDefaults(ctx context.Context, userID int64) error {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM mailboxes WHERE user_id = $1 AND name = 'INBOX'", userID).Scan(&n); err != nil || n > 0 {
		return err
	}
	var created []Mailbox
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		created = created[:0]
		for _, d := range DefaultMailboxes {
			m, err := createMailbox(ctx, tx, userID, d.Name, d.SpecialUse)
			if errors.Is(err, ErrMailboxExists) {
				continue
			}
			if err != nil {
				return err
			}
			created = append(created, m)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO mail_usage (user_id, bytes, messages) VALUES ($1, 0, 0)
			ON CONFLICT (user_id) DO NOTHING`, userID)
		return err
	})
	for _, m := range created {
		s.bus.publish(Change{Kind: MailboxCreated, UserID: userID, MailboxID: m.ID, Mailbox: m.Name})
	}
	return err
}

func createMailbox(ctx context.Context, tx *sql.Tx, userID int64, name, specialUse string) (Mailbox, error) {
	m := Mailbox{UserID: userID, Name: name, SpecialUse: specialUse, UIDNext: 1, HighestModSeq: 1, Subscribed: true}
	// UIDVALIDITY (RFC 9051 §2.3.1.1) must change when a name is reused:
	// the creation time, kept above every other mailbox of the user.
	err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(uidvalidity), 0) FROM mailboxes WHERE user_id = $1", userID).Scan(&m.UIDValidity)
	if err != nil {
		return m, err
	}
	m.UIDValidity = max(uint32(time.Now().Unix()), m.UIDValidity+1)
	// ON CONFLICT rather than catching the violation: PostgreSQL aborts a
	// transaction after any error, and EnsureDefaults races by design.
	err = tx.QueryRowContext(ctx, `INSERT INTO mailboxes (user_id, name, special_use, uidvalidity, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, name) DO NOTHING RETURNING id`,
		userID, name, specialUse, m.UIDValidity, time.Now().Unix()).Scan(&m.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("%w: %s", ErrMailboxExists, name)
	}
	return m, err
}

// Mailboxes lists a user's mailboxes by name.
func (s *Store) Mailboxes(ctx context.Context, userID int64) ([]Mailbox, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes m WHERE m.user_id = $1 ORDER BY m.name", userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Mailbox
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Mailbox returns one mailbox of a user by name.
func (s *Store) Mailbox(ctx context.Context, userID int64, name string) (Mailbox, error) {
	n, err := NormalizeMailboxName(name)
	if err != nil {
		return Mailbox{}, err
	}
	m, err := scanMailbox(s.db.QueryRowContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes m WHERE m.user_id = $1 AND m.name = $2", userID, n))
	if errors.Is(err, sql.ErrNoRows) {
		return Mailbox{}, fmt.Errorf("%w: %s", ErrNoMailbox, n)
	}
	return m, err
}

// mailboxByID reads a mailbox inside a transaction.
func mailboxByID(ctx context.Context, tx *sql.Tx, id int64) (Mailbox, error) {
	m, err := scanMailbox(tx.QueryRowContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes m WHERE m.id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Mailbox{}, ErrNoMailbox
	}
	return m, err
}

// CreateMailbox creates a mailbox; specialUse may be "" (RFC 6154 §3
// CREATE-SPECIAL-USE allows setting it).
func (s *Store) CreateMailbox(ctx context.Context, userID int64, name, specialUse string) (Mailbox, error) {
	n, err := NormalizeMailboxName(name)
	if err != nil {
		return Mailbox{}, err
	}
	var m Mailbox
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		m, err = createMailbox(ctx, tx, userID, n, specialUse)
		return err
	})
	if err == nil {
		s.bus.publish(Change{Kind: MailboxCreated, UserID: userID, MailboxID: m.ID, Mailbox: m.Name})
	}
	return m, err
}

// DeleteMailbox removes a mailbox and its messages. INBOX cannot be
// deleted (RFC 9051 §6.3.9). Child mailboxes stay.
func (s *Store) DeleteMailbox(ctx context.Context, userID int64, name string) error {
	m, err := s.Mailbox(ctx, userID, name)
	if err != nil {
		return err
	}
	if m.Name == "INBOX" {
		return fmt.Errorf("%w: INBOX", ErrMailboxInUse)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, userID); err != nil {
			return err
		}
		var bytes, count int64
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(SUM(size), 0), COUNT(*) FROM messages WHERE mailbox_id = $1", m.ID).Scan(&bytes, &count); err != nil {
			return err
		}
		bodies, err := mailboxBodies(ctx, tx, m.ID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM mailboxes WHERE id = $1", m.ID); err != nil {
			return err
		}
		if err := deleteUnusedBodies(ctx, tx, bodies); err != nil {
			return err
		}
		return addUsage(ctx, tx, userID, -bytes, -count)
	})
	if err != nil {
		return err
	}
	s.bus.publish(Change{Kind: MailboxDeleted, UserID: userID, MailboxID: m.ID, Mailbox: m.Name})
	return nil
}

func mailboxBodies(ctx context.Context, tx *sql.Tx, mailboxID int64) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, "SELECT DISTINCT body_id FROM messages WHERE mailbox_id = $1", mailboxID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var b int64
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// RenameMailbox renames a mailbox and everything below it. Renaming INBOX
// is refused (RFC 9051 §6.3.6 would move its messages; not supported yet).
func (s *Store) RenameMailbox(ctx context.Context, userID int64, from, to string) error {
	m, err := s.Mailbox(ctx, userID, from)
	if err != nil {
		return err
	}
	newName, err := NormalizeMailboxName(to)
	if err != nil {
		return err
	}
	if m.Name == "INBOX" || newName == "INBOX" || strings.HasPrefix(newName, m.Name+Separator) {
		return fmt.Errorf("%w: cannot rename %s to %s", ErrMailboxInUse, m.Name, newName)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		// Children first keep their suffix: a/b becomes c/b.
		rows, err := tx.QueryContext(ctx, "SELECT id, name FROM mailboxes WHERE user_id = $1 AND (name = $2 OR name LIKE $3 ESCAPE '\\')",
			userID, m.Name, likePrefix(m.Name+Separator))
		if err != nil {
			return err
		}
		type rename struct {
			id   int64
			name string
		}
		var renames []rename
		for rows.Next() {
			var r rename
			if err := rows.Scan(&r.id, &r.name); err != nil {
				rows.Close()
				return err
			}
			renames = append(renames, rename{r.id, newName + strings.TrimPrefix(r.name, m.Name)})
		}
		rows.Close()
		for _, r := range renames {
			_, err := tx.ExecContext(ctx, "UPDATE mailboxes SET name = $1 WHERE id = $2", r.name, r.id)
			if migrations.IsUniqueViolation(err) {
				return fmt.Errorf("%w: %s", ErrMailboxExists, r.name)
			}
			if err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err == nil {
		s.bus.publish(Change{Kind: MailboxRenamed, UserID: userID, MailboxID: m.ID, Mailbox: newName})
	}
	return err
}

// likePrefix escapes s for a LIKE pattern matching names that start with s.
func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "%"
}

// SetSubscribed changes a mailbox's subscription (RFC 9051 §6.3.7).
func (s *Store) SetSubscribed(ctx context.Context, userID int64, name string, on bool) error {
	m, err := s.Mailbox(ctx, userID, name)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE mailboxes SET subscribed = $1 WHERE id = $2", on, m.ID)
		return err
	})
}

// Status returns a mailbox with its counts.
func (s *Store) Status(ctx context.Context, userID int64, name string) (Status, error) {
	m, err := s.Mailbox(ctx, userID, name)
	if err != nil {
		return Status{}, err
	}
	st := Status{Mailbox: m}
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN seen THEN 0 ELSE 1 END), 0),
		COALESCE(SUM(CASE WHEN deleted THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(size), 0) FROM messages WHERE mailbox_id = $1`, m.ID).Scan(&st.Messages, &st.Unseen, &st.Deleted, &st.Size)
	return st, err
}
