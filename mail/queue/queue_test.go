package queue

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tidings/tidings/internal/testcert"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// resolver answers from tables, like a test DNS zone.
type resolver struct {
	mx    map[string][]*net.MX
	hosts map[string][]string
}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (r resolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if mx, ok := r.mx[name]; ok {
		return mx, nil
	}
	return nil, notFound(name)
}

func (r resolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := r.hosts[host]; ok {
		return a, nil
	}
	return nil, notFound(host)
}

// peer is a remote MTA built on go-smtp's server.
type peer struct {
	mu       sync.Mutex
	got      []received
	refuse   map[string]*smtp.SMTPError // RCPT replies by recipient
	deferAll bool
	port     int
}

type received struct {
	from, helo string
	rcpts      []string
	body       string
	tls        bool
}

func (p *peer) NewSession(c *smtp.Conn) (smtp.Session, error) { return &peerSession{p: p, c: c}, nil }

type peerSession struct {
	p *peer
	c *smtp.Conn
	r received
}

func (s *peerSession) Reset()        { s.r = received{} }
func (s *peerSession) Logout() error { return nil }
func (s *peerSession) Mail(from string, _ *smtp.MailOptions) error {
	s.r.from, s.r.helo = from, s.c.Hostname()
	_, s.r.tls = s.c.TLSConnectionState()
	return nil
}
func (s *peerSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.p.deferAll {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	}
	if e := s.p.refuse[to]; e != nil {
		return e
	}
	s.r.rcpts = append(s.r.rcpts, to)
	return nil
}
func (s *peerSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	s.r.body = string(b)
	s.p.mu.Lock()
	s.p.got = append(s.p.got, s.r)
	s.p.mu.Unlock()
	return nil
}

func (p *peer) received() []received {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]received(nil), p.got...)
}

