package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tidings/tidings/migrations"
)

// HeaderField is a cached header field that SearchHeader matches.
type HeaderField string

// The fields SearchHeader matches: those of IMAP SEARCH FROM, TO, CC, BCC
// and SUBJECT.
const (
	HeaderFrom    HeaderField = "from"
	HeaderTo      HeaderField = "to"
	HeaderCc      HeaderField = "cc"
	HeaderBcc     HeaderField = "bcc"
	HeaderSubject HeaderField = "subject"
)

// CachedField returns the HeaderField a header name (any case) is, if
// SearchHeader matches it.
func CachedField(name string) (HeaderField, bool) {
	for _, f := range []HeaderField{HeaderFrom, HeaderTo, HeaderCc, HeaderBcc, HeaderSubject} {
		if strings.EqualFold(name, string(f)) {
			return f, true
		}
	}
	return "", false
}

// column is the field's search column (migration 0009).
func (f HeaderField) column() string { return "search_" + string(f) }

// addresses picks the field's list from an envelope.
func (f HeaderField) addresses(env *Envelope) []Address {
	switch f {
	case HeaderFrom:
		return env.From
	case HeaderTo:
		return env.To
	case HeaderCc:
		return env.Cc
	default:
		return env.Bcc
	}
}

// searchForms are the lower-cased forms of the cached fields that
// SearchHeader matches, stored with each message.
type searchForms struct{ from, to, cc, bcc, subject string }

func newSearchForms(env *Envelope, subject string) searchForms {
	form := func(f HeaderField) string {
		return strings.ToLower(strings.Join(addressValues(f.addresses(env)), "\n"))
	}
	return searchForms{from: form(HeaderFrom), to: form(HeaderTo), cc: form(HeaderCc), bcc: form(HeaderBcc),
		subject: strings.ToLower(subject)}
}

// addressValues renders each address as "name <mailbox@host>".
func addressValues(list []Address) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Name + " <" + a.Mailbox + "@" + a.Host + ">"
	}
	return out
}

// SearchHeader returns, by ascending UID, the messages of a mailbox whose
// field contains needle, case-insensitively (RFC 9051 §6.4.4): for an
// address field, any of its addresses written "name <mailbox@host>" with
// the decoded display name; for Subject, the decoded subject. An empty
// needle matches every message that has the field.
//
// The match runs in the database, on the lower-cased forms stored with
// each message, and only matching rows are read. Messages stored before
// those forms existed (migration 0009), and every candidate of a needle
// with a line feed (the stored form's separator between addresses), are
// checked here against the cached envelope.
func (s *Store) SearchHeader(ctx context.Context, mailboxID int64, field HeaderField, needle string) ([]uint32, error) {
	if _, ok := CachedField(string(field)); !ok {
		return nil, fmt.Errorf("store: %q is not a cached header field", field)
	}
	needle = strings.ToLower(needle)
	col, source := field.column(), "envelope"
	if field == HeaderSubject {
		source = "subject"
	}
	recheck := col + " IS NULL"
	if field != HeaderSubject && strings.Contains(needle, "\n") {
		recheck = "TRUE"
	}
	position := "instr"
	if s.db.Dialect() == migrations.Postgres {
		position = "strpos"
	}
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT uid, CASE WHEN %[2]s THEN %[3]s END FROM messages
		WHERE mailbox_id = $1 AND (%[1]s IS NULL OR (%[1]s <> '' AND %[4]s(%[1]s, $2) > 0)) ORDER BY uid`, col, recheck, source, position),
		mailboxID, needle)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var uid int64 // not uint32: database/sql converts those through a string
		var check sql.NullString
		if err := rows.Scan(&uid, &check); err != nil {
			return nil, err
		}
		if check.Valid {
			if ok, err := field.matchCached(check.String, needle); err != nil {
				return nil, fmt.Errorf("store: message %d: %w", uid, err)
			} else if !ok {
				continue
			}
		}
		out = append(out, uint32(uid))
	}
	return out, rows.Err()
}

// matchCached matches a lower-cased needle against the cached subject or
// envelope (JSON) of a message.
func (f HeaderField) matchCached(cached, needle string) (bool, error) {
	if f == HeaderSubject {
		return cached != "" && strings.Contains(strings.ToLower(cached), needle), nil
	}
	if cached == "" {
		return false, nil
	}
	var env Envelope
	if err := json.Unmarshal([]byte(cached), &env); err != nil {
		return false, fmt.Errorf("cached envelope: %w", err)
	}
	for _, v := range addressValues(f.addresses(&env)) {
		if strings.Contains(strings.ToLower(v), needle) {
			return true, nil
		}
	}
	return false, nil
}

// fillBatch bounds the messages FillSearchForms updates per transaction,
// so that deliveries wait for the single writer only briefly.
const fillBatch = 1000

// FillSearchForms writes the search forms of the messages stored before
// they existed (migration 0009) and returns how many it wrote. Until then
// SearchHeader matches those messages from their envelope, correctly but
// more slowly. A message whose cached envelope is unreadable gets empty
// address forms.
func (s *Store) FillSearchForms(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.fillSearchForms(ctx, fillBatch)
		total += n
		if err != nil || n < fillBatch {
			return total, err
		}
	}
}

// fillSearchForms fills up to limit messages in one transaction.
func (s *Store) fillSearchForms(ctx context.Context, limit int) (int, error) {
	type missing struct {
		id                int64
		envelope, subject string
	}
	var todo []missing
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		todo = todo[:0]
		rows, err := tx.QueryContext(ctx, "SELECT id, envelope, subject FROM messages WHERE search_from IS NULL LIMIT $1", limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var m missing
			if err := rows.Scan(&m.id, &m.envelope, &m.subject); err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range todo {
			var env Envelope
			if m.envelope != "" {
				_ = json.Unmarshal([]byte(m.envelope), &env) // unreadable: no addresses
			}
			f := newSearchForms(&env, m.subject)
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET search_from = $1, search_to = $2, search_cc = $3, search_bcc = $4,
				search_subject = $5 WHERE id = $6`, f.from, f.to, f.cc, f.bcc, f.subject, m.id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(todo), nil
}
