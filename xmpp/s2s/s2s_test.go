package s2s

import (
	"bufio"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/internal/testdns"
)

func linkAuth(s *Server, dir, local, remote string) string {
	for _, l := range s.Links() {
		if l.Direction == dir && l.Local == local && l.Remote == remote && l.State == "ready" {
			return l.Auth
		}
	}
	return ""
}

// Two Tidings instances found through SRV records only, self-signed
// certificates: dialback in both directions; capulet over direct TLS.
func TestDialbackSelfSigned(t *testing.T) {
	d := testdns.Start(t)
	cap := newNode(t, d, "capulet.test", selfSigned(t, "capulet.test"), testConfig(), true, "juliet")
	mon := newNode(t, d, "montague.test", selfSigned(t, "montague.test"), testConfig(), false, "romeo")

	cap.send("juliet@capulet.test/phone", "romeo@montague.test/phone", "hello")
	st := mon.wait("romeo", 10*time.Second)
	if st.Get("from") != "juliet@capulet.test/phone" || st.ChildText("", "body") != "hello" {
		t.Fatalf("romeo got %s", st)
	}
	mon.send("romeo@montague.test/phone", "juliet@capulet.test/phone", "hi back")
	if st := cap.wait("juliet", 10*time.Second); st.ChildText("", "body") != "hi back" {
		t.Fatalf("juliet got %s", st)
	}
	if a := linkAuth(cap.srv, "out", "capulet.test", "montague.test"); a != "dialback" {
		t.Errorf("capulet's outbound link auth %q; links %+v", a, cap.srv.Links())
	}
	if a := linkAuth(mon.srv, "in", "montague.test", "capulet.test"); a != "dialback" {
		t.Errorf("montague's inbound link auth %q; links %+v", a, mon.srv.Links())
	}
	// The stream is reused.
	cap.send("juliet@capulet.test/phone", "romeo@montague.test/phone", "again")
	if st := mon.wait("romeo", 5*time.Second); st.ChildText("", "body") != "again" {
		t.Fatalf("romeo got %s", st)
	}
	// Counted as they are queued or accepted, which may be just after the
	// other side delivered them.
	capWant, monWant := Stats{StanzasOut: 2, StanzasIn: 1}, Stats{StanzasOut: 1, StanzasIn: 2}
	if !eventually(time.Second, func() bool { return cap.srv.Stats() == capWant && mon.srv.Stats() == monWant }) {
		t.Errorf("stats: capulet %+v, want %+v; montague %+v, want %+v", cap.srv.Stats(), capWant, mon.srv.Stats(), monWant)
	}
}

// A private CA: SASL EXTERNAL both ways, with valid certificates required.
func TestExternalPrivateCA(t *testing.T) {
	d := testdns.Start(t)
	authority := newCA(t)
	cfg := testConfig()
	cfg.CAFile = authority.file
	cfg.RequireValidCerts = true
	cap := newNode(t, d, "capulet.test", authority.leaf(t, "capulet.test", nil), cfg, false, "juliet")
	mon := newNode(t, d, "montague.test", authority.leaf(t, "montague.test", nil), cfg, true, "romeo")

	cap.send("juliet@capulet.test/phone", "romeo@montague.test/phone", "hello")
	if st := mon.wait("romeo", 10*time.Second); st.ChildText("", "body") != "hello" {
		t.Fatalf("romeo got %s", st)
	}
	mon.send("romeo@montague.test/phone", "juliet@capulet.test/phone", "hi")
	if st := cap.wait("juliet", 10*time.Second); st.ChildText("", "body") != "hi" {
		t.Fatalf("juliet got %s", st)
	}
	if a := linkAuth(cap.srv, "out", "capulet.test", "montague.test"); a != "external" {
		t.Errorf("outbound auth %q; links %+v", a, cap.srv.Links())
	}
	if a := linkAuth(mon.srv, "in", "montague.test", "capulet.test"); a != "external" {
		t.Errorf("inbound auth %q; links %+v", a, mon.srv.Links())
	}
}

// Valid certificates required, the peer's is self-signed: refused, bounced.
func TestRequireValidCertsRefusesSelfSigned(t *testing.T) {
	d := testdns.Start(t)
	cfg := testConfig()
	cfg.RequireValidCerts = true
	cap := newNode(t, d, "capulet.test", selfSigned(t, "capulet.test"), cfg, false, "juliet")
	newNode(t, d, "montague.test", selfSigned(t, "montague.test"), testConfig(), false, "romeo")
	cap.send("juliet@capulet.test/phone", "romeo@montague.test/phone", "hello")
	if st := cap.wait("juliet", 10*time.Second); errorCondition(st) != "remote-server-not-found" {
		t.Fatalf("juliet got %s", st)
	}
}

