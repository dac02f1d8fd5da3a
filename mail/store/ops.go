package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/tidings/tidings/accounts"
)

// FlagUpdate is a message whose flags a StoreFlags call changed.
type FlagUpdate struct {
	UID    uint32
	Flags  []string
	ModSeq uint64
}

// StoreFlags changes the flags of the messages in set. With
// unchangedSince > 0 (CONDSTORE, RFC 7162 §3.1.3) messages whose MODSEQ is
// higher are left alone and returned in modified. Every message whose flags
// change gets the mailbox's next MODSEQ; a message whose flags stay the same
// keeps its MODSEQ.
func (s *Store) StoreFlags(ctx context.Context, mailboxID int64, set []UIDRange, op FlagOp, flags []string,
	unchangedSince uint64) (updated []FlagUpdate, modified []uint32, err error) {
	flags, err = normalizeFlags(flags)
	if err != nil {
		return nil, nil, err
	}
	var box Mailbox
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		updated, modified = nil, nil
		if box, err = mailboxByID(ctx, tx, mailboxID); err != nil {
			return err
		}
		if err := s.lockUser(ctx, tx, box.UserID); err != nil {
			return err
		}
		where, args := uidWhere(set, 2)
		rows, err := tx.QueryContext(ctx, "SELECT uid, flags, modseq FROM messages WHERE mailbox_id = $1 AND "+where+
			" ORDER BY uid"+s.db.ForUpdate(), append([]any{mailboxID}, args...)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var u FlagUpdate
			var cur string
			if err := rows.Scan(&u.UID, &cur, &u.ModSeq); err != nil {
				rows.Close()
				return err
			}
			if unchangedSince > 0 && u.ModSeq > unchangedSince {
				modified = append(modified, u.UID)
				continue
			}
			if u.Flags = applyFlags(splitFlags(cur), op, flags); strings.Join(u.Flags, " ") != cur {
				updated = append(updated, u)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(updated) == 0 {
			return err
		}
		modseq, err := bumpModSeq(ctx, tx, mailboxID)
		if err != nil {
			return err
		}
		for i := range updated {
			u := &updated[i]
			u.ModSeq = modseq
			if _, err := tx.ExecContext(ctx, "UPDATE messages SET flags = $1, seen = $2, deleted = $3, modseq = $4 WHERE mailbox_id = $5 AND uid = $6",
				strings.Join(u.Flags, " "), hasFlag(u.Flags, `\Seen`), hasFlag(u.Flags, `\Deleted`), modseq, mailboxID, u.UID); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && len(updated) > 0 {
		uids := make([]uint32, len(updated))
		for i, u := range updated {
			uids[i] = u.UID
		}
		s.bus.publish(Change{Kind: FlagsChanged, UserID: box.UserID, MailboxID: mailboxID, Mailbox: box.Name,
			UIDs: uids, ModSeq: updated[0].ModSeq})
	}
	return updated, modified, err
}

func bumpModSeq(ctx context.Context, tx *sql.Tx, mailboxID int64) (uint64, error) {
	var modseq uint64
	err := tx.QueryRowContext(ctx, "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = $1 RETURNING highest_modseq",
		mailboxID).Scan(&modseq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNoMailbox
	}
	return modseq, err
}

// Expunge removes the messages flagged \Deleted in set (AllUIDs for
// EXPUNGE; a narrower set for UID EXPUNGE, RFC 4315 §2.1) and returns their
// UIDs.
func (s *Store) Expunge(ctx context.Context, mailboxID int64, set []UIDRange) ([]uint32, error) {
	var box Mailbox
	var gone []gone
	err := s.db.Tx(ctx, func(tx *sql.Tx) (err error) {
		if box, err = mailboxByID(ctx, tx, mailboxID); err != nil {
			return err
		}
		if err := s.lockUser(ctx, tx, box.UserID); err != nil {
			return err
		}
		where, args := uidWhere(set, 2)
		gone, err = removeMessages(ctx, tx, box, "deleted AND "+where, args)
		return err
	})
	return s.afterRemove(box, gone, err)
}

// gone is a message removed in a transaction.
type gone struct {
	uid    uint32
	size   int64
	body   int64
	modseq uint64
}

// removeMessages deletes the messages of box matching cond (args from $2),
// leaving QRESYNC tombstones and adjusting usage.
func removeMessages(ctx context.Context, tx *sql.Tx, box Mailbox, cond string, args []any) ([]gone, error) {
	rows, err := tx.QueryContext(ctx, "SELECT uid, size, body_id FROM messages WHERE mailbox_id = $1 AND "+cond+" ORDER BY uid",
		append([]any{box.ID}, args...)...)
	if err != nil {
		return nil, err
	}
	var out []gone
	for rows.Next() {
		var g gone
		if err := rows.Scan(&g.uid, &g.size, &g.body); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return nil, err
	}
	modseq, err := bumpModSeq(ctx, tx, box.ID)
	if err != nil {
		return nil, err
	}
	var bytes int64
	bodies := make([]int64, len(out))
	for i := range out {
		g := &out[i]
		g.modseq = modseq
		bytes += g.size
		bodies[i] = g.body
		if _, err := tx.ExecContext(ctx, "DELETE FROM messages WHERE mailbox_id = $1 AND uid = $2", box.ID, g.uid); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO expunged (mailbox_id, uid, modseq) VALUES ($1, $2, $3)", box.ID, g.uid, modseq); err != nil {
			return nil, err
		}
	}
	if err := deleteUnusedBodies(ctx, tx, bodies); err != nil {
		return nil, err
	}
	return out, addUsage(ctx, tx, box.UserID, -bytes, -int64(len(out)))
}

// afterRemove publishes what a removing transaction expunged.
func (s *Store) afterRemove(box Mailbox, removed []gone, err error) ([]uint32, error) {
	if err != nil || len(removed) == 0 {
		return nil, err
	}
	uids := make([]uint32, len(removed))
	for i, g := range removed {
		uids[i] = g.uid
	}
	s.bus.publish(Change{Kind: MessagesExpunged, UserID: box.UserID, MailboxID: box.ID, Mailbox: box.Name,
		UIDs: uids, ModSeq: removed[0].modseq})
	return uids, nil
}

// UIDPair maps a source UID to the UID its copy got (COPYUID, RFC 4315 §3).
type UIDPair struct{ Src, Dst uint32 }

// Copy copies the messages in set from one mailbox into another of the
// same user, charging the user's quota.
func (s *Store) Copy(ctx context.Context, u accounts.User, srcID int64, set []UIDRange, dstID int64) ([]UIDPair, error) {
	return s.copyMove(ctx, u, srcID, set, dstID, false)
}

// Move moves the messages in set (RFC 6851): copies and expunges them in
// one transaction.
func (s *Store) Move(ctx context.Context, u accounts.User, srcID int64, set []UIDRange, dstID int64) ([]UIDPair, error) {
	return s.copyMove(ctx, u, srcID, set, dstID, true)
}

func (s *Store) copyMove(ctx context.Context, u accounts.User, srcID int64, set []UIDRange, dstID int64, move bool) ([]UIDPair, error) {
	var src, dst Mailbox
	var pairs []UIDPair
	var removed []gone
	var dstModSeq uint64
	err := s.db.Tx(ctx, func(tx *sql.Tx) (err error) {
		pairs, removed = nil, nil
		if err := s.lockUser(ctx, tx, u.ID); err != nil {
			return err
		}
		if src, err = mailboxByID(ctx, tx, srcID); err != nil {
			return err
		}
		if dst, err = mailboxByID(ctx, tx, dstID); err != nil {
			return err
		}
		if src.UserID != u.ID || dst.UserID != u.ID {
			return ErrNoMailbox
		}
		where, args := uidWhere(set, 2)
		if pairs, dstModSeq, err = s.copyRows(ctx, tx, u, src, dst, where, args); err != nil || !move || len(pairs) == 0 {
			return err
		}
		removed, err = removeMessages(ctx, tx, src, where, args)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(pairs) > 0 {
		dsts := make([]uint32, len(pairs))
		for i, p := range pairs {
			dsts[i] = p.Dst
		}
		s.bus.publish(Change{Kind: MessagesAdded, UserID: u.ID, MailboxID: dst.ID, Mailbox: dst.Name, UIDs: dsts, ModSeq: dstModSeq})
	}
	if move {
		_, err = s.afterRemove(src, removed, nil)
	}
	return pairs, err
}

// copyRows inserts copies of src's rows matching where into dst. The source
// rows are locked (PostgreSQL) so that a concurrent expunge cannot remove
// the last reference to a body this copy is about to share.
func (s *Store) copyRows(ctx context.Context, tx *sql.Tx, u accounts.User, src, dst Mailbox, where string, args []any) ([]UIDPair, uint64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT uid, size, body_id, internal_date, flags, seen, deleted, sent_date, subject, from_addr,
		to_addr, message_id, envelope, search_from, search_to, search_cc, search_bcc, search_subject
		FROM messages WHERE mailbox_id = $1 AND `+where+" ORDER BY uid"+s.db.ForUpdate(),
		append([]any{src.ID}, args...)...)
	if err != nil {
		return nil, 0, err
	}
	type row struct {
		uid                                           uint32
		size, internal, sent                          int64
		body                                          int64
		flags, subject, from, to, messageID, envelope string
		seen, deleted                                 bool
		search                                        [5]sql.NullString // migration 0009; NULL in older rows
	}
	var all []row
	var bytes int64
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.uid, &r.size, &r.body, &r.internal, &r.flags, &r.seen, &r.deleted, &r.sent, &r.subject, &r.from,
			&r.to, &r.messageID, &r.envelope, &r.search[0], &r.search[1], &r.search[2], &r.search[3], &r.search[4]); err != nil {
			rows.Close()
			return nil, 0, err
		}
		all = append(all, r)
		bytes += r.size
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(all) == 0 {
		return nil, 0, err
	}
	if err := chargeQuota(ctx, tx, u, bytes, int64(len(all))); err != nil {
		return nil, 0, err
	}
	pairs := make([]UIDPair, 0, len(all))
	var modseq uint64
	for _, r := range all {
		var uid uint32
		if uid, modseq, err = nextUID(ctx, tx, dst.ID); err != nil {
			return nil, 0, err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO messages (mailbox_id, uid, modseq, body_id, size, internal_date, flags, seen, deleted,
			sent_date, subject, from_addr, to_addr, message_id, envelope, search_from, search_to, search_cc, search_bcc, search_subject)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
			dst.ID, uid, modseq, r.body, r.size, r.internal, r.flags, r.seen, r.deleted, r.sent, r.subject, r.from, r.to, r.messageID, r.envelope,
			r.search[0], r.search[1], r.search[2], r.search[3], r.search[4])
		if err != nil {
			return nil, 0, err
		}
		pairs = append(pairs, UIDPair{Src: r.uid, Dst: uid})
	}
	return pairs, modseq, nil
}

// Vanished returns the UIDs expunged from a mailbox after modseq (QRESYNC
// VANISHED (EARLIER), RFC 7162 §3.2.5.1).
func (s *Store) Vanished(ctx context.Context, mailboxID int64, modseq uint64) ([]uint32, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT uid FROM expunged WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid", mailboxID, modseq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var uid uint32
		if err := rows.Scan(&uid); err != nil {
			return nil, err
		}
		out = append(out, uid)
	}
	return out, rows.Err()
}
