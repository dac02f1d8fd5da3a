package s2s

import (
	"bufio"
	"crypto/tls"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/internal/testdns"
	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/router"
)

// ejabberd's parser matches qualified names literally: it knows
// <db:result/> and <stream:features/>, and drops <result
// xmlns='jabber:server:dialback'/> unanswered. What we send in the stream
// and dialback namespaces must use the prefixes of our stream header.

func TestRenderPrefixes(t *testing.T) {
	for i, tc := range []struct {
		e    *elem.Element
		want string
	}{
		{elem.New(nsDialback, "result", "from", "a.test", "to", "b.test").Add(elem.Text("k")),
			`<db:result from="a.test" to="b.test">k</db:result>`},
		{elem.New(nsDialback, "result", "from", "a.test", "type", "error").Add(elem.New("", "error", "type", "cancel").Add(elem.New(nsStanzas, "item-not-found"))),
			`<db:result from="a.test" type="error"><error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></db:result>`},
		{elem.New(nsStream, "features").Add(elem.New(nsTLS, "starttls")),
			`<stream:features><starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"/></stream:features>`},
		{elem.New(nsSASL, "auth", "mechanism", "EXTERNAL").Add(elem.Text("=")),
			`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="EXTERNAL">=</auth>`},
		{elem.New("", "message", "to", "a@b.test").AddText("", "body", "hi"),
			`<message to="a@b.test"><body>hi</body></message>`},
	} {
		if got := string(render(tc.e)); got != tc.want {
			t.Errorf("%d: render = %s, want %s", i, got, tc.want)
		}
	}
}

// Inbound: features, db:verify and db:result answers are prefixed.
func TestInboundPrefixed(t *testing.T) {
	d := testdns.Start(t)
	cap := newNode(t, d, "capulet.test", selfSigned(t, "capulet.test"), testConfig(), false, "juliet")
	p := dialRaw(t, cap, "montague.test") // reads up to </stream:features>
	p.write(`<db:verify from='montague.test' to='capulet.test' id='x1'>` + strings.Repeat("ab", 32) + `</db:verify>`)
	if got := p.until(`type="invalid"`); !regexp.MustCompile(`<db:verify [^>]*type="invalid"`).MatchString(got) {
		t.Errorf("db:verify answer: %q", got)
	}
	p.write(`<db:result from='montague.test' to='elsewhere.test'>00</db:result>`)
	if got := p.until("</db:result>"); !regexp.MustCompile(`<db:result [^>]*type="error"`).MatchString(got) {
		t.Errorf("db:result answer: %q", got)
	}
}

// Outbound: a peer that understands only the prefixed forms (like
// ejabberd) gets <db:result/>; its error answer's condition and text end
// up in the reason stanzas bounce with.
func TestOutboundDialbackPrefixedAndReason(t *testing.T) {
	d := testdns.Start(t)
	cfg := testConfig()
	cfg.RetryMin, cfg.RetryMax = time.Minute, time.Minute
	cap := newNode(t, d, "capulet.test", selfSigned(t, "capulet.test"), cfg, false, "juliet")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d.Add(t, "_xmpp-server._tcp.verona.test. 60 IN SRV 0 5 "+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)+" xmpp.verona.test.",
		"xmpp.verona.test. 60 IN A 127.0.0.1")
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		got <- literalPeer(t, c, selfSigned(t, "verona.test"))
	}()

	cap.send("juliet@capulet.test/phone", "romeo@verona.test", "hello")
	var req string
	select {
	case req = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no dialback request within 10 s")
	}
	if !strings.HasPrefix(req, "<db:result ") || !strings.Contains(req, `from="capulet.test"`) {
		t.Fatalf("dialback request %q, want <db:result from=capulet.test ...>", req)
	}
	st := cap.wait("juliet", 10*time.Second)
	if c := errorCondition(st); c != "remote-server-not-found" {
		t.Fatalf("juliet got %s", st)
	}
	// During the back-off the reason is given at once.
	from, _ := router.ParseJID("juliet@capulet.test/phone")
	to, _ := router.ParseJID("romeo@verona.test")
	err = cap.srv.Send(t.Context(), from, to, elem.New("", "message"))
	if err == nil || !strings.Contains(err.Error(), "remote-server-not-found (DNS lookup failed: enoname)") {
		t.Fatalf("Send during the back-off: %v", err)
	}
}

// literalPeer plays the receiving server of verona.test on c, matching
// element names as the strings ejabberd's parser sees: STARTTLS, then
// dialback only. It returns the first element after the second header
// and answers a db:result with an error as ejabberd does when it cannot
// resolve the originating domain.
func literalPeer(t *testing.T, c net.Conn, tc *tls.Config) string {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	p := &rawPeer{t: t, c: c, rd: bufio.NewReader(c)}
	header := `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' id='s1' from='verona.test' to='capulet.test' version='1.0'>`
	if _, err := readTo(p, "<stream:stream"); err != nil {
		return err.Error()
	}
	readTo(p, ">")
	p.write(header + `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`)
	if _, err := readTo(p, "<starttls"); err != nil {
		return err.Error()
	}
	readTo(p, ">")
	p.write(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	srv := tls.Server(c, tc)
	if err := srv.Handshake(); err != nil {
		return err.Error()
	}
	p.c, p.rd = srv, bufio.NewReader(srv)
	if _, err := readTo(p, "<stream:stream"); err != nil {
		return err.Error()
	}
	readTo(p, ">")
	p.write(header + `<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>`)
	el, err := readTo(p, ">")
	if err != nil {
		return err.Error()
	}
	rest, _ := readTo(p, ">")
	p.write(`<db:result type='error' to='capulet.test' from='verona.test'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xml:lang='en' xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>DNS lookup failed: enoname</text></error></db:result>`)
	time.Sleep(100 * time.Millisecond)
	return strings.TrimSpace(el + rest)
}

// readTo reads up to and including the first want.
func readTo(p *rawPeer, want string) (string, error) {
	var b strings.Builder
	for !strings.HasSuffix(b.String(), want) {
		c, err := p.rd.ReadByte()
		if err != nil {
			return b.String(), err
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}
