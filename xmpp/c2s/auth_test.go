package c2s_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/xmpp/c2s"
	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/router"
)

// mechanisms lists the SASL mechanisms of a features element.
func mechanisms(features *elem.Element) []string {
	var out []string
	if m := features.Child(nsSASL, "mechanisms"); m != nil {
		for _, c := range m.Elements() {
			out = append(out, c.Text())
		}
	}
	return out
}

// scram runs a SCRAM exchange with mellium's SASL client on the raw
// connection and returns <success/> or <failure/>. The TLS state used for
// channel binding is cs (normally the connection's own). On success the
// server signature is verified.
func (r *raw) scram(mech sasl.Mechanism, user, password, authzid string, offered []string, cs tls.ConnectionState) *elem.Element {
	r.t.Helper()
	c := sasl.NewClient(mech, sasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte(user), []byte(password), []byte(authzid)
	}), sasl.TLSState(cs), sasl.RemoteMechanisms(offered...))
	_, resp, err := c.Step(nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write("<auth xmlns='" + nsSASL + "' mechanism='" + mech.Name + "'>" + base64.StdEncoding.EncodeToString(resp) + "</auth>")
	for {
		el := r.must()
		data, err := base64.StdEncoding.DecodeString(el.Text())
		if err != nil {
			r.t.Fatalf("bad base64 in %s", el)
		}
		switch el.Local {
		case "challenge":
			_, resp, err := c.Step(data)
			if err != nil {
				r.t.Fatalf("client step: %v", err)
			}
			r.write("<response xmlns='" + nsSASL + "'>" + base64.StdEncoding.EncodeToString(resp) + "</response>")
		case "success":
			if _, _, err := c.Step(data); err != nil {
				r.t.Fatalf("server signature: %v", err)
			}
			return el
		default:
			return el
		}
	}
}

func (r *raw) tlsState() tls.ConnectionState {
	return r.nc.(*tls.Conn).ConnectionState()
}

func failure(el *elem.Element) string {
	if el.Local != "failure" {
		return "<" + el.Local + "/>"
	}
	for _, c := range el.Elements() {
		if c.Local != "text" {
			return c.Local
		}
	}
	return ""
}

// TestMelliumLogin logs in with mellium's client over STARTTLS and direct
// TLS with every SCRAM mechanism, with and without channel binding, and
// with PLAIN, and exchanges a stanza.
func TestMelliumLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	for _, mech := range []sasl.Mechanism{sasl.ScramSha1, sasl.ScramSha256, sasl.ScramSha1Plus, sasl.ScramSha256Plus, sasl.Plain} {
		for _, direct := range []bool{false, true} {
			name := mech.Name
			if direct {
				name += "/direct-TLS"
			}
			t.Run(name, func(t *testing.T) {
				s, err := e.melliumSession(t, "juliet", pw, direct, "", mech)
				if err != nil {
					t.Fatal(err)
				}
				if cs := s.ConnectionState(); cs.Version != tls.VersionTLS13 {
					t.Errorf("TLS version %x, want 1.3", cs.Version)
				}
				if direct && s.ConnectionState().NegotiatedProtocol != "xmpp-client" {
					t.Errorf("ALPN %q, want xmpp-client", s.ConnectionState().NegotiatedProtocol)
				}
				c := e.serveMellium(t, "juliet", s)
				if !strings.HasPrefix(c.jid, "juliet@"+domain+"/") {
					t.Fatalf("bound %q", c.jid)
				}
				if !e.bound(c.jid) {
					t.Fatalf("router does not know %s: %v", c.jid, e.sessions())
				}
				c.sync()
			})
		}
	}
}

