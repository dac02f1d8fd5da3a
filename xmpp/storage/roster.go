package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Subscription is the subscription attribute of a roster item
// (RFC 6121 §2.1.2.5).
type Subscription string

// The subscription states.
const (
	SubNone Subscription = "none" // neither sees the other's presence
	SubTo   Subscription = "to"   // the owner sees the contact's presence
	SubFrom Subscription = "from" // the contact sees the owner's presence
	SubBoth Subscription = "both"
)

func (s Subscription) hasTo() bool   { return s == SubTo || s == SubBoth }
func (s Subscription) hasFrom() bool { return s == SubFrom || s == SubBoth }

func subscriptionOf(to, from bool) Subscription {
	switch {
	case to && from:
		return SubBoth
	case to:
		return SubTo
	case from:
		return SubFrom
	}
	return SubNone
}

// Item is one roster entry (RFC 6121 §2.1).
type Item struct {
	JID          string
	Name         string
	Groups       []string // sorted, de-duplicated; nil when none
	Subscription Subscription
	PendingOut   bool // we asked to subscribe to the contact, no answer yet (ask='subscribe')
	PendingIn    bool // the contact asked to subscribe to us, not answered yet
	Approved     bool // pre-approved (RFC 6121 §3.4)
	Hidden       bool // exists only to remember an inbound request from a contact not in the roster; never shown in roster gets/pushes
}

// visibleEqual reports whether a and b look the same in a roster push. Both
// hidden (or gone) counts as equal; PendingIn is not part of a roster item.
func visibleEqual(a, b Item) bool {
	if a.Hidden || b.Hidden {
		return a.Hidden == b.Hidden
	}
	return a.JID == b.JID && a.Name == b.Name && slices.Equal(a.Groups, b.Groups) &&
		a.Subscription == b.Subscription && a.PendingOut == b.PendingOut && a.Approved == b.Approved
}

// sameRow reports whether a and b are stored identically.
func sameRow(a, b Item) bool {
	return a.JID == b.JID && a.Name == b.Name && slices.Equal(a.Groups, b.Groups) &&
		a.Subscription == b.Subscription && a.PendingOut == b.PendingOut &&
		a.PendingIn == b.PendingIn && a.Approved == b.Approved && a.Hidden == b.Hidden
}

// normalizeGroups sorts and de-duplicates; nil when empty.
func normalizeGroups(groups []string) []string {
	if len(groups) == 0 {
		return nil
	}
	g := slices.Clone(groups)
	slices.Sort(g)
	return slices.Compact(g)
}

var errEmptyJID = errors.New("xmpp storage: empty contact JID")

const itemCols = "jid, name, group_names, subscription, pending_out, pending_in, approved, hidden"

func scanItem(row interface{ Scan(...any) error }) (Item, error) {
	var it Item
	var groups string
	err := row.Scan(&it.JID, &it.Name, &groups, &it.Subscription, &it.PendingOut, &it.PendingIn, &it.Approved, &it.Hidden)
	if err != nil {
		return it, err
	}
	if err := json.Unmarshal([]byte(groups), &it.Groups); err != nil {
		return it, fmt.Errorf("roster item %s: groups: %w", it.JID, err)
	}
	it.Groups = normalizeGroups(it.Groups)
	return it, nil
}

func encodeGroups(groups []string) string {
	if len(groups) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(groups) // []string always encodes
	return string(b)
}

// getItem reads one row; lock appends the row lock (inside a transaction).
func (s *Store) getItem(ctx context.Context, q queryer, owner int64, contact string, lock bool) (Item, bool, error) {
	query := "SELECT " + itemCols + " FROM xmpp_roster WHERE user_id = $1 AND jid = $2"
	if lock {
		query += s.db.ForUpdate()
	}
	it, err := scanItem(q.QueryRowContext(ctx, query, owner, contact))
	if errors.Is(err, sql.ErrNoRows) {
		return Item{}, false, nil
	}
	if err != nil {
		return Item{}, false, fmt.Errorf("roster item %s: %w", contact, err)
	}
	return it, true, nil
}

