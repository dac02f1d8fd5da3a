package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Contact is an entry in a user's address book: the contacts that Sieve's
// :addrbook:default list (RFC 6134) and the webmail use.
type Contact struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	JID       string    `json:"jid"`
	Note      string    `json:"note"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Contact field bounds: an address book is for people, not for data dumps.
const (
	maxContactName = 256
	maxContactNote = 4096
	maxForeignAddr = 1023 + 1 + 253 // RFC 7622 §3.3 localpart + '@' + domain
)

// normalizeContact validates c and brings its addresses into canonical form:
// the domain IDNA-normalised, the local part kept as written (a foreign
// server decides what its local parts mean).
func normalizeContact(c Contact) (Contact, error) {
	c.Name, c.Email, c.JID = strings.TrimSpace(c.Name), strings.TrimSpace(c.Email), strings.TrimSpace(c.JID)
	if c.Name == "" && c.Email == "" && c.JID == "" {
		return c, errors.New("contact: needs at least a name, an email address or a Jabber ID")
	}
	if len(c.Name) > maxContactName || len(c.Note) > maxContactNote {
		return c, fmt.Errorf("contact: name is limited to %d bytes and note to %d", maxContactName, maxContactNote)
	}
	var err error
	if c.Email, err = foreignAddress("email address", c.Email); err != nil {
		return c, err
	}
	if c.JID, err = foreignAddress("Jabber ID", c.JID); err != nil {
		return c, err
	}
	return c, nil
}

// foreignAddress checks an address of someone who may live on another
// server. Empty is allowed.
func foreignAddress(kind, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	bad := func(rule string) (string, error) { return "", &NameError{Kind: kind, Value: s, Rule: rule} }
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return bad("must have the form local@domain")
	}
	local := s[:at]
	if len(s) > maxForeignAddr || strings.IndexFunc(local, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("<>/@\"", r)
	}) >= 0 {
		return bad("local part has spaces, controls or one of < > / @ \"")
	}
	d, err := NormalizeDomain(s[at+1:])
	if err != nil {
		return bad(err.(*NameError).Rule)
	}
	return local + "@" + d, nil
}

const contactCols = "c.id, c.name, c.email, c.jid, c.note, c.created_at, c.updated_at"

func scanContact(row interface{ Scan(...any) error }) (Contact, error) {
	var c Contact
	var created, updated int64
	err := row.Scan(&c.ID, &c.Name, &c.Email, &c.JID, &c.Note, &created, &updated)
	c.CreatedAt, c.UpdatedAt = unix(created), unix(updated)
	return c, err
}

// ownerID resolves an address-book owner to a user id.
func (s *Store) ownerID(ctx context.Context, owner string) (int64, error) {
	u, err := s.User(ctx, owner)
	return u.ID, err
}

// AddContact adds c (its ID is ignored) to owner's address book.
func (s *Store) AddContact(ctx context.Context, owner string, c Contact) (Contact, error) {
	c, err := normalizeContact(c)
	if err != nil {
		return Contact{}, err
	}
	uid, err := s.ownerID(ctx, owner)
	if err != nil {
		return Contact{}, err
	}
	now := time.Now().Unix()
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO contacts (user_id, name, email, jid, note, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id`, uid, c.Name, c.Email, c.JID, c.Note, now).Scan(&c.ID)
	})
	if err != nil {
		return Contact{}, err
	}
	c.CreatedAt, c.UpdatedAt = unix(now), unix(now)
	return c, nil
}

// Contact returns one of owner's contacts.
func (s *Store) Contact(ctx context.Context, owner string, id int64) (Contact, error) {
	uid, err := s.ownerID(ctx, owner)
	if err != nil {
		return Contact{}, err
	}
	c, err := scanContact(s.db.QueryRowContext(ctx, "SELECT "+contactCols+" FROM contacts c WHERE c.user_id = $1 AND c.id = $2", uid, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Contact{}, fmt.Errorf("contact %d: %w", id, ErrNotFound)
	}
	return c, err
}

// Contacts lists owner's address book by name, then email.
func (s *Store) Contacts(ctx context.Context, owner string) ([]Contact, error) {
	uid, err := s.ownerID(ctx, owner)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+contactCols+" FROM contacts c WHERE c.user_id = $1 ORDER BY c.name, c.email, c.id", uid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateContact replaces the fields of owner's contact c.ID.
func (s *Store) UpdateContact(ctx context.Context, owner string, c Contact) (Contact, error) {
	c, err := normalizeContact(c)
	if err != nil {
		return Contact{}, err
	}
	uid, err := s.ownerID(ctx, owner)
	if err != nil {
		return Contact{}, err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE contacts SET name = $1, email = $2, jid = $3, note = $4, updated_at = $5
			WHERE user_id = $6 AND id = $7`, c.Name, c.Email, c.JID, c.Note, time.Now().Unix(), uid, c.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("contact %d: %w", c.ID, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return Contact{}, err
	}
	return s.Contact(ctx, owner, c.ID)
}

// DeleteContact removes owner's contact id.
func (s *Store) DeleteContact(ctx context.Context, owner string, id int64) error {
	uid, err := s.ownerID(ctx, owner)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM contacts WHERE user_id = $1 AND id = $2", uid, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("contact %d: %w", id, ErrNotFound)
		}
		return nil
	})
}