// TestMechanismsOffered checks the features of each phase: only STARTTLS
// before TLS; SCRAM with -PLUS (tls-exporter, XEP-0440) and PLAIN inside
// TLS; bind after SASL.
func TestMechanismsOffered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	r := e.dialRaw(t, false)
	f := r.open(domain, "")
	st := f.Child(nsTLS, "starttls")
	if st == nil || st.Child(nsTLS, "required") == nil {
		t.Fatalf("features before TLS: %s", f)
	}
	if m := mechanisms(f); len(m) != 0 {
		t.Fatalf("mechanisms offered before TLS: %v", m)
	}
	f = r.starttls()
	want := []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}
	if m := mechanisms(f); !slices.Equal(m, want) {
		t.Fatalf("mechanisms %v, want %v", m, want)
	}
	cb := f.Child("urn:xmpp:sasl-cb:0", "sasl-channel-binding")
	if cb == nil || cb.Child("urn:xmpp:sasl-cb:0", "channel-binding").Get("type") != "tls-exporter" {
		t.Fatalf("no XEP-0440 tls-exporter advertisement: %s", f)
	}
	if f.Child(nsTLS, "starttls") != nil {
		t.Fatalf("STARTTLS offered again inside TLS: %s", f)
	}
	if el := r.scram(sasl.ScramSha256Plus, "juliet", pw, "", want, r.tlsState()); el.Local != "success" {
		t.Fatalf("SCRAM-SHA-256-PLUS: %s", el)
	}
	f = r.open(domain, "")
	for _, want := range []struct{ space, local string }{{nsBind, "bind"}, {"urn:xmpp:features:rosterver", "ver"},
		{"urn:xmpp:features:pre-approval", "sub"}, {router.NSCaps, "c"}} {
		if f.Child(want.space, want.local) == nil {
			t.Errorf("after SASL: no <%s xmlns='%s'/> in %s", want.local, want.space, f)
		}
	}
	if m := mechanisms(f); len(m) != 0 {
		t.Errorf("mechanisms offered after SASL: %v", m)
	}
}

// TestChannelBindingMismatch relays a -PLUS exchange computed for another
// TLS connection (what a man in the middle would do): refused.
func TestChannelBindingMismatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	other := e.dialRaw(t, true)
	r := e.dialRaw(t, true)
	f := r.open(domain, "")
	el := r.scram(sasl.ScramSha256Plus, "juliet", pw, "", mechanisms(f), other.tlsState())
	if failure(el) != "not-authorized" {
		t.Fatalf("foreign channel binding: %s", el)
	}
	// The right binding on the same stream works.
	if el := r.scram(sasl.ScramSha256Plus, "juliet", pw, "", mechanisms(f), r.tlsState()); el.Local != "success" {
		t.Fatalf("own channel binding: %s", el)
	}
}

// TestSCRAMFlags: a -PLUS mechanism without binding is refused; a non-PLUS
// mechanism that asks for binding is refused; "y" (client could bind, thinks
// the server cannot) is accepted, see sasl.go.
func TestSCRAMFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	r := e.dialRaw(t, true)
	r.open(domain, "")
	first := func(mech, gs2 string) *elem.Element {
		r.write("<auth xmlns='" + nsSASL + "' mechanism='" + mech + "'>" +
			base64.StdEncoding.EncodeToString([]byte(gs2+"n=juliet,r=abcdefghijklmnop")) + "</auth>")
		return r.must()
	}
	if el := first("SCRAM-SHA-256-PLUS", "n,,"); failure(el) != "malformed-request" {
		t.Errorf("-PLUS with n: %s", el)
	}
	if el := first("SCRAM-SHA-256", "p=tls-exporter,,"); failure(el) != "malformed-request" {
		t.Errorf("non-PLUS with p: %s", el)
	}
	if el := first("SCRAM-SHA-256-PLUS", "p=tls-unique,,"); failure(el) != "malformed-request" {
		t.Errorf("tls-unique: %s", el)
	}
	if el := first("SCRAM-SHA-256", "y,,"); el.Local != "challenge" {
		t.Errorf("y: %s", el)
	}
	r.write("<abort xmlns='" + nsSASL + "'/>")
	if el := r.must(); failure(el) != "aborted" {
		t.Errorf("abort: %s", el)
	}
}