// saveItem inserts or updates it.
func saveItem(ctx context.Context, tx *sql.Tx, owner int64, it Item, exists bool) error {
	query := `UPDATE xmpp_roster SET name = $3, group_names = $4, subscription = $5,
		pending_out = $6, pending_in = $7, approved = $8, hidden = $9 WHERE user_id = $1 AND jid = $2`
	if !exists {
		query = `INSERT INTO xmpp_roster (user_id, jid, name, group_names, subscription, pending_out, pending_in, approved, hidden)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	}
	_, err := tx.ExecContext(ctx, query, owner, it.JID, it.Name, encodeGroups(it.Groups), string(it.Subscription),
		it.PendingOut, it.PendingIn, it.Approved, it.Hidden)
	if err != nil {
		return fmt.Errorf("save roster item %s: %w", it.JID, err)
	}
	return nil
}

func deleteItem(ctx context.Context, tx *sql.Tx, owner int64, contact string) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM xmpp_roster WHERE user_id = $1 AND jid = $2", owner, contact); err != nil {
		return fmt.Errorf("delete roster item %s: %w", contact, err)
	}
	return nil
}

// checkRoom fails with ErrRosterFull when owner already has
// MaxRosterItems visible items (hidden false) or remembered requests
// (hidden true).
func (s *Store) checkRoom(ctx context.Context, tx *sql.Tx, owner int64, hidden bool) error {
	n, err := count(ctx, tx, "SELECT COUNT(*) FROM xmpp_roster WHERE user_id = $1 AND hidden = $2", owner, hidden)
	if err != nil {
		return fmt.Errorf("count roster items: %w", err)
	}
	if n >= s.cfg.MaxRosterItems {
		return fmt.Errorf("%w (%d items)", ErrRosterFull, n)
	}
	return nil
}

// bump advances owner's roster version (XEP-0237); the caller holds the
// lockUser lock.
func bump(ctx context.Context, tx *sql.Tx, owner int64) (int64, error) {
	var v int64
	err := tx.QueryRowContext(ctx, "UPDATE xmpp_users SET roster_version = roster_version + 1 WHERE user_id = $1 RETURNING roster_version", owner).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("bump roster version: %w", err)
	}
	return v, nil
}

// RosterVersion returns owner's roster version (XEP-0237): "0" until the
// first change, then a counter that every visible change advances.
func (s *Store) RosterVersion(ctx context.Context, owner int64) (string, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, "SELECT roster_version FROM xmpp_users WHERE user_id = $1", owner).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("roster version: %w", err)
	}
	return formatVersion(v), nil
}

// Roster returns the visible (non-hidden) items sorted by JID and the
// current roster version string. The version is read first, so the items
// are never older than it: a client that caches them under it can miss no
// change.
func (s *Store) Roster(ctx context.Context, owner int64) ([]Item, string, error) {
	ver, err := s.RosterVersion(ctx, owner)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+itemCols+" FROM xmpp_roster WHERE user_id = $1 AND hidden = $2", owner, false)
	if err != nil {
		return nil, "", fmt.Errorf("roster: %w", err)
	}
	defer rows.Close()
	var items []Item
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, "", fmt.Errorf("roster: %w", err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("roster: %w", err)
	}
	// Sorted here, not by ORDER BY: a PostgreSQL collation would order
	// differently from SQLite's byte order.
	slices.SortFunc(items, func(a, b Item) int { return strings.Compare(a.JID, b.JID) })
	return items, ver, nil
}

// Item returns the item for contact, hidden ones too.
func (s *Store) Item(ctx context.Context, owner int64, contact string) (Item, bool, error) {
	return s.getItem(ctx, s.db, owner, contact, false)
}

// SetItem creates or updates name/groups (a roster set, RFC 6121 §2.3);
// keeps the subscription state; makes a hidden item visible. It returns the
// item and the roster version after the change (unchanged if nothing
// changed). It returns ErrRosterFull when a new item would exceed
// MaxRosterItems.
func (s *Store) SetItem(ctx context.Context, owner int64, contact, name string, groups []string) (Item, string, error) {
	if contact == "" {
		return Item{}, "", errEmptyJID
	}
	var it Item
	var ver int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if ver, err = s.lockUser(ctx, tx, owner); err != nil {
			return err
		}
		before, found, err := s.getItem(ctx, tx, owner, contact, true)
		if err != nil {
			return err
		}
		it = before
		if !found {
			it = Item{JID: contact, Subscription: SubNone}
		}
		it.Name, it.Groups, it.Hidden = name, normalizeGroups(groups), false
		if found && sameRow(before, it) {
			return nil
		}
		if !found || before.Hidden {
			if err := s.checkRoom(ctx, tx, owner, false); err != nil {
				return err
			}
		}
		if err := saveItem(ctx, tx, owner, it, found); err != nil {
			return err
		}
		ver, err = bump(ctx, tx, owner)
		return err
	})
	if err != nil {
		return Item{}, "", err
	}
	return it, formatVersion(ver), nil
}

// RemoveItem deletes the item (RFC 6121 §2.5). It returns the state before,
// so that the caller can send unsubscribe and unsubscribed as §2.5.3 asks,
// the roster version after, and whether the item existed. Removing a hidden
// item does not change the version.
func (s *Store) RemoveItem(ctx context.Context, owner int64, contact string) (before Item, ver string, existed bool, err error) {
	var v int64
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if v, err = s.lockUser(ctx, tx, owner); err != nil {
			return err
		}
		if before, existed, err = s.getItem(ctx, tx, owner, contact, true); err != nil || !existed {
			return err
		}
		if err := deleteItem(ctx, tx, owner, contact); err != nil {
			return err
		}
		if !before.Hidden {
			v, err = bump(ctx, tx, owner)
		}
		return err
	})
	if err != nil {
		return Item{}, "", false, err
	}
	return before, formatVersion(v), existed, nil
}

// PendingIn lists, sorted, the contacts whose subscription requests the
// owner has not answered (hidden or not), for redelivery at the next
// initial presence (RFC 6121 §3.1.3).
func (s *Store) PendingIn(ctx context.Context, owner int64) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT jid FROM xmpp_roster WHERE user_id = $1 AND pending_in = $2", owner, true)
	if err != nil {
		return nil, fmt.Errorf("pending subscription requests: %w", err)
	}
	defer rows.Close()
	var jids []string
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			return nil, fmt.Errorf("pending subscription requests: %w", err)
		}
		jids = append(jids, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending subscription requests: %w", err)
	}
	slices.Sort(jids)
	return jids, nil
}