// The peer is down: the sender gets a bounce; then it comes up (a restart)
// and traffic resumes after the back-off.
func TestPeerDownBounceAndRestart(t *testing.T) {
	d := testdns.Start(t)
	cap := newNode(t, d, "capulet.test", selfSigned(t, "capulet.test"), testConfig(), false, "juliet")
	mon := newNode(t, d, "montague.test", selfSigned(t, "montague.test"), testConfig(), false, "romeo")

	cap.send("juliet@capulet.test/phone", "romeo@montague.test/phone", "one")
	if st := mon.wait("romeo", 10*time.Second); st.ChildText("", "body") != "one" {
		t.Fatalf("romeo got %s", st)
	}
	// montague goes down.
	port := mon.port
	mon.ln.Close()
	mon.srv.Shutdown(t.Context())
	if !eventually(5*time.Second, func() bool { return linkAuth(cap.srv, "out", "capulet.test", "montague.test") == "" }) {
		t.Fatalf("capulet keeps a link to a stopped peer: %+v", cap.srv.Links())
	}
	cap.send("juliet@capulet.test/phone", "romeo@montague.test/phone", "two")
	st := cap.wait("juliet", 10*time.Second)
	if c := errorCondition(st); c != "remote-server-not-found" || st.ChildText("", "body") != "two" || st.Get("from") != "romeo@montague.test/phone" {
		t.Fatalf("juliet got %s (condition %q)", st, c)
	}
	// montague restarts on the same port.
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Skipf("port %d taken meanwhile: %v", port, err)
	}
	mon.ln = ln
	mon.start(mon.secret, false)
	var got bool
	for i := 0; i < 50 && !got; i++ {
		cap.send("juliet@capulet.test/phone", "romeo@montague.test/phone", "three")
		select {
		case st := <-mon.users["romeo"].ch:
			got = st.ChildText("", "body") == "three"
		case st := <-cap.users["juliet"].ch: // bounced during the back-off
			if errorCondition(st) == "" {
				t.Fatalf("juliet got %s", st)
			}
			time.Sleep(50 * time.Millisecond)
		case <-time.After(5 * time.Second):
		}
	}
	if !got {
		t.Fatal("traffic did not resume after the peer restarted")
	}
}

