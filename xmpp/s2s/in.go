package s2s

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/router"
	"github.com/tidings/tidings/xmpp/streamreader"
)

// inConn is one inbound server connection. One reader goroutine runs
// serve; writes go through the writer.
type inConn struct {
	s        *Server
	nc       net.Conn
	tc       *tls.Conn
	direct   bool
	addr     string
	rd       *streamreader.Reader
	w        *writer
	streamID string
	from, to string // domains of the first stream header
	external bool   // SASL EXTERNAL succeeded
	header   bool   // our header was sent on the current stream
	raised   bool   // post-authentication limits in force
	adopted  bool   // the EXTERNAL pair carries our stanzas too (bidi)
	since    time.Time

	mu       sync.Mutex
	verified map[pair]string // (local, remote) → "external" or "dialback"
	state    string
	bidi     bool // the peer asked for a bidirectional stream (XEP-0288)
}

func newInConn(s *Server, nc net.Conn, direct bool) *inConn {
	return &inConn{s: s, nc: nc, direct: direct, addr: nc.RemoteAddr().String(), since: time.Now(),
		verified: map[pair]string{}, state: "negotiating"}
}

func (c *inConn) serve() {
	defer c.nc.Close()
	s := c.s
	defer s.dropInbound(c)
	c.nc.SetReadDeadline(time.Now().Add(s.cfg.NegotiationTimeout))
	if c.direct {
		tc := tls.Server(c.nc, s.srvTLS)
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.NegotiationTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			s.log.Debug("s2s: TLS handshake failed", "remote", c.addr, "err", err)
			return
		}
		c.nc, c.tc = tc, tc
	}
	c.w = &writer{timeout: s.cfg.WriteTimeout, maxBytes: s.cfg.MaxQueueBytes, nc: c.nc}
	c.rd = streamreader.New(c.nc, s.cfg.PreAuth, streamreader.WithContext(s.ctx))
	err := c.run()
	var se *streamreader.Error
	switch {
	case errors.As(err, &se):
		s.log.Info("s2s: inbound stream error", "remote", c.addr, "from", c.from, "condition", se.Condition, "text", se.Text)
		if !c.header {
			var b bytes.Buffer
			c.streamID = newID()
			writeHeader(&b, c.to, c.from, c.streamID)
			c.w.enqueue(b.Bytes(), false)
		}
		c.w.close(se.Condition, se.Text)
	case err == io.EOF:
		c.w.close("", "")
	case err != nil:
		s.log.Debug("s2s: inbound connection ended", "remote", c.addr, "from", c.from, "err", err)
	}
	c.w.flush(s.cfg.WriteTimeout)
}

func (c *inConn) run() error {
	for {
		c.header = false
		if err := c.readHeader(); err != nil {
			return err
		}
		restart, err := c.readElements()
		if err != nil || !restart {
			return err
		}
	}
}

func streamErr(cond, text string) error { return &streamreader.Error{Condition: cond, Text: text} }

func domainOf(s string) (string, bool) {
	j, err := router.ParseJID(s)
	if err != nil || !j.IsDomain() {
		return "", false
	}
	return j.Domain, true
}

func (c *inConn) readHeader() error {
	s := c.s
	h, err := readHeader(c.rd)
	if err != nil {
		return err
	}
	to, ok := domainOf(h.to)
	from, fromOK := domainOf(h.from)
	if h.from != "" && !fromOK {
		return streamErr("invalid-from", "the 'from' of the stream header is not a domain")
	}
	switch {
	case h.ns != elem.NSServer:
		return streamErr("invalid-namespace", "this port serves jabber:server")
	case !ok || s.router == nil || !s.router.Hosted(to):
		return streamErr("host-unknown", "this server does not serve XMPP for that domain")
	case c.to != "" && to != c.to:
		return streamErr("host-unknown", "the domain changed on a stream restart")
	case c.external && from != c.from:
		return streamErr("invalid-from", "the 'from' changed after authentication")
	case h.version != "" && !strings.HasPrefix(h.version, "1."):
		return streamErr("unsupported-version", "XMPP 1.0 streams only")
	}
	c.mu.Lock()
	c.to = to
	if from != "" {
		c.from = from
	}
	c.mu.Unlock()
	if from != "" && !s.allowed(from) {
		return streamErr("policy-violation", "federation with "+from+" is not allowed")
	}
	c.streamID = newID()
	var b bytes.Buffer
	writeHeader(&b, c.to, c.from, c.streamID)
	if h.version != "" {
		b.Write(render(c.features()))
	}
	c.header = true
	if err := c.w.now(b.Bytes()); err != nil {
		return err
	}
	if c.external && c.bidi && !c.adopted { // after the restart: our stanzas may follow the header
		c.adopted = true
		s.adopt(c, pair{local: c.to, remote: c.from}, "external")
	}
	return nil
}

