package c2s_test

// Stream lifecycle: header checks, timeouts, keepalive pings, closing and
// shutdown.

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"

	"github.com/tidings/tidings/xmpp/c2s"
	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/router"
)

func TestStreamHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	for _, tc := range []struct{ name, header, cond string }{
		{"jabber:server", "<stream:stream xmlns='jabber:server' xmlns:stream='" + nsStream + "' version='1.0' to='" + domain + "'>", "invalid-namespace"},
		{"wrong stream namespace", "<stream:stream xmlns='jabber:client' xmlns:stream='urn:example' version='1.0' to='" + domain + "'>", "invalid-namespace"},
		{"not a stream", "<hello xmlns='jabber:client' version='1.0' to='" + domain + "'>", "invalid-namespace"},
		{"version 0.9", "<stream:stream xmlns='jabber:client' xmlns:stream='" + nsStream + "' version='0.9' to='" + domain + "'>", "unsupported-version"},
		{"no version", "<stream:stream xmlns='jabber:client' xmlns:stream='" + nsStream + "' to='" + domain + "'>", "unsupported-version"},
		{"text", "hello", "not-well-formed"},
		{"encoding", "<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream xmlns='jabber:client' xmlns:stream='" + nsStream + "' version='1.0' to='" + domain + "'>", "unsupported-encoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.dialRaw(t, true)
			r.write(tc.header)
			el := r.readHeader()
			if el.Local != "error" || el.FirstElement().Local != tc.cond {
				t.Fatalf("got %s, want %s", el, tc.cond)
			}
		})
	}
	t.Run("domain changed on restart", func(t *testing.T) {
		r := e.dialRaw(t, false)
		r.open(domain, "")
		r.write("<starttls xmlns='" + nsTLS + "'/>")
		r.must()
		r.nc = tlsClient(t, r.tcp)
		r.write(streamHeader("nowhere.example", ""))
		if el := r.readHeader(); el.Local != "error" || el.FirstElement().Local != "host-unknown" {
			t.Fatalf("got %s", el)
		}
	})
	t.Run("header answered", func(t *testing.T) {
		r := e.dialRaw(t, true)
		r.write(streamHeader(domain, ""))
		st := r.rawHeader()
		attrs := map[string]string{}
		for _, a := range st.Attr {
			attrs[a.Name.Local] = a.Value
		}
		if attrs["from"] != domain || attrs["version"] != "1.0" || len(attrs["id"]) < 16 {
			t.Fatalf("header %v", st.Attr)
		}
	})
	e.stillServes(t)
}

// TestNegotiationTimeout: a connection that does not finish negotiating in
// time is closed (slowloris).
func TestNegotiationTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{c2s: func(c *c2s.Config) { c.NegotiationTimeout = 300 * time.Millisecond }})
	t.Run("silent", func(t *testing.T) {
		r := e.dialRaw(t, false)
		start := time.Now()
		el := r.readHeader()
		if el.Local != "error" || el.FirstElement().Local != "connection-timeout" {
			t.Fatalf("got %s", el)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("closed after %v", d)
		}
	})
	t.Run("stalled in SASL", func(t *testing.T) {
		r := e.dialRaw(t, true)
		r.open(domain, "")
		if cond := r.streamError(); cond != "connection-timeout" {
			t.Fatalf("got %s", cond)
		}
	})
	t.Run("no TLS handshake", func(t *testing.T) {
		nc, err := net.Dial("tcp", e.tlsAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetReadDeadline(time.Now().Add(wait))
		if _, err := io.Copy(io.Discard, nc); err != nil {
			t.Fatalf("connection not closed: %v", err)
		}
	})
	t.Run("a bound session has no deadline", func(t *testing.T) {
		c := e.loginClient(t, "juliet", "")
		time.Sleep(600 * time.Millisecond)
		c.sync()
	})
}

