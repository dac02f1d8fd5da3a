package c2s_test

// The harness: a c2s server over real loopback sockets (STARTTLS and direct
// TLS listeners), an SQLite database, the shared account store with its
// change feed wired to the router as cmd/tidings does, and two kinds of
// test client: one negotiated by mellium.im/xmpp (the interop client) and
// a raw one that writes exactly the bytes a test wants.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/internal/testcert"
	"github.com/tidings/tidings/migrations/dbtest"
	"github.com/tidings/tidings/xmpp/c2s"
	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/router"
	"github.com/tidings/tidings/xmpp/storage"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

const (
	domain    = "capulet.example"
	offDomain = "montague.example" // hosted, XMPP switched off
	pw        = "correct horse battery"

	nsStream  = "http://etherx.jabber.org/streams"
	nsStreams = "urn:ietf:params:xml:ns:xmpp-streams"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"

	wait = 5 * time.Second // longest a test waits for something that must happen
)

type env struct {
	acc     *accounts.Store
	st      *storage.Store
	r       *router.Router
	srv     *c2s.Server
	cfg     c2s.Config
	addr    string // STARTTLS (:5222)
	tlsAddr string // direct TLS (:5223)
	users   map[string]accounts.User

	readBytes atomic.Int64 // bytes the server read from all its connections
	connMu    sync.Mutex
	conns     []*countConn // server side of every accepted connection
}

type options struct {
	c2s      func(*c2s.Config)
	router   func(*router.Config)
	sndbuf   int // SO_SNDBUF of accepted connections; 0 leaves the default
	noRouter bool
}

// testConfig is the c2s configuration of the tests: the defaults with
// short timeouts.
func testConfig() c2s.Config {
	cfg := c2s.DefaultConfig()
	cfg.NegotiationTimeout = 5 * time.Second
	cfg.WriteTimeout = 5 * time.Second
	cfg.MaxConnsPerIP = 1000
	cfg.PostAuth.BytesPerSecond = 0 // no rate shaping after login: tests send a lot quickly
	return cfg
}

