package managesieve

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/tidings/tidings/accounts"
)

// weakMechanisms are SASL mechanisms clients commonly try that this server
// will not run: it stores no passwords for them, and they add nothing over
// PLAIN inside TLS. They get AUTH-TOO-WEAK (RFC 5804 §1.3).
var weakMechanisms = map[string]bool{"LOGIN": true, "CRAM-MD5": true, "DIGEST-MD5": true}

// cmdAuthenticate: RFC 5804 §2.1, with PLAIN (RFC 4616; §2.1.1 for its
// use over TLS) as the one mechanism.
func (c *conn) cmdAuthenticate(args []arg) bool {
	if len(args) < 1 || len(args) > 2 || len(args) == 2 && args[1].kind != stringArg {
		return c.syntax(`AUTHENTICATE "PLAIN" ["initial response"]`)
	}
	if c.authed {
		// RFC 5804 §2.1: no re-authentication; later AUTHENTICATEs get NO.
		return c.reply(respNO, "", "Already authenticated") != nil
	}
	mech := strings.ToUpper(args[0].val)
	switch {
	case weakMechanisms[mech]:
		return c.reply(respNO, codeAuthTooWeak, "Use PLAIN inside TLS") != nil
	case mech != "PLAIN":
		return c.reply(respNO, "", "Unsupported mechanism; use PLAIN") != nil
	case !c.tls && !c.srv.cfg.AllowInsecureAuth:
		return c.reply(respNO, codeEncryptNeeded, "Use STARTTLS first") != nil
	}
	var msg string
	if len(args) == 2 {
		msg = args[1].val
	} else {
		resp, quit, ok := c.saslContinue()
		if quit || !ok {
			return quit
		}
		msg = resp
	}
	return c.plain(msg)
}

// saslContinue sends the empty challenge and reads the client's response
// (a string, or "*" to cancel, RFC 5804 §2.1). ok is false if the command
// was answered already.
func (c *conn) saslContinue() (resp string, quit, ok bool) {
	if err := c.send([]byte("\"\"\r\n")); err != nil {
		return "", true, false
	}
	args, err := c.readCommand()
	var ce *cmdError
	switch {
	case errors.As(err, &ce):
		return "", c.reply(respNO, ce.code, ce.text) != nil, false
	case err != nil:
		return "", c.handle(nil, err), false
	case len(args) != 1 || args[0].kind != stringArg:
		return "", c.reply(respNO, "", "Expected a string with the SASL response") != nil, false
	case args[0].val == "*":
		return "", c.reply(respNO, "", "Authentication cancelled") != nil, false
	}
	return args[0].val, false, true
}

// plain checks a base64 PLAIN message: [authzid] NUL authcid NUL password.
func (c *conn) plain(b64 string) bool {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return c.authFailed("Invalid base64 in the SASL response")
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return c.authFailed("Malformed PLAIN message")
	}
	authzid, authcid, password := string(parts[0]), string(parts[1]), string(parts[2])
	addr, _, _, perr := accounts.ParseAddress(authcid)
	if authzid != "" {
		// Acting as another user is not offered: the authorisation
		// identity may only name the authentication identity.
		if z, _, _, err := accounts.ParseAddress(authzid); err != nil || perr != nil || z != addr {
			return c.authFailed("You may only act as yourself")
		}
	}
	if perr == nil {
		// Tracked before the password is checked, so that an account
		// event during the check still ends this session.
		c.srv.track(c, addr)
	}
	u, err := c.srv.Accounts.Authenticate(c.ctx, accounts.Attempt{Username: authcid, Password: password,
		Remote: c.remote, Service: accounts.ServiceManageSieve})
	if err != nil {
		c.srv.untrack(c)
		return c.authError(authcid, err)
	}
	if u.Address != addr {
		c.srv.track(c, u.Address)
	}
	c.user, c.authed, c.failures = u, true, 0
	c.setLog(c.log.With("user", u.Address))
	c.log.Info("logged in", "tls", c.tls)
	return c.reply(respOK, "", "Logged in") != nil
}

// authError answers a refused login. The client learns no more than
// "failed" or "try later" (accounts: a generic text for all causes).
func (c *conn) authError(authcid string, err error) bool {
	var te *accounts.ThrottledError
	switch {
	case errors.As(err, &te):
		c.log.Info("login throttled", "account", trunc(authcid, 128), "retry_after", te.RetryAfter)
		return c.refuseAuth(codeTryLater, "Too many failed logins; try again later")
	case errors.Is(err, accounts.ErrBadCredentials), errors.Is(err, accounts.ErrDisabled),
		errors.Is(err, accounts.ErrServiceDisabled):
		c.log.Info("login failed", "account", trunc(authcid, 128), "err", err)
		return c.authFailed("Authentication failed")
	}
	if c.ctx.Err() == nil {
		c.log.Error("login: account store", "err", err)
	}
	return c.reply(respNO, codeTryLater, "Authentication is unavailable; try again later") != nil
}

// authFailed answers NO and counts the failure.
func (c *conn) authFailed(text string) bool { return c.refuseAuth("", text) }

// refuseAuth counts a failed attempt and answers NO, or BYE once there
// have been MaxAuthFailures (as in the RFC 5804 §2.1 example).
func (c *conn) refuseAuth(code, text string) bool {
	c.failures++
	if c.failures >= c.srv.cfg.MaxAuthFailures {
		c.bye("", "Too many failed authentication attempts")
		return true
	}
	return c.reply(respNO, code, text) != nil
}

// cmdUnauthenticate: RFC 5804 §2.14: back to the non-authenticated state;
// TLS stays.
func (c *conn) cmdUnauthenticate(args []arg) bool {
	if len(args) != 0 {
		return c.syntax("UNAUTHENTICATE")
	}
	c.srv.untrack(c)
	c.log.Info("logged out (UNAUTHENTICATE)")
	c.user, c.authed, c.authStart = accounts.User{}, false, time.Now()
	c.setLog(c.srv.log.With("cid", c.cid, "remote", c.remote))
	return c.reply(respOK, "", "Unauthenticated") != nil
}