// TestPlainBeforeTLS: PLAIN is never accepted in the clear.
func TestPlainBeforeTLS(t *testing.T) {
	t.Parallel()
	t.Run("require_tls", func(t *testing.T) {
		e := newEnv(t, options{})
		r := e.dialRaw(t, false)
		r.open(domain, "")
		r.write("<auth xmlns='" + nsSASL + "' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte(plain("", "juliet", pw))) + "</auth>")
		if cond := r.streamError(); cond != "policy-violation" {
			t.Fatalf("PLAIN before STARTTLS: %s", cond)
		}
		if e.bound("juliet@" + domain) {
			t.Fatal("bound")
		}
		e.login(t, "juliet").sync()
	})
	t.Run("optional_tls", func(t *testing.T) {
		e := newEnv(t, options{c2s: func(c *c2s.Config) { c.RequireTLS = false }})
		r := e.dialRaw(t, false)
		f := r.open(domain, "")
		if st := f.Child(nsTLS, "starttls"); st == nil || st.Child(nsTLS, "required") != nil {
			t.Fatalf("features: %s", f)
		}
		m := mechanisms(f)
		if slices.Contains(m, "PLAIN") || slices.Contains(m, "SCRAM-SHA-256-PLUS") || !slices.Contains(m, "SCRAM-SHA-256") {
			t.Fatalf("mechanisms in the clear: %v", m)
		}
		if el := r.auth("PLAIN", plain("", "juliet", pw)); failure(el) != "encryption-required" {
			t.Fatalf("PLAIN in the clear: %s", el)
		}
		// SCRAM does not reveal the password; it is allowed when TLS is optional.
		if el := r.scram(sasl.ScramSha256, "juliet", pw, "", m, tls.ConnectionState{}); el.Local != "success" {
			t.Fatalf("SCRAM in the clear: %s", el)
		}
	})
}

// TestBadCredentials: wrong passwords and unknown users get not-authorized
// alike, with every mechanism; the stream ends after MaxAuthFailures.
func TestBadCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	r := e.dialRaw(t, true)
	f := r.open(domain, "")
	if el := r.auth("PLAIN", plain("", "juliet", "wrong password")); failure(el) != "not-authorized" {
		t.Errorf("PLAIN, wrong password: %s", el)
	}
	if el := r.scram(sasl.ScramSha256Plus, "juliet", "wrong password", "", mechanisms(f), r.tlsState()); failure(el) != "not-authorized" {
		t.Errorf("SCRAM, wrong password: %s", el)
	}
	if el := r.scram(sasl.ScramSha1, "nobody", pw, "", mechanisms(f), r.tlsState()); failure(el) != "not-authorized" {
		t.Errorf("SCRAM, unknown user: %s", el)
	}
	if cond := r.streamError(); cond != "policy-violation" {
		t.Errorf("after %d failures: %s", e.cfg.MaxAuthFailures, cond)
	}

	// mellium sees the failure too.
	if _, err := e.melliumSession(t, "juliet", "wrong password", false, "", sasl.ScramSha256Plus); err == nil {
		t.Error("mellium logged in with a wrong password")
	}
	e.login(t, "juliet").sync()
}

// TestUnknownUserSalt: SCRAM for an unknown user answers like for a known
// one (no account enumeration): a salt that is stable, of the same length,
// different per mechanism as real salts are, and the same iteration count.
func TestUnknownUserSalt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	first := func(mech, user string) (salt []byte, iter string) {
		t.Helper()
		r := e.dialRaw(t, true)
		r.open(domain, "")
		r.write("<auth xmlns='" + nsSASL + "' mechanism='" + mech + "'>" + b64("n,,n="+user+",r=abcdefghijklmnop") + "</auth>")
		el := r.must()
		if el.Local != "challenge" {
			t.Fatalf("%s: %s", user, el)
		}
		b, _ := base64.StdEncoding.DecodeString(el.Text())
		for _, f := range strings.Split(string(b), ",") {
			switch {
			case strings.HasPrefix(f, "s="):
				salt, _ = base64.StdEncoding.DecodeString(f[2:])
			case strings.HasPrefix(f, "i="):
				iter = f[2:]
			}
		}
		return salt, iter
	}
	for _, user := range []string{"juliet", "nobody"} {
		s1, i1 := first("SCRAM-SHA-1", user)
		s256, i256 := first("SCRAM-SHA-256", user)
		again, _ := first("SCRAM-SHA-256", user)
		if len(s1) != 16 || len(s256) != 16 || i1 != "4096" || i256 != "4096" {
			t.Errorf("%s: salts %x %x, iterations %s %s", user, s1, s256, i1, i256)
		}
		if string(s1) == string(s256) {
			t.Errorf("%s: the same salt for SCRAM-SHA-1 and SCRAM-SHA-256 (real accounts have one each)", user)
		}
		if string(again) != string(s256) {
			t.Errorf("%s: the salt changes between attempts", user)
		}
	}
}