// newEnv starts a server for capulet.example (XMPP on) and
// montague.example (XMPP off) with users juliet, romeo, nurse and tybalt.
func newEnv(t *testing.T, o options) *env {
	t.Helper()
	ctx := context.Background()
	db := dbtest.SQLite(t)
	acfg := accounts.DefaultConfig()
	acfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(db, acfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	off := false
	if _, err := acc.AddDomain(ctx, domain, accounts.DomainSettings{}); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.AddDomain(ctx, offDomain, accounts.DomainSettings{XMPPEnabled: &off}); err != nil {
		t.Fatal(err)
	}
	e := &env{acc: acc, users: map[string]accounts.User{}}
	for _, name := range []string{"juliet", "romeo", "nurse", "tybalt"} {
		u, err := acc.AddUser(ctx, accounts.NewUser{Address: name + "@" + domain, Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		e.users[name] = u
	}
	if _, err := acc.AddUser(ctx, accounts.NewUser{Address: "benvolio@" + offDomain, Password: pw}); err != nil {
		t.Fatal(err)
	}
	stop, err := acc.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	rcfg := router.DefaultConfig()
	if o.router != nil {
		o.router(&rcfg)
	}
	if err := rcfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e.st = storage.New(db, rcfg.StorageConfig())
	e.r = router.New(rcfg, acc, e.st, nil)
	if err := e.r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(acc.Subscribe(e.r.AccountEvent))

	tlsCfg, err := testcert.Config(domain)
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = testConfig()
	if o.c2s != nil {
		o.c2s(&e.cfg)
	}
	var log *slog.Logger
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if e.srv, err = c2s.New(e.cfg, tlsCfg, acc, e.r, log); err != nil {
		t.Fatal(err)
	}
	serveDone := make(chan error, 2)
	for _, direct := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if direct {
			e.tlsAddr = ln.Addr().String()
		} else {
			e.addr = ln.Addr().String()
		}
		cl := &countListener{Listener: ln, e: e, sndbuf: o.sndbuf}
		go func() { serveDone <- e.srv.Serve(cl, direct) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		for range 2 {
			if err := <-serveDone; !errors.Is(err, c2s.ErrServerClosed) {
				t.Errorf("Serve returned %v", err)
			}
		}
	})
	return e
}

// countListener counts what the server reads (to prove it does not read a
// flood it has refused) and can shrink the send buffer of accepted
// connections (so a client that does not read fills it quickly).
type countListener struct {
	net.Listener
	e      *env
	sndbuf int
}

func (l *countListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok && l.sndbuf > 0 {
		tc.SetWriteBuffer(l.sndbuf)
	}
	c := &countConn{Conn: nc, total: &l.e.readBytes}
	l.e.connMu.Lock()
	l.e.conns = append(l.e.conns, c)
	l.e.connMu.Unlock()
	return c, nil
}

type countConn struct {
	net.Conn
	n     atomic.Int64
	total *atomic.Int64
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	c.total.Add(int64(n))
	return n, err
}

// lastConn returns the server side of the newest connection.
func (e *env) lastConn() *countConn {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	return e.conns[len(e.conns)-1]
}

func clientTLS() *tls.Config {
	return &tls.Config{ServerName: domain, InsecureSkipVerify: true}
}

// eventually polls cond until it holds or the wait is over.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sessions returns the bound full JIDs of the router.
func (e *env) sessions() []string {
	var out []string
	for _, s := range e.r.Sessions() {
		out = append(out, s.JID)
	}
	return out
}

func (e *env) bound(j string) bool {
	for _, s := range e.sessions() {
		if s == j {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// The client the tests talk through: a stream of received elements and a
// way to send. Both the mellium client and the raw client produce one.

type client struct {
	t    testing.TB
	name string
	jid  string // full JID after binding

	in   chan *elem.Element
	done chan struct{} // closed when the input stream has ended
	err  error         // why it ended; read after done

	sendFn  func(*elem.Element) error
	closeFn func()
	pending []*elem.Element // received, not yet consumed by expect
	ids     atomic.Int64
}

func (c *client) bare() string {
	j, _, _ := strings.Cut(c.jid, "/")
	return j
}

func (c *client) id() string { return fmt.Sprintf("%s-%d", c.name, c.ids.Add(1)) }

// send writes st; attributes are given as in elem.New.
func (c *client) send(st *elem.Element) {
	c.t.Helper()
	if err := c.sendFn(st); err != nil {
		c.t.Fatalf("%s: send %s: %v", c.name, st, err)
	}
}

// sendRaw is send for a stanza written as text.
func (c *client) sendRaw(s string) {
	c.t.Helper()
	st, err := elem.Parse(s)
	if err != nil {
		c.t.Fatalf("bad test stanza %q: %v", s, err)
	}
	c.send(st)
}

// expect returns the first received element that match accepts, waiting
// for it; elements it passes over stay for later calls.
func (c *client) expect(what string, match func(*elem.Element) bool) *elem.Element {
	c.t.Helper()
	for i, el := range c.pending {
		if match(el) {
			c.pending = append(c.pending[:i:i], c.pending[i+1:]...)
			return el
		}
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case el, ok := <-c.in:
			if !ok {
				c.t.Fatalf("%s: stream ended (%v) while waiting for %s; unconsumed: %s", c.name, c.err, what, c.dump())
			}
			if match(el) {
				return el
			}
			c.pending = append(c.pending, el)
		case <-timer.C:
			c.t.Fatalf("%s: timed out waiting for %s; received: %s", c.name, what, c.dump())
		}
	}
}

// none fails if an element match accepts has been received so far (call
// after sync so that everything sent before has arrived).
func (c *client) none(what string, match func(*elem.Element) bool) {
	c.t.Helper()
	for _, el := range c.pending {
		if match(el) {
			c.t.Fatalf("%s: unexpected %s: %s", c.name, what, el)
		}
	}
}

func (c *client) dump() string {
	var b strings.Builder
	for _, el := range c.pending {
		b.WriteString("\n\t" + el.String())
	}
	return b.String()
}

// iq sends an IQ and returns its answer (result or error).
func (c *client) iq(typ, to string, payload *elem.Element) *elem.Element {
	c.t.Helper()
	id := c.id()
	st := elem.New("", "iq", "type", typ, "id", id, "to", to)
	if payload != nil {
		st.Add(payload)
	}
	c.send(st)
	return c.expect("answer to iq "+id, func(el *elem.Element) bool {
		return el.Local == "iq" && el.Get("id") == id && (el.Get("type") == "result" || el.Get("type") == "error")
	})
}

// result is iq that fails unless the answer is a result.
func (c *client) result(typ, to string, payload *elem.Element) *elem.Element {
	c.t.Helper()
	r := c.iq(typ, to, payload)
	if r.Get("type") != "result" {
		c.t.Fatalf("%s: iq %s to %q %s: %s", c.name, typ, to, payload, r)
	}
	return r
}

// sync pings the server and waits for the answer. The server handles a
// stream's stanzas in order and queues its output in order, so everything
// routed to this client before the ping has arrived when sync returns.
func (c *client) sync() {
	c.t.Helper()
	c.result("get", domain, elem.New(router.NSPing, "ping"))
}

// presence sends initial (or updated) available presence.
func (c *client) available(children ...elem.Node) {
	c.t.Helper()
	c.send(elem.New("", "presence").Add(children...))
}

// closed waits for the input stream to end and returns why.
func (c *client) closed() error {
	c.t.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(wait):
		c.t.Fatalf("%s: stream still open", c.name)
		return nil
	}
}

func (c *client) isOpen() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// errorCondition returns the defined condition of a stanza error, or "".
func errorCondition(st *elem.Element) string {
	if e := st.Child("", "error"); e != nil {
		for _, c := range e.Elements() {
			if c.Space == nsStanzas && c.Local != "text" {
				return c.Local
			}
		}
	}
	return ""
}

func isMessage(from, body string) func(*elem.Element) bool {
	return func(el *elem.Element) bool {
		return el.Local == "message" && (from == "" || el.Get("from") == from) && el.ChildText("", "body") == body
	}
}

func isIQSet(space string) func(*elem.Element) bool {
	return func(el *elem.Element) bool {
		q := el.FirstElement()
		return el.Local == "iq" && el.Get("type") == "set" && q != nil && q.Space == space
	}
}

func isPresence(from, typ string) func(*elem.Element) bool {
	return func(el *elem.Element) bool {
		return el.Local == "presence" && el.Get("from") == from && el.Get("type") == typ
	}
}

// ---------------------------------------------------------------------------
// The mellium client.

// melliumSession negotiates a session as name@domain with mellium:
// STARTTLS (or direct TLS), SASL with mechs, resource binding.
func (e *env) melliumSession(t testing.TB, name, password string, direct bool, identity string, mechs ...sasl.Mechanism) (*xmpp.Session, error) {
	t.Helper()
	addr := e.addr
	if direct {
		addr = e.tlsAddr
	}
	nc, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	var rw net.Conn = nc
	features := []xmpp.StreamFeature{xmpp.SASL(identity, password, mechs...), xmpp.BindResource()}
	if direct {
		cfg := clientTLS()
		cfg.NextProtos = []string{"xmpp-client"}
		rw = tls.Client(nc, cfg)
	} else {
		features = append([]xmpp.StreamFeature{xmpp.StartTLS(clientTLS())}, features...)
	}
	// mellium watches ctx in a goroutine until the call returns and sets a
	// deadline in the past if ctx ends first. Cancelling ctx right after
	// the call races with that watcher, which may then break the next read
	// or write; so ctx is left to expire on its own.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	s, err := xmpp.NewClientSession(ctx, jid.MustParse(name+"@"+domain), rw, features...)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return s, nil
}

// login connects name with mellium (STARTTLS, SCRAM-SHA-256-PLUS) and
// starts receiving.
func (e *env) login(t testing.TB, name string) *client {
	t.Helper()
	s, err := e.melliumSession(t, name, pw, false, "", sasl.ScramSha256Plus, sasl.ScramSha256)
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return e.serveMellium(t, name, s)
}

// serveMellium turns a negotiated mellium session into a client.
func (e *env) serveMellium(t testing.TB, name string, s *xmpp.Session) *client {
	c := &client{t: t, name: name, jid: s.LocalAddr().String(), in: make(chan *elem.Element, 10000), done: make(chan struct{})}
	c.sendFn = func(st *elem.Element) error {
		// No per-send context: cancelling it after Send returns races with
		// mellium's deadline watcher, which can then fail the next Send
		// with an i/o timeout (seen as a flaky TestConcurrentTraffic).
		return s.Send(context.Background(), xml.NewDecoder(strings.NewReader(st.String())))
	}
	c.closeFn = func() { s.Close() }
	go func() {
		defer close(c.done)
		defer close(c.in)
		c.err = s.Serve(xmpp.HandlerFunc(func(rw xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			el, err := elem.Read(rw, start.Copy(), elem.NSClient)
			if err != nil {
				return err
			}
			select {
			case c.in <- el:
			default:
				return errors.New("test client: input buffer full")
			}
			// Answer server requests (pings, roster and block-list pushes) as a
			// client must; tests see the request itself in c.in.
			if t := el.Get("type"); el.Local == "iq" && (t == "get" || t == "set") {
				attrs := []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "result"}, {Name: xml.Name{Local: "id"}, Value: el.Get("id")}}
				if f := el.Get("from"); f != "" {
					attrs = append(attrs, xml.Attr{Name: xml.Name{Local: "to"}, Value: f})
				}
				iq := xml.StartElement{Name: xml.Name{Local: "iq"}, Attr: attrs}
				if err := rw.EncodeToken(iq); err != nil {
					return err
				}
				return rw.EncodeToken(iq.End())
			}
			return nil
		}))
	}()
	t.Cleanup(func() {
		s.Close()
		select {
		case <-c.done:
		case <-time.After(wait):
		}
		s.Conn().Close()
	})
	return c
}

// ---------------------------------------------------------------------------
// The raw client.

type raw struct {
	t   testing.TB
	nc  net.Conn // the current transport (TLS after STARTTLS)
	tcp net.Conn
	dec *xml.Decoder
}

// dialRaw connects to the STARTTLS port, or with direct to the TLS port.
// A rcvbuf sets the socket's receive buffer (before connecting, so that
// the TCP window stays small).
func (e *env) dialRaw(t testing.TB, direct bool, rcvbuf ...int) *raw {
	t.Helper()
	addr := e.addr
	if direct {
		addr = e.tlsAddr
	}
	d := net.Dialer{Timeout: wait}
	if len(rcvbuf) > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf[0])
			})
			return errors.Join(err, serr)
		}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &raw{t: t, nc: nc, tcp: nc}
	if direct {
		tc := tls.Client(nc, clientTLS())
		nc.SetDeadline(time.Now().Add(wait))
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Time{})
		r.nc = tc
	}
	t.Cleanup(func() { r.tcp.Close() })
	return r
}

