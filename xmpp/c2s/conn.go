package c2s

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/router"
	"github.com/tidings/tidings/xmpp/streamreader"
)

// Namespaces of stream negotiation.
const (
	nsStream  = "http://etherx.jabber.org/streams"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession = "urn:ietf:params:xml:ns:xmpp-session"
	nsSASLCB  = "urn:xmpp:sasl-cb:0"
	nsStreams = streamreader.NSStreams
)

func randRead(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
}

type phase int

const (
	phaseTLS  phase = iota // before STARTTLS
	phaseAuth              // before SASL success
	phaseBind              // authenticated, not bound
	phaseReady
)

// errClosed ends serve quietly (the stream was closed on purpose).
var errClosed = errors.New("stream closed")

// conn is one client connection: the reader goroutine runs serve; writes
// go through the queue and an on-demand writer goroutine, so nothing that
// sends to this client ever blocks on its socket.
type conn struct {
	srv       *Server
	raw       net.Conn // the accepted connection: hard closes, safe from any goroutine
	nc        net.Conn // raw, or TLS over it; replaced only under wmu
	tlsConn   *tls.Conn
	directTLS bool
	rd        *streamreader.Reader
	remote    string
	phase     phase
	domain    string
	streamID  string
	header    bool // our stream header was sent
	user      accounts.User
	authKey   accounts.SCRAMCredential // the credential the login was checked against (bindIQ compares)
	res       *router.Resource
	failures  int // failed logins on this stream
	attempts  int // SASL exchanges that ended in failure

	who      atomic.Pointer[string] // what jid() returns
	lastRead atomic.Int64           // unix nanoseconds
	pinged   atomic.Bool
	timer    *time.Timer

	wmu      sync.Mutex // serialises socket writes
	qmu      sync.Mutex
	queue    []byte
	spare    []byte
	writing  bool
	shut     bool // no more writes accepted; the socket closes after the flush
	closeNow bool // close the socket once the queue is flushed
}

func newConn(s *Server, nc net.Conn, directTLS bool) *conn {
	return &conn{srv: s, raw: nc, nc: nc, directTLS: directTLS, remote: nc.RemoteAddr().String()}
}

func (c *conn) serve() {
	defer c.raw.Close()
	cfg := c.srv.cfg
	c.nc.SetReadDeadline(time.Now().Add(cfg.NegotiationTimeout))
	if c.directTLS {
		if err := c.upgrade(); err != nil {
			return
		}
	}
	if c.tlsConn != nil || c.srv.tls == nil {
		c.phase = phaseAuth
	}
	c.rd = streamreader.New(c.nc, cfg.PreAuth, streamreader.WithContext(c.srv.ctx))
	err := c.run()
	if c.res != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c.res.Unbind(ctx)
		cancel()
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	var se *streamreader.Error
	switch {
	case errors.As(err, &se):
		c.srv.log.Debug("xmpp: stream error", "remote", c.remote, "jid", c.jid(), "condition", se.Condition, "text", se.Text)
		c.streamError(se.Condition, se.Text)
	case err == io.EOF:
		c.closeStream()
	}
	c.finish()
}

// jid names the client in logs: the bound JID, else the authenticated
// account, else "". Safe from any goroutine (the router's Send logs it).
func (c *conn) jid() string {
	if p := c.who.Load(); p != nil {
		return *p
	}
	return ""
}

func (c *conn) setJID(s string) { c.who.Store(&s) }

func (c *conn) tlsConfig() *tls.Config { return c.srv.tls }

// upgrade runs the TLS handshake and switches the connection to TLS. It
// holds the write lock throughout, so that a Close from another goroutine
// (Shutdown) neither races with the switch nor writes plaintext into the
// handshake: its bytes wait and go out encrypted.
func (c *conn) upgrade() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	tc := tls.Server(c.nc, c.tlsConfig())
	if err := c.handshake(tc); err != nil {
		return err
	}
	c.nc, c.tlsConn = tc, tc
	return nil
}

