package s2s

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"time"

	"github.com/tidings/tidings/migrations"
)

// LoadSecret returns the dialback secret from table s2s_secret, creating
// it on first use. Kept in the database rather than under data_dir so
// every node of a cluster computes the same keys (a peer's db:verify may
// reach any node).
func LoadSecret(ctx context.Context, db *migrations.DB) ([]byte, error) {
	var secret []byte
	err := db.QueryRowContext(ctx, `SELECT secret FROM s2s_secret WHERE id = 1`).Scan(&secret)
	if err == nil && len(secret) >= 16 {
		return secret, nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	err = db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO s2s_secret (id, secret, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING`,
			fresh, time.Now().UnixMicro())
		return err
	})
	if err != nil {
		return nil, err
	}
	err = db.QueryRowContext(ctx, `SELECT secret FROM s2s_secret WHERE id = 1`).Scan(&secret)
	return secret, err
}

// dialbackKey is the XEP-0185 key: HMAC-SHA256 keyed with SHA-256 of the
// secret over "receiving originating streamID", hex-encoded.
func dialbackKey(secret []byte, receiving, originating, streamID string) string {
	k := sha256.Sum256(secret)
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(receiving + " " + originating + " " + streamID))
	return hex.EncodeToString(m.Sum(nil))
}

func keyValid(secret []byte, receiving, originating, streamID, key string) bool {
	want := dialbackKey(secret, receiving, originating, streamID)
	return subtle.ConstantTimeCompare([]byte(want), []byte(key)) == 1
}
