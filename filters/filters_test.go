package filters

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

type fixture struct {
	ctx    context.Context
	db     *migrations.DB
	acc    *accounts.Store
	f      *Filter
	juliet accounts.User
	romeo  accounts.User
	note   *notes
}

// notes records what the filter hands to the XMPP side; online says who
// has an available resource.
type notes struct {
	mu     sync.Mutex
	online map[string]bool
	got    []Notification
}

func (n *notes) Online(jid string) bool { n.mu.Lock(); defer n.mu.Unlock(); return n.online[jid] }
func (n *notes) Notify(_ context.Context, x Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, x)
	return nil
}

func newFixture(t *testing.T, db *migrations.DB, cfg Config) *fixture {
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
	fx := &fixture{ctx: ctx, db: db, acc: acc, f: New(db, acc, cfg, nil), note: &notes{online: map[string]bool{}}}
	fx.f.Notifier = fx.note
	for _, p := range []*accounts.User{&fx.juliet, &fx.romeo} {
		name := "juliet"
		if p == &fx.romeo {
			name = "romeo"
		}
		if *p, err = acc.AddUser(ctx, accounts.NewUser{Address: name + "@capulet.example", Password: "correct horse battery"}); err != nil {
			t.Fatal(err)
		}
	}
	return fx
}

func TestScripts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		fx := newFixture(t, db, Config{MaxScripts: 2, MaxScriptSize: 100})
		sc, ctx, uid := fx.f.Scripts(), fx.ctx, fx.juliet.ID
		if err := sc.Put(ctx, uid, "a", "keep;"); err != nil {
			t.Fatal(err)
		}
		if err := sc.Put(ctx, uid, "bad", "filinto \"x\";"); err == nil || !strings.Contains(err.Error(), "line 1:1") {
			t.Errorf("bad script: %v", err)
		}
		if err := sc.Put(ctx, uid, "big", strings.Repeat("#", 101)); !errors.Is(err, ErrScriptTooBig) {
			t.Errorf("big: %v", err)
		}
		if err := sc.Put(ctx, uid, "b", "discard;"); err != nil {
			t.Fatal(err)
		}
		if err := sc.Put(ctx, uid, "c", "keep;"); !errors.Is(err, ErrTooManyScripts) {
			t.Errorf("third: %v", err)
		}
		if err := sc.Put(ctx, uid, "b", "stop;"); err != nil { // replacing is not a new script
			t.Errorf("replace: %v", err)
		}
		if err := sc.HaveSpace(ctx, uid, "c", 10); !errors.Is(err, ErrTooManyScripts) {
			t.Errorf("havespace: %v", err)
		}
		if err := sc.Put(ctx, uid, "x/y", "keep;"); !errors.Is(err, ErrBadName) {
			t.Errorf("name: %v", err)
		}
		if err := sc.Activate(ctx, uid, "a"); err != nil {
			t.Fatal(err)
		}
		if err := sc.Activate(ctx, uid, "b"); err != nil {
			t.Fatal(err)
		}
		list, _ := sc.List(ctx, uid)
		if len(list) != 2 || list[0].Active || !list[1].Active || list[1].Size != len("stop;") {
			t.Errorf("list: %+v", list)
		}
		if err := sc.Delete(ctx, uid, "b"); !errors.Is(err, ErrActive) {
			t.Errorf("delete active: %v", err)
		}
		if err := sc.Rename(ctx, uid, "b", "a"); !errors.Is(err, ErrScriptExists) {
			t.Errorf("rename onto: %v", err)
		}
		if err := sc.Rename(ctx, uid, "b", "main"); err != nil {
			t.Fatal(err)
		}
		if err := sc.Rename(ctx, uid, "nope", "x"); !errors.Is(err, ErrNoScript) {
			t.Errorf("rename missing: %v", err)
		}
		if src, err := sc.Get(ctx, uid, "main"); err != nil || src != "stop;" {
			t.Errorf("get: %q %v", src, err)
		}
		if err := sc.Activate(ctx, uid, ""); err != nil {
			t.Fatal(err)
		}
		if err := sc.Delete(ctx, uid, "main"); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.Get(ctx, uid, "main"); !errors.Is(err, ErrNoScript) {
			t.Errorf("deleted: %v", err)
		}
		if l, _ := sc.List(ctx, fx.romeo.ID); len(l) != 0 {
			t.Errorf("romeo sees %v", l)
		}
	})
}

