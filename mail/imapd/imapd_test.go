package imapd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/internal/testcert"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

const pw = "correct horse battery"

type env struct {
	srv       *Server
	acc       *accounts.Store
	st        *store.Store
	addr      map[Mode]string
	juliet    accounts.User
	romeo     accounts.User
	ctx       context.Context
	serveDone chan error
}

func selfSigned(t testing.TB) *tls.Config {
	c, err := testcert.Config("mail.capulet.example")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newEnv starts a server on both modes over db, with juliet and romeo.
func newEnv(t *testing.T, db *migrations.DB, mod func(*Config), depMods ...func(*Deps)) *env {
	t.Helper()
	acfg := accounts.DefaultConfig()
	acfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(db, acfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := acc.AddDomain(ctx, "capulet.example", accounts.DomainSettings{}); err != nil {
		t.Fatal(err)
	}
	e := &env{acc: acc, ctx: ctx, addr: map[Mode]string{}, serveDone: make(chan error, 2)}
	for _, u := range []*accounts.User{&e.juliet, &e.romeo} {
		name := map[*accounts.User]string{&e.juliet: "juliet", &e.romeo: "romeo"}[u]
		if *u, err = acc.AddUser(ctx, accounts.NewUser{Address: name + "@capulet.example", Password: pw}); err != nil {
			t.Fatal(err)
		}
	}
	if e.st, err = store.New(db, t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.st.Close)
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	deps := Deps{TLS: selfSigned(t), Accounts: acc, Store: e.st}
	for _, m := range depMods {
		m(&deps)
	}
	if e.srv, err = New(cfg, deps); err != nil {
		t.Fatal(err)
	}
	for _, m := range []Mode{IMAP, IMAPS} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		e.addr[m] = ln.Addr().String()
		go func() { e.serveDone <- e.srv.Serve(ln, m) }()
	}
	t.Cleanup(func() { e.srv.Close() })
	return e
}

func clientOptions(h *imapclient.UnilateralDataHandler) *imapclient.Options {
	return &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}, UnilateralDataHandler: h}
}

// dial connects to mode: STARTTLS for IMAP, implicit TLS for IMAPS.
func (e *env) dial(t *testing.T, mode Mode, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	var c *imapclient.Client
	var err error
	if mode == IMAPS {
		c, err = imapclient.DialTLS(e.addr[mode], clientOptions(h))
	} else {
		c, err = imapclient.DialStartTLS(e.addr[mode], clientOptions(h))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// login dials with STARTTLS and logs in as name@capulet.example.
func (e *env) login(t *testing.T, name string, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	c := e.dial(t, IMAP, h)
	if err := c.Login(name+"@capulet.example", pw).Wait(); err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return c
}

// events collects a client's unilateral data.
type events struct {
	exists  chan uint32
	expunge chan uint32
	fetch   chan *imapclient.FetchMessageBuffer
}

func newEvents() (*events, *imapclient.UnilateralDataHandler) {
	ev := &events{exists: make(chan uint32, 100), expunge: make(chan uint32, 100), fetch: make(chan *imapclient.FetchMessageBuffer, 100)}
	return ev, &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { ev.expunge <- seq },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				ev.exists <- *d.NumMessages
			}
		},
		Fetch: func(m *imapclient.FetchMessageData) {
			buf, err := m.Collect()
			if err == nil {
				ev.fetch <- buf
			}
		},
	}
}

func wait[T any](t *testing.T, c chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func none[T any](t *testing.T, c chan T, what string) {
	t.Helper()
	select {
	case v := <-c:
		t.Fatalf("unexpected %s: %v", what, v)
	default:
	}
}

// appendMsg appends body to mailbox and returns its UID.
func appendMsg(t *testing.T, c *imapclient.Client, mailbox, body string, opt *imap.AppendOptions) imap.UID {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(body)), opt)
	if _, err := cmd.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("append to %s: %v", mailbox, err)
	}
	return data.UID
}

// simple builds a one-part message.
func simple(from, subject, text string) string {
	return "From: " + from + "\r\nTo: Juliet <juliet@capulet.example>\r\nSubject: " + subject +
		"\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") +
		"@capulet.example>\r\n\r\n" + text + "\r\n"
}

// wantCode checks that err is an IMAP reply with code.
func wantCode(t *testing.T, err error, code imap.ResponseCode) {
	t.Helper()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Code != code {
		t.Fatalf("got %v, want a reply with [%s]", err, code)
	}
}

// raw is a line-level IMAP connection for what imapclient will not send.
type raw struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (e *env) raw(t *testing.T) *raw {
	t.Helper()
	c, err := tls.Dial("tcp", e.addr[IMAPS], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &raw{t: t, c: c, r: bufio.NewReader(c)}
	if g := r.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return r
}

func (r *raw) line() string {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := r.r.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// cmd sends "tag line" and returns the tagged reply, after the untagged ones.
func (r *raw) cmd(tag, line string) (string, []string) {
	r.t.Helper()
	if _, err := r.c.Write([]byte(tag + " " + line + "\r\n")); err != nil {
		r.t.Fatal(err)
	}
	var untagged []string
	for {
		l := r.line()
		if strings.HasPrefix(l, tag+" ") {
			return strings.TrimPrefix(l, tag+" "), untagged
		}
		untagged = append(untagged, l)
	}
}

// logTo sends the server's log to buf.
func logTo(buf *syncBuffer) func(*Deps) {
	return func(d *Deps) {
		d.Log = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
