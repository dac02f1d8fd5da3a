package storage

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// BlockList returns owner's block list (XEP-0191): JIDs as strings
// (domain, bare or full), in the order they were added.
func (s *Store) BlockList(ctx context.Context, owner int64) ([]string, error) {
	return blockList(ctx, s.db, owner)
}

func blockList(ctx context.Context, q queryer, owner int64) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT jid FROM xmpp_blocklist WHERE user_id = $1 ORDER BY id", owner)
	if err != nil {
		return nil, fmt.Errorf("block list: %w", err)
	}
	defer rows.Close()
	var jids []string
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			return nil, fmt.Errorf("block list: %w", err)
		}
		jids = append(jids, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("block list: %w", err)
	}
	return jids, nil
}

// Block adds jids to owner's block list and returns those that were not on
// it yet, in the order given. It adds all or nothing: ErrBlockListFull when
// the list would exceed MaxBlocked.
func (s *Store) Block(ctx context.Context, owner int64, jids []string) (added []string, err error) {
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		added = nil
		if _, err := s.lockUser(ctx, tx, owner); err != nil {
			return err
		}
		have, err := blockList(ctx, tx, owner)
		if err != nil {
			return err
		}
		for _, j := range jids {
			if !slices.Contains(have, j) && !slices.Contains(added, j) {
				added = append(added, j)
			}
		}
		if len(have)+len(added) > s.cfg.MaxBlocked {
			return fmt.Errorf("%w (%d entries, %d more asked for)", ErrBlockListFull, len(have), len(added))
		}
		for _, j := range added {
			if _, err := tx.ExecContext(ctx, "INSERT INTO xmpp_blocklist (user_id, jid) VALUES ($1, $2)", owner, j); err != nil {
				return fmt.Errorf("block %s: %w", j, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

// Unblock removes jids from owner's block list and returns those that were
// on it, in the order given. Nil or empty jids unblocks everything and
// returns all that was removed, in list order (XEP-0191 §3.5).
func (s *Store) Unblock(ctx context.Context, owner int64, jids []string) (removed []string, err error) {
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		removed = nil
		if _, err := s.lockUser(ctx, tx, owner); err != nil {
			return err
		}
		have, err := blockList(ctx, tx, owner)
		if err != nil {
			return err
		}
		if len(jids) == 0 {
			removed = have
			_, err := tx.ExecContext(ctx, "DELETE FROM xmpp_blocklist WHERE user_id = $1", owner)
			if err != nil {
				return fmt.Errorf("unblock all: %w", err)
			}
			return nil
		}
		for _, j := range jids {
			if !slices.Contains(have, j) || slices.Contains(removed, j) {
				continue
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM xmpp_blocklist WHERE user_id = $1 AND jid = $2", owner, j); err != nil {
				return fmt.Errorf("unblock %s: %w", j, err)
			}
			removed = append(removed, j)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}
