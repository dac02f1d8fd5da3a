package filters

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters/sieve"
)

// vacation decides whether the engine's vacation action is sent: the
// engine has applied RFC 5230 §4.5 (no lists, bounces, auto-submitted
// mail, only mail addressed to the user); here the memory of §4.2 answers
// "already replied to this sender for this handle in this period".
func (f *Filter) vacation(ctx context.Context, u accounts.User, env *sieve.Env, v *sieve.Vacation) (*Reply, error) {
	sender := strings.ToLower(v.Sender)
	if sender == "" {
		return nil, nil
	}
	now := env.Now
	var until int64
	err := f.db.QueryRowContext(ctx, `SELECT until_at FROM sieve_vacation WHERE user_id = $1 AND handle = $2 AND sender = $3`,
		u.ID, v.Handle, sender).Scan(&until)
	switch {
	case err == nil && until > now.UnixMicro():
		return nil, nil // RFC 5230 §4.2: answered already in this period
	case err != nil && err != sql.ErrNoRows:
		return nil, fmt.Errorf("filters: vacation memory: %w", err)
	}
	body := sieve.ComposeVacation(v, env, now, messageID(u.Domain))
	return &Reply{To: v.Sender, Body: body, userID: u.ID, handle: v.Handle, until: now.Add(v.Period)}, nil
}

// Remember records a sent vacation reply in tx, the delivery's transaction,
// so the reply and its memory commit together. Other replies are ignored.
func Remember(ctx context.Context, tx *sql.Tx, r *Reply) error {
	if r == nil || r.handle == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO sieve_vacation (user_id, handle, sender, until_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, handle, sender) DO UPDATE SET until_at = excluded.until_at`,
		r.userID, r.handle, strings.ToLower(r.To), r.until.UnixMicro())
	return err
}

// PruneVacation deletes expired vacation memory.
func (f *Filter) PruneVacation(ctx context.Context) error {
	return f.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sieve_vacation WHERE until_at < $1`, time.Now().UnixMicro())
		return err
	})
}

// messageID makes a Message-ID for a generated message.
func messageID(domain string) string {
	return "<" + strings.ToLower(rand.Text()) + "@" + domain + ">"
}

// mimeWord encodes a header text as an RFC 2047 word when it is not ASCII.
func mimeWord(s string) string { return mime.QEncoding.Encode("utf-8", s) }
