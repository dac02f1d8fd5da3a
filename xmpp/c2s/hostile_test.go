package c2s_test

// Hostile input: each attack must be refused, and a fresh client must
// still be able to log in and talk afterwards.

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/xmpp/c2s"
	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/router"
	"github.com/tidings/tidings/xmpp/streamreader"
)

// stillServes logs a fresh client in and has it exchange a message with
// another fresh client.
func (e *env) stillServes(t *testing.T) {
	t.Helper()
	a := e.login(t, "nurse")
	b := e.loginClient(t, "tybalt", "")
	a.send(elem.New("", "message", "to", b.jid).AddText("", "body", "still here"))
	b.expect("message", isMessage(a.jid, "still here"))
}

// loggedInRaw returns a raw connection of name after SASL and binding,
// without a reader goroutine.
func (e *env) loggedInRaw(t *testing.T, name string) *raw {
	t.Helper()
	r, _ := e.loginRaw(t, name, "", "")
	return r
}

func TestRestrictedXML(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	laughs := `<!DOCTYPE stream:stream [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>`
	t.Run("doctype before the header", func(t *testing.T) {
		r := e.dialRaw(t, false)
		r.write("<?xml version='1.0'?>" + laughs + streamHeader(domain, ""))
		el := r.readHeader()
		if el.Local != "error" || el.FirstElement().Local != "restricted-xml" {
			t.Fatalf("got %s", el)
		}
	})
	t.Run("doctype in the stream", func(t *testing.T) {
		r := e.dialRaw(t, true)
		r.open(domain, "")
		r.write(laughs)
		if cond := r.streamError(); cond != "restricted-xml" {
			t.Fatalf("got %s", cond)
		}
	})
	t.Run("entity reference", func(t *testing.T) {
		r := e.loggedInRaw(t, "juliet")
		r.write("<message to='romeo@" + domain + "'><body>&lol3;</body></message>")
		if cond := r.streamError(); cond != "not-well-formed" {
			t.Fatalf("got %s", cond)
		}
	})
	for name, s := range map[string]string{
		"comment in a stanza":     "<message to='romeo@" + domain + "'><!-- hi --><body>x</body></message>",
		"comment between stanzas": "<!-- hi -->",
		"processing instruction":  "<message to='romeo@" + domain + "'><?php echo 1; ?></message>",
		"doctype after login":     laughs,
	} {
		t.Run(name, func(t *testing.T) {
			r := e.loggedInRaw(t, "juliet")
			r.write(s)
			if cond := r.streamError(); cond != "restricted-xml" {
				t.Fatalf("got %s", cond)
			}
		})
	}
	e.stillServes(t)
}

// flood writes a stanza start, n bytes of text and the end, from another
// goroutine (the server stops reading long before the end); the returned
// function waits for the writer.
func flood(t *testing.T, w io.Writer, n int) func() (int, error) {
	done := make(chan struct{})
	var written int
	var werr error
	go func() {
		defer close(done)
		written, werr = io.WriteString(w, "<message to='romeo@"+domain+"'><body>")
		chunk := bytes.Repeat([]byte("A"), 64<<10)
		for written < n && werr == nil {
			var k int
			k, werr = w.Write(chunk)
			written += k
		}
		if werr == nil {
			_, werr = io.WriteString(w, "</body></message>")
		}
	}()
	return func() (int, error) {
		select {
		case <-done:
		case <-time.After(2 * wait):
			t.Fatal("the flood writer is stuck")
		}
		return written, werr
	}
}

// TestHugeStanza: a 10 MB stanza is refused with policy-violation when the
// limit is reached, and the server does not read (let alone buffer) the
// rest.
func TestHugeStanza(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	const size = 10 << 20
	t.Run("before auth", func(t *testing.T) {
		r := e.dialRaw(t, false)
		r.open(domain, "")
		srv := e.lastConn()
		wait := flood(t, r.nc, size)
		if cond := r.streamError(); cond != "policy-violation" {
			t.Fatalf("got %s", cond)
		}
		r.tcp.Close()
		n, err := wait()
		if err == nil || n >= size {
			t.Errorf("the server accepted all %d bytes", n)
		}
		// The header (~150 bytes) and the 10,000-byte limit, plus at most
		// one read-ahead buffer.
		if read := srv.n.Load(); read > streamreader.PreAuthStanzaBytes+8192 {
			t.Errorf("the server read %d bytes", read)
		}
	})
	t.Run("before auth, TLS", func(t *testing.T) {
		r := e.dialRaw(t, true)
		r.open(domain, "")
		wait := flood(t, r.nc, size)
		if cond := r.streamError(); cond != "policy-violation" {
			t.Fatalf("got %s", cond)
		}
		r.tcp.Close()
		if n, err := wait(); err == nil || n >= size {
			t.Errorf("the server accepted all %d bytes", n)
		}
	})
	t.Run("after auth", func(t *testing.T) {
		r := e.loggedInRaw(t, "juliet")
		wait := flood(t, r.nc, size)
		if cond := r.streamError(); cond != "policy-violation" {
			t.Fatalf("got %s", cond)
		}
		r.tcp.Close()
		if n, err := wait(); err == nil || n >= size {
			t.Errorf("the server accepted all %d bytes", n)
		}
	})
	if n := e.srv.Connections(); n != 0 {
		eventually(t, "flood connections closed", func() bool { return e.srv.Connections() == 0 })
	}
	e.stillServes(t)
}

