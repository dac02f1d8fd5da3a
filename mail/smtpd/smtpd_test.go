package smtpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/internal/testcert"
	"github.com/tidings/tidings/mail/delivery"
	"github.com/tidings/tidings/mail/dkim"
	"github.com/tidings/tidings/mail/queue"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/mail/verify"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

const pw = "correct horse battery"

type env struct {
	srv        *Server
	acc        *accounts.Store
	st         *store.Store
	addr       map[Mode]string
	clientTLS  *tls.Config
	juliet     accounts.User
	romeo      accounts.User
	ctx        context.Context
	serveDone  chan error
	listenerOf map[Mode]net.Listener
}

func selfSigned(t testing.TB) *tls.Config {
	c, err := testcert.Config("mail.capulet.example")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newEnv(t *testing.T, db *migrations.DB, mod func(*Config)) *env {
	t.Helper()
	acfg := accounts.DefaultConfig()
	acfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(db, acfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	acc.AddDomain(ctx, "capulet.example", accounts.DomainSettings{})
	e := &env{acc: acc, ctx: ctx, addr: map[Mode]string{}, listenerOf: map[Mode]net.Listener{},
		clientTLS: &tls.Config{InsecureSkipVerify: true}, serveDone: make(chan error, 3)}
	for _, name := range []string{"juliet", "romeo"} {
		u, err := acc.AddUser(ctx, accounts.NewUser{Address: name + "@capulet.example", Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		if name == "juliet" {
			e.juliet = u
		} else {
			e.romeo = u
		}
	}
	acc.AddAlias(ctx, "jules@capulet.example", "juliet@capulet.example")
	if e.st, err = store.New(db, t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	e.srv, err = New(cfg, Deps{Hostname: "mail.capulet.example", TLS: selfSigned(t), Accounts: acc,
		Deliverer: &delivery.Deliverer{Store: e.st}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Mode{MX, Submission, Submissions} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		e.addr[m], e.listenerOf[m] = ln.Addr().String(), ln
		go func() { e.serveDone <- e.srv.Serve(ln, m) }()
	}
	t.Cleanup(func() { e.srv.Close() })
	return e
}

func (e *env) dial(t *testing.T, m Mode) *smtp.Client {
	t.Helper()
	var c *smtp.Client
	var err error
	if m == Submissions {
		c, err = smtp.DialTLS(e.addr[m], e.clientTLS)
	} else {
		c, err = smtp.Dial(e.addr[m])
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) dialStartTLS(t *testing.T) *smtp.Client {
	t.Helper()
	c, err := smtp.DialStartTLS(e.addr[Submission], e.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// submit dials submission, does STARTTLS and AUTH PLAIN as user.
func (e *env) submit(t *testing.T, user string) *smtp.Client {
	t.Helper()
	c := e.dialStartTLS(t)
	if err := c.Auth(sasl.NewPlainClient("", user, pw)); err != nil {
		t.Fatal(err)
	}
	return c
}

func send(c *smtp.Client, from string, to []string, msg string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	return w.Close()
}

func code(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	if err == nil {
		return 250
	}
	return -1
}

func testMail(from, subject string) string {
	return "From: " + from + "\r\nTo: juliet@capulet.example\r\nSubject: " + subject + "\r\n\r\nHello.\r\n"
}

// inbox returns the raw messages in a user's INBOX.
func (e *env) inbox(t *testing.T, u accounts.User) []string {
	t.Helper()
	e.st.EnsureDefaults(e.ctx, u.ID)
	box, err := e.st.Mailbox(e.ctx, u.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.st.List(e.ctx, box.ID, store.AllUIDs, false)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		_, r, err := e.st.Open(e.ctx, box.ID, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		out = append(out, string(b))
	}
	return out
}

func TestMXDelivery(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		e := newEnv(t, db, nil)
		c := e.dial(t, MX)
		err := send(c, "tybalt@montague.example", []string{"Juliet@Capulet.Example", "jules+party@capulet.example", "romeo@capulet.example"},
			testMail("tybalt@montague.example", "Tonight"))
		if err != nil {
			t.Fatal(err)
		}
		got := e.inbox(t, e.juliet)
		if len(got) != 2 {
			t.Fatalf("juliet has %d messages, want 2 (direct and via alias)", len(got))
		}
		m := got[0]
		if !strings.HasPrefix(m, "Return-Path: <tybalt@montague.example>\r\nReceived: from client.example ([127.0.0.1])\r\n\tby mail.capulet.example (Tidings) with ESMTP id ") ||
			!strings.HasSuffix(m, "Subject: Tonight\r\n\r\nHello.\r\n") {
			t.Errorf("stored message:\n%s", m)
		}
		if len(e.inbox(t, e.romeo)) != 1 {
			t.Error("romeo got nothing")
		}
		// Null sender (bounces) is accepted on MX.
		if err := send(c, "", []string{"romeo@capulet.example"}, testMail("MAILER-DAEMON@montague.example", "bounce")); err != nil {
			t.Errorf("null sender: %v", err)
		}
	})
}

func TestMXRefusals(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), nil)
	cases := []struct {
		rcpt string
		want int
	}{
		{"nobody@capulet.example", 550},
		{"juliet@montague.example", 554},
		// The open-relay matrix: none of these may be accepted.
		{"romeo%montague.example@capulet.example", 550},
		{"montague.example!romeo@capulet.example", 550},
		{`"romeo@montague.example"@capulet.example`, 550},
		{"@capulet.example:romeo@montague.example", 554},
		{"romeo@[127.0.0.1]", 554},
		{"romeo@[IPv6:::1]", 554},
		{"romeo@montague.example.", 554},
		{"ROMEO@MONTAGUE.EXAMPLE", 554},
		{"romeo@capulet.example@montague.example", 554},
		{"juliet", 501},
	}
	for i, tc := range cases {
		t.Run(tc.rcpt, func(t *testing.T) {
			c := e.dial(t, MX)
			if err := c.Mail("x@elsewhere.example", nil); err != nil {
				t.Fatal(err)
			}
			if got := code(c.Rcpt(tc.rcpt, nil)); got != tc.want {
				t.Errorf("%d: RCPT %s: %d, want %d", i, tc.rcpt, got, tc.want)
			}
		})
	}
	if n := len(e.inbox(t, e.juliet)) + len(e.inbox(t, e.romeo)); n != 0 {
		t.Errorf("%d messages stored", n)
	}
}

// raw talks SMTP by hand, for what the client library will not send.
type raw struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &raw{t: t, c: c, r: bufio.NewReader(c)}
	r.expect("220")
	return r
}

// send writes s and returns the next reply's last line.
func (r *raw) send(s string) string {
	r.t.Helper()
	if s != "" {
		io.WriteString(r.c, s)
	}
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := r.r.ReadString('\n')
		if err != nil {
			return "EOF"
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimSpace(line)
		}
	}
}

func (r *raw) expect(prefix string) {
	r.t.Helper()
	if got := r.send(""); !strings.HasPrefix(got, prefix) {
		r.t.Fatalf("got %q, want %s", got, prefix)
	}
}

func TestSmuggling(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), nil)
	payloads := []string{
		"Subject: a\r\n\r\nline1\n.\nMAIL FROM:<evil@x>\r\nRCPT TO:<romeo@capulet.example>\r\nDATA\r\nsmuggled\r\n.\r\n",
		"Subject: a\r\n\r\nline1\r\n.\nMAIL FROM:<evil@x>\r\n.\r\n",
		"Subject: a\r\n\r\nline1\n.\r\nMAIL FROM:<evil@x>\r\n.\r\n",
		"Subject: a\r\n\r\nbare\rcr\r\n.\r\n",
		"Subject: a\nFrom: x\r\n\r\nbody\r\n.\r\n",
	}
	for i, p := range payloads {
		r := dialRaw(t, e.addr[MX])
		for _, cmd := range []string{"EHLO evil.example\r\n", "MAIL FROM:<a@evil.example>\r\n", "RCPT TO:<juliet@capulet.example>\r\n"} {
			if got := r.send(cmd); !strings.HasPrefix(got, "250") {
				t.Fatalf("%d: %s -> %s", i, cmd, got)
			}
		}
		if got := r.send("DATA\r\n"); !strings.HasPrefix(got, "354") {
			t.Fatal(got)
		}
		if got := r.send(p); !strings.HasPrefix(got, "554 5.6.0") {
			t.Errorf("%d: payload answered %q, want 554 5.6.0", i, got)
		}
		// Whatever follows is a new command, not smuggled mail.
		r.send("QUIT\r\n")
	}
	if n := len(e.inbox(t, e.juliet)) + len(e.inbox(t, e.romeo)); n != 0 {
		t.Errorf("%d messages stored from smuggling payloads", n)
	}
}

func TestLoopAndSize(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), func(c *Config) { c.MaxMessageSize = 4096 })
	c := e.dial(t, MX)
	loop := strings.Repeat("Received: from a by b; Sat, 21 Nov 2026 10:00:00 +0000\r\n", DefaultMaxReceived+1) + testMail("a@b.example", "loop")
	if err := send(c, "a@b.example", []string{"juliet@capulet.example"}, loop); code(err) != 554 || !strings.Contains(err.Error(), "loop") {
		t.Errorf("loop: %v", err)
	}
	c.Reset()
	big := testMail("a@b.example", "big") + strings.Repeat(strings.Repeat("x", 70)+"\r\n", 80)
	if err := send(c, "a@b.example", []string{"juliet@capulet.example"}, big); code(err) != 552 {
		t.Errorf("oversized: %v", err)
	}
	c.Reset()
	if err := send(c, "a@b.example", []string{"juliet@capulet.example"}, testMail("a@b.example", "fine")); err != nil {
		t.Errorf("after refusals the connection should still work: %v", err)
	}
	// A line longer than max_line_length ends the connection (go-smtp).
	long := testMail("a@b.example", "long line") + strings.Repeat("y", DefaultMaxLineLength+1) + "\r\n"
	if err := send(c, "a@b.example", []string{"juliet@capulet.example"}, long); err == nil {
		t.Error("over-long line accepted")
	}
	if n := len(e.inbox(t, e.juliet)); n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
}

