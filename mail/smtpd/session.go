package smtpd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/mail/delivery"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/mail/verify"
)

// session is one SMTP connection.
type session struct {
	s      *Server
	mode   Mode
	c      *smtp.Conn
	conn   *replyConn
	remote netip.Addr
	log    *slog.Logger

	user   *accounts.User // after AUTH
	from   string
	rcpts  []accounts.User
	rcptTo []string // the addresses given for rcpts, for Sieve (envelope "to", :detail)
	relay  []string // remote recipients (authenticated sessions only)
	errors int
	busy   atomic.Bool // inside a mail transaction
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

// SMTP replies of this package (RFC 5321 §4.2, enhanced codes RFC 3463).
var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errNotOwner     = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Sender address is not one of yours"}
	errRelayDenied  = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied"}
	errNoUser       = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errBadAddress   = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad address syntax"}
	errNoRemote     = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 0}, Message: "Delivery to remote domains is not configured here"}
	errBareNewline  = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message contains a bare CR or LF (RFC 5321 §2.3.8)"}
	errLoop         = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 4, 6}, Message: "Too many Received header fields: mail loop"}
	errOverQuota    = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
	errTooBig       = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	errTemporary    = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Local error; please try again later"}
	errTooManyErrs  = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many errors; closing connection"}
	errThrottled    = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many failed logins; try again later"}
)

// fail counts an error reply; past MaxErrors the connection ends after it.
func (x *session) fail(err error) error {
	if x.errors++; x.errors >= x.s.cfg.MaxErrors {
		x.log.Warn("too many errors; closing", "errors", x.errors)
		if x.conn != nil {
			x.conn.closeAfter.Store(true)
		}
		return errTooManyErrs
	}
	return err
}

func (x *session) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), x.s.cfg.ReadTimeout)
}

// trace logs one command and its reply at debug level: the protocol trace.
// AUTH is logged as mechanism and user name only, never a secret, and
// message bodies as their size.
func (x *session) trace(cmd string, err error) error {
	if x.log.Enabled(context.Background(), slog.LevelDebug) {
		reply := "250"
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			reply = fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
		} else if err != nil {
			reply = err.Error()
		}
		x.log.Debug("trace", "c", cmd, "s", reply)
	}
	return err
}

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (x *session) Auth(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return x.fail(smtp.ErrAuthFailed) // RFC 4616: no acting as someone else
			}
			return x.login(username, password)
		}), nil
	case sasl.Login:
		return newLoginServer(x.login), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (x *session) login(username, password string) (err error) {
	defer func() { x.trace("AUTH "+username+" (credentials not logged)", err) }()
	ctx, cancel := x.ctx()
	defer cancel()
	u, err := x.s.accounts.Authenticate(ctx, accounts.Attempt{Username: username, Password: password, Remote: x.remote, Service: accounts.ServiceSMTP})
	var te *accounts.ThrottledError
	switch {
	case errors.As(err, &te):
		return x.fail(errThrottled)
	case err != nil:
		x.log.Info("AUTH failed", "user", username, "reason", err)
		return x.fail(smtp.ErrAuthFailed)
	}
	x.user = &u
	x.log = x.log.With("user", u.Address)
	x.log.Info("authenticated")
	return nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) (err error) {
	defer func() { x.trace("MAIL FROM:<"+from+">", err) }()
	if x.mode != MX && x.user == nil {
		return x.fail(errAuthRequired)
	}
	if x.user != nil {
		if err := x.checkOwner(from); err != nil {
			return x.fail(err)
		}
	}
	x.busy.Store(true)
	x.from = from
	return nil
}

// checkOwner: an authenticated user may send only as their own address or
// one of their aliases (subaddresses included).
func (x *session) checkOwner(addr string) error {
	if addr == "" {
		return errNotOwner
	}
	ctx, cancel := x.ctx()
	defer cancel()
	u, err := x.s.accounts.Resolve(ctx, addr)
	if err != nil || u.ID != x.user.ID {
		return errNotOwner
	}
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) (err error) {
	defer func() { x.trace("RCPT TO:<"+to+">", err) }()
	ctx, cancel := x.ctx()
	defer cancel()
	u, local, err := delivery.ResolveRecipient(ctx, x.s.accounts, to)
	switch {
	case errors.Is(err, delivery.ErrBadAddress):
		return x.fail(errBadAddress)
	case errors.Is(err, delivery.ErrNoRecipient):
		return x.fail(errNoUser)
	case err != nil:
		x.log.Error("resolving recipient", "to", to, "err", err)
		return errTemporary
	case !local:
		return x.rcptRemote(to)
	}
	x.rcpts = append(x.rcpts, u)
	x.rcptTo = append(x.rcptTo, to)
	return nil
}

