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

// linkShape lists a server's ready links as "dir:local>remote[:bidi]".
func linkShape(s *Server) []string {
	var out []string
	for _, l := range s.Links() {
		if l.State != "ready" {
			continue
		}
		d := l.Direction + ":" + l.Local + ">" + l.Remote
		if l.Bidi {
			d += ":bidi"
		}
		out = append(out, d)
	}
	return out
}

// Two Tidings routers: capulet writes first, montague answers. With bidi
// on both sides montague answers on capulet's stream; the connections
// each listener accepted show it (dialback adds one verification
// connection per direction that authenticates with it).
func TestBidiOneStream(t *testing.T) {
	for _, tc := range []struct {
		name             string
		ca               bool
		capBidi, monBidi bool
		conns            int32 // accepted by both listeners together
		capLinks         string
		monLinks         string
	}{
		{"external", true, true, true, 1,
			"out:capulet.test>montague.test:bidi", "in:montague.test>capulet.test:bidi"},
		{"external-receiver-off", true, true, false, 2,
			"out:capulet.test>montague.test in:capulet.test>montague.test", "out:montague.test>capulet.test in:montague.test>capulet.test"},
		{"external-initiator-off", true, false, true, 2,
			"out:capulet.test>montague.test in:capulet.test>montague.test", "out:montague.test>capulet.test in:montague.test>capulet.test"},
		{"dialback", false, true, true, 2, // + montague verifying capulet's key
			"out:capulet.test>montague.test:bidi", "in:montague.test>capulet.test:bidi"},
		{"dialback-off", false, false, false, 4,
			"out:capulet.test>montague.test in:capulet.test>montague.test", "out:montague.test>capulet.test in:montague.test>capulet.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := testdns.Start(t)
			capCfg, monCfg := testConfig(), testConfig()
			capCfg.Bidi, monCfg.Bidi = tc.capBidi, tc.monBidi
			capTLS, monTLS := selfSigned(t, "capulet.test"), selfSigned(t, "montague.test")
			if tc.ca {
				authority := newCA(t)
				capCfg.CAFile, monCfg.CAFile = authority.file, authority.file
				capCfg.RequireValidCerts, monCfg.RequireValidCerts = true, true
				capTLS, monTLS = authority.leaf(t, "capulet.test", nil), authority.leaf(t, "montague.test", nil)
			}
			cap := newNode(t, d, "capulet.test", capTLS, capCfg, false, "juliet")
			mon := newNode(t, d, "montague.test", monTLS, monCfg, false, "romeo")

			cap.send("juliet@capulet.test/phone", "romeo@montague.test/phone", "hello")
			if st := mon.wait("romeo", 10*time.Second); st.ChildText("", "body") != "hello" {
				t.Fatalf("romeo got %s", st)
			}
			mon.send("romeo@montague.test/phone", "juliet@capulet.test/phone", "hi back")
			if st := cap.wait("juliet", 10*time.Second); st.ChildText("", "body") != "hi back" || st.Get("from") != "romeo@montague.test/phone" {
				t.Fatalf("juliet got %s", st)
			}
			cap.send("juliet@capulet.test/phone", "romeo@montague.test/phone", "again")
			if st := mon.wait("romeo", 10*time.Second); st.ChildText("", "body") != "again" {
				t.Fatalf("romeo got %s", st)
			}
			if !eventually(5*time.Second, func() bool {
				return strings.Join(linkShape(cap.srv), " ") == tc.capLinks && strings.Join(linkShape(mon.srv), " ") == tc.monLinks
			}) {
				t.Errorf("links: capulet %q, want %q; montague %q, want %q", linkShape(cap.srv), tc.capLinks, linkShape(mon.srv), tc.monLinks)
			}
			if n := cap.conns.Load() + mon.conns.Load(); n != tc.conns {
				t.Errorf("%d connections accepted (capulet %d, montague %d), want %d", n, cap.conns.Load(), mon.conns.Load(), tc.conns)
			}
		})
	}
}

// When the inbound bidi stream ends, montague opens its own stream again.
func TestBidiInboundEndsThenOutbound(t *testing.T) {
	d := testdns.Start(t)
	cap := newNode(t, d, "capulet.test", selfSigned(t, "capulet.test"), testConfig(), false, "juliet")
	mon := newNode(t, d, "montague.test", selfSigned(t, "montague.test"), testConfig(), false, "romeo")
	cap.send("juliet@capulet.test/phone", "romeo@montague.test/phone", "one")
	mon.wait("romeo", 10*time.Second)
	closeIdle(cap.srv) // capulet closes its outbound stream

	if !eventually(5*time.Second, func() bool { return len(linkShape(mon.srv)) == 0 }) {
		t.Fatalf("montague keeps %q", linkShape(mon.srv))
	}
	mon.send("romeo@montague.test/phone", "juliet@capulet.test/phone", "two")
	if st := cap.wait("juliet", 10*time.Second); st.ChildText("", "body") != "two" {
		t.Fatalf("juliet got %s", st)
	}
	if got := strings.Join(linkShape(mon.srv), " "); got != "out:montague.test>capulet.test:bidi" {
		t.Errorf("montague's links %q", got)
	}
}