func (c *inConn) features() *elem.Element {
	f := elem.New(nsStream, "features")
	switch {
	case c.tc == nil:
		f.Add(elem.New(nsTLS, "starttls").Add(elem.New(nsTLS, "required")))
	case !c.external:
		if c.from != "" && certValid(c.s.roots, c.tc.ConnectionState().PeerCertificates, c.from) {
			f.Add(elem.New(nsSASL, "mechanisms").AddText(nsSASL, "mechanism", "EXTERNAL"))
		}
		if !c.s.cfg.RequireValidCerts {
			f.Add(elem.New(nsDBFeat, "dialback").Add(elem.New(nsDBFeat, "errors")))
		}
		if c.s.cfg.Bidi && len(c.verified) == 0 { // XEP-0288 §2.1: before authentication
			f.Add(elem.New(nsBidiFeat, "bidi"))
		}
	}
	return f
}

// touch keeps an authenticated stream alive while it is read from.
func (c *inConn) touch() {
	if c.raised {
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
	}
}

// readElements reads first-level elements until a restart (true), the
// end of the stream or an error.
func (c *inConn) readElements() (bool, error) {
	for {
		e, err := nextElement(c.rd, c.touch)
		if err != nil {
			return false, err
		}
		switch {
		case isStanza(e):
			if err := c.stanza(e); err != nil {
				return false, err
			}
		case e.Space == nsDialback && e.Local == "verify":
			if err := c.dbVerify(e); err != nil {
				return false, err
			}
		case e.Space == nsStream && e.Local == "error":
			c.s.log.Info("s2s: stream error from peer", "remote", c.addr, "from", c.from, "error", streamErrorOf(e))
			return false, io.EOF
		case c.tc == nil && e.Space == nsTLS && e.Local == "starttls":
			return true, c.startTLS()
		case c.tc == nil:
			return false, streamErr("policy-violation", "STARTTLS is required first")
		case e.Space == nsSASL && e.Local == "auth":
			return c.saslExternal(e)
		case c.s.cfg.Bidi && e.Space == nsBidi && e.Local == "bidi":
			if err := c.enableBidi(); err != nil {
				return false, err
			}
		case e.Space == nsDialback && e.Local == "result":
			if err := c.dbResult(e); err != nil {
				return false, err
			}
		default:
			return false, streamErr("unsupported-stanza-type", "unsupported element <"+e.Local+"/>")
		}
	}
}

func (c *inConn) startTLS() error {
	if err := c.w.now([]byte(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)); err != nil {
		return err
	}
	tc := tls.Server(c.nc, c.s.srvTLS)
	ctx, cancel := context.WithTimeout(c.s.ctx, c.s.cfg.NegotiationTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.s.log.Debug("s2s: TLS handshake failed", "remote", c.addr, "err", err)
		return err
	}
	c.nc, c.tc = tc, tc
	c.w.setConn(tc)
	c.rd.Reset(tc)
	return nil
}