func TestSubmission(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		e := newEnv(t, db, nil)
		// No MAIL before AUTH, and no AUTH before STARTTLS.
		c := e.dial(t, Submission)
		if err := c.Mail("juliet@capulet.example", nil); code(err) != 530 {
			t.Errorf("MAIL before AUTH: %v", err)
		}
		if ok, _ := c.Extension("AUTH"); ok {
			t.Error("AUTH offered before STARTTLS")
		}
		if err := c.Auth(sasl.NewPlainClient("", "juliet@capulet.example", pw)); err == nil {
			t.Error("AUTH accepted in plain text")
		}
		// Wrong password.
		c = e.dialStartTLS(t)
		if err := c.Auth(sasl.NewPlainClient("", "juliet@capulet.example", "wrong password!")); code(err) != 535 {
			t.Errorf("bad password: %v", err)
		}
		// Sending as oneself, as an alias, to a local user.
		c = e.submit(t, "juliet@capulet.example")
		if err := send(c, "juliet@capulet.example", []string{"romeo@capulet.example"}, testMail("Juliet <juliet@capulet.example>", "hi")); err != nil {
			t.Fatal(err)
		}
		if err := send(c, "jules+x@capulet.example", []string{"romeo@capulet.example"}, testMail("jules@capulet.example", "alias")); err != nil {
			t.Fatalf("alias as sender: %v", err)
		}
		got := e.inbox(t, e.romeo)
		if len(got) != 2 || !strings.Contains(got[0], "with ESMTPSA id") {
			t.Fatalf("romeo's inbox: %q", got)
		}
		// Someone else's address, in the envelope or in From.
		if err := send(c, "romeo@capulet.example", []string{"romeo@capulet.example"}, testMail("juliet@capulet.example", "x")); code(err) != 553 {
			t.Errorf("envelope of another user: %v", err)
		}
		c.Reset()
		if err := send(c, "juliet@capulet.example", []string{"romeo@capulet.example"}, testMail("Romeo <romeo@capulet.example>", "forged")); code(err) != 553 {
			t.Errorf("From of another user: %v", err)
		}
		c.Reset()
		if err := send(c, "juliet@capulet.example", []string{"romeo@capulet.example"}, "Subject: no from\r\n\r\nx\r\n"); code(err) != 553 {
			t.Errorf("no From: %v", err)
		}
		c.Reset()
		// Remote recipients wait for the outbound queue.
		c.Mail("juliet@capulet.example", nil)
		if err := c.Rcpt("friar@verona.example", nil); code(err) != 451 {
			t.Errorf("remote recipient: %v", err)
		}
		if n := len(e.inbox(t, e.romeo)); n != 2 {
			t.Errorf("romeo has %d messages after refusals, want 2", n)
		}
	})
}