// TestPing: an idle session is pinged (XEP-0199); one that answers stays,
// one that does not is closed with connection-timeout.
func TestPing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{c2s: func(c *c2s.Config) {
		c.PingAfter = 200 * time.Millisecond
		c.PingTimeout = 200 * time.Millisecond
	}})
	alive := e.loginClient(t, "juliet", "") // answers every IQ get
	dead, deadJID := e.loginRaw(t, "romeo", "", "")
	ping := dead.must()
	if ping.Local != "iq" || ping.Get("type") != "get" || ping.Child(router.NSPing, "ping") == nil ||
		ping.Get("from") != domain || ping.Get("to") != deadJID {
		t.Fatalf("ping: %s", ping)
	}
	if cond := dead.streamError(); cond != "connection-timeout" {
		t.Fatalf("unanswered ping: %s", cond)
	}
	eventually(t, "dead session unbound", func() bool { return !e.bound(deadJID) })
	alive.expect("ping", func(el *elem.Element) bool { return el.Child(router.NSPing, "ping") != nil })
	time.Sleep(time.Second)
	if !alive.isOpen() || !e.bound(alive.jid) {
		t.Fatal("the answering session was closed")
	}
	alive.sync()
}

// TestCloseStream: the client's </stream:stream> is answered and the
// session's unavailable presence goes out.
func TestCloseStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	j := e.online(t, "juliet")
	r := e.online(t, "romeo")
	subscribeBoth(t, j, r)
	r.closeFn()
	if err := r.closed(); err != io.EOF && err != nil {
		t.Fatalf("close: %v", err)
	}
	j.expect("unavailable", isPresence(r.jid, "unavailable"))
	eventually(t, "romeo unbound", func() bool { return !e.bound(r.jid) })
}

// TestShutdown: every stream ends with system-shutdown, contacts hear the
// unavailable presence first, and the listeners stop.
func TestShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	j := e.online(t, "juliet")
	r := e.loginClient(t, "romeo", "")
	pending := e.dialRaw(t, false) // still negotiating
	pending.open(domain, "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{j, r} {
		if err := c.closed(); err == nil || !strings.Contains(err.Error(), "system-shutdown") {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if cond := pending.streamError(); cond != "system-shutdown" {
		t.Errorf("negotiating stream: %s", cond)
	}
	if n := e.srv.Connections(); n != 0 {
		t.Errorf("%d connections left", n)
	}
	if len(e.sessions()) != 0 {
		t.Errorf("sessions left: %v", e.sessions())
	}
	if nc, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		nc.SetReadDeadline(time.Now().Add(wait))
		if n, err := nc.Read(make([]byte, 1)); n != 0 || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("listener still serving: %d %v", n, err)
		}
		nc.Close()
	}
}

// TestPasswordChange: XEP-0077 changes the password; the new one works.
func TestPasswordChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	j := e.login(t, "juliet")
	const newPW = "a rose by any other name"
	q := elem.New(router.NSRegister, "query").AddText(router.NSRegister, "username", "juliet").AddText(router.NSRegister, "password", newPW)
	j.result("set", "", q)
	if _, err := e.melliumSession(t, "juliet", pw, true, "", sasl.ScramSha256); err == nil {
		t.Error("the old password still works")
	}
	s, err := e.melliumSession(t, "juliet", newPW, true, "", sasl.ScramSha256Plus)
	if err != nil {
		t.Fatalf("new password: %v", err)
	}
	e.serveMellium(t, "juliet", s).sync()
}

// TestShutdownDuringHandshake: connections stuck in a TLS handshake (direct
// TLS, or after <proceed/>) do not hold up Shutdown until the negotiation
// timeout.
func TestShutdownDuringHandshake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{c2s: func(c *c2s.Config) { c.NegotiationTimeout = time.Minute }})
	direct, err := net.Dial("tcp", e.tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	r := e.dialRaw(t, false)
	r.open(domain, "")
	r.write("<starttls xmlns='" + nsTLS + "'/>")
	if el := r.must(); el.Local != "proceed" {
		t.Fatal(el)
	}
	eventually(t, "both connections accepted", func() bool { return e.srv.Connections() == 2 })
	time.Sleep(50 * time.Millisecond) // let the handshakes start
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
}