// rcptRemote accepts a remote recipient from an authenticated user, for
// the outbound queue.
func (x *session) rcptRemote(to string) error {
	if x.user == nil {
		x.log.Info("relay refused", "to", to)
		return x.fail(errRelayDenied)
	}
	if x.s.deliver.Queue == nil {
		return x.fail(errNoRemote)
	}
	if _, err := accounts.NormalizeDomain(to[strings.LastIndexByte(to, '@')+1:]); err != nil {
		return x.fail(errBadAddress)
	}
	x.relay = append(x.relay, to)
	return nil
}

func (x *session) Data(r io.Reader) (err error) {
	counted := &countReader{r: r}
	r = counted
	defer func() { x.trace(fmt.Sprintf("DATA (%d bytes)", counted.n), err) }()
	env := delivery.Envelope{From: x.from, Recipients: x.rcpts, RcptTo: x.rcptTo, Remote: x.relay}
	if x.user == nil && x.s.verifier != nil {
		env.Check = x.check
	}
	check := newDataChecker(r, x.checkHeader)
	msg := io.MultiReader(strings.NewReader(x.received()), check)
	ctx, cancel := context.WithTimeout(context.Background(), 2*x.s.cfg.ReadTimeout)
	defer cancel()
	err = x.s.deliver.Deliver(ctx, env, msg)
	if err == nil {
		x.log.Info("accepted", "from", x.from, "local", len(x.rcpts), "remote", len(x.relay))
		return nil
	}
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se):
		x.log.Info("message refused", "from", x.from, "reason", se.Message)
		return x.fail(se)
	case errors.Is(err, store.ErrOverQuota):
		return x.fail(errOverQuota)
	case errors.Is(err, store.ErrTooBig):
		return x.fail(errTooBig)
	}
	x.log.Error("delivery failed", "from", x.from, "err", err)
	return errTemporary
}

// check runs SPF, DKIM and DMARC on mail from another server (RFC 7489
// §6.6: DMARC reject is refused at the end of DATA, quarantine goes to
// Junk).
func (x *session) check(ctx context.Context, msg io.ReaderAt, size int64) delivery.Verdict {
	r := x.s.verifier.Check(ctx, verify.Input{RemoteIP: net.IP(x.remote.AsSlice()), HELO: x.c.Hostname(),
		MailFrom: x.from, Message: msg, Size: size})
	x.log.Info("checked", "spf", r.SPF, "dmarc", r.DMARC, "from_domain", r.FromDomain, "action", r.Action)
	v := delivery.Verdict{Header: r.Header, Junk: r.Action == verify.Quarantine}
	if r.Action == verify.Reject {
		v.Reject = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: "Rejected by the DMARC policy of " + r.FromDomain}
	}
	return v
}

// checkHeader runs when the message header has been read, before anything
// is stored: loops, and the From of submitted mail.
func (x *session) checkHeader(h header) error {
	if n := h.count("Received"); n > x.s.cfg.MaxReceived {
		return errLoop
	}
	if x.user == nil {
		return nil
	}
	froms := h.addresses("From")
	if len(froms) == 0 {
		return errNotOwner
	}
	for _, a := range froms {
		if err := x.checkOwner(a); err != nil {
			return err
		}
	}
	return nil
}

// received renders the trace header this server adds (RFC 5321 §4.4,
// protocol names RFC 3848).
func (x *session) received() string {
	with := "ESMTP"
	_, secure := x.c.TLSConnectionState()
	if !secure && x.conn != nil && x.conn.helo.Load() {
		with = "SMTP" // HELO, not EHLO (RFC 3848)
	}
	if secure {
		with += "S"
	}
	if x.user != nil {
		with += "A"
	}
	var id [8]byte
	rand.Read(id[:])
	for_ := ""
	if len(x.rcpts) == 1 && len(x.relay) == 0 {
		for_ = "\r\n\tfor <" + x.rcpts[0].Address + ">"
	}
	return fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s (Tidings) with %s id %s%s;\r\n\t%s\r\n",
		sanitize(x.c.Hostname()), x.remote, x.s.hostname, with, hex.EncodeToString(id[:]), for_,
		time.Now().Format(time.RFC1123Z))
}

// sanitize keeps a client-supplied HELO name from breaking the header.
func sanitize(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || r == '(' || r == ')' || r == ';' {
			return -1
		}
		return r
	}, s)
}

func (x *session) Reset() {
	x.from, x.rcpts, x.rcptTo, x.relay = "", nil, nil, nil
	x.busy.Store(false)
}

func (x *session) Logout() error {
	x.s.track(x, false)
	return nil
}

// goodbye ends an idle session with a final reply.
func (x *session) goodbye(reply string) {
	c := x.c.Conn()
	c.SetWriteDeadline(time.Now().Add(time.Second))
	io.WriteString(c, reply)
	c.Close()
}

// countReader counts what passes through, for the trace.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
