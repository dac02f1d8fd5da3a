package filters

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/secure/precis"

	"github.com/tidings/tidings/accounts"
)

// Per-user notification settings (table filter_settings), edited in the
// webmail. Today there is one: the Jabber ID new-mail notifications go to.
// A script (and the webmail's rule editor) always writes
// notify "xmpp:<the user's own JID>"; this setting decides where such a
// notice lands, so the user can move notifications to another account
// without touching their filters. See [Filter] notification routing in
// notify.go.

// ErrBadJID is what a [*JIDError] unwraps to.
var ErrBadJID = errors.New("invalid Jabber ID")

// JIDError says why [NormalizeJID] (and so [Scripts.SetNotifyJID])
// refused a Jabber ID, in words a user understands.
type JIDError struct {
	Value  string
	Reason string
}

func (e *JIDError) Error() string { return fmt.Sprintf("invalid Jabber ID %q: %s", e.Value, e.Reason) }

// Unwrap makes errors.Is(err, ErrBadJID) true.
func (e *JIDError) Unwrap() error { return ErrBadJID }

// maxJIDLocal bounds a JID's localpart (RFC 7622 §3.3.1: 1023 octets).
const maxJIDLocal = 1023

// NormalizeJID checks that s is a bare JID of the form local@domain (RFC
// 7622 §3: no resource) and returns its canonical form: the localpart
// under PRECIS UsernameCaseMapped (RFC 7622 §3.3, lower case), the domain
// in IDNA A-labels. Errors are [*JIDError].
func NormalizeJID(s string) (string, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "xmpp:")
	bad := func(why string) (string, error) { return "", &JIDError{Value: s, Reason: why} }
	if strings.ContainsRune(s, '/') {
		return bad("give the bare address (name@server), without a /resource")
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return bad("must have the form name@server")
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > maxJIDLocal {
		return bad(fmt.Sprintf("the name part is longer than %d bytes", maxJIDLocal))
	}
	// RFC 7622 §3.3.1: these may not appear in a localpart.
	if strings.ContainsAny(local, "\"&':<>@") || strings.ContainsFunc(local, unicode.IsSpace) {
		return bad("the name part may not contain spaces or any of \" & ' : < > @")
	}
	l, err := precis.UsernameCaseMapped.String(local)
	if err != nil {
		return bad("the name part contains characters a Jabber ID may not hold (RFC 7622)")
	}
	d, err := accounts.NormalizeDomain(domain)
	if err != nil {
		var ne *accounts.NameError
		if errors.As(err, &ne) {
			return bad("the server part " + ne.Rule)
		}
		return bad("the server part is not a valid domain name")
	}
	return l + "@" + d, nil
}

// NotifyJID returns the Jabber ID the user's new-mail notifications go to,
// or "" when they go to the user's own JID (the default).
func (s *Scripts) NotifyJID(ctx context.Context, userID int64) (string, error) {
	var jid string
	err := s.db.QueryRowContext(ctx, `SELECT notify_jid FROM filter_settings WHERE user_id = $1`, userID).Scan(&jid)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("filters: notification address: %w", err)
	}
	return jid, nil
}

// SetNotifyJID sets where the user's new-mail notifications go: a bare
// JID (normalised with [NormalizeJID]), or "" for the user's own JID.
func (s *Scripts) SetNotifyJID(ctx context.Context, userID int64, jid string) error {
	if strings.TrimSpace(jid) != "" {
		n, err := NormalizeJID(jid)
		if err != nil {
			return err
		}
		jid = n
	} else {
		jid = ""
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		// The same upsert on SQLite (3.24+) and PostgreSQL (9.5+).
		_, err := tx.ExecContext(ctx, `INSERT INTO filter_settings (user_id, notify_jid) VALUES ($1, $2)
			ON CONFLICT (user_id) DO UPDATE SET notify_jid = excluded.notify_jid`, userID, jid)
		if err != nil {
			return fmt.Errorf("filters: set notification address: %w", err)
		}
		return nil
	})
}