func selfSigned(t testing.TB) *tls.Config {
	c, err := testcert.Config("mx.montague.example")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func startPeer(t *testing.T, withTLS bool) *peer {
	p := &peer{refuse: map[string]*smtp.SMTPError{}}
	srv := smtp.NewServer(p)
	srv.Domain = "mx.montague.example"
	if withTLS {
		srv.TLSConfig = selfSigned(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.port, _ = strconv.Atoi(strings.Split(ln.Addr().String(), ":")[1])
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

// local records DSNs for local senders.
type local struct {
	mu  sync.Mutex
	got map[string][]string
}

func (l *local) DeliverLocal(_ context.Context, _, to string, msg []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got[to] = append(l.got[to], string(msg))
	return nil
}

func (l *local) dsns(to string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got[to]...)
}

type fixture struct {
	q     *Queue
	db    *migrations.DB
	local *local
	now   time.Time
	mu    sync.Mutex
	res   resolver
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func newFixture(t *testing.T, db *migrations.DB, port int, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{db: db, local: &local{got: map[string][]string{}}, now: time.Now(),
		res: resolver{
			mx: map[string][]*net.MX{
				"montague.example": {{Host: "mx2.montague.example.", Pref: 20}, {Host: "mx1.montague.example.", Pref: 10}},
				"nomail.example":   {{Host: ".", Pref: 0}},
			},
			hosts: map[string][]string{
				"mx1.montague.example": {"127.0.0.2"}, // nothing listens there: the next MX must be tried
				"mx2.montague.example": {"127.0.0.1"},
				"verona.example":       {"127.0.0.1"}, // no MX: the implicit MX
			},
		}}
	cfg := DefaultConfig()
	cfg.Port = port
	cfg.ConnectTimeout, cfg.CommandTimeout = 2*time.Second, 5*time.Second
	if mod != nil {
		mod(&cfg)
	}
	var err error
	f.q, err = New(cfg, Deps{DB: db, Hostname: "mail.capulet.example", Resolver: f.res, Local: f.local, Now: f.clock,
		IsLocal: func(_ context.Context, d string) bool { return d == "capulet.example" }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) enqueue(t *testing.T, sender string, rcpts ...string) {
	t.Helper()
	body := "From: " + sender + "\r\nSubject: hello\r\n\r\n.leading dot\r\nbody\r\n"
	err := f.db.Tx(context.Background(), func(tx *sql.Tx) error {
		return f.q.Enqueue(context.Background(), tx, sender, rcpts, []byte(body))
	})
	if err != nil {
		t.Fatal(err)
	}
	f.q.Poke()
}

func (f *fixture) start(t *testing.T) {
	stop, err := f.q.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fixture) queued(t *testing.T) []Entry {
	t.Helper()
	es, err := List(context.Background(), f.db)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestDeliverRemote(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		p := startPeer(t, true)
		f := newFixture(t, db, p.port, nil)
		p.refuse["nobody@montague.example"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		f.enqueue(t, "juliet@capulet.example", "romeo@montague.example", "benvolio@montague.example", "nobody@montague.example")
		f.start(t)
		eventually(t, "delivery and bounce", func() bool {
			return len(p.received()) == 1 && len(f.queued(t)) == 0 && len(f.local.dsns("juliet@capulet.example")) == 1
		})
		got := p.received()[0]
		if got.from != "juliet@capulet.example" || got.helo != "mail.capulet.example" || !got.tls ||
			strings.Join(got.rcpts, ",") != "romeo@montague.example,benvolio@montague.example" ||
			got.body != "From: juliet@capulet.example\r\nSubject: hello\r\n\r\n.leading dot\r\nbody\r\n" {
			t.Errorf("peer got %+v", got)
		}
		dsn := f.local.dsns("juliet@capulet.example")[0]
		for _, want := range []string{"multipart/report; report-type=delivery-status", "Final-Recipient: rfc822; nobody@montague.example",
			"Action: failed", "Status: 5.1.1", "Diagnostic-Code: smtp; 550 5.1.1 no such user", "Remote-MTA: dns; mx2.montague.example",
			"Auto-Submitted: auto-replied", "Subject: hello"} {
			if !strings.Contains(dsn, want) {
				t.Errorf("DSN lacks %q:\n%s", want, dsn)
			}
		}
		if strings.Contains(dsn, "romeo@") {
			t.Error("the DSN names a delivered recipient")
		}
	})
}

func TestRouting(t *testing.T) {
	p := startPeer(t, false)
	f := newFixture(t, dbtest.SQLite(t), p.port, nil)
	f.enqueue(t, "juliet@capulet.example", "friar@verona.example", "x@nomail.example", "y@nowhere.example")
	f.start(t)
	// One DSN per failed destination domain.
	eventually(t, "routing outcomes", func() bool { return len(f.queued(t)) == 0 && len(f.local.dsns("juliet@capulet.example")) == 2 })
	if got := p.received(); len(got) != 1 || got[0].rcpts[0] != "friar@verona.example" || got[0].tls {
		t.Errorf("implicit MX delivery: %+v", got)
	}
	dsn := strings.Join(f.local.dsns("juliet@capulet.example"), "\n")
	for _, want := range []string{"x@nomail.example>: 556 5.1.10", "Status: 5.1.10", "y@nowhere.example>: 550 5.1.2", "Status: 5.1.2"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("DSN lacks %q:\n%s", want, dsn)
		}
	}
}

func TestRetryDelayAndExpiry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		p := startPeer(t, true)
		p.deferAll = true
		f := newFixture(t, db, p.port, nil)
		f.enqueue(t, "juliet@capulet.example", "romeo@montague.example")
		f.start(t)
		eventually(t, "first attempt", func() bool { es := f.queued(t); return len(es) == 1 && es[0].Attempts == 1 })
		e := f.queued(t)[0]
		if !strings.Contains(e.LastError, "451 4.3.0 try later") || e.NextAttempt.Unix() != f.clock().Add(DefaultRetryBase).Unix() {
			t.Errorf("after one deferral: %+v", e)
		}
		// Four hours on: the next attempt is still deferred, and the sender
		// hears about the delay once.
		f.advance(DefaultDelayWarning)
		f.q.Poke()
		eventually(t, "delay DSN", func() bool { return len(f.local.dsns("juliet@capulet.example")) == 1 })
		if d := f.local.dsns("juliet@capulet.example")[0]; !strings.Contains(d, "Action: delayed") || !strings.Contains(d, "Will-Retry-Until:") || !strings.Contains(d, "Status: 4.3.0") {
			t.Errorf("delay DSN:\n%s", d)
		}
		if e := f.queued(t)[0]; e.Attempts != 2 || e.NextAttempt.Unix() != f.clock().Add(2*DefaultRetryBase).Unix() {
			t.Errorf("backoff did not double: %+v", e)
		}
		// Five days on: given up, with a failure DSN.
		f.advance(DefaultLifetime)
		f.q.Poke()
		eventually(t, "expiry", func() bool { return len(f.queued(t)) == 0 })
		dsns := f.local.dsns("juliet@capulet.example")
		if len(dsns) != 2 || !strings.Contains(dsns[1], "Action: failed") || !strings.Contains(dsns[1], "gave up after") {
			t.Errorf("expiry DSN: %d DSNs\n%s", len(dsns), dsns[len(dsns)-1])
		}
	})
}

func TestRequireTLS(t *testing.T) {
	p := startPeer(t, false)
	f := newFixture(t, dbtest.SQLite(t), p.port, func(c *Config) { c.RequireTLSDomains = []string{"montague.example"} })
	f.enqueue(t, "juliet@capulet.example", "romeo@montague.example")
	f.start(t)
	eventually(t, "deferral", func() bool { es := f.queued(t); return len(es) == 1 && es[0].Attempts == 1 })
	if e := f.queued(t)[0]; !strings.Contains(e.LastError, "STARTTLS required") || len(p.received()) != 0 {
		t.Errorf("sent in plain text to a require-TLS domain: %+v", e)
	}
}

// TestSurvivesRestart: what was enqueued before a crash is delivered by the
// next process, once.
func TestSurvivesRestart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		p := startPeer(t, true)
		f := newFixture(t, db, p.port, nil)
		f.enqueue(t, "", "romeo@montague.example")
		// A crashed worker's lease.
		db.Tx(context.Background(), func(tx *sql.Tx) error {
			_, err := tx.Exec("UPDATE queue_recipients SET leased_until = $1", time.Now().Add(time.Hour).Unix())
			return err
		})
		f2 := newFixture(t, db, p.port, nil)
		f2.start(t)
		eventually(t, "delivery after restart", func() bool { return len(p.received()) == 1 && len(f2.queued(t)) == 0 })
		time.Sleep(300 * time.Millisecond)
		if n := len(p.received()); n != 1 {
			t.Errorf("delivered %d times", n)
		}
	})
}

func TestAdminOps(t *testing.T) {
	db := dbtest.SQLite(t)
	f := newFixture(t, db, 1, nil)
	f.enqueue(t, "juliet@capulet.example", "a@montague.example", "b@montague.example")
	es := f.queued(t)
	if len(es) != 2 || es[0].Sender != "juliet@capulet.example" || es[0].Size == 0 {
		t.Fatalf("list: %+v", es)
	}
	ctx := context.Background()
	db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("UPDATE queue_recipients SET next_attempt = 99999999999")
		return err
	})
	if n, err := Retry(ctx, db, 0); err != nil || n != 2 {
		t.Errorf("retry all: %d, %v", n, err)
	}
	if es := f.queued(t); es[0].NextAttempt.Unix() != 0 {
		t.Errorf("retry did not make it due: %+v", es[0])
	}
	if _, err := Drop(ctx, db, es[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := Drop(ctx, db, es[0].ID); !errors.Is(err, ErrNoEntry) {
		t.Errorf("drop twice: %v", err)
	}
	Drop(ctx, db, es[1].ID)
	var n int
	db.QueryRowContext(ctx, "SELECT COUNT(*) FROM queue_messages").Scan(&n)
	if n != 0 {
		t.Errorf("message outlived its recipients")
	}
}
