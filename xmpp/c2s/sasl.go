package c2s

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"hash"
	"io"
	"strconv"
	"strings"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/router"
	"github.com/tidings/tidings/xmpp/streamreader"
)

// SASL mechanisms, strongest first (RFC 6120 §6.3.3 lets the server
// order them by preference).
var scramMechs = []struct {
	name string
	hash accounts.SCRAMHash
	fn   func() hash.Hash
	plus bool
}{
	{"SCRAM-SHA-256-PLUS", accounts.SCRAMSHA256, sha256.New, true},
	{"SCRAM-SHA-1-PLUS", accounts.SCRAMSHA1, sha1.New, true},
	{"SCRAM-SHA-256", accounts.SCRAMSHA256, sha256.New, false},
	{"SCRAM-SHA-1", accounts.SCRAMSHA1, sha1.New, false},
}

// exporter returns the tls-exporter channel binding (RFC 9266), or nil
// when the connection has none (no TLS, or TLS 1.2 without extended
// master secret, where the exporter is not unique).
func (c *conn) exporter() []byte {
	if c.tlsConn == nil {
		return nil
	}
	cs := c.tlsConn.ConnectionState()
	b, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		return nil
	}
	return b
}

func (c *conn) mechanisms() *elem.Element {
	m := elem.New(nsSASL, "mechanisms")
	cb := c.exporter() != nil
	for _, s := range scramMechs {
		if !s.plus || cb {
			m.AddText(nsSASL, "mechanism", s.name)
		}
	}
	if c.tlsConn != nil { // PLAIN only inside TLS
		m.AddText(nsSASL, "mechanism", "PLAIN")
	}
	return m
}

// saslError is a SASL failure condition (RFC 6120 §6.5) with a text.
type saslError struct {
	cond, text string
	free       bool // refused before any credential was checked: not counted
}

func (e *saslError) Error() string { return e.cond + ": " + e.text }

var (
	errMalformed = &saslError{"malformed-request", "the SASL message could not be parsed", false}
	errNotAuth   = &saslError{"not-authorized", "authentication failed", false}
)

// sasl runs one SASL exchange started by <auth/> (RFC 6120 §6.4). It
// reads the client's responses itself. restart is true after success.
func (c *conn) sasl(auth *elem.Element) (restart bool, err error) {
	if auth.Local != "auth" {
		return false, c.saslFail(&saslError{"aborted", "no exchange in progress", false})
	}
	mech := auth.Get("mechanism")
	in, derr := decode64(auth.Text())
	if derr != nil {
		return false, c.saslFail(&saslError{"incorrect-encoding", "the data is not base64", false})
	}
	var ex exchange
	switch {
	case mech == "PLAIN" && c.tlsConn != nil:
		ex = &plain{c: c}
	case mech == "PLAIN":
		return false, c.saslFail(&saslError{"encryption-required", "PLAIN needs TLS", false})
	default:
		for _, s := range scramMechs {
			if s.name == mech && (!s.plus || c.exporter() != nil) {
				ex = &scram{c: c, hash: s.hash, fn: s.fn, plus: s.plus}
			}
		}
	}
	if ex == nil {
		return false, c.saslFail(&saslError{"invalid-mechanism", "mechanism not offered", true})
	}
	for {
		out, done, serr := ex.step(in)
		if serr != nil {
			return false, c.saslFail(serr)
		}
		if done {
			return c.saslSuccess(out)
		}
		if err := c.writeNow([]byte("<challenge xmlns='" + nsSASL + "'>" + encode64(out) + "</challenge>")); err != nil {
			return false, err
		}
		el, err := c.next()
		if err != nil {
			return false, err
		}
		if el.Space != nsSASL {
			return false, &streamreader.Error{Condition: "policy-violation", Text: "SASL exchange in progress"}
		}
		switch el.Local {
		case "abort":
			return false, c.saslFail(&saslError{"aborted", "", false})
		case "response":
		default:
			return false, c.saslFail(errMalformed)
		}
		if in, err = decode64(el.Text()); err != nil {
			return false, c.saslFail(&saslError{"incorrect-encoding", "the data is not base64", false})
		}
	}
}