// TestDeepNesting: 10,000 nested elements, and 10,000 siblings, are
// refused with policy-violation before and after authentication.
func TestDeepNesting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	nested := "<message to='romeo@" + domain + "'>" + strings.Repeat("<a>", 10000) + strings.Repeat("</a>", 10000) + "</message>"
	siblings := "<message to='romeo@" + domain + "'>" + strings.Repeat("<a/>", 10000) + "</message>"
	t.Run("before auth", func(t *testing.T) {
		r := e.dialRaw(t, true)
		r.open(domain, "")
		r.write(strings.Repeat("<a>", 10000))
		if cond := r.streamError(); cond != "policy-violation" {
			t.Fatalf("got %s", cond)
		}
	})
	t.Run("before auth, within the byte limit", func(t *testing.T) {
		r := e.dialRaw(t, true)
		r.open(domain, "")
		r.write(strings.Repeat("<a>", streamreader.PreAuthDepth+2))
		if cond := r.streamError(); cond != "policy-violation" {
			t.Fatalf("got %s", cond)
		}
	})
	for name, s := range map[string]string{"nested": nested, "siblings": siblings} {
		t.Run(name+" after auth", func(t *testing.T) {
			r := e.loggedInRaw(t, "juliet")
			go io.WriteString(r.nc, s) // the server may stop reading midway
			if cond := r.streamError(); cond != "policy-violation" {
				t.Fatalf("got %s", cond)
			}
		})
	}
	e.stillServes(t)
}

// TestSpoofedFrom: whatever from a client writes, the receiver sees the
// sender's real full JID (RFC 6120 §8.1.2.1).
func TestSpoofedFrom(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	j := e.online(t, "juliet")
	r := e.loginClient(t, "romeo", "orchard")
	r.available()
	for i, from := range []string{"nurse@" + domain + "/kitchen", "juliet@" + domain, j.jid, domain, "", "not a jid"} {
		body := "spoof " + from
		r.send(elem.New("", "message", "to", j.jid, "from", from, "id", "s"+string(rune('a'+i))).AddText("", "body", body))
		m := j.expect("message", isMessage("", body))
		if m.Get("from") != r.jid {
			t.Errorf("from=%q arrived as from=%q", from, m.Get("from"))
		}
	}
	// A spoofed IQ is answered to the real sender.
	r.send(elem.New("", "iq", "type", "get", "id", "v", "to", "juliet@"+domain, "from", "nurse@"+domain).Add(elem.New(router.NSVCard, "vCard")))
	r.expect("answer to romeo", func(el *elem.Element) bool { return el.Get("id") == "v" && el.Get("type") == "result" })
	// Presence with a spoofed from does not pass for juliet's own resource.
	r.send(elem.New("", "presence", "to", j.jid, "from", "juliet@"+domain+"/other"))
	p := j.expect("directed presence", func(el *elem.Element) bool { return el.Local == "presence" && el.Get("from") != j.jid })
	if p.Get("from") != r.jid {
		t.Errorf("presence from %q", p.Get("from"))
	}
	// A forged carbon arrives from romeo, so clients can tell it is not one.
	r.sendRaw(`<message xmlns='jabber:client' to='` + j.jid + `' from='juliet@` + domain + `'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='nurse@` + domain + `/k' to='` + j.jid + `'><body>forged</body></message></forwarded></received></message>`)
	c := j.expect("forged carbon", func(el *elem.Element) bool { return el.Child(nsCarbons, "received") != nil })
	if c.Get("from") != r.jid {
		t.Errorf("forged carbon from %q", c.Get("from"))
	}
	e.stillServes(t)
}