// bidiPeer plays verona.test's receiving server by hand: STARTTLS, the
// features (bidi if offer), then a dialback request it calls valid. It
// returns what came between the features and the request.
func bidiPeer(t *testing.T, c net.Conn, offer bool) (*rawPeer, string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	p := &rawPeer{t: t, c: c, rd: bufio.NewReader(c)}
	header := `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' id='s1' from='verona.test' to='capulet.test' version='1.0'>`
	p.until("version='1.0' xml:lang='en' from='capulet.test' to='verona.test'>")
	p.write(header + `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`)
	p.until("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	p.write(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	srv := tls.Server(c, selfSigned(t, "verona.test"))
	if err := srv.Handshake(); err != nil {
		t.Fatal(err)
	}
	p.c, p.rd = srv, bufio.NewReader(srv)
	p.until("from='capulet.test' to='verona.test'>")
	feats := `<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>`
	if offer {
		feats += `<bidi xmlns='urn:xmpp:features:bidi'/>`
	}
	p.write(header + `<stream:features>` + feats + `</stream:features>`)
	got := p.until("</db:result>")
	p.write(`<db:result type='valid' from='verona.test' to='capulet.test'/>`)
	return p, got
}

// On a bidirectional outbound stream the peer's stanzas for the pair it
// proved are delivered and its db:verify requests answered; any other
// pair ends the stream with invalid-from. Without bidi a stanza there is
// refused.
func TestBidiOutboundAcceptsOnlyThePair(t *testing.T) {
	for _, offer := range []bool{true, false} {
		t.Run("offer="+strconv.FormatBool(offer), func(t *testing.T) {
			d := testdns.Start(t)
			cap := newNode(t, d, "capulet.test", selfSigned(t, "capulet.test"), testConfig(), false, "juliet")
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			d.Add(t, "_xmpp-server._tcp.verona.test. 60 IN SRV 0 5 "+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)+" xmpp.verona.test.",
				"xmpp.verona.test. 60 IN A 127.0.0.1")
			cap.send("juliet@capulet.test/phone", "romeo@verona.test", "hello")
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			p, req := bidiPeer(t, c, offer)
			if asked := strings.HasPrefix(req, "<bidi xmlns='urn:xmpp:bidi'/><db:result "); asked != offer {
				t.Fatalf("offered %v; before authenticating capulet sent %q", offer, req)
			}
			p.until("<body>hello</body></message>")
			p.write(`<message from='romeo@verona.test/orchard' to='juliet@capulet.test/phone' type='chat'><body>back</body></message>`)
			if !offer {
				p.until("unsupported-stanza-type")
				return
			}
			if st := cap.wait("juliet", 5*time.Second); st.ChildText("", "body") != "back" || st.Get("from") != "romeo@verona.test/orchard" {
				t.Fatalf("juliet got %s", st)
			}
			// As authoritative server, on the same stream.
			p.write(`<db:verify from='verona.test' to='capulet.test' id='abc'>` + dialbackKey(cap.secret, "verona.test", "capulet.test", "abc") + `</db:verify>`)
			if got := p.until("/>"); !strings.Contains(got, `<db:verify from="capulet.test" to="verona.test" id="abc" type="valid"/>`) {
				t.Fatalf("db:verify answer %q", got)
			}
			p.write(`<db:verify from='verona.test' to='capulet.test' id='abd'>` + dialbackKey(cap.secret, "verona.test", "capulet.test", "abc") + `</db:verify>`)
			if got := p.until("/>"); !strings.Contains(got, `id="abd" type="invalid"/>`) {
				t.Fatalf("db:verify answer %q", got)
			}
			p.write(`<message from='tybalt@evil.test' to='juliet@capulet.test/phone' type='chat'><body>spoof</body></message>`)
			p.until("invalid-from")
			select {
			case st := <-cap.users["juliet"].ch:
				t.Fatalf("juliet got %s", st)
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// Inbound: bidi is offered after TLS and before authentication; with bidi
// off it is neither offered nor a known element.
func TestBidiInboundNegotiation(t *testing.T) {
	d := testdns.Start(t)
	cap := newNode(t, d, "capulet.test", selfSigned(t, "capulet.test"), testConfig(), false, "juliet")
	cfg := testConfig()
	cfg.Bidi = false
	off := newNode(t, d, "tybalt.test", selfSigned(t, "tybalt.test"), cfg, false)

	p := dialRawFeatures(t, cap, "montague.test", func(feats string) {
		if !strings.Contains(feats, `<bidi xmlns="urn:xmpp:features:bidi"/>`) {
			t.Errorf("no bidi feature: %q", feats)
		}
	})
	p.write(`<bidi xmlns='urn:xmpp:bidi'/><bidi xmlns='urn:xmpp:bidi'/>`) // twice before authentication: fine
	p.write(`<db:verify from='montague.test' to='capulet.test' id='x'>00</db:verify>`)
	p.until(`type="invalid"`)

	p = dialRawFeatures(t, off, "montague.test", func(feats string) {
		if strings.Contains(feats, "bidi") {
			t.Errorf("bidi offered while off: %q", feats)
		}
	})
	p.write(`<bidi xmlns='urn:xmpp:bidi'/>`)
	p.until("unsupported-stanza-type")
}

// Asked for after authentication, bidi is refused (XEP-0288 §2.2).
func TestBidiAfterAuthRefused(t *testing.T) {
	c := &inConn{verified: map[pair]string{{"capulet.test", "montague.test"}: "dialback"}}
	if err := c.enableBidi(); err == nil || !strings.Contains(err.Error(), "policy-violation") {
		t.Fatalf("enableBidi after a verified pair: %v", err)
	}
	c = &inConn{verified: map[pair]string{}}
	if err := c.enableBidi(); err != nil || !c.bidi {
		t.Fatalf("enableBidi before: %v, bidi %v", err, c.bidi)
	}
}

// closeIdle closes every outbound stream of s as if it had been idle.
func closeIdle(s *Server) {
	s.mu.Lock()
	var ls []*link
	for _, l := range s.links {
		if l.in == nil {
			ls = append(ls, l)
		}
	}
	s.mu.Unlock()
	for _, l := range ls {
		l.mu.Lock()
		l.lastUsed = time.Time{}
		l.mu.Unlock()
		l.idle()
	}
}