func (c *conn) handshake(tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(c.srv.ctx, c.srv.cfg.NegotiationTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.srv.log.Debug("xmpp: TLS handshake failed", "remote", c.remote, "err", err)
		return err
	}
	return nil
}

// run reads streams until the connection ends. It returns io.EOF for a
// clean close by the client, errClosed after we closed, or the error.
func (c *conn) run() error {
	for {
		c.header = false
		if err := c.readHeader(); err != nil {
			return err
		}
		restart, err := c.readStanzas()
		if err != nil || !restart {
			return err
		}
	}
}

// readHeader reads the client's stream header and answers with ours and
// the features of the current phase.
func (c *conn) readHeader() error {
	var start xml.StartElement
	for {
		tok, err := c.rd.Token()
		if err != nil {
			return err
		}
		if t, ok := tok.(xml.StartElement); ok {
			start = t
			break
		}
	}
	var to, version, ns string
	for _, a := range start.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "to":
			to = a.Value
		case a.Name.Space == "" && a.Name.Local == "version":
			version = a.Value
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			ns = a.Value
		}
	}
	if d, err := router.ParseJID(to); err == nil && d.IsDomain() {
		if c.domain == "" {
			c.domain = d.Domain
		} else if c.domain != d.Domain {
			return &streamreader.Error{Condition: "host-unknown", Text: "the domain changed on a stream restart"}
		}
	}
	c.streamID = newID()
	switch {
	case start.Name.Space != nsStream || start.Name.Local != "stream":
		return &streamreader.Error{Condition: "invalid-namespace", Text: "expected a stream header"}
	case ns != elem.NSClient:
		return &streamreader.Error{Condition: "invalid-namespace", Text: "this port serves jabber:client"}
	case to == "":
		return &streamreader.Error{Condition: "host-unknown", Text: "the stream header needs a 'to' domain"}
	case c.domain == "" || !c.srv.router.Hosted(c.domain):
		c.domain = ""
		return &streamreader.Error{Condition: "host-unknown", Text: "this server does not serve XMPP for that domain"}
	case !strings.HasPrefix(version, "1."):
		return &streamreader.Error{Condition: "unsupported-version", Text: "XMPP 1.0 streams only"}
	}
	var b bytes.Buffer
	c.writeHeader(&b)
	// <stream:features/> with the prefix the header declares: the same in
	// XML as <features xmlns='http://etherx.jabber.org/streams'/>, but
	// parsers that match names literally (ejabberd's is one) know only it.
	f := c.features()
	f.Space, f.Local = "", "stream:features"
	f.Append(&b, elem.NSClient)
	return c.writeNow(b.Bytes())
}

