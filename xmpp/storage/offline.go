package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Offline is a message stored while none of its recipient's clients was
// available (RFC 6121 §8.5.2.1.1, XEP-0160).
type Offline struct {
	ID     int64
	Stanza []byte // the serialized <message/>
	Stamp  time.Time
}

// StoreOffline keeps stanza for owner, received at at. It returns
// ErrOfflineFull when owner already has MaxOffline messages; the caller
// then bounces the message with a service-unavailable error.
func (s *Store) StoreOffline(ctx context.Context, owner int64, stanza []byte, at time.Time) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.lockUser(ctx, tx, owner); err != nil {
			return err
		}
		n, err := count(ctx, tx, "SELECT COUNT(*) FROM xmpp_offline WHERE user_id = $1", owner)
		if err != nil {
			return fmt.Errorf("count offline messages: %w", err)
		}
		if n >= s.cfg.MaxOffline {
			return fmt.Errorf("%w (%d messages)", ErrOfflineFull, n)
		}
		if stanza == nil {
			stanza = []byte{} // NOT NULL
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO xmpp_offline (user_id, stanza, stamp) VALUES ($1, $2, $3)",
			owner, stanza, at.UnixMicro())
		if err != nil {
			return fmt.Errorf("store offline message: %w", err)
		}
		return nil
	})
}

// Offline returns owner's offline messages, oldest first.
func (s *Store) Offline(ctx context.Context, owner int64) ([]Offline, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, stanza, stamp FROM xmpp_offline WHERE user_id = $1 ORDER BY id", owner)
	if err != nil {
		return nil, fmt.Errorf("offline messages: %w", err)
	}
	defer rows.Close()
	var msgs []Offline
	for rows.Next() {
		var m Offline
		var stamp int64
		if err := rows.Scan(&m.ID, &m.Stanza, &stamp); err != nil {
			return nil, fmt.Errorf("offline messages: %w", err)
		}
		m.Stamp = fromMicro(stamp)
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("offline messages: %w", err)
	}
	return msgs, nil
}

// DeleteOffline deletes owner's offline messages with IDs up to upToID,
// once they have been delivered.
func (s *Store) DeleteOffline(ctx context.Context, owner int64, upToID int64) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM xmpp_offline WHERE user_id = $1 AND id <= $2", owner, upToID)
		if err != nil {
			return fmt.Errorf("delete offline messages: %w", err)
		}
		return nil
	})
}

// CountOffline returns how many offline messages owner has.
func (s *Store) CountOffline(ctx context.Context, owner int64) (int, error) {
	n, err := count(ctx, s.db, "SELECT COUNT(*) FROM xmpp_offline WHERE user_id = $1", owner)
	if err != nil {
		return 0, fmt.Errorf("count offline messages: %w", err)
	}
	return n, nil
}