func TestSubmissionsAndLogin(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), nil)
	c := e.dial(t, Submissions)
	if err := c.Auth(sasl.NewLoginClient("romeo@capulet.example", pw)); err != nil {
		t.Fatalf("AUTH LOGIN over implicit TLS: %v", err)
	}
	if err := send(c, "romeo@capulet.example", []string{"juliet@capulet.example"}, testMail("romeo@capulet.example", "465")); err != nil {
		t.Fatal(err)
	}
	// LOGIN without an initial response, by hand, after STARTTLS.
	tc, err := tls.Dial("tcp", e.addr[Submissions], e.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	r := &raw{t: t, c: tc, r: bufio.NewReader(tc)}
	r.expect("220")
	r.send("EHLO x\r\n")
	steps := []struct{ send, want string }{
		{"AUTH LOGIN\r\n", "334 VXNlcm5hbWU6"},
		{b64("romeo@capulet.example") + "\r\n", "334 UGFzc3dvcmQ6"},
		{b64(pw) + "\r\n", "235"},
	}
	for _, s := range steps {
		if got := r.send(s.send); !strings.HasPrefix(got, s.want) {
			t.Fatalf("%q -> %q, want %s", s.send, got, s.want)
		}
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestConnectionLimits(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), func(c *Config) { c.MaxConnsPerIP = 2; c.MaxErrors = 3 })
	a, b := dialRaw(t, e.addr[MX]), dialRaw(t, e.addr[MX])
	c, err := net.Dial("tcp", e.addr[MX])
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "421 4.7.0") {
		t.Errorf("third connection: %q", line)
	}
	c.Close()
	a.send("QUIT\r\n")
	a.c.Close()
	// A slot frees up when a connection ends.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _ := net.Dial("tcp", e.addr[MX])
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if strings.HasPrefix(line, "220") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not released: %q", line)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Errors end the connection.
	b.send("EHLO x\r\n")
	b.send("MAIL FROM:<a@b.example>\r\n")
	var last string
	for range 3 {
		last = b.send("RCPT TO:<nobody@capulet.example>\r\n")
	}
	if !strings.HasPrefix(last, "421") || b.send("NOOP\r\n") != "EOF" {
		t.Errorf("after max errors: %q, connection still open", last)
	}
}