// TestAuthzid: acting as another user is refused with invalid-authzid;
// naming oneself is fine.
func TestAuthzid(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	r := e.dialRaw(t, true)
	f := r.open(domain, "")
	if el := r.auth("PLAIN", plain("romeo@"+domain, "juliet", pw)); failure(el) != "invalid-authzid" {
		t.Errorf("PLAIN as romeo: %s", el)
	}
	if el := r.scram(sasl.ScramSha256Plus, "juliet", pw, "romeo@"+domain, mechanisms(f), r.tlsState()); failure(el) != "invalid-authzid" {
		t.Errorf("SCRAM as romeo: %s", el)
	}
	if _, err := e.melliumSession(t, "juliet", pw, false, "romeo@"+domain, sasl.ScramSha256); err == nil {
		t.Error("mellium logged in as romeo")
	}
	for _, self := range []string{"juliet@" + domain, "Juliet@Capulet.Example"} {
		r := e.dialRaw(t, true)
		r.open(domain, "")
		if el := r.auth("PLAIN", plain(self, "juliet", pw)); el.Local != "success" {
			t.Errorf("authzid %s: %s", self, el)
		}
		r.open(domain, "")
		if el := r.bind(""); !strings.HasPrefix(el.Child(nsBind, "bind").ChildText(nsBind, "jid"), "juliet@"+domain+"/") {
			t.Errorf("bound %s", el)
		}
	}
	if e.bound("romeo@"+domain) || len(e.sessions()) != 2 {
		t.Errorf("sessions: %v", e.sessions())
	}
}

// TestHostUnknown: a stream to a domain we do not host, or one whose XMPP
// switch is off, ends with host-unknown on both ports.
func TestHostUnknown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	for _, direct := range []bool{false, true} {
		for _, to := range []string{"nowhere.example", offDomain, "juliet@" + domain, ""} {
			r := e.dialRaw(t, direct)
			extra := ""
			if to == "" {
				r.write("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='" + nsStream + "' version='1.0'>")
			} else {
				r.write(streamHeader(to, extra))
			}
			el := r.readHeader()
			if el.Local != "error" {
				t.Fatalf("to=%q direct=%v: %s", to, direct, el)
			}
			cond := ""
			for _, c := range el.Elements() {
				if c.Local != "text" {
					cond = c.Local
				}
			}
			if cond != "host-unknown" {
				t.Errorf("to=%q direct=%v: %s", to, direct, el)
			}
		}
	}
	// A user of the switched-off domain cannot log in even naming ours.
	r := e.dialRaw(t, true)
	r.open(domain, "")
	if el := r.auth("PLAIN", plain("", "benvolio@"+offDomain, pw)); failure(el) != "not-authorized" {
		t.Errorf("user of another domain: %s", el)
	}
}

// TestDomainSwitchedOff: switching XMPP off for a domain ends its sessions
// (accounts change feed → router.AccountEvent) and refuses new streams.
func TestDomainSwitchedOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	c := e.login(t, "juliet")
	off := false
	if _, err := e.acc.UpdateDomain(context.Background(), domain, accounts.DomainSettings{XMPPEnabled: &off}); err != nil {
		t.Fatal(err)
	}
	if err := c.closed(); err == nil || !strings.Contains(err.Error(), "host-gone") {
		t.Fatalf("stream ended with %v, want host-gone", err)
	}
	r := e.dialRaw(t, false)
	r.write(streamHeader(domain, ""))
	if el := r.readHeader(); el.Local != "error" || el.FirstElement().Local != "host-unknown" {
		t.Fatalf("new stream: %s", el)
	}
}