func (r *raw) write(s string) {
	r.t.Helper()
	r.nc.SetWriteDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(r.nc, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func streamHeader(to, extra string) string {
	return "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='" + nsStream +
		"' version='1.0' to='" + to + "'" + extra + ">"
}

// open sends a stream header and returns the server's first element after
// its header: the features, or a stream error.
func (r *raw) open(to, extra string) *elem.Element {
	r.t.Helper()
	r.write(streamHeader(to, extra))
	return r.readHeader()
}

// readHeader reads the server's stream header and the element after it.
func (r *raw) readHeader() *elem.Element {
	r.t.Helper()
	r.rawHeader()
	el, err := r.next()
	if err != nil {
		r.t.Fatalf("reading after the stream header: %v", err)
	}
	return el
}

// rawHeader reads the server's stream header with a fresh decoder.
func (r *raw) rawHeader() xml.StartElement {
	r.t.Helper()
	r.dec = xml.NewDecoder(r.nc)
	for {
		tok, err := r.token()
		if err != nil {
			r.t.Fatalf("reading the stream header: %v", err)
		}
		if st, ok := tok.(xml.StartElement); ok {
			if st.Name.Space != nsStream || st.Name.Local != "stream" {
				r.t.Fatalf("expected a stream header, got %v", st.Name)
			}
			return st.Copy()
		}
	}
}

// tlsClient runs a client TLS handshake on nc.
func tlsClient(t testing.TB, nc net.Conn) *tls.Conn {
	t.Helper()
	tc := tls.Client(nc, clientTLS())
	nc.SetDeadline(time.Now().Add(wait))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	nc.SetDeadline(time.Time{})
	return tc
}

func (r *raw) token() (xml.Token, error) {
	r.nc.SetReadDeadline(time.Now().Add(wait))
	return r.dec.Token()
}

// next reads the next first-level element; io.EOF at </stream:stream>.
func (r *raw) next() (*elem.Element, error) {
	for {
		tok, err := r.token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			r.nc.SetReadDeadline(time.Now().Add(wait))
			return elem.Read(r.dec, t.Copy(), elem.NSClient)
		case xml.EndElement:
			return nil, io.EOF
		}
	}
}

// must is next that fails the test on an error.
func (r *raw) must() *elem.Element {
	r.t.Helper()
	el, err := r.next()
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return el
}

// streamError reads until the stream error and returns its condition,
// then expects the server to close the stream.
func (r *raw) streamError() string {
	r.t.Helper()
	for {
		el, err := r.next()
		if err != nil {
			r.t.Fatalf("expected a stream error, got %v", err)
		}
		if el.Space == nsStream && el.Local == "error" {
			cond := ""
			for _, c := range el.Elements() {
				if c.Space == nsStreams && c.Local != "text" {
					cond = c.Local
				}
			}
			if _, err := r.next(); err != io.EOF {
				r.t.Errorf("after the stream error: %v, want </stream:stream>", err)
			}
			return cond
		}
	}
}

// starttls upgrades the connection and opens the new stream.
func (r *raw) starttls() *elem.Element {
	r.t.Helper()
	r.write("<starttls xmlns='" + nsTLS + "'/>")
	if el := r.must(); el.Local != "proceed" {
		r.t.Fatalf("starttls: %s", el)
	}
	tc := tls.Client(r.tcp, clientTLS())
	r.tcp.SetDeadline(time.Now().Add(wait))
	if err := tc.Handshake(); err != nil {
		r.t.Fatalf("TLS handshake: %v", err)
	}
	r.tcp.SetDeadline(time.Time{})
	r.nc = tc
	return r.open(domain, "")
}

// auth sends a complete SASL exchange of a mechanism without challenges
// (PLAIN) and returns <success/> or <failure/>.
func (r *raw) auth(mech, initial string) *elem.Element {
	r.t.Helper()
	r.write("<auth xmlns='" + nsSASL + "' mechanism='" + mech + "'>" + base64.StdEncoding.EncodeToString([]byte(initial)) + "</auth>")
	return r.must()
}

func plain(authzid, authcid, password string) string {
	return authzid + "\x00" + authcid + "\x00" + password
}

// bind sends a bind request for resource ("" lets the server choose) and
// returns the answer.
func (r *raw) bind(resource string) *elem.Element {
	r.t.Helper()
	b := elem.New(nsBind, "bind")
	if resource != "" {
		b.AddText(nsBind, "resource", resource)
	}
	var buf bytes.Buffer
	elem.New("", "iq", "type", "set", "id", "bind-1").Add(b).WriteTo(&buf)
	r.write(buf.String())
	return r.must()
}

// loginRaw logs name in over STARTTLS with PLAIN, extra attributes on the
// first stream header, and binds resource. It returns the raw connection
// and the bound JID.
func (e *env) loginRaw(t testing.TB, name, resource, extra string) (*raw, string) {
	t.Helper()
	r := e.dialRaw(t, false)
	r.open(domain, extra)
	r.starttls()
	if el := r.auth("PLAIN", plain("", name, pw)); el.Local != "success" {
		t.Fatalf("PLAIN login of %s: %s", name, el)
	}
	r.open(domain, extra)
	res := r.bind(resource)
	if res.Get("type") != "result" {
		t.Fatalf("bind: %s", res)
	}
	return r, res.Child(nsBind, "bind").ChildText(nsBind, "jid")
}

// client starts receiving on a bound raw connection.
func (r *raw) client(name, full string) *client {
	c := &client{t: r.t, name: name, jid: full, in: make(chan *elem.Element, 10000), done: make(chan struct{})}
	var wmu sync.Mutex
	c.sendFn = func(st *elem.Element) error {
		var b bytes.Buffer
		st.WriteTo(&b)
		wmu.Lock()
		defer wmu.Unlock()
		r.nc.SetWriteDeadline(time.Now().Add(wait))
		_, err := r.nc.Write(b.Bytes())
		return err
	}
	c.closeFn = func() {
		wmu.Lock()
		defer wmu.Unlock()
		io.WriteString(r.nc, "</stream:stream>")
	}
	go func() {
		defer close(c.done)
		defer close(c.in)
		for {
			r.tcp.SetReadDeadline(time.Time{})
			tok, err := r.dec.Token()
			if err != nil {
				c.err = err
				return
			}
			switch t := tok.(type) {
			case xml.EndElement:
				c.err = io.EOF
				return
			case xml.StartElement:
				el, err := elem.Read(r.dec, t.Copy(), elem.NSClient)
				if err != nil {
					c.err = err
					return
				}
				if el.Space == nsStream && el.Local == "error" {
					c.err = &streamErr{el}
					return
				}
				if typ := el.Get("type"); el.Local == "iq" && (typ == "get" || typ == "set") {
					c.sendFn(elem.New("", "iq", "type", "result", "id", el.Get("id"), "to", el.Get("from")))
				}
				c.in <- el
			}
		}
	}()
	return c
}

// streamErr is a stream error a raw client received.
type streamErr struct{ el *elem.Element }

func (e *streamErr) Error() string { return "stream error " + e.el.String() }

// loginClient logs name in with the raw client and binds resource.
func (e *env) loginClient(t testing.TB, name, resource string) *client {
	t.Helper()
	r, full := e.loginRaw(t, name, resource, "")
	return r.client(name, full)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