// next reads the next first-level element during an exchange.
func (c *conn) next() (*elem.Element, error) {
	for {
		tok, err := c.rd.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return elem.Read(c.rd, t, elem.NSClient)
		case xml.EndElement:
			return nil, io.EOF
		}
	}
}

// encode64 encodes SASL data; empty data is "=" (RFC 6120 §6.4.2).
func encode64(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

// escapeTo writes s XML-escaped.
func escapeTo(b *bytes.Buffer, s string) { xml.EscapeText(b, []byte(s)) }

// parseBare prepares an authzid given as a JID and returns its bare form.
func parseBare(s string) (string, error) {
	j, err := router.ParseJID(s)
	if err != nil || j.Resource != "" {
		return "", router.ErrJID
	}
	return j.BareString(), nil
}

func decode64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "=" || s == "" {
		return nil, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

func (c *conn) saslFail(e *saslError) error {
	c.attempts++
	if !e.free {
		c.failures++
	}
	var b bytes.Buffer
	b.WriteString("<failure xmlns='" + nsSASL + "'><" + e.cond + "/>")
	if e.text != "" {
		b.WriteString("<text xml:lang='en'>")
		escapeTo(&b, e.text)
		b.WriteString("</text>")
	}
	b.WriteString("</failure>")
	if err := c.writeNow(b.Bytes()); err != nil {
		return err
	}
	if c.failures >= c.srv.cfg.MaxAuthFailures || c.attempts >= 10 {
		return &streamreader.Error{Condition: "policy-violation", Text: "too many failed authentication attempts"}
	}
	return nil
}

func (c *conn) saslSuccess(data []byte) (bool, error) {
	s := "<success xmlns='" + nsSASL + "'"
	if len(data) > 0 {
		s += ">" + base64.StdEncoding.EncodeToString(data) + "</success>"
	} else {
		s += "/>"
	}
	if err := c.writeNow([]byte(s)); err != nil {
		return false, err
	}
	c.phase = phaseBind
	c.setJID(c.user.Address)
	c.rd.SetLimits(c.srv.cfg.PostAuth)
	c.rd.Reset(c.nc)
	c.srv.log.Debug("xmpp: authenticated", "user", c.user.Address, "remote", c.remote)
	return true, nil
}

type exchange interface {
	// step consumes the client's message; out is the challenge, or the
	// additional data of <success/> when done.
	step(in []byte) (out []byte, done bool, err *saslError)
}

// address turns a SASL authcid into an account address on this stream's
// domain: a bare localpart, or a full address of the same domain.
func (c *conn) address(authcid string) (string, bool) {
	if !strings.Contains(authcid, "@") {
		authcid += "@" + c.domain
	}
	addr, _, domain, err := accounts.ParseAddress(authcid)
	if err != nil || domain != c.domain {
		return "", false
	}
	return addr, true
}

// login finishes a verified login: the account rules and the throttle.
func (c *conn) login(u accounts.User) *saslError {
	err := c.srv.acc.LoginAllowed(u, accounts.RemoteIP(c.nc.RemoteAddr()), accounts.ServiceXMPP)
	switch {
	case errors.Is(err, accounts.ErrDisabled):
		return &saslError{"account-disabled", "this account is disabled", false}
	case err != nil:
		return &saslError{"not-authorized", "XMPP is not enabled for this account", false}
	}
	c.user = u
	return nil
}

func (c *conn) checkAuthzid(authzid, addr string) *saslError {
	if authzid == "" || authzid == addr {
		return nil
	}
	if j, err := parseBare(authzid); err == nil && j == addr {
		return nil
	}
	return &saslError{"invalid-authzid", "you may only act as yourself", false}
}

// plain is RFC 4616 PLAIN, offered only inside TLS.
type plain struct{ c *conn }

func (p *plain) step(in []byte) ([]byte, bool, *saslError) {
	if in == nil {
		return nil, false, nil // empty initial response: ask for it
	}
	parts := bytes.Split(in, []byte{0})
	if len(parts) != 3 {
		return nil, false, errMalformed
	}
	addr, ok := p.c.address(string(parts[1]))
	if !ok {
		p.c.srv.acc.Throttle().Failure(accounts.RemoteIP(p.c.nc.RemoteAddr()), string(parts[1]), accounts.ServiceXMPP)
		return nil, false, errNotAuth
	}
	if e := p.c.checkAuthzid(string(parts[0]), addr); e != nil {
		return nil, false, e
	}
	// The credential Authenticate will check (the strongest), read first so
	// that a password change after this point is seen at bind.
	key, _, kerr := p.c.srv.acc.SCRAMCredential(p.c.srv.ctx, addr, "")
	u, err := p.c.srv.acc.Authenticate(p.c.srv.ctx, accounts.Attempt{Username: addr, Password: string(parts[2]),
		Remote: accounts.RemoteIP(p.c.nc.RemoteAddr()), Service: accounts.ServiceXMPP})
	if err != nil {
		return nil, false, authError(err)
	}
	if kerr != nil {
		return nil, false, authError(kerr)
	}
	p.c.user, p.c.authKey = u, key
	return nil, true, nil
}

func authError(err error) *saslError {
	var te *accounts.ThrottledError
	switch {
	case errors.As(err, &te):
		return &saslError{"temporary-auth-failure", "too many failed logins; try again in " + te.RetryAfter.Round(1e9).String(), false}
	case errors.Is(err, accounts.ErrDisabled):
		return &saslError{"account-disabled", "this account is disabled", false}
	case errors.Is(err, accounts.ErrBadCredentials):
		return errNotAuth
	case errors.Is(err, accounts.ErrServiceDisabled):
		return &saslError{"not-authorized", "XMPP is not enabled for this account", false}
	}
	return &saslError{"temporary-auth-failure", "the account store is unavailable", false}
}

// scram is the server side of SCRAM (RFC 5802, RFC 7677) with tls-exporter
// channel binding for -PLUS (RFC 9266). It works from the stored keys:
// the password is never seen.
type scram struct {
	c     *conn
	hash  accounts.SCRAMHash
	fn    func() hash.Hash
	plus  bool
	state int

	addr            string
	known           bool
	cred            accounts.SCRAMCredential
	user            accounts.User
	gs2             string
	clientFirstBare string
	serverFirst     string
	nonce           string
}

func (s *scram) step(in []byte) ([]byte, bool, *saslError) {
	s.state++
	switch s.state {
	case 1:
		return s.first(string(in))
	case 2:
		return s.final(string(in))
	}
	return nil, false, errMalformed
}

func (s *scram) first(msg string) ([]byte, bool, *saslError) {
	if msg == "" {
		s.state = 0
		return nil, false, nil // no initial response: send an empty challenge
	}
	// gs2-header: cbind-flag "," [authzid] ","
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return nil, false, errMalformed
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, false, errMalformed
	}
	switch {
	case flag == "n":
		if s.plus {
			return nil, false, &saslError{"malformed-request", "-PLUS needs channel binding", true}
		}
	case flag == "y":
		// The client can bind but thinks we cannot. RFC 5802 §6 calls that
		// a possible downgrade when the server offers -PLUS, but we bind
		// only with tls-exporter, and clients that know only tls-unique
		// (undefined on TLS 1.3, RFC 9266 §3; slixmpp 1.8 among them)
		// rightly say "y". Refusing them would lock them out.
		if s.plus {
			return nil, false, &saslError{"malformed-request", "-PLUS needs channel binding", true}
		}
	case flag == "p=tls-exporter":
		if !s.plus {
			return nil, false, &saslError{"malformed-request", "channel binding requested with a non-PLUS mechanism", true}
		}
	case strings.HasPrefix(flag, "p="):
		return nil, false, &saslError{"malformed-request", "only tls-exporter channel binding is supported", true}
	default:
		return nil, false, errMalformed
	}
	s.gs2 = flag + "," + authz + ","
	s.clientFirstBare = bare
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, false, errMalformed
	}
	if strings.HasPrefix(bare, "m=") {
		return nil, false, errMalformed
	}
	name, err := unescapeSASLName(attrs[0][2:])
	if err != nil {
		return nil, false, errMalformed
	}
	cnonce := attrs[1][2:]
	if cnonce == "" {
		return nil, false, errMalformed
	}
	addr, ok := s.c.address(name)
	remote := accounts.RemoteIP(s.c.nc.RemoteAddr())
	if !ok {
		addr = name
	}
	s.addr = addr
	if authz != "" {
		if !strings.HasPrefix(authz, "a=") {
			return nil, false, errMalformed
		}
		az, err := unescapeSASLName(authz[2:])
		if err != nil {
			return nil, false, errMalformed
		}
		if e := s.c.checkAuthzid(az, addr); e != nil {
			return nil, false, e
		}
	}
	var terr *accounts.ThrottledError
	if err := s.c.srv.acc.Throttle().Check(remote, addr); errors.As(err, &terr) {
		return nil, false, authError(err)
	}
	if ok {
		cred, u, err := s.c.srv.acc.SCRAMCredential(s.c.srv.ctx, addr, s.hash)
		switch {
		case err == nil:
			s.cred, s.user, s.known = cred, u, true
		case errors.Is(err, accounts.ErrNotFound):
		default:
			s.c.srv.log.Warn("xmpp: reading credentials", "user", addr, "err", err)
			return nil, false, &saslError{"temporary-auth-failure", "the account store is unavailable", false}
		}
	}
	if !s.known { // go on with a stable fake salt: no user enumeration
		m := hmac.New(sha256.New, s.c.srv.secret[:])
		m.Write([]byte(string(s.hash) + "\x00" + addr)) // one salt per mechanism, as real accounts have
		s.cred = accounts.SCRAMCredential{Hash: s.hash, Salt: m.Sum(nil)[:16], Iterations: s.c.srv.acc.Config().SCRAMIterations}
	}
	var nb [18]byte
	randRead(nb[:])
	s.nonce = cnonce + base64.RawStdEncoding.EncodeToString(nb[:])
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.cred.Salt) + ",i=" + strconv.Itoa(s.cred.Iterations)
	return []byte(s.serverFirst), false, nil
}