// A connect that never completes bounces with remote-server-timeout
// (type wait), and so does what is sent during the back-off after it;
// more than max_queue stanzas waiting bounce with resource-constraint.
func TestConnectTimeoutBounce(t *testing.T) {
	d := testdns.Start(t)
	cfg := testConfig()
	cfg.ConnectTimeout = 300 * time.Millisecond
	cfg.RetryMin, cfg.RetryMax = time.Minute, time.Minute
	cfg.MaxQueue = 1
	cap := newNode(t, d, "capulet.test", selfSigned(t, "capulet.test"), cfg, false, "juliet")
	// A listener that accepts and never speaks.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	d.Add(t, "_xmpp-server._tcp.silent.test. 60 IN SRV 0 5 "+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)+" xmpp.silent.test.",
		"xmpp.silent.test. 60 IN A 127.0.0.1")
	cap.send("juliet@capulet.test/phone", "romeo@silent.test", "hello")
	cap.send("juliet@capulet.test/phone", "romeo@silent.test", "crowded")
	for _, want := range []string{"crowded resource-constraint wait", "hello remote-server-timeout wait"} {
		st := cap.wait("juliet", 5*time.Second)
		if got := st.ChildText("", "body") + " " + errorCondition(st) + " " + st.Child("", "error").Get("type"); got != want {
			t.Fatalf("juliet got %s, want %s", st, want)
		}
	}
	cap.send("juliet@capulet.test/phone", "romeo@silent.test", "again")
	if st := cap.wait("juliet", 5*time.Second); errorCondition(st) != "remote-server-timeout" || st.Child("", "error").Get("type") != "wait" {
		t.Fatalf("during the back-off juliet got %s", st)
	}
	if got, want := cap.srv.Stats(), (Stats{Bounced: 3, Failed: 1}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

// Blocked domains are refused in both directions.
func TestBlockedDomain(t *testing.T) {
	d := testdns.Start(t)
	cfg := testConfig()
	cfg.Block = []string{"montague.test"}
	cap := newNode(t, d, "capulet.test", selfSigned(t, "capulet.test"), cfg, false, "juliet")
	mon := newNode(t, d, "montague.test", selfSigned(t, "montague.test"), testConfig(), false, "romeo")

	cap.send("juliet@capulet.test/phone", "romeo@montague.test/phone", "out")
	if st := cap.wait("juliet", 5*time.Second); errorCondition(st) != "remote-server-not-found" {
		t.Fatalf("juliet got %s", st)
	}
	mon.send("romeo@montague.test/phone", "juliet@capulet.test/phone", "in")
	if st := mon.wait("romeo", 10*time.Second); errorCondition(st) != "remote-server-not-found" {
		t.Fatalf("romeo got %s", st)
	}
	select {
	case st := <-cap.users["juliet"].ch:
		t.Fatalf("juliet got a stanza from a blocked domain: %s", st)
	default:
	}
}

// rawPeer speaks to a node's s2s port by hand.
type rawPeer struct {
	t  *testing.T
	c  net.Conn
	rd *bufio.Reader
}

func dialRaw(t *testing.T, n *node, from string) *rawPeer {
	return dialRawFeatures(t, n, from, nil)
}

// dialRawFeatures is dialRaw that hands the features after TLS to check.
func dialRawFeatures(t *testing.T, n *node, from string, check func(string)) *rawPeer {
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(n.port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	p := &rawPeer{t: t, c: c, rd: bufio.NewReader(c)}
	p.write(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0' from='` + from + `' to='` + n.domain + `'>`)
	p.until("</stream:features>")
	p.write(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	p.until("<proceed")
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	p.c, p.rd = tc, bufio.NewReader(tc)
	p.write(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0' from='` + from + `' to='` + n.domain + `'>`)
	feats := p.until("</stream:features>")
	if check != nil {
		check(feats)
	}
	return p
}

func (p *rawPeer) write(s string) {
	if _, err := p.c.Write([]byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

// until reads until want appears and returns what was read.
func (p *rawPeer) until(want string) string {
	p.t.Helper()
	var b strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(b.String(), want) {
		n, err := p.rd.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			p.t.Fatalf("waiting for %q: %v; got %q", want, err, b.String())
		}
	}
	return b.String()
}

// A peer sending for a domain pair it has not verified is refused.
func TestUnverifiedDomainRefused(t *testing.T) {
	d := testdns.Start(t)
	cap := newNode(t, d, "capulet.test", selfSigned(t, "capulet.test"), testConfig(), false, "juliet")
	mon := newNode(t, d, "montague.test", selfSigned(t, "montague.test"), testConfig(), false, "romeo")
	_ = mon

	// No dialback at all.
	p := dialRaw(t, cap, "montague.test")
	p.write(`<message from='romeo@montague.test' to='juliet@capulet.test' type='chat'><body>spoof</body></message>`)
	p.until("invalid-from")

	// A forged dialback key: montague's authoritative server says invalid.
	p = dialRaw(t, cap, "montague.test")
	p.write(`<db:result from='montague.test' to='capulet.test'>` + strings.Repeat("ab", 32) + `</db:result>`)
	if got := p.until("not-authorized"); !strings.Contains(got, "invalid") {
		t.Fatalf("no invalid result: %q", got)
	}

	// montague verified properly, then claims another domain.
	mon.send("romeo@montague.test/phone", "juliet@capulet.test/phone", "real")
	if st := cap.wait("juliet", 10*time.Second); st.ChildText("", "body") != "real" {
		t.Fatalf("juliet got %s", st)
	}
	p = dialRaw(t, cap, "evil.test")
	p.write(`<message from='romeo@montague.test' to='juliet@capulet.test' type='chat'><body>spoof</body></message>`)
	p.until("invalid-from")
	// To a domain not hosted here.
	p = dialRaw(t, cap, "montague.test")
	p.write(`<db:result from='montague.test' to='elsewhere.test'>00</db:result>`)
	p.until("item-not-found")
	select {
	case st := <-cap.users["juliet"].ch:
		t.Fatalf("juliet got a spoofed stanza: %s", st)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestWrongHostUnknown(t *testing.T) {
	d := testdns.Start(t)
	cap := newNode(t, d, "capulet.test", selfSigned(t, "capulet.test"), testConfig(), false)
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(cap.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	p := &rawPeer{t: t, c: c, rd: bufio.NewReader(c)}
	p.write(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='montague.test' to='nowhere.test'>`)
	p.until("host-unknown")
}
