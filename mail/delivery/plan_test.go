package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/mail/queue"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

type sieveEnv struct {
	ctx           context.Context
	db            *migrations.DB
	st            *store.Store
	f             *filters.Filter
	d             *Deliverer
	juliet, romeo accounts.User
	notified      *recorder
}

type recorder struct {
	mu  sync.Mutex
	got []filters.Notification
}

func (r *recorder) Online(string) bool { return true }
func (r *recorder) Notify(_ context.Context, n filters.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, n)
	return nil
}

func newSieveEnv(t testing.TB, db *migrations.DB) *sieveEnv {
	t.Helper()
	cfg := accounts.DefaultConfig()
	cfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(db, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	acc.AddDomain(ctx, "capulet.example", accounts.DomainSettings{})
	e := &sieveEnv{ctx: ctx, db: db, notified: &recorder{}}
	e.juliet, _ = acc.AddUser(ctx, accounts.NewUser{Address: "juliet@capulet.example", Password: "correct horse battery"})
	e.romeo, _ = acc.AddUser(ctx, accounts.NewUser{Address: "romeo@capulet.example", Password: "correct horse battery"})
	if e.st, err = store.New(db, t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.st.Close)
	q, err := queue.New(queue.DefaultConfig(), queue.Deps{DB: db, Hostname: "mx.capulet.example", Local: nowhere{},
		IsLocal: func(_ context.Context, d string) bool { return d == "capulet.example" }})
	if err != nil {
		t.Fatal(err)
	}
	e.f = filters.New(db, acc, filters.Config{}, nil)
	e.f.Notifier = e.notified
	e.d = &Deliverer{Store: e.st, Queue: q, Filter: e.f,
		MessageURL: func(u accounts.User, mb string, uid uint32) string { return fmt.Sprintf("https://x/%s/%d", mb, uid) }}
	return e
}

type nowhere struct{}

func (nowhere) DeliverLocal(context.Context, string, string, []byte) error {
	return errors.New("unused")
}

func (e *sieveEnv) activate(t testing.TB, u accounts.User, script string) {
	t.Helper()
	if err := e.f.Scripts().Put(e.ctx, u.ID, "s", script); err != nil {
		t.Fatal(err)
	}
	if err := e.f.Scripts().Activate(e.ctx, u.ID, "s"); err != nil {
		t.Fatal(err)
	}
}

func (e *sieveEnv) count(t *testing.T, u accounts.User, box string) int {
	t.Helper()
	m, err := e.st.Mailbox(e.ctx, u.ID, box)
	if errors.Is(err, store.ErrNoMailbox) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := e.st.List(e.ctx, m.ID, store.AllUIDs, false)
	return len(msgs)
}

func (e *sieveEnv) queued(t *testing.T) []queue.Entry {
	t.Helper()
	l, err := queue.List(e.ctx, e.db)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

const testMsg = "From: Tybalt <tybalt@montague.example>\r\nTo: juliet@capulet.example\r\nSubject: Duel\r\n\r\nDraw!\r\n"

func TestDeliverWithSieve(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		e := newSieveEnv(t, db)
		env := Envelope{From: "tybalt@montague.example", Recipients: []accounts.User{e.juliet, e.romeo}}
		e.activate(t, e.juliet, `require ["fileinto", "mailbox", "imap4flags", "copy", "enotify", "vacation"];
			fileinto :create :flags "\\Flagged" "Family";
			redirect :copy "nurse@verona.example";
			notify "xmpp:juliet@capulet.example";
			vacation "Away.";`)
		e.activate(t, e.romeo, `discard;`)
		if err := e.d.Deliver(e.ctx, env, strings.NewReader(testMsg)); err != nil {
			t.Fatal(err)
		}
		if n := e.count(t, e.juliet, "Family"); n != 1 {
			t.Errorf("Family has %d", n)
		}
		if n := e.count(t, e.juliet, "INBOX") + e.count(t, e.romeo, "INBOX"); n != 0 {
			t.Errorf("INBOX copies: %d", n)
		}
		q := e.queued(t)
		if len(q) != 2 || q[0].Recipient != "nurse@verona.example" || q[0].Sender != env.From ||
			q[1].Recipient != env.From || q[1].Sender != "" {
			t.Fatalf("queued: %+v", q)
		}
		// The second mail gets no second vacation reply (memory written in
		// the delivery's transaction).
		if err := e.d.Deliver(e.ctx, env, strings.NewReader(testMsg)); err != nil {
			t.Fatal(err)
		}
		if q := e.queued(t); len(q) != 3 {
			t.Errorf("after the second mail: %+v", q)
		}
	})
}