func (s *scram) final(msg string) ([]byte, bool, *saslError) {
	withoutProof, proof64, ok := strings.Cut(msg, ",p=")
	if !ok {
		return nil, false, errMalformed
	}
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, false, errMalformed
	}
	cb, err := base64.StdEncoding.DecodeString(attrs[0][2:])
	if err != nil {
		return nil, false, errMalformed
	}
	want := []byte(s.gs2)
	if s.plus {
		want = append(want, s.c.exporter()...)
	}
	if !hmac.Equal(cb, want) {
		s.fail()
		return nil, false, &saslError{"not-authorized", "channel binding mismatch", false}
	}
	if attrs[1][2:] != s.nonce {
		return nil, false, errMalformed
	}
	proof, err := base64.StdEncoding.DecodeString(proof64)
	if err != nil {
		return nil, false, errMalformed
	}
	authMessage := s.clientFirstBare + "," + s.serverFirst + "," + withoutProof
	mac := func(key []byte, data string) []byte {
		m := hmac.New(s.fn, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	if !s.known || len(proof) != len(s.cred.StoredKey) {
		s.fail()
		return nil, false, errNotAuth
	}
	sig := mac(s.cred.StoredKey, authMessage)
	clientKey := make([]byte, len(proof))
	subtle.XORBytes(clientKey, proof, sig)
	h := s.fn()
	h.Write(clientKey)
	if subtle.ConstantTimeCompare(h.Sum(nil), s.cred.StoredKey) != 1 {
		s.fail()
		return nil, false, errNotAuth
	}
	if e := s.c.login(s.user); e != nil {
		return nil, false, e
	}
	s.c.authKey = s.cred
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac(s.cred.ServerKey, authMessage))), true, nil
}

func (s *scram) fail() {
	s.c.srv.acc.Throttle().Failure(accounts.RemoteIP(s.c.nc.RemoteAddr()), s.addr, accounts.ServiceXMPP)
}

// unescapeSASLName undoes RFC 5802 §5.1 saslname escaping.
func unescapeSASLName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", errors.New("bad saslname escape")
		}
		i += 2
	}
	return b.String(), nil
}
