package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// VCard returns owner's vcard-temp (XEP-0054): the serialized
// <vCard xmlns='vcard-temp'> element, and whether one is stored.
func (s *Store) VCard(ctx context.Context, owner int64) ([]byte, bool, error) {
	return getBlob(ctx, s.db, "vCard", "SELECT xml FROM xmpp_vcards WHERE user_id = $1", owner)
}

// SetVCard replaces owner's vCard with xml.
func (s *Store) SetVCard(ctx context.Context, owner int64, xml []byte) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO xmpp_vcards (user_id, xml, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET xml = excluded.xml, updated_at = excluded.updated_at`,
			owner, notNil(xml), time.Now().Unix())
		if err != nil {
			return fmt.Errorf("store vCard: %w", err)
		}
		return nil
	})
}

// Private returns the private XML (XEP-0049) stored for owner under the
// child element's namespace ns and local name, and whether there is one.
func (s *Store) Private(ctx context.Context, owner int64, ns, local string) ([]byte, bool, error) {
	return getBlob(ctx, s.db, "private XML",
		"SELECT xml FROM xmpp_private WHERE user_id = $1 AND ns = $2 AND local_name = $3", owner, ns, local)
}

// SetPrivate stores xml for owner under (ns, local), replacing what was
// there. It returns ErrPrivateFull when a new key would exceed MaxPrivate.
func (s *Store) SetPrivate(ctx context.Context, owner int64, ns, local string, xml []byte) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.lockUser(ctx, tx, owner); err != nil {
			return err
		}
		_, found, err := getBlob(ctx, tx, "private XML",
			"SELECT xml FROM xmpp_private WHERE user_id = $1 AND ns = $2 AND local_name = $3", owner, ns, local)
		if err != nil {
			return err
		}
		if !found {
			n, err := count(ctx, tx, "SELECT COUNT(*) FROM xmpp_private WHERE user_id = $1", owner)
			if err != nil {
				return fmt.Errorf("count private XML: %w", err)
			}
			if n >= s.cfg.MaxPrivate {
				return fmt.Errorf("%w (%d entries)", ErrPrivateFull, n)
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO xmpp_private (user_id, ns, local_name, xml, updated_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id, ns, local_name) DO UPDATE SET xml = excluded.xml, updated_at = excluded.updated_at`,
			owner, ns, local, notNil(xml), time.Now().Unix())
		if err != nil {
			return fmt.Errorf("store private XML: %w", err)
		}
		return nil
	})
}

func getBlob(ctx context.Context, q queryer, what, query string, args ...any) ([]byte, bool, error) {
	var b []byte
	err := q.QueryRowContext(ctx, query, args...).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", what, err)
	}
	return notNil(b), true, nil
}

// notNil turns nil into an empty slice: the columns are NOT NULL, and a
// stored empty value reads back non-nil.
func notNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
