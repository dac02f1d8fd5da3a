package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SetLastLogout records the end of owner's last session and the status text
// of its unavailable presence, for last activity (XEP-0012).
func (s *Store) SetLastLogout(ctx context.Context, owner int64, at time.Time, status string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO xmpp_users (user_id, last_logout, last_status) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET last_logout = excluded.last_logout, last_status = excluded.last_status`,
			owner, at.UnixMicro(), status)
		if err != nil {
			return fmt.Errorf("record last logout: %w", err)
		}
		return nil
	})
}

// LastLogout returns what SetLastLogout recorded; ok is false if owner
// never logged out.
func (s *Store) LastLogout(ctx context.Context, owner int64) (at time.Time, status string, ok bool, err error) {
	var us sql.NullInt64
	err = s.db.QueryRowContext(ctx, "SELECT last_logout, last_status FROM xmpp_users WHERE user_id = $1", owner).Scan(&us, &status)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !us.Valid {
		return time.Time{}, "", false, nil
	}
	if err != nil {
		return time.Time{}, "", false, fmt.Errorf("last logout: %w", err)
	}
	return fromMicro(us.Int64), status, true, nil
}