func TestShutdownSays421(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), nil)
	r := dialRaw(t, e.addr[MX])
	r.send("EHLO x\r\n")
	time.Sleep(50 * time.Millisecond) // the session exists
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.send(""); !strings.HasPrefix(got, "421 4.3.2") {
		t.Errorf("idle session got %q at shutdown", got)
	}
	for range 3 {
		if err := <-e.serveDone; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	}
	if _, err := net.DialTimeout("tcp", e.addr[MX], time.Second); err == nil {
		t.Error("still accepting after shutdown")
	}
}

type noLocal struct{}

func (noLocal) DeliverLocal(context.Context, string, string, []byte) error {
	return errors.New("unused")
}

// TestSubmissionRemote: a message to a local and a remote recipient is
// stored and queued in one transaction; the queued copy has no Return-Path.
func TestSubmissionRemote(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		e := newEnv(t, db, nil)
		q, err := queue.New(queue.DefaultConfig(), queue.Deps{DB: db, Hostname: "mail.capulet.example", Local: noLocal{},
			IsLocal: func(context.Context, string) bool { return false }})
		if err != nil {
			t.Fatal(err)
		}
		e.srv.deliver.Queue = q
		keys := dkim.New(db)
		if err := keys.EnsureKeys(e.ctx, "capulet.example"); err != nil {
			t.Fatal(err)
		}
		e.srv.deliver.Signer = keys
		c := e.submit(t, "juliet@capulet.example")
		if err := send(c, "juliet@capulet.example", []string{"romeo@capulet.example", "Friar@Verona.Example"}, testMail("juliet@capulet.example", "both")); err != nil {
			t.Fatal(err)
		}
		if n := len(e.inbox(t, e.romeo)); n != 1 {
			t.Errorf("romeo has %d messages", n)
		}
		es, err := queue.List(e.ctx, db)
		if err != nil || len(es) != 1 || es[0].Recipient != "Friar@Verona.Example" || es[0].Sender != "juliet@capulet.example" {
			t.Fatalf("queue: %+v, %v", es, err)
		}
		var body []byte
		db.QueryRowContext(e.ctx, "SELECT body FROM queue_messages").Scan(&body)
		if !strings.HasPrefix(string(body), "DKIM-Signature: ") || strings.Count(string(body), "DKIM-Signature: ") != 2 ||
			!strings.Contains(string(body), "d=capulet.example") || !strings.Contains(string(body), "\r\nReceived: from ") ||
			strings.Contains(string(body), "Return-Path") {
			t.Errorf("queued body:\n%s", body)
		}
		// Without AUTH, still no relay.
		mx := e.dial(t, MX)
		mx.Mail("x@elsewhere.example", nil)
		if err := mx.Rcpt("friar@verona.example", nil); code(err) != 554 {
			t.Errorf("MX relay with a queue: %v", err)
		}
	})
}

