package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations"
)

// SessionCookie is the session cookie's name. The __Host- prefix makes
// browsers insist on Secure, Path=/ and no Domain (RFC 6265bis §4.1.3.2).
const SessionCookie = "__Host-tidings"

// loginCookie carries the login form's CSRF token before there is a
// session (double submit).
const loginCookie = "__Host-tidings-login"

// seenGranularity: a session's seen_at is written at most this often, so
// page views do not each cost a database write.
const seenGranularity = time.Minute

// sessions are rows of web_sessions keyed by the SHA-256 of the cookie.
type sessions struct {
	db  *migrations.DB
	cfg Config
	now func() time.Time
}

func newSessions(db *migrations.DB, cfg Config) *sessions {
	return &sessions{db: db, cfg: cfg, now: time.Now}
}

// session is one signed-in browser.
type session struct {
	id     string // hex SHA-256 of the token
	userID int64
	csrf   string
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// create starts a session for u and returns the cookie token.
func (s *sessions) create(ctx context.Context, u accounts.User, remote, agent string) (string, error) {
	tok := randomToken()
	now := s.now().UnixMicro()
	if len(agent) > 200 {
		agent = agent[:200]
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO web_sessions (id, user_id, csrf, cred_salt, created_at, seen_at, remote, agent)
			SELECT $1, $2, $3, c.salt, $4, $4, $5, $6 FROM credentials c WHERE c.user_id = $2 AND c.mechanism = $7`,
			hashToken(tok), u.ID, randomToken(), now, remote, agent, string(accounts.SCRAMSHA256))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return tok, nil
}

// lookup returns the live session for a cookie token, or nil.
func (s *sessions) lookup(ctx context.Context, tok string) (*session, error) {
	if tok == "" || len(tok) > 100 {
		return nil, nil
	}
	id := hashToken(tok)
	var ss session
	var created, seen int64
	// The join drops sessions from before a password change (new salt).
	err := s.db.QueryRowContext(ctx, `SELECT s.user_id, s.csrf, s.created_at, s.seen_at FROM web_sessions s
		JOIN credentials c ON c.user_id = s.user_id AND c.mechanism = $2 AND c.salt = s.cred_salt
		WHERE s.id = $1`, id, string(accounts.SCRAMSHA256)).Scan(&ss.userID, &ss.csrf, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	now := s.now()
	if now.Sub(time.UnixMicro(created)) > s.cfg.SessionLifetime || now.Sub(time.UnixMicro(seen)) > s.cfg.IdleTimeout {
		s.delete(ctx, id)
		return nil, nil
	}
	ss.id = id
	if now.Sub(time.UnixMicro(seen)) >= seenGranularity {
		if err := s.db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE web_sessions SET seen_at = $1 WHERE id = $2`, now.UnixMicro(), id)
			return err
		}); err != nil {
			return nil, fmt.Errorf("session: %w", err)
		}
	}
	return &ss, nil
}

func (s *sessions) delete(ctx context.Context, id string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE id = $1`, id)
		return err
	})
}

// deleteUser ends all of a user's sessions but keep (a session id, or "").
func (s *sessions) deleteUser(ctx context.Context, userID int64, keep string) (int64, error) {
	var n int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE user_id = $1 AND id <> $2`, userID, keep)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// sweep deletes expired sessions.
func (s *sessions) sweep(ctx context.Context) (int64, error) {
	now := s.now()
	var n int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE created_at < $1 OR seen_at < $2`,
			now.Add(-s.cfg.SessionLifetime).UnixMicro(), now.Add(-s.cfg.IdleTimeout).UnixMicro())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// checkCSRF accepts a state-changing request that carries the session's
// token and, when the browser names an Origin, comes from this site.
func checkCSRF(r *http.Request, want string) error {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return fmt.Errorf("cross-origin request from %q", o)
		}
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return errors.New("missing or wrong CSRF token")
	}
	return nil
}

func setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if maxAge < 0 {
		c.MaxAge = -1
	} else if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