func (c *conn) writeHeader(b *bytes.Buffer) {
	b.WriteString(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en' id='`)
	b.WriteString(c.streamID)
	b.WriteString(`'`)
	if c.domain != "" {
		b.WriteString(` from='`)
		xml.EscapeText(b, []byte(c.domain))
		b.WriteString(`'`)
	}
	b.WriteString(`>`)
	c.header = true
}

// features lists what the client may do next (RFC 6120 §4.3.2).
func (c *conn) features() *elem.Element {
	f := &elem.Element{Space: nsStream, Local: "features"}
	switch c.phase {
	case phaseTLS:
		st := elem.New(nsTLS, "starttls")
		if c.srv.cfg.RequireTLS {
			st.Add(elem.New(nsTLS, "required"))
		}
		f.Add(st)
		if !c.srv.cfg.RequireTLS {
			f.Add(c.mechanisms())
		}
	case phaseAuth:
		f.Add(c.mechanisms())
		if c.tlsConn != nil && c.exporter() != nil {
			f.Add(elem.New(nsSASLCB, "sasl-channel-binding").Add(elem.New(nsSASLCB, "channel-binding", "type", "tls-exporter")))
		}
	case phaseBind:
		f.Add(elem.New(nsBind, "bind"))
		f.Add(elem.New(nsSession, "session").Add(elem.New(nsSession, "optional")))
		f.Add(elem.New("urn:xmpp:features:rosterver", "ver"))
		f.Add(elem.New("urn:xmpp:features:pre-approval", "sub"))
		f.Add(c.srv.router.Caps(c.domain))
	}
	return f
}

// readStanzas reads first-level elements until a stream restart (true),
// the end of the stream, or an error.
func (c *conn) readStanzas() (bool, error) {
	for {
		tok, err := c.rd.Token()
		if err != nil {
			return false, err
		}
		c.lastRead.Store(time.Now().UnixNano())
		c.pinged.Store(false)
		switch t := tok.(type) {
		case xml.EndElement:
			return false, io.EOF // </stream:stream>
		case xml.StartElement:
			content := elem.NSClient
			el, err := elem.Read(c.rd, t, content)
			if err != nil {
				return false, err
			}
			restart, err := c.handle(el)
			if err != nil || restart {
				return restart, err
			}
		}
	}
}

// handle acts on one first-level element according to the phase.
func (c *conn) handle(el *elem.Element) (restart bool, err error) {
	switch c.phase {
	case phaseTLS:
		if el.Space == nsTLS && el.Local == "starttls" {
			return true, c.startTLS()
		}
		if !c.srv.cfg.RequireTLS && el.Space == nsSASL {
			return c.sasl(el)
		}
		return false, &streamreader.Error{Condition: "policy-violation", Text: "STARTTLS is required first"}
	case phaseAuth:
		if el.Space == nsSASL {
			return c.sasl(el)
		}
		return false, &streamreader.Error{Condition: "not-authorized", Text: "authenticate first"}
	case phaseBind:
		if el.Space == "" && el.Local == "iq" {
			return false, c.bindIQ(el)
		}
		return false, &streamreader.Error{Condition: "not-authorized", Text: "bind a resource first"}
	}
	if el.Space != "" || (el.Local != "message" && el.Local != "presence" && el.Local != "iq") {
		return false, &streamreader.Error{Condition: "unsupported-stanza-type", Text: "unsupported element <" + el.Local + "/>"}
	}
	c.res.Handle(c.srv.ctx, el)
	return false, nil
}

// startTLS upgrades the connection (RFC 6120 §5.4.3.3). Bytes the client
// pipelined after <starttls/> are discarded by the reader reset.
func (c *conn) startTLS() error {
	if c.srv.tls == nil {
		c.writeNow([]byte(`<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>`))
		return errClosed
	}
	if err := c.writeNow([]byte(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)); err != nil {
		return err
	}
	if err := c.upgrade(); err != nil {
		return errClosed
	}
	c.phase = phaseAuth
	c.rd.Reset(c.nc)
	return nil
}

// bindIQ handles the resource binding IQ (RFC 6120 §7) and the legacy
// session IQ that some clients send before it.
func (c *conn) bindIQ(iq *elem.Element) error {
	q := iq.FirstElement()
	reply := func(e *elem.Element) error {
		var b bytes.Buffer
		e.Append(&b, elem.NSClient)
		return c.writeNow(b.Bytes())
	}
	result := elem.New("", "iq", "type", "result", "id", iq.Get("id"))
	if iq.Get("type") != "set" || q == nil || q.Space != nsBind || q.Local != "bind" {
		if q != nil && q.Space == nsSession {
			return reply(result)
		}
		return reply(errorIQ(iq, "cancel", "not-allowed", "bind a resource first"))
	}
	bound, err := c.srv.router.Bind(c.srv.ctx, c.user, q.ChildText(nsBind, "resource"), c, c.remote)
	switch {
	case errors.Is(err, router.ErrConflict):
		return reply(errorIQ(iq, "cancel", "conflict", "that resource is in use"))
	case errors.Is(err, router.ErrBadResource):
		return reply(errorIQ(iq, "modify", "bad-request", "that resource is not allowed"))
	case errors.Is(err, router.ErrTooMany):
		return reply(errorIQ(iq, "cancel", "resource-constraint", "too many sessions for this account"))
	case err != nil:
		c.srv.log.Warn("xmpp: bind", "user", c.user.Address, "err", err)
		return reply(errorIQ(iq, "wait", "internal-server-error", ""))
	}
	// A password change, disable or delete between SASL and now found no
	// session to end (the router only knows bound ones): check the account
	// again now that the session is registered and later changes reach it.
	if err := c.stillValid(); err != nil {
		bound.Unbind(c.srv.ctx)
		return err
	}
	if err := reply(result.Add(elem.New(nsBind, "bind").AddText(nsBind, "jid", bound.JID.String()))); err != nil {
		bound.Unbind(c.srv.ctx)
		return err
	}
	c.res = bound
	c.setJID(bound.JID.String())
	c.phase = phaseReady
	c.nc.SetReadDeadline(time.Time{})
	c.lastRead.Store(time.Now().UnixNano())
	// Armed only once c.timer is set: idle uses it, and with a short
	// PingAfter it could otherwise run before the assignment.
	c.timer = time.AfterFunc(time.Duration(math.MaxInt64), c.idle)
	c.timer.Reset(c.srv.cfg.PingAfter)
	c.srv.log.Info("xmpp: session bound", "jid", bound.JID.String(), "remote", c.remote)
	return nil
}

// stillValid re-reads the account at bind time: it must still exist, may
// use XMPP, and have the credential the login was verified with.
func (c *conn) stillValid() error {
	cred, u, err := c.srv.acc.SCRAMCredential(c.srv.ctx, c.user.Address, c.authKey.Hash)
	switch {
	case errors.Is(err, accounts.ErrNotFound):
	case err != nil:
		c.srv.log.Warn("xmpp: re-reading the account at bind", "user", c.user.Address, "err", err)
		return &streamreader.Error{Condition: "internal-server-error", Text: "the account store is unavailable"}
	case u.CanUse(accounts.ServiceXMPP) && hmac.Equal(cred.StoredKey, c.authKey.StoredKey):
		return nil
	}
	c.srv.log.Info("xmpp: account changed during login", "user", c.user.Address, "remote", c.remote)
	return &streamreader.Error{Condition: "not-authorized", Text: "the account changed; log in again"}
}

func errorIQ(iq *elem.Element, typ, cond, text string) *elem.Element {
	e := elem.New("", "error", "type", typ).Add(elem.New("urn:ietf:params:xml:ns:xmpp-stanzas", cond))
	if text != "" {
		e.Add(elem.New("urn:ietf:params:xml:ns:xmpp-stanzas", "text").Add(elem.Text(text)))
	}
	return elem.New("", "iq", "type", "error", "id", iq.Get("id")).Add(e)
}

// idle runs when the session has been silent for PingAfter: it pings
// (XEP-0199 §4.2), and if the session is still silent after PingTimeout
// it is closed as dead.
func (c *conn) idle() {
	cfg := c.srv.cfg
	silent := time.Since(time.Unix(0, c.lastRead.Load()))
	switch {
	case c.pinged.Load() && silent >= cfg.PingAfter+cfg.PingTimeout-time.Second:
		c.srv.log.Info("xmpp: closing dead session", "jid", c.jid(), "silent", silent.Round(time.Second))
		c.Close("connection-timeout", "no answer to ping")
		return
	case silent >= cfg.PingAfter-time.Second && !c.pinged.Load():
		c.pinged.Store(true)
		c.Send(elem.New("", "iq", "type", "get", "id", "c2s-ping-"+newID(), "from", c.domain, "to", c.jid()).
			Add(elem.New("urn:xmpp:ping", "ping")))
		c.timer.Reset(cfg.PingTimeout)
		return
	case c.pinged.Load():
		c.timer.Reset(cfg.PingAfter + cfg.PingTimeout - silent)
	default:
		c.timer.Reset(cfg.PingAfter - silent)
	}
}

func newID() string {
	var b [8]byte
	randRead(b[:])
	return hex.EncodeToString(b[:])
}
