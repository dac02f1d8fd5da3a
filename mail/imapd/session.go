package imapd

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/mail/imapd/imapserver"
	"github.com/tidings/tidings/mail/store"
)

// session is one IMAP connection. imapserver calls its methods from the
// connection's goroutine, one command at a time (Idle runs on a second
// goroutine while the first waits for DONE).
type session struct {
	s       *Server
	conn    *imapserver.Conn
	mode    Mode
	remote  netip.Addr
	log     *slog.Logger
	ctx     context.Context // cancelled at Close and when the server closes
	cancel  context.CancelFunc
	busy    atomic.Int32 // inside a command: Shutdown waits before BYE
	byeSent atomic.Bool

	user      *userState    // after login
	acct      accounts.User // as at login
	sel       *selected     // the selected mailbox, or nil; written under selMu
	selMu     sync.Mutex
	searchRes imap.UIDSet // SEARCH RETURN (SAVE), RFC 5182
}

var (
	_ imapserver.SessionIMAP4rev2   = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
	_ imapserver.SessionQResync     = (*session)(nil)
	_ imapserver.SessionQuota       = (*session)(nil)
	_ imapserver.SessionID          = (*session)(nil)
)

// IMAP replies of this package (response codes: RFC 5530).
var (
	errInternal  = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Internal server error"}
	errTemporary = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
		Text: "Temporary failure; please try again later"}
	errAuthFailed   = imapserver.ErrAuthFailed
	errThrottled    = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Too many failed logins; try again later"}
	errTooMany      = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit, Text: "Too many sessions for this account"}
	errNoMailbox    = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox"}
	errTryCreate    = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	errExists       = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox already exists"}
	errOverQuota    = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: "Quota exceeded"}
	errTooBig       = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too big"}
	errReadOnly     = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Mailbox is read-only (EXAMINE)"}
	errBoxGone      = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "The selected mailbox was deleted"}
	errUnsupported  = &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Not supported"}
	errShuttingDown = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: shutdownNotice}
)

// enter marks the start of a command; defer leave right after it.
func (x *session) enter() { x.busy.Add(1) }

// leave ends a command. It recovers a panic into an internal-error reply,
// so that one bad command does not end the connection (STYLE 7).
func (x *session) leave(err *error) {
	if p := recover(); p != nil {
		x.log.Error("panic in command", "panic", p, "stack", string(debug.Stack()))
		*err = errInternal
	}
	x.busy.Add(-1)
}

// fail turns a store error into the client's reply; unexpected errors are
// logged and answered generically.
func (x *session) fail(err error, what string) error {
	var ie *imap.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return err
	case errors.Is(err, store.ErrNoMailbox):
		return errNoMailbox
	case errors.Is(err, store.ErrMailboxExists):
		return errExists
	case errors.Is(err, store.ErrOverQuota):
		return errOverQuota
	case errors.Is(err, store.ErrTooBig):
		return errTooBig
	case errors.Is(err, store.ErrInvalidName), errors.Is(err, store.ErrMailboxInUse), errors.Is(err, store.ErrInvalidKeyword):
		// These texts name only what the client sent.
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: err.Error()}
	case errors.Is(err, context.Canceled) && x.ctx.Err() != nil:
		return errTemporary
	}
	x.log.Error(what+" failed", "err", err)
	return errTemporary
}

// Close ends the session; imapserver calls it when the connection ends.
func (x *session) Close() error {
	x.unselect()
	if x.user != nil {
		x.s.logout(x)
	}
	x.s.forget(x)
	x.cancel()
	x.log.Debug("disconnected")
	return nil
}

// bye ends the connection with an untagged BYE (RFC 9051 §7.1.5).
func (x *session) bye(text string) {
	if x.byeSent.Swap(true) {
		return
	}
	x.log.Info("ending session", "reason", text)
	x.conn.Bye(text)
}

// Login is LOGIN, and AUTHENTICATE PLAIN through imapserver's SASL server.
func (x *session) Login(username, password string) (err error) {
	x.enter()
	defer x.leave(&err)
	u, err := x.s.accounts.Authenticate(x.ctx, accounts.Attempt{Username: username, Password: password,
		Remote: x.remote, Service: accounts.ServiceIMAP})
	var te *accounts.ThrottledError
	switch {
	case errors.As(err, &te):
		return errThrottled
	case errors.Is(err, accounts.ErrBadCredentials), errors.Is(err, accounts.ErrDisabled), errors.Is(err, accounts.ErrServiceDisabled):
		x.log.Info("login failed", "user", username, "reason", err)
		return errAuthFailed
	case err != nil:
		return x.fail(err, "login")
	}
	if err := x.s.store.EnsureDefaults(x.ctx, u.ID); err != nil {
		return x.fail(err, "creating default mailboxes")
	}
	if err := x.s.login(x, u); err != nil {
		return err
	}
	x.acct = u
	x.log = x.log.With("user", u.Address)
	x.log.Info("logged in")
	return nil
}

// AppendLimit is advertised as APPENDLIMIT=n (RFC 7889).
func (x *session) AppendLimit() uint32 { return uint32(x.s.cfg.AppendLimit) }

// Namespace: one personal namespace, no prefix, "/" (RFC 2342).
func (x *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}, nil
}

// delim is the hierarchy delimiter.
const delim = '/' // store.Separator