// saslExternal runs XEP-0178 §2: the client certificate must be valid for
// the stream's from domain (and the authorization identity, if any, equal
// to it).
func (c *inConn) saslExternal(e *elem.Element) (bool, error) {
	fail := func(cond string) (bool, error) {
		return false, c.w.now([]byte(`<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><` + cond + `/></failure>`))
	}
	if e.Get("mechanism") != "EXTERNAL" || c.external {
		return fail("invalid-mechanism")
	}
	var authz string
	if t := strings.TrimSpace(e.Text()); t != "" && t != "=" {
		b, err := base64.StdEncoding.DecodeString(t)
		if err != nil {
			return fail("incorrect-encoding")
		}
		authz = string(b)
	}
	certs := c.tc.ConnectionState().PeerCertificates
	if c.from == "" || (authz != "" && authz != c.from) || !certValid(c.s.roots, certs, c.from) {
		c.s.log.Info("s2s: SASL EXTERNAL refused", "remote", c.addr, "from", c.from, "authzid", authz)
		return fail("not-authorized")
	}
	if err := c.w.now([]byte(`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)); err != nil {
		return false, err
	}
	c.external = true
	c.verify(pair{local: c.to, remote: c.from}, "external")
	c.rd.Reset(c.nc)
	return true, nil
}

// verify records a verified pair and switches to the s2s limits. Only the
// reader goroutine calls it.
func (c *inConn) verify(p pair, how string) {
	c.mu.Lock()
	c.verified[p] = how
	c.state = "ready"
	bidi := c.bidi
	c.mu.Unlock()
	if bidi && how != "external" { // EXTERNAL: after the stream restart (readHeader)
		c.s.adopt(c, p, how)
	}
	if !c.raised {
		c.raised = true
		c.rd.SetLimits(c.s.cfg.Limits)
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
	}
	c.s.log.Info("s2s: inbound stream verified", "local", p.local, "remote", p.remote, "auth", how, "bidi", bidi, "addr", c.addr)
}

func (c *inConn) isVerified(p pair) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.verified[p]
	return ok
}

// dbResult handles a dialback request (XEP-0220 §2.1.2): the key is
// checked with the authoritative server of from before the pair counts.
// The reader waits for the answer, so the next stanza is read with the
// limits that answer sets.
func (c *inConn) dbResult(e *elem.Element) error {
	s := c.s
	from, ok1 := domainOf(e.Get("from"))
	to, ok2 := domainOf(e.Get("to"))
	key := strings.TrimSpace(e.Text())
	answer := func(typ, cond string) error {
		r := elem.New(nsDialback, "result", "from", e.Get("to"), "to", e.Get("from"), "type", typ)
		if cond != "" {
			r.Add(elem.New("", "error", "type", "cancel").Add(elem.New(nsStanzas, cond)))
		}
		return c.w.now(render(r))
	}
	switch {
	case !ok1 || !ok2 || key == "":
		return streamErr("improper-addressing", "db:result needs from, to and a key")
	case !s.router.Hosted(to):
		return answer("error", "item-not-found")
	case !s.allowed(from):
		return answer("error", "policy-violation")
	case s.cfg.RequireValidCerts:
		return answer("error", "not-acceptable")
	}
	c.mu.Lock()
	c.state = "verifying"
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ConnectTimeout)
	valid, err := s.verifyDialback(ctx, to, from, c.streamID, key)
	cancel()
	if err != nil {
		s.log.Info("s2s: dialback verification failed", "local", to, "remote", from, "addr", c.addr, "err", err)
		return answer("error", "remote-server-timeout")
	}
	if !valid {
		s.log.Info("s2s: dialback key invalid", "local", to, "remote", from, "addr", c.addr)
		answer("invalid", "")
		return streamErr("not-authorized", "dialback verification failed for "+from)
	}
	if err := answer("valid", ""); err != nil {
		return err
	}
	c.verify(pair{local: to, remote: from}, "dialback")
	return nil
}

// dbVerify answers a verification request as the authoritative server
// (XEP-0220 §2.3.2); the key is recomputed from the secret, so no state
// is kept.
func (c *inConn) dbVerify(e *elem.Element) error {
	return c.w.now(render(c.s.verifyAnswer(e)))
}

// verifyAnswer is the answer to a db:verify request: valid when the key
// is ours for (to, from, id).
func (s *Server) verifyAnswer(e *elem.Element) *elem.Element {
	from, to, id := e.Get("from"), e.Get("to"), e.Get("id")
	typ := "invalid"
	if d, ok := domainOf(to); ok && s.router.Hosted(d) && keyValid(s.secret, from, d, id, strings.TrimSpace(e.Text())) {
		typ = "valid"
	}
	return elem.New(nsDialback, "verify", "from", to, "to", from, "id", id, "type", typ)
}

// stanza routes a stanza whose (from, to) domain pair is verified on this
// stream (RFC 6120 §13.5, XEP-0220 §4).
func (c *inConn) stanza(e *elem.Element) error {
	return c.s.acceptStanza(e, c.isVerified)
}

func (c *inConn) info() []Link {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.verified) == 0 {
		return []Link{{Local: c.to, Remote: c.from, Direction: "in", State: c.state, Bidi: c.bidi, Addr: c.addr, Since: c.since}}
	}
	var out []Link
	for p, how := range c.verified {
		out = append(out, Link{Local: p.local, Remote: p.remote, Direction: "in", State: "ready", Auth: how, Bidi: c.bidi, Addr: c.addr, Since: c.since})
	}
	return out
}
