package main

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/internal/testdns"
	"github.com/tidings/tidings/mail/imapd"
	"github.com/tidings/tidings/mail/queue"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations/dbtest"
	"github.com/tidings/tidings/webmail/web"
)

// adapterServer is the part of a server the console's adapters use, on a
// fresh SQLite database with capulet.example and juliet.
func adapterServer(t *testing.T) *server {
	t.Helper()
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Hostname = testHostname
	cfg.Accounts.SCRAMIterations = accounts.MinSCRAMIterations
	s := &server{cfg: cfg, log: slog.New(slog.DiscardHandler), db: dbtest.SQLite(t)}
	var err error
	if s.accounts, err = accounts.New(s.db, cfg.Accounts, s.log, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.accounts.AddDomain(ctx, "capulet.example", accounts.DomainSettings{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.accounts.AddUser(ctx, accounts.NewUser{Address: "juliet@capulet.example", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	if s.store, err = store.New(s.db, t.TempDir(), s.log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.store.Close)
	return s
}

func TestWebQueue(t *testing.T) {
	s := adapterServer(t)
	ctx := context.Background()
	q, err := queue.New(s.cfg.Queue, queue.Deps{DB: s.db, Hostname: testHostname, Local: localDSN{s}, IsLocal: s.isLocalDomain, Log: s.log})
	if err != nil {
		t.Fatal(err)
	}
	s.queue = q // not started: nothing is delivered
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		return q.Enqueue(ctx, tx, "juliet@capulet.example", []string{"romeo@montague.example", "friar@laurence.example"}, []byte("Subject: hi\r\n\r\nhi\r\n"))
	})
	if err != nil {
		t.Fatal(err)
	}
	wq := webQueue{s}
	es, err := wq.QueueList(ctx)
	if err != nil || len(es) != 2 {
		t.Fatalf("list: %v %+v", err, es)
	}
	if e := es[0]; e.Sender != "juliet@capulet.example" || len(e.Recipients) != 1 || e.Size == 0 || e.Created.IsZero() || e.NextTry.IsZero() {
		t.Errorf("entry: %+v", e)
	}
	if err := wq.QueueRetry(ctx, es[0].ID); err != nil {
		t.Errorf("retry: %v", err)
	}
	if err := wq.QueueDrop(ctx, es[1].ID); err != nil {
		t.Errorf("drop: %v", err)
	}
	for _, id := range []int64{es[1].ID, 0, -1} {
		if err := wq.QueueDrop(ctx, id); !errors.Is(err, web.NotFound) {
			t.Errorf("drop %d: %v", id, err)
		}
		if err := wq.QueueRetry(ctx, id); id != es[1].ID && !errors.Is(err, web.NotFound) {
			t.Errorf("retry %d: %v", id, err)
		}
	}
	if es, _ := wq.QueueList(ctx); len(es) != 1 || es[0].Recipients[0] != "romeo@montague.example" {
		t.Errorf("after drop: %+v", es)
	}
}

// TestWebStats counts today's mail and a logged-in IMAP session (the XMPP
// figures come from the router's own counters, tested in xmpp/router).
func TestWebStats(t *testing.T) {
	s := adapterServer(t)
	ctx := context.Background()
	juliet, _ := s.accounts.User(ctx, "juliet@capulet.example")
	for _, date := range []time.Time{time.Now(), localMidnight(time.Now()).Add(-time.Minute)} {
		_, err := s.store.Deliver(ctx, strings.NewReader("Subject: x\r\n\r\nx\r\n"), store.DeliverOptions{InternalDate: date}, []store.Target{{User: juliet}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if c := (webStats{s}).Counts(ctx); c != (web.Counts{MailToday: 1}) {
		t.Errorf("no sessions: %+v", c)
	}

	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := ensureSelfSigned(cert, key, []string{testHostname}, time.Now()); err != nil {
		t.Fatal(err)
	}
	kp, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	if s.imap, err = imapd.New(s.cfg.IMAP, imapd.Deps{TLS: &tls.Config{Certificates: []tls.Certificate{kp}}, Accounts: s.accounts, Store: s.store}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.imap.Serve(ln, imapd.IMAPS)
	t.Cleanup(func() { s.imap.Close() })
	for range 2 {
		c, err := imapclient.DialTLS(ln.Addr().String(), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login("juliet@capulet.example", "correct horse battery").Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if c := (webStats{s}).Counts(ctx); c.IMAPOnline != 1 || c.IMAPSess != 2 || c.MailToday != 1 {
		t.Errorf("two IMAP sessions: %+v", c)
	}
}

// TestWebDNS: the records of `tidings dns records`, checked against a zone
// that has some of them.
func TestWebDNS(t *testing.T) {
	s := adapterServer(t)
	z := testdns.Start(t)
	s.cfg.Resolver = z.Addr
	ctx := context.Background()
	d := webDNS{s}
	if _, err := d.Records(ctx, "nowhere.example", false); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("unknown domain: %v", err)
	}
	rs, err := d.Records(ctx, "capulet.example", false)
	if err != nil || len(rs) < 4 {
		t.Fatalf("records: %v %+v", err, rs)
	}
	var mx web.DNSRecord
	for _, r := range rs {
		if r.Status != "" {
			t.Errorf("unchecked record has a status: %+v", r)
		}
		if r.Type == "MX" {
			mx = r
		}
	}
	if mx.Value != "10 mail.capulet.example." {
		t.Fatalf("MX: %+v", mx)
	}
	publish(t, z, dnsRecord{Name: "capulet.example", Type: "MX", Value: "10 mail.capulet.example."})
	publish(t, z, dnsRecord{Name: "capulet.example", Type: "TXT", Value: "v=spf1 mx -all"})
	publish(t, z, dnsRecord{Name: "_dmarc.capulet.example", Type: "TXT", Value: "v=DKIM1; not a DMARC policy"})
	checked, err := d.Records(ctx, "capulet.example", true)
	if err != nil || len(checked) != len(rs) {
		t.Fatalf("check: %v %+v", err, checked)
	}
	got := map[string]string{}
	for _, r := range checked {
		got[r.Type+" "+r.Name] = r.Status
		if r.Status == "differs" && r.Found == "" {
			t.Errorf("differs without saying how: %+v", r)
		}
	}
	for k, want := range map[string]string{"MX capulet.example": "ok", "TXT capulet.example": "ok",
		"TXT _dmarc.capulet.example": "missing", "SRV _imaps._tcp.capulet.example": "missing"} {
		if got[k] != want {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], want, got)
		}
	}
	publish(t, z, dnsRecord{Name: "_imaps._tcp.capulet.example", Type: "SRV", Value: "0 1 993 elsewhere.example."})
	checked, _ = d.Records(ctx, "capulet.example", true)
	for _, r := range checked {
		if r.Name == "_imaps._tcp.capulet.example" && (r.Status != "differs" || !strings.Contains(r.Found, "no SRV record with target mail.capulet.example.")) {
			t.Errorf("wrong SRV: %+v", r)
		}
	}
}