// TestBindIgnoresHeaderFrom: the bound JID comes from SASL, never from
// the stream header's from (mellium's server bind trusts it).
func TestBindIgnoresHeaderFrom(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	_, full := e.loginRaw(t, "juliet", "balcony", " from='romeo@"+domain+"/balcony'")
	if full != "juliet@"+domain+"/balcony" {
		t.Fatalf("bound %q", full)
	}
	if got := e.sessions(); !slices.Equal(got, []string{full}) {
		t.Fatalf("sessions %v", got)
	}
	// The same with SCRAM and a from naming another user on the restart only.
	r := e.dialRaw(t, true)
	f := r.open(domain, "")
	if el := r.scram(sasl.ScramSha256Plus, "juliet", pw, "", mechanisms(f), r.tlsState()); el.Local != "success" {
		t.Fatal(el)
	}
	r.open(domain, " from='nurse@"+domain+"'")
	el := r.bind("")
	if j := el.Child(nsBind, "bind").ChildText(nsBind, "jid"); !strings.HasPrefix(j, "juliet@"+domain+"/") {
		t.Fatalf("bound %q", j)
	}
}

// TestNegotiationOrder: nothing but SASL before authentication and nothing
// but binding before a resource is bound.
func TestNegotiationOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	r := e.dialRaw(t, true)
	r.open(domain, "")
	r.write("<message to='romeo@" + domain + "'><body>hi</body></message>")
	if cond := r.streamError(); cond != "not-authorized" {
		t.Errorf("message before SASL: %s", cond)
	}
	r = e.dialRaw(t, true)
	r.open(domain, "")
	r.auth("PLAIN", plain("", "juliet", pw))
	r.open(domain, "")
	r.write("<message to='romeo@" + domain + "'><body>hi</body></message>")
	if cond := r.streamError(); cond != "not-authorized" {
		t.Errorf("message before bind: %s", cond)
	}
	r = e.dialRaw(t, true)
	r.open(domain, "")
	r.auth("PLAIN", plain("", "juliet", pw))
	r.open(domain, "")
	r.write("<iq type='get' id='x'><query xmlns='jabber:iq:roster'/></iq>")
	if el := r.must(); el.Get("type") != "error" || errorCondition(el) != "not-allowed" {
		t.Errorf("roster before bind: %s", el)
	}
	r.write("<iq type='set' id='s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
	if el := r.must(); el.Get("type") != "result" {
		t.Errorf("legacy session before bind: %s", el)
	}
	if el := r.bind("x"); el.Get("type") != "result" {
		t.Errorf("bind: %s", el)
	}
}

// TestResourceConflict covers the three policies of RFC 6120 §7.7.2.2.
func TestResourceConflict(t *testing.T) {
	t.Parallel()
	t.Run("random", func(t *testing.T) { // the default
		e := newEnv(t, options{})
		first := e.loginClient(t, "juliet", "balcony")
		if first.jid != "juliet@"+domain+"/balcony" {
			t.Fatalf("first bound %s", first.jid)
		}
		_, second := e.loginRaw(t, "juliet", "balcony", "")
		if second == first.jid || !strings.HasPrefix(second, "juliet@"+domain+"/") {
			t.Fatalf("second bound %s", second)
		}
		first.sync()
		if !e.bound(first.jid) || !e.bound(second) {
			t.Fatalf("sessions %v", e.sessions())
		}
	})
	t.Run("kick-old", func(t *testing.T) {
		e := newEnv(t, options{router: func(c *router.Config) { c.ResourceConflict = router.ConflictKickOld }})
		first := e.loginClient(t, "juliet", "balcony")
		_, second := e.loginRaw(t, "juliet", "balcony", "")
		if second != first.jid {
			t.Fatalf("second bound %s", second)
		}
		if err := first.closed(); err == nil || !strings.Contains(err.Error(), "conflict") {
			t.Fatalf("old session ended with %v", err)
		}
		eventually(t, "one session left", func() bool { return len(e.sessions()) == 1 && e.bound(second) })
	})
	t.Run("refuse", func(t *testing.T) {
		e := newEnv(t, options{router: func(c *router.Config) { c.ResourceConflict = router.ConflictRefuse }})
		first := e.loginClient(t, "juliet", "balcony")
		r := e.dialRaw(t, true)
		r.open(domain, "")
		r.auth("PLAIN", plain("", "juliet", pw))
		r.open(domain, "")
		if el := r.bind("balcony"); el.Get("type") != "error" || errorCondition(el) != "conflict" {
			t.Fatalf("second bind: %s", el)
		}
		if el := r.bind("orchard"); el.Get("type") != "result" {
			t.Fatalf("bind of another resource: %s", el)
		}
		first.sync()
	})
	t.Run("max_sessions", func(t *testing.T) {
		e := newEnv(t, options{router: func(c *router.Config) { c.MaxSessionsPerUser = 2 }})
		e.loginClient(t, "juliet", "")
		e.loginClient(t, "juliet", "")
		r := e.dialRaw(t, true)
		r.open(domain, "")
		r.auth("PLAIN", plain("", "juliet", pw))
		r.open(domain, "")
		if el := r.bind(""); errorCondition(el) != "resource-constraint" {
			t.Fatalf("third session: %s", el)
		}
	})
}