// txtZone answers TXT lookups from a table (SPF and DMARC records).
type txtZone map[string]string

func (z txtZone) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := z[strings.TrimSuffix(name, ".")]; ok {
		return []string{v}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
func (z txtZone) LookupMX(_ context.Context, n string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no such host", Name: n, IsNotFound: true}
}
func (z txtZone) LookupIPAddr(_ context.Context, n string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: n, IsNotFound: true}
}
func (z txtZone) LookupAddr(_ context.Context, n string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", Name: n, IsNotFound: true}
}

func TestMXDMARC(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), nil)
	e.srv.verifier = &verify.Verifier{Hostname: "mail.capulet.example", Resolver: txtZone{
		"montague.example":        "v=spf1 ip4:127.0.0.1 -all",
		"_dmarc.montague.example": "v=DMARC1; p=reject",
		"_dmarc.paris.example":    "v=DMARC1; p=quarantine",
	}}
	c := e.dial(t, MX)
	// SPF passes for montague.example from 127.0.0.1, aligned with From.
	if err := send(c, "romeo@montague.example", []string{"juliet@capulet.example"}, testMail("romeo@montague.example", "real")); err != nil {
		t.Fatal(err)
	}
	// Someone else's envelope with Romeo's From: DMARC fails, p=reject.
	if err := send(c, "x@elsewhere.example", []string{"juliet@capulet.example"}, testMail("romeo@montague.example", "forged")); code(err) != 550 ||
		!strings.Contains(err.Error(), "DMARC policy of montague.example") {
		t.Errorf("forged From: %v", err)
	}
	c.Reset()
	if err := send(c, "x@elsewhere.example", []string{"juliet@capulet.example"}, testMail("paris@paris.example", "suspicious")); err != nil {
		t.Fatal(err)
	}
	got := e.inbox(t, e.juliet)
	if len(got) != 1 || !strings.Contains(got[0], "Authentication-Results: mail.capulet.example; spf=pass") || !strings.Contains(got[0], "dmarc=pass") {
		t.Fatalf("INBOX: %q", got)
	}
	junk, err := e.st.Mailbox(e.ctx, e.juliet.ID, "Junk")
	if err != nil {
		t.Fatal(err)
	}
	if msgs, _ := e.st.List(e.ctx, junk.ID, store.AllUIDs, false); len(msgs) != 1 || msgs[0].Subject != "suspicious" {
		t.Errorf("Junk: %+v", msgs)
	}
	// Authenticated submission is not checked.
	s := e.submit(t, "juliet@capulet.example")
	if err := send(s, "juliet@capulet.example", []string{"romeo@capulet.example"}, testMail("juliet@capulet.example", "own")); err != nil {
		t.Fatal(err)
	}
	if got := e.inbox(t, e.romeo); len(got) != 1 || strings.Contains(got[0], "Authentication-Results") {
		t.Errorf("submitted mail was checked: %q", got)
	}
}