func TestDeliverRedirectCarriesDeliveredTo(t *testing.T) {
	e := newSieveEnv(t, dbtest.SQLite(t))
	e.activate(t, e.juliet, `redirect "romeo@capulet.example";`)
	env := Envelope{From: "tybalt@montague.example", Recipients: []accounts.User{e.juliet}}
	if err := e.d.Deliver(e.ctx, env, strings.NewReader(testMsg)); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, e.juliet, "INBOX"); n != 0 {
		t.Errorf("redirect kept a copy: %d", n)
	}
	var body string
	e.db.QueryRowContext(e.ctx, "SELECT body FROM queue_messages").Scan(&body)
	if !strings.HasPrefix(body, "Delivered-To: juliet@capulet.example\r\n") || strings.Contains(body, "Return-Path") {
		t.Errorf("redirected copy: %q", body)
	}
	// Coming back to juliet (a loop): she keeps it instead.
	if err := e.d.Deliver(e.ctx, env, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, e.juliet, "INBOX"); n != 1 {
		t.Errorf("looped copy not kept: %d", n)
	}
	if q := e.queued(t); len(q) != 1 {
		t.Errorf("looped copy redirected again: %+v", q)
	}
}

func TestDeliverReject(t *testing.T) {
	e := newSieveEnv(t, dbtest.SQLite(t))
	e.activate(t, e.juliet, `require "reject"; reject "Not from you, Tybalt.";`)
	one := Envelope{From: "tybalt@montague.example", Recipients: []accounts.User{e.juliet}}
	err := e.d.Deliver(e.ctx, one, strings.NewReader(testMsg))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 || !strings.Contains(se.Message, "Not from you") {
		t.Fatalf("single recipient: %v", err)
	}
	if q := e.queued(t); len(q) != 0 {
		t.Errorf("refused in SMTP, yet queued: %+v", q)
	}
	// With romeo also a recipient, SMTP must accept: juliet's refusal
	// becomes a notice to the sender.
	both := Envelope{From: "tybalt@montague.example", Recipients: []accounts.User{e.juliet, e.romeo}}
	if err := e.d.Deliver(e.ctx, both, strings.NewReader(testMsg)); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, e.romeo, "INBOX"); n != 1 {
		t.Errorf("romeo: %d", n)
	}
	if q := e.queued(t); len(q) != 1 || q[0].Recipient != "tybalt@montague.example" || q[0].Sender != "" {
		t.Errorf("rejection notice: %+v", q)
	}
}

func TestDeliverNotifiesAfterCommit(t *testing.T) {
	e := newSieveEnv(t, dbtest.SQLite(t))
	stop := e.f.Start(e.ctx)
	defer stop()
	e.activate(t, e.juliet, `require "enotify"; notify "xmpp:juliet@capulet.example";`)
	env := Envelope{From: "tybalt@montague.example", Recipients: []accounts.User{e.juliet}}
	if err := e.d.Deliver(e.ctx, env, strings.NewReader(testMsg)); err != nil {
		t.Fatal(err)
	}
	for range 500 {
		e.notified.mu.Lock()
		n := len(e.notified.got)
		e.notified.mu.Unlock()
		if n > 0 {
			break
		}
		sleep()
	}
	e.notified.mu.Lock()
	defer e.notified.mu.Unlock()
	if len(e.notified.got) != 1 || e.notified.got[0].URL != "https://x/INBOX/1" || e.notified.got[0].Text != "New mail from Tybalt: Duel" {
		t.Errorf("notified: %+v", e.notified.got)
	}
}

func sleep() { time.Sleep(10 * time.Millisecond) }