// TestDisabledLogin: disabled accounts and accounts with XMPP off cannot
// log in.
func TestDisabledLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	ctx := context.Background()
	yes, no := true, false
	if _, err := e.acc.UpdateUser(ctx, "romeo@"+domain, accounts.UserUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.acc.UpdateUser(ctx, "nurse@"+domain, accounts.UserUpdate{XMPPEnabled: &no}); err != nil {
		t.Fatal(err)
	}
	r := e.dialRaw(t, true)
	f := r.open(domain, "")
	if el := r.auth("PLAIN", plain("", "romeo", pw)); failure(el) != "account-disabled" {
		t.Errorf("disabled, PLAIN: %s", el)
	}
	if el := r.scram(sasl.ScramSha256Plus, "romeo", pw, "", mechanisms(f), r.tlsState()); failure(el) != "account-disabled" {
		t.Errorf("disabled, SCRAM: %s", el)
	}
	r = e.dialRaw(t, true)
	f = r.open(domain, "")
	if el := r.scram(sasl.ScramSha256Plus, "nurse", pw, "", mechanisms(f), r.tlsState()); failure(el) != "not-authorized" {
		t.Errorf("XMPP off, SCRAM: %s", el)
	}
	if el := r.auth("PLAIN", plain("", "nurse", pw)); failure(el) != "not-authorized" {
		t.Errorf("XMPP off, PLAIN: %s", el)
	}
}

// TestAccountChangedBeforeBind: a change that ends sessions (password,
// disable, delete, XMPP off) and arrives between SASL success and binding
// finds no session to close; binding must then fail, or a client could
// authenticate, wait, and keep a session the change should have ended.
func TestAccountChangedBeforeBind(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	ctx := context.Background()
	yes, no := true, false
	for _, tc := range []struct {
		user   string
		scram  bool
		change func() error
	}{
		{"juliet", false, func() error { return e.acc.SetPassword(ctx, "juliet@"+domain, "a new password, long enough") }},
		{"romeo", true, func() error { return e.acc.SetPassword(ctx, "romeo@"+domain, "a new password, long enough") }},
		{"nurse", true, func() error {
			_, err := e.acc.UpdateUser(ctx, "nurse@"+domain, accounts.UserUpdate{Disabled: &yes})
			return err
		}},
		{"tybalt", false, func() error {
			_, err := e.acc.UpdateUser(ctx, "tybalt@"+domain, accounts.UserUpdate{XMPPEnabled: &no})
			return err
		}},
	} {
		r := e.dialRaw(t, true)
		f := r.open(domain, "")
		var el *elem.Element
		if tc.scram {
			el = r.scram(sasl.ScramSha256Plus, tc.user, pw, "", mechanisms(f), r.tlsState())
		} else {
			el = r.auth("PLAIN", plain("", tc.user, pw))
		}
		if el.Local != "success" {
			t.Fatalf("%s: %s", tc.user, el)
		}
		r.open(domain, "")
		if err := tc.change(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // the change feed has dispatched the event
		r.write("<iq type='set' id='b'><bind xmlns='" + nsBind + "'/></iq>")
		el, err := r.next()
		if err == nil && el.Get("type") == "result" {
			t.Errorf("%s: bound after the account changed: %s", tc.user, el)
		}
	}
	eventually(t, "no sessions", func() bool { return len(e.sessions()) == 0 })
	// Logging in again with the new password works.
	s, err := e.melliumSession(t, "romeo", "a new password, long enough", true, "", sasl.ScramSha256Plus)
	if err != nil {
		t.Fatal(err)
	}
	e.serveMellium(t, "romeo", s).sync()
}