const contactScript = `require ["enotify", "extlists", "fileinto"];
if address :list "from" ":addrbook:default" {
  notify "xmpp:juliet@capulet.example";
}
if header :contains "subject" "sale" { fileinto "Junk"; }
`

func message(from, subject string) string {
	return "From: " + from + "\r\nTo: juliet@capulet.example\r\nSubject: " + subject + "\r\nMessage-ID: <1@x>\r\n\r\nhello\r\n"
}

func (fx *fixture) run(t *testing.T, u accounts.User, from, msg string) Outcome {
	t.Helper()
	out, err := fx.f.Evaluate(fx.ctx, u, Envelope{From: from}, strings.NewReader(msg), int64(len(msg)))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEvaluateNotifyContacts(t *testing.T) {
	fx := newFixture(t, dbtest.SQLite(t), Config{})
	sc := fx.f.Scripts()
	if err := sc.Put(fx.ctx, fx.juliet.ID, "main", contactScript); err != nil {
		t.Fatal(err)
	}
	// No active script: implicit keep.
	if out := fx.run(t, fx.juliet, "tybalt@capulet.example", message("Tybalt <tybalt@capulet.example>", "Duel")); len(out.Copies) != 1 || out.Copies[0].Mailbox != "" || len(out.Notifies) != 0 {
		t.Fatalf("inactive: %+v", out)
	}
	if err := sc.Activate(fx.ctx, fx.juliet.ID, "main"); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.acc.AddContact(fx.ctx, fx.juliet.Address, accounts.Contact{Name: "Tybalt", Email: "Tybalt@Capulet.example"}); err != nil {
		t.Fatal(err)
	}
	out := fx.run(t, fx.juliet, "tybalt@capulet.example", message("Tybalt <tybalt@capulet.example>", "Duel"))
	if len(out.Notifies) != 1 || out.Notifies[0].To != "juliet@capulet.example" || out.Notifies[0].Text != "New mail from Tybalt: Duel" {
		t.Fatalf("contact: %+v", out)
	}
	if len(out.Copies) != 1 || out.Copies[0].Mailbox != "" {
		t.Errorf("notify must keep: %+v", out.Copies)
	}
	out = fx.run(t, fx.juliet, "paris@verona.example", message("Paris <paris@verona.example>", "big sale"))
	if len(out.Notifies) != 0 || len(out.Copies) != 1 || out.Copies[0].Mailbox != "Junk" {
		t.Errorf("stranger: %+v", out)
	}

	// Handing over: queued before the worker starts, delivered in order
	// with the link.
	n := Notification{To: "juliet@capulet.example", Text: "t"}
	fx.f.Notify(fx.juliet, "https://tidings.example/mail/INBOX/7", []Notification{n})
	stop := fx.f.Start(fx.ctx)
	defer stop()
	fx.f.Notify(fx.juliet, "https://tidings.example/mail/INBOX/8", []Notification{n})
	waitFor(t, func() bool { fx.note.mu.Lock(); defer fx.note.mu.Unlock(); return len(fx.note.got) == 2 })
	if got := fx.note.got; got[0].URL != "https://tidings.example/mail/INBOX/7" || got[1].URL != "https://tidings.example/mail/INBOX/8" {
		t.Errorf("handed over: %+v", got)
	}
}

func TestNotifyPolicyAndRate(t *testing.T) {
	fx := newFixture(t, dbtest.SQLite(t), Config{NotifyRate: 2})
	script := `require "enotify"; notify "xmpp:romeo@capulet.example"; notify :message "mine" "xmpp:juliet@capulet.example";`
	if err := fx.f.Scripts().Put(fx.ctx, fx.juliet.ID, "s", script); err != nil {
		t.Fatal(err)
	}
	fx.f.Scripts().Activate(fx.ctx, fx.juliet.ID, "s")
	out := fx.run(t, fx.juliet, "a@b.example", message("a@b.example", "x"))
	if len(out.Notifies) != 1 || out.Notifies[0].To != "juliet@capulet.example" || out.Notifies[0].Text != "mine" {
		t.Errorf("only her own JID by default: %+v", out.Notifies)
	}
	if !fx.f.allow(1) || !fx.f.allow(1) || fx.f.allow(1) {
		t.Error("rate limit of 2 per hour not applied")
	}
}

func TestCapabilityOnline(t *testing.T) {
	fx := newFixture(t, dbtest.SQLite(t), Config{})
	script := `require ["enotify", "fileinto"];
if notify_method_capability "xmpp:juliet@capulet.example" "online" "yes" { fileinto "Online"; }
else { fileinto "Offline"; }`
	if err := fx.f.Scripts().Put(fx.ctx, fx.juliet.ID, "s", script); err != nil {
		t.Fatal(err)
	}
	fx.f.Scripts().Activate(fx.ctx, fx.juliet.ID, "s")
	box := func() string {
		return fx.run(t, fx.juliet, "a@b.example", message("a@b.example", "x")).Copies[0].Mailbox
	}
	if b := box(); b != "Offline" {
		t.Errorf("offline: %s", b)
	}
	fx.note.mu.Lock()
	fx.note.online["juliet@capulet.example"] = true
	fx.note.mu.Unlock()
	if b := box(); b != "Online" {
		t.Errorf("online: %s", b)
	}
}

func TestVacationOncePerSender(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		fx := newFixture(t, db, Config{})
		script := `require "vacation"; vacation :days 3 :subject "Away" "I am away.";`
		if err := fx.f.Scripts().Put(fx.ctx, fx.juliet.ID, "s", script); err != nil {
			t.Fatal(err)
		}
		fx.f.Scripts().Activate(fx.ctx, fx.juliet.ID, "s")
		out := fx.run(t, fx.juliet, "nurse@capulet.example", message("nurse@capulet.example", "hello"))
		if out.Vacation == nil || out.Vacation.To != "nurse@capulet.example" || !strings.Contains(string(out.Vacation.Body), "Auto-Submitted: auto-replied") {
			t.Fatalf("vacation: %+v", out.Vacation)
		}
		if err := db.Tx(fx.ctx, func(tx *sql.Tx) error { return Remember(fx.ctx, tx, out.Vacation) }); err != nil {
			t.Fatal(err)
		}
		if out := fx.run(t, fx.juliet, "nurse@capulet.example", message("nurse@capulet.example", "again")); out.Vacation != nil {
			t.Error("answered twice within :days")
		}
		// Once the period is over the memory is pruned and she answers again.
		if err := db.Tx(fx.ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(fx.ctx, "UPDATE sieve_vacation SET until_at = 1")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := fx.f.PruneVacation(fx.ctx); err != nil {
			t.Fatal(err)
		}
		var left int
		db.QueryRowContext(fx.ctx, "SELECT count(*) FROM sieve_vacation").Scan(&left)
		if out := fx.run(t, fx.juliet, "nurse@capulet.example", message("nurse@capulet.example", "later")); left != 0 || out.Vacation == nil {
			t.Errorf("after the period: %d rows left, reply %v", left, out.Vacation != nil)
		}
		if out := fx.run(t, fx.juliet, "friar@capulet.example", message("friar@capulet.example", "hi")); out.Vacation == nil {
			t.Error("another sender not answered")
		}
		if out := fx.run(t, fx.juliet, "", message("MAILER-DAEMON@x.example", "bounce")); out.Vacation != nil {
			t.Error("answered a bounce")
		}
		lst := "List-Id: <x.lists.example>\r\n" + message("list@lists.example", "digest")
		if out := fx.run(t, fx.juliet, "list@lists.example", lst); out.Vacation != nil {
			t.Error("answered a list")
		}
	})
}

func TestRuntimeFailureKeeps(t *testing.T) {
	fx := newFixture(t, dbtest.SQLite(t), Config{MaxRedirects: 1})
	script := `redirect "a@x.example"; redirect "b@x.example";`
	if err := fx.f.Scripts().Put(fx.ctx, fx.juliet.ID, "s", script); err != nil {
		t.Skipf("over-limit script refused at compile time: %v", err)
	}
	fx.f.Scripts().Activate(fx.ctx, fx.juliet.ID, "s")
	msg := message("a@b.example", "x")
	out, err := fx.f.Evaluate(fx.ctx, fx.juliet, Envelope{}, strings.NewReader(msg), int64(len(msg)))
	if err == nil || len(out.Copies) != 1 || out.Copies[0].Mailbox != "" || len(out.Redirects) != 0 {
		t.Errorf("over the redirect limit: %+v, %v", out, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
