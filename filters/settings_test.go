package filters

import (
	"errors"
	"testing"

	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

func TestNormalizeJID(t *testing.T) {
	for i, tc := range []struct {
		in, want string // want "" means refused
	}{
		{"Juliet@Capulet.Example", "juliet@capulet.example"},
		{"  romeo@montague.example ", "romeo@montague.example"},
		{"xmpp:nurse@capulet.example", "nurse@capulet.example"},
		{"bücher@bücher.example", "bücher@xn--bcher-kva.example"},
		{"juliet@capulet.example/balcony", ""},
		{"capulet.example", ""},
		{"@capulet.example", ""},
		{"juliet@", ""},
		{"ju liet@capulet.example", ""},
		{"ju<liet@capulet.example", ""},
		{"juliet@capulet..example", ""},
		{"juliet@[127.0.0.1]", ""},
	} {
		got, err := NormalizeJID(tc.in)
		if tc.want == "" {
			if err == nil || !errors.Is(err, ErrBadJID) {
				t.Errorf("%d: %q accepted as %q (%v)", i, tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%d: %q: got %q, %v; want %q", i, tc.in, got, err, tc.want)
		}
	}
}

func TestNotifyJIDStored(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		fx := newFixture(t, db, Config{})
		sc, ctx := fx.f.Scripts(), fx.ctx
		if j, err := sc.NotifyJID(ctx, fx.juliet.ID); err != nil || j != "" {
			t.Fatalf("unset: %q %v", j, err)
		}
		if err := sc.SetNotifyJID(ctx, fx.juliet.ID, "Juliet.Phone@Verona.Example"); err != nil {
			t.Fatal(err)
		}
		if err := sc.SetNotifyJID(ctx, fx.juliet.ID, "juliet@verona.example"); err != nil { // the upsert
			t.Fatal(err)
		}
		if j, err := sc.NotifyJID(ctx, fx.juliet.ID); err != nil || j != "juliet@verona.example" {
			t.Fatalf("set: %q %v", j, err)
		}
		if err := sc.SetNotifyJID(ctx, fx.juliet.ID, "juliet@verona.example/phone"); !errors.Is(err, ErrBadJID) {
			t.Errorf("full JID stored: %v", err)
		}
		if j, _ := sc.NotifyJID(ctx, fx.romeo.ID); j != "" {
			t.Errorf("romeo got juliet's setting: %q", j)
		}
		if err := sc.SetNotifyJID(ctx, fx.juliet.ID, " "); err != nil {
			t.Fatal(err)
		}
		if j, _ := sc.NotifyJID(ctx, fx.juliet.ID); j != "" {
			t.Errorf("reset: %q", j)
		}
	})
}

// A notice to the user's own JID lands at their notification address; the
// address itself may be named; any other JID stays refused.
func TestNotifyRedirect(t *testing.T) {
	fx := newFixture(t, dbtest.SQLite(t), Config{})
	script := `require "enotify";
notify :message "own" "xmpp:juliet@capulet.example";
notify :message "direct" "xmpp:juliet@verona.example";
notify :message "stranger" "xmpp:tybalt@capulet.example";`
	if err := fx.f.Scripts().Put(fx.ctx, fx.juliet.ID, "s", script); err != nil {
		t.Fatal(err)
	}
	fx.f.Scripts().Activate(fx.ctx, fx.juliet.ID, "s")
	got := func() map[string]string {
		out := fx.run(t, fx.juliet, "a@b.example", message("a@b.example", "x"))
		m := map[string]string{}
		for _, n := range out.Notifies {
			m[n.Text] = n.To
		}
		return m
	}
	if m := got(); len(m) != 1 || m["own"] != "juliet@capulet.example" {
		t.Errorf("without a setting: %v", m)
	}
	if err := fx.f.Scripts().SetNotifyJID(fx.ctx, fx.juliet.ID, "juliet@verona.example"); err != nil {
		t.Fatal(err)
	}
	if m := got(); len(m) != 2 || m["own"] != "juliet@verona.example" || m["direct"] != "juliet@verona.example" {
		t.Errorf("with a setting: %v", m)
	}
	// Romeo's notices are not moved by Juliet's setting.
	if err := fx.f.Scripts().Put(fx.ctx, fx.romeo.ID, "s", `require "enotify"; notify "xmpp:romeo@capulet.example";`); err != nil {
		t.Fatal(err)
	}
	fx.f.Scripts().Activate(fx.ctx, fx.romeo.ID, "s")
	out := fx.run(t, fx.romeo, "a@b.example", message("a@b.example", "x"))
	if len(out.Notifies) != 1 || out.Notifies[0].To != "romeo@capulet.example" {
		t.Errorf("romeo: %+v", out.Notifies)
	}
}

// notify_method_capability "online" for the own JID asks about the
// notification address, where the notice would land.
func TestCapabilityFollowsNotifyJID(t *testing.T) {
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
	fx.note.mu.Lock()
	fx.note.online["juliet@capulet.example"] = true
	fx.note.mu.Unlock()
	if b := box(); b != "Online" {
		t.Errorf("own JID online: %s", b)
	}
	if err := fx.f.Scripts().SetNotifyJID(fx.ctx, fx.juliet.ID, "romeo@capulet.example"); err != nil {
		t.Fatal(err)
	}
	if b := box(); b != "Offline" {
		t.Errorf("notification address offline: %s", b)
	}
	fx.note.mu.Lock()
	fx.note.online["romeo@capulet.example"] = true
	fx.note.mu.Unlock()
	if b := box(); b != "Online" {
		t.Errorf("notification address online: %s", b)
	}
}
