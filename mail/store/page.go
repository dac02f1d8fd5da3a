package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/tidings/tidings/migrations"
)

// The webmail's queries: one page of a sorted, filtered message list and
// every mailbox's counts at once. Both read only the cached columns of
// messages (never bodies or envelopes), so a 10,000-message folder pages in
// a few milliseconds: sorting by date walks the messages_date index
// (migration 0008) and stops after the page.

// PageSort is the order of a message list page.
type PageSort string

// The orders a list can be sorted by.
const (
	SortDate    PageSort = "date"    // arrival (INTERNALDATE), the default
	SortSent    PageSort = "sent"    // the Date header
	SortFrom    PageSort = "from"    // the first From address, case-insensitively
	SortTo      PageSort = "to"      // the first To address, case-insensitively
	SortSubject PageSort = "subject" // case-insensitively
	SortSize    PageSort = "size"
)

// PageQuery selects one page of a mailbox's messages.
type PageQuery struct {
	Sort   PageSort // "" is SortDate
	Desc   bool     // descending (newest, largest, Z first)
	Offset int
	Limit  int // 0: no limit
	// Search keeps messages whose subject, From or To contains it,
	// case-insensitively (ASCII case on SQLite; the database's case
	// mapping on PostgreSQL).
	Search string
	Unseen bool // only messages without \Seen
}

// orderBy gives the ORDER BY for a sort. Ties fall back to the row id,
// which follows UID order within a mailbox and, on SQLite, is part of
// every index, so a date-sorted page is read straight off messages_date.
func (q PageQuery) orderBy() (string, error) {
	dir := " ASC"
	if q.Desc {
		dir = " DESC"
	}
	var col string
	switch q.Sort {
	case "", SortDate:
		col = "internal_date"
	case SortSent:
		col = "sent_date"
	case SortFrom:
		col = "lower(from_addr)"
	case SortTo:
		col = "lower(to_addr)"
	case SortSubject:
		col = "lower(subject)"
	case SortSize:
		col = "size"
	default:
		return "", fmt.Errorf("store: unknown sort %q", q.Sort)
	}
	return " ORDER BY " + col + dir + ", id" + dir, nil
}

// where renders the query's filter on mailbox mailboxID.
func (q PageQuery) where(d migrations.Dialect, mailboxID int64) (string, []any) {
	cond := "mailbox_id = $1"
	args := []any{mailboxID}
	if q.Unseen {
		cond += " AND NOT seen"
	}
	if s := strings.TrimSpace(q.Search); s != "" {
		like := "LIKE" // SQLite: case-insensitive for ASCII
		if d == migrations.Postgres {
			like = "ILIKE"
		}
		pat := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
		cond += fmt.Sprintf(` AND (subject %[1]s $2 ESCAPE '\' OR from_addr %[1]s $2 ESCAPE '\' OR to_addr %[1]s $2 ESCAPE '\')`, like)
		args = append(args, pat)
	}
	return cond, args
}

// Page returns one page of a mailbox's messages (without envelopes) in the
// query's order, and how many messages match the query in all.
func (s *Store) Page(ctx context.Context, mailboxID int64, q PageQuery) ([]Message, int, error) {
	order, err := q.orderBy()
	if err != nil {
		return nil, 0, err
	}
	where, args := q.where(s.db.Dialect(), mailboxID)
	var total int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM messages WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	if total == 0 || q.Offset >= total {
		return nil, total, nil
	}
	limit := ""
	if q.Limit > 0 {
		limit = fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	if q.Offset > 0 {
		if limit == "" {
			limit = " LIMIT -1"
			if s.db.Dialect() == migrations.Postgres {
				limit = " LIMIT ALL"
			}
		}
		limit += fmt.Sprintf(" OFFSET %d", q.Offset)
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+messageCols+" FROM messages WHERE "+where+order+limit, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := make([]Message, 0, min(max(q.Limit, 0), total))
	for rows.Next() {
		m, err := scanMessage(rows, nil)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, m)
	}
	return out, total, rows.Err()
}

// MailboxCounts returns every mailbox of a user, by name, with its message
// and unseen counts (Deleted and Size are left zero): the webmail's folder
// list in one query.
func (s *Store) MailboxCounts(ctx context.Context, userID int64) ([]Status, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+mailboxCols+`, COALESCE(c.n, 0), COALESCE(c.unseen, 0)
		FROM mailboxes m LEFT JOIN (SELECT mailbox_id, COUNT(*) AS n, SUM(CASE WHEN seen THEN 0 ELSE 1 END) AS unseen
			FROM messages WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE user_id = $1) GROUP BY mailbox_id) c
		ON c.mailbox_id = m.id
		WHERE m.user_id = $1 ORDER BY m.name`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Status
	for rows.Next() {
		var st Status
		m := &st.Mailbox
		if err := rows.Scan(&m.ID, &m.UserID, &m.Name, &m.SpecialUse, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &m.Subscribed,
			&st.Messages, &st.Unseen); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}