// TestTraceRedactsAuth: the debug-level protocol trace shows commands and
// replies but never a password or a message body.
func TestTraceRedactsAuth(t *testing.T) {
	var log syncLog
	e := newEnv(t, dbtest.SQLite(t), nil)
	// A server of its own, logging at debug level from the start.
	srv, err := New(DefaultConfig(), Deps{Hostname: "mail.capulet.example", TLS: selfSigned(t), Accounts: e.acc,
		Deliverer: e.srv.deliver, Log: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln, Submission)
	t.Cleanup(func() { srv.Close() })
	e.addr[Submission] = ln.Addr().String()
	c := e.submit(t, "juliet@capulet.example")
	if err := send(c, "juliet@capulet.example", []string{"romeo@capulet.example"}, testMail("juliet@capulet.example", "secret body")+"the secret text\r\n"); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	got := log.String()
	for _, want := range []string{`c="AUTH juliet@capulet.example (credentials not logged)" s=250`, `c="MAIL FROM:<juliet@capulet.example>" s=250`,
		`c="RCPT TO:<romeo@capulet.example>" s=250`, `c="DATA (`} {
		if !strings.Contains(got, want) {
			t.Errorf("trace lacks %s:\n%s", want, got)
		}
	}
	for _, leak := range []string{pw, "the secret text", b64("\x00juliet@capulet.example\x00" + pw)} {
		if strings.Contains(got, leak) {
			t.Errorf("trace leaks %q", leak)
		}
	}
}

type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *syncLog) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestReceivedProtocol: HELO sessions are "with SMTP", EHLO "with ESMTP"
// (RFC 3848).
func TestReceivedProtocol(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), nil)
	for _, greet := range []string{"HELO", "EHLO"} {
		r := dialRaw(t, e.addr[MX])
		for _, cmd := range []string{greet + " old.example\r\n", "MAIL FROM:<a@old.example>\r\n", "RCPT TO:<juliet@capulet.example>\r\n", "DATA\r\n",
			"Subject: " + greet + "\r\n\r\nx\r\n.\r\n"} {
			if got := r.send(cmd); !strings.HasPrefix(got, "250") && !strings.HasPrefix(got, "354") {
				t.Fatalf("%s: %q", cmd, got)
			}
		}
	}
	got := e.inbox(t, e.juliet)
	if len(got) != 2 || !strings.Contains(got[0], "with SMTP id") || !strings.Contains(got[1], "with ESMTP id") {
		t.Errorf("Received protocols:\n%s\n---\n%s", got[0], got[1])
	}
}

// TestChunking: BDAT (RFC 3030) delivers like DATA, and the smuggling and
// size checks apply to chunks too.
func TestChunking(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), nil)
	r := dialRaw(t, e.addr[MX])
	if got := r.send("EHLO x\r\n"); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	part1, part2 := "Subject: chunked\r\nFrom: a@b.example\r\n\r\nfirst ", "half\r\n"
	for _, cmd := range []string{"MAIL FROM:<a@b.example>\r\n", "RCPT TO:<juliet@capulet.example>\r\n",
		fmt.Sprintf("BDAT %d\r\n%s", len(part1), part1), fmt.Sprintf("BDAT %d LAST\r\n%s", len(part2), part2)} {
		if got := r.send(cmd); !strings.HasPrefix(got, "250") {
			t.Fatalf("%q -> %q", cmd, got)
		}
	}
	bad := "Subject: x\r\n\r\nbare\nlf\r\n"
	for _, cmd := range []string{"MAIL FROM:<a@b.example>\r\n", "RCPT TO:<juliet@capulet.example>\r\n"} {
		r.send(cmd)
	}
	if got := r.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(bad), bad)); !strings.HasPrefix(got, "554 5.6.0") {
		t.Errorf("bare LF in BDAT: %q", got)
	}
	got := e.inbox(t, e.juliet)
	if len(got) != 1 || !strings.HasSuffix(got[0], part1+part2) {
		t.Fatalf("INBOX: %q", got)
	}
}