// TestForeignRosterPush: a roster push (or block-list push) sent by another
// entity to a client's full JID is not delivered: pushes come only from
// the client's own server (RFC 6121 §2.1.6, XEP-0191).
func TestForeignRosterPush(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	j := e.loginClient(t, "juliet", "balcony")
	j.getRoster()
	j.result("get", "", elem.New(nsBlock, "blocklist"))
	r := e.login(t, "romeo")
	j2 := e.login(t, "juliet")
	pushes := []*elem.Element{
		rosterQuery("", elem.New(router.NSRoster, "item", "jid", "tybalt@"+domain, "name", "Friend", "subscription", "both")),
		elem.New(nsBlock, "unblock"),
	}
	for _, from := range []*client{r, j2} {
		for _, q := range pushes {
			for _, typ := range []string{"set", "get"} {
				res := from.iq(typ, j.jid, q.Copy())
				if res.Get("type") != "error" || errorCondition(res) != "service-unavailable" {
					t.Errorf("%s %s from %s: %s", typ, q.Space, from.jid, res)
				}
			}
			// To the bare JID, the server answers for the account.
			if res := from.iq("set", j.bare(), q.Copy()); res.Get("type") != "error" && from != j2 {
				t.Errorf("set %s to the bare JID from %s: %s", q.Space, from.jid, res)
			}
		}
	}
	j.sync()
	j.none("a foreign push", func(el *elem.Element) bool {
		return el.Local == "iq" && el.Get("from") != "" && el.Get("from") != j.bare()
	})
	// Other IQs to a full JID still pass.
	j2.result("get", j.jid, elem.New("urn:xmpp:ping", "ping"))
	e.stillServes(t)
}

// TestPipelinedStartTLS: bytes sent after <starttls/> before the TLS
// handshake are discarded, not read as part of the encrypted stream.
func TestPipelinedStartTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	r := e.dialRaw(t, false)
	r.open(domain, "")
	creds := "<auth xmlns='" + nsSASL + "' mechanism='PLAIN'>" + b64(plain("", "juliet", pw)) + "</auth>"
	r.write("<starttls xmlns='" + nsTLS + "'/>" + creds + streamHeader(domain, "") +
		"<iq type='set' id='b'><bind xmlns='" + nsBind + "'><resource>injected</resource></bind></iq>")
	if el := r.must(); el.Local != "proceed" {
		t.Fatalf("starttls: %s", el)
	}
	tc := tls.Client(r.tcp, clientTLS())
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	r.nc = tc
	f := r.open(domain, "") // a fresh stream: the injected auth did not count
	if f.Local != "features" || len(mechanisms(f)) == 0 || f.Child(nsBind, "bind") != nil {
		t.Fatalf("features after TLS: %s", f)
	}
	if e.bound("juliet@" + domain + "/injected") {
		t.Fatal("the injected bind ran")
	}
	if el := r.auth("PLAIN", plain("", "juliet", pw)); el.Local != "success" {
		t.Fatalf("login inside TLS: %s", el)
	}
	r.open(domain, "")
	if el := r.bind("balcony"); el.Get("type") != "result" {
		t.Fatalf("bind: %s", el)
	}
	e.stillServes(t)
}

// TestSlowReader: a client that never reads is disconnected once its queue
// passes MaxQueueBytes; the sender is never stalled and others are
// unaffected.
func TestSlowReader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{sndbuf: 16 << 10, c2s: func(c *c2s.Config) {
		c.MaxQueueBytes = 64 << 10
		c.WriteTimeout = time.Minute // only the queue limit may end the session
	}})
	slow := e.dialRaw(t, false, 4096)
	slow.open(domain, "")
	slow.starttls()
	slow.auth("PLAIN", plain("", "romeo", pw))
	slow.open(domain, "")
	slowJID := slow.bind("").Child(nsBind, "bind").ChildText(nsBind, "jid")
	// From here on romeo reads nothing.

	j := e.loginClient(t, "juliet", "")
	n := e.login(t, "nurse")
	body := strings.Repeat("x", 8<<10)
	start := time.Now()
	sent := 0
	for e.bound(slowJID) {
		if sent >= 2000 { // 16 MB
			t.Fatalf("still bound after %d messages", sent)
		}
		j.send(elem.New("", "message", "to", slowJID, "type", "headline").AddText("", "body", body))
		sent++
		if sent%16 == 0 {
			j.sync()
		}
	}
	took := time.Since(start)
	t.Logf("closed after %d messages (%d KiB) in %v", sent, sent*8, took)
	if took > wait {
		t.Errorf("sending took %v: the sender was stalled", took)
	}
	// The others carry on.
	j.send(elem.New("", "message", "to", n.jid).AddText("", "body", "unaffected"))
	n.expect("message", isMessage(j.jid, "unaffected"))
	j.sync()
	// The slow client's connection is closed: it reads what was sent, then
	// the end.
	slow.tcp.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, slow.tcp)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the slow client's connection is still open")
	}
	eventually(t, "slow connection gone", func() bool { return e.srv.Connections() == 2 })
	e.stillServes(t)
}
