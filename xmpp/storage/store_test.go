package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

const romeo = "romeo@montague.example"

type fixture struct {
	s      *Store
	db     *migrations.DB
	acc    *accounts.Store
	ctx    context.Context
	juliet int64
	nurse  int64
}

func newFixture(t *testing.T, db *migrations.DB, cfg Config) *fixture {
	t.Helper()
	acfg := accounts.DefaultConfig()
	acfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(db, acfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{s: New(db, cfg), db: db, acc: acc, ctx: context.Background()}
	if _, err := acc.AddDomain(f.ctx, "capulet.example", accounts.DomainSettings{}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name string
		id   *int64
	}{{"juliet", &f.juliet}, {"nurse", &f.nurse}} {
		au, err := acc.AddUser(f.ctx, accounts.NewUser{Address: u.name + "@capulet.example", Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		*u.id = au.ID
	}
	return f
}

func (f *fixture) roster(t *testing.T, owner int64) ([]Item, string) {
	t.Helper()
	items, ver, err := f.s.Roster(f.ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	return items, ver
}

func (f *fixture) apply(t *testing.T, owner int64, contact string, ev Event) Result {
	t.Helper()
	r, err := f.s.Apply(f.ctx, owner, contact, ev)
	if err != nil {
		t.Fatalf("Apply(%s, %v): %v", contact, ev, err)
	}
	return r
}

// check compares a Result with the expected notation of After ("" for
// gone) and flags.
func check(t *testing.T, r Result, after string, push, forward, auto bool, ver string) {
	t.Helper()
	got := ""
	if r.After.JID != "" {
		got = notation(r.After)
	}
	if got != after || r.Push != push || r.Forward != forward || r.AutoSubscribed != auto || r.Ver != ver {
		t.Errorf("result: after %q push %v forward %v auto %v ver %q; want %q %v %v %v %q",
			got, r.Push, r.Forward, r.AutoSubscribed, r.Ver, after, push, forward, auto, ver)
	}
}

func TestConfig(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	if err := (Config{MaxOffline: -1, MaxBlocked: -2}).Validate(); err == nil {
		t.Error("negative limits accepted")
	}
	if got := New(nil, Config{MaxOffline: 7}).Config(); got != (Config{DefaultMaxRosterItems, 7, DefaultMaxBlocked, DefaultMaxPrivate}) {
		t.Errorf("defaults not filled: %+v", got)
	}
}

func TestRosterSetAndRemove(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db, DefaultConfig())
		if items, ver := f.roster(t, f.juliet); len(items) != 0 || ver != "0" {
			t.Fatalf("empty roster = %v, %q", items, ver)
		}
		it, ver, err := f.s.SetItem(f.ctx, f.juliet, romeo, "Romeo", []string{"Montagues", "Friends", "Montagues"})
		if err != nil || ver != "1" {
			t.Fatalf("SetItem = %+v, %q, %v", it, ver, err)
		}
		want := Item{JID: romeo, Name: "Romeo", Groups: []string{"Friends", "Montagues"}, Subscription: SubNone}
		if !sameRow(it, want) {
			t.Errorf("SetItem item = %+v, want %+v", it, want)
		}
		// The same set again changes nothing.
		if _, ver, err := f.s.SetItem(f.ctx, f.juliet, romeo, "Romeo", []string{"Friends", "Montagues"}); err != nil || ver != "1" {
			t.Errorf("repeated SetItem: version %q, %v", ver, err)
		}
		for _, c := range []string{"tybalt@capulet.example", "benvolio@montague.example", "capulet.example"} {
			if _, _, err := f.s.SetItem(f.ctx, f.juliet, c, "", nil); err != nil {
				t.Fatal(err)
			}
		}
		items, ver := f.roster(t, f.juliet)
		var jids []string
		for _, it := range items {
			jids = append(jids, it.JID)
		}
		if want := []string{"benvolio@montague.example", "capulet.example", romeo, "tybalt@capulet.example"}; !slices.Equal(jids, want) || ver != "4" {
			t.Errorf("roster = %v at %q, want %v at 4", jids, ver, want)
		}
		if v, err := f.s.RosterVersion(f.ctx, f.juliet); v != "4" || err != nil {
			t.Errorf("RosterVersion = %q, %v", v, err)
		}
		if items, ver := f.roster(t, f.nurse); len(items) != 0 || ver != "0" {
			t.Errorf("another user's roster = %v, %q", items, ver)
		}
		// Subscription state survives a roster set.
		f.apply(t, f.juliet, romeo, OutSubscribe)
		it, ver, err = f.s.SetItem(f.ctx, f.juliet, romeo, "R.", nil)
		if err != nil || notation(it) != "none+out" || it.Name != "R." || it.Groups != nil || ver != "6" {
			t.Errorf("SetItem after subscribe = %+v, %q, %v", it, ver, err)
		}
		got, ok, err := f.s.Item(f.ctx, f.juliet, romeo)
		if err != nil || !ok || !sameRow(got, it) {
			t.Errorf("Item = %+v, %v, %v; want %+v", got, ok, err, it)
		}
		before, ver, existed, err := f.s.RemoveItem(f.ctx, f.juliet, romeo)
		if err != nil || !existed || !sameRow(before, it) || ver != "7" {
			t.Errorf("RemoveItem = %+v, %q, %v, %v", before, ver, existed, err)
		}
		if _, ver, existed, err := f.s.RemoveItem(f.ctx, f.juliet, romeo); err != nil || existed || ver != "7" {
			t.Errorf("RemoveItem again = %q, %v, %v", ver, existed, err)
		}
		if _, ok, err := f.s.Item(f.ctx, f.juliet, romeo); ok || err != nil {
			t.Errorf("Item after remove = %v, %v", ok, err)
		}
		if _, _, err := f.s.SetItem(f.ctx, f.juliet, "", "", nil); err == nil {
			t.Error("SetItem with an empty JID succeeded")
		}
		if _, err := f.s.Apply(f.ctx, f.juliet, "", InSubscribe); err == nil {
			t.Error("Apply with an empty JID succeeded")
		}
		if _, err := f.s.Apply(f.ctx, f.juliet, romeo, Event(0)); err == nil {
			t.Error("Apply with event 0 succeeded")
		}
	})
}

func TestRosterFull(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db, Config{MaxRosterItems: 2})
		for _, c := range []string{"a@x.example", "b@x.example"} {
			if _, _, err := f.s.SetItem(f.ctx, f.juliet, c, "", nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := f.s.SetItem(f.ctx, f.juliet, "c@x.example", "", nil); !errors.Is(err, ErrRosterFull) {
			t.Errorf("third SetItem: %v, want ErrRosterFull", err)
		}
		if _, err := f.s.Apply(f.ctx, f.juliet, "c@x.example", OutSubscribe); !errors.Is(err, ErrRosterFull) {
			t.Errorf("OutSubscribe to a new contact: %v, want ErrRosterFull", err)
		}
		if _, err := f.s.Apply(f.ctx, f.juliet, "c@x.example", OutSubscribed); !errors.Is(err, ErrRosterFull) {
			t.Errorf("pre-approval of a new contact: %v, want ErrRosterFull", err)
		}
		if _, _, err := f.s.SetItem(f.ctx, f.juliet, "b@x.example", "B", nil); err != nil {
			t.Errorf("updating an item of a full roster: %v", err)
		}
		// Requests from strangers are bounded separately.
		f.apply(t, f.juliet, "s1@x.example", InSubscribe)
		f.apply(t, f.juliet, "s2@x.example", InSubscribe)
		if _, err := f.s.Apply(f.ctx, f.juliet, "s3@x.example", InSubscribe); !errors.Is(err, ErrRosterFull) {
			t.Errorf("third stranger: %v, want ErrRosterFull", err)
		}
		// A remembered request cannot become a visible item while full.
		if _, _, err := f.s.SetItem(f.ctx, f.juliet, "s1@x.example", "", nil); !errors.Is(err, ErrRosterFull) {
			t.Errorf("SetItem of a hidden item in a full roster: %v", err)
		}
		if _, err := f.s.Apply(f.ctx, f.juliet, "s1@x.example", OutSubscribed); !errors.Is(err, ErrRosterFull) {
			t.Errorf("approving a hidden item in a full roster: %v", err)
		}
		f.s.RemoveItem(f.ctx, f.juliet, "a@x.example")
		r := f.apply(t, f.juliet, "s1@x.example", OutSubscribed)
		check(t, r, "from", true, true, false, "5")
		if items, _ := f.roster(t, f.juliet); len(items) != 2 {
			t.Errorf("roster = %+v", items)
		}
	})
}

// TestSubscriptionHandshake follows RFC 6121 §3.1 from both ends: juliet
// and the nurse are both local, so each stanza is an Out* for the sender
// and an In* for the recipient.
func TestSubscriptionHandshake(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db, DefaultConfig())
		const jul, nur = "juliet@capulet.example", "nurse@capulet.example"

		// Juliet asks to see the nurse's presence.
		check(t, f.apply(t, f.juliet, nur, OutSubscribe), "none+out", true, true, false, "1")
		check(t, f.apply(t, f.nurse, jul, InSubscribe), "none+in+hidden", false, true, false, "0")
		if items, _ := f.roster(t, f.nurse); len(items) != 0 {
			t.Errorf("the request shows in the nurse's roster: %+v", items)
		}
		if p, err := f.s.PendingIn(f.ctx, f.nurse); err != nil || !slices.Equal(p, []string{jul}) {
			t.Errorf("PendingIn = %v, %v", p, err)
		}
		// A repeated request is delivered again, and changes nothing.
		check(t, f.apply(t, f.juliet, nur, OutSubscribe), "none+out", false, true, false, "1")
		check(t, f.apply(t, f.nurse, jul, InSubscribe), "none+in+hidden", false, true, false, "0")

		// The nurse approves: the item appears in her roster.
		r := f.apply(t, f.nurse, jul, OutSubscribed)
		check(t, r, "from", true, true, false, "1")
		if notation(r.Before) != "none+in+hidden" {
			t.Errorf("Before = %s", notation(r.Before))
		}
		check(t, f.apply(t, f.juliet, nur, InSubscribed), "to", true, true, false, "2")
		if p, _ := f.s.PendingIn(f.ctx, f.nurse); len(p) != 0 {
			t.Errorf("PendingIn after approval = %v", p)
		}

		// And the other way round; the nurse's pending-in is not visible.
		check(t, f.apply(t, f.nurse, jul, OutSubscribe), "from+out", true, true, false, "2")
		check(t, f.apply(t, f.juliet, nur, InSubscribe), "to+in", false, true, false, "2")
		check(t, f.apply(t, f.juliet, nur, OutSubscribed), "both", true, true, false, "3")
		check(t, f.apply(t, f.nurse, jul, InSubscribed), "both", true, true, false, "3")
		// A subscribe from a contact already subscribed is answered by the server.
		check(t, f.apply(t, f.juliet, nur, InSubscribe), "both", false, false, true, "3")

		// Juliet unsubscribes from the nurse's presence (§3.3).
		check(t, f.apply(t, f.juliet, nur, OutUnsubscribe), "from", true, true, false, "4")
		check(t, f.apply(t, f.nurse, jul, InUnsubscribe), "to", true, true, false, "4")
		// Delivered only on a change.
		check(t, f.apply(t, f.nurse, jul, InUnsubscribe), "to", false, false, false, "4")
		// The nurse cancels Juliet's subscription to her... which is gone;
		// and then Juliet's to the nurse (§3.2).
		check(t, f.apply(t, f.nurse, jul, OutUnsubscribed), "to", false, true, false, "4")
		check(t, f.apply(t, f.juliet, nur, InUnsubscribed), "from", false, false, false, "4")
		check(t, f.apply(t, f.juliet, nur, OutUnsubscribed), "none", true, true, false, "5")
		check(t, f.apply(t, f.nurse, jul, InUnsubscribed), "none", true, true, false, "5")
		// Visible items stay, with subscription none.
		if items, _ := f.roster(t, f.juliet); len(items) != 1 || notation(items[0]) != "none" {
			t.Errorf("juliet's roster = %+v", items)
		}
	})
}

func TestHiddenRequests(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db, DefaultConfig())
		// Nothing to forward or store for a stranger's unsubscribe etc.
		for _, ev := range []Event{InSubscribed, InUnsubscribe, InUnsubscribed} {
			r := f.apply(t, f.juliet, romeo, ev)
			check(t, r, "", false, false, false, "0")
			if r.Before.JID != "" {
				t.Errorf("%v: Before = %+v", ev, r.Before)
			}
		}
		for _, ev := range []Event{OutUnsubscribe, OutUnsubscribed} {
			check(t, f.apply(t, f.juliet, romeo, ev), "", false, true, false, "0")
		}
		if _, ok, _ := f.s.Item(f.ctx, f.juliet, romeo); ok {
			t.Fatal("a row was created")
		}

		// A stranger's request is remembered hidden; declining deletes it.
		check(t, f.apply(t, f.juliet, romeo, InSubscribe), "none+in+hidden", false, true, false, "0")
		it, ok, err := f.s.Item(f.ctx, f.juliet, romeo)
		if err != nil || !ok || notation(it) != "none+in+hidden" {
			t.Fatalf("Item = %+v, %v, %v", it, ok, err)
		}
		r := f.apply(t, f.juliet, romeo, OutUnsubscribed)
		check(t, r, "", false, true, false, "0")
		if notation(r.Before) != "none+in+hidden" {
			t.Errorf("Before = %+v", r.Before)
		}
		if _, ok, _ := f.s.Item(f.ctx, f.juliet, romeo); ok {
			t.Error("declined request still stored")
		}
		// The stranger withdraws the request: delivered, row deleted.
		f.apply(t, f.juliet, romeo, InSubscribe)
		check(t, f.apply(t, f.juliet, romeo, InUnsubscribe), "", false, true, false, "0")
		if _, ok, _ := f.s.Item(f.ctx, f.juliet, romeo); ok {
			t.Error("withdrawn request still stored")
		}
		// Adding the stranger by a roster set makes the item visible and
		// keeps the request.
		f.apply(t, f.juliet, romeo, InSubscribe)
		it, ver, err := f.s.SetItem(f.ctx, f.juliet, romeo, "Romeo", nil)
		if err != nil || notation(it) != "none+in" || ver != "1" {
			t.Errorf("SetItem = %+v, %q, %v", it, ver, err)
		}
		// Subscribing back also makes it visible.
		f.apply(t, f.juliet, "benvolio@montague.example", InSubscribe)
		check(t, f.apply(t, f.juliet, "benvolio@montague.example", OutSubscribe), "none+out+in", true, true, false, "2")
		// Removing a hidden item does not bump the version.
		f.apply(t, f.juliet, "mercutio@verona.example", InSubscribe)
		if _, ver, existed, err := f.s.RemoveItem(f.ctx, f.juliet, "mercutio@verona.example"); err != nil || !existed || ver != "2" {
			t.Errorf("RemoveItem of a hidden item = %q, %v, %v", ver, existed, err)
		}
	})
}

func TestPreApproval(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db, DefaultConfig())
		// RFC 6121 §3.4: subscribed without a request pre-approves, creating
		// the item; it is not routed.
		check(t, f.apply(t, f.juliet, romeo, OutSubscribed), "none+approved", true, false, false, "1")
		check(t, f.apply(t, f.juliet, romeo, OutSubscribed), "none+approved", false, false, false, "1")
		r := f.apply(t, f.juliet, romeo, InSubscribe)
		check(t, r, "from", true, false, true, "2")
		if p, _ := f.s.PendingIn(f.ctx, f.juliet); len(p) != 0 {
			t.Errorf("PendingIn = %v", p)
		}
		// Unsubscribed cancels a pre-approval.
		f.apply(t, f.juliet, "benvolio@montague.example", OutSubscribed)
		check(t, f.apply(t, f.juliet, "benvolio@montague.example", OutUnsubscribed), "none", true, true, false, "4")
		check(t, f.apply(t, f.juliet, "benvolio@montague.example", InSubscribe), "none+in", false, true, false, "4")
	})
}

// TestApplyEveryState runs every row of the Appendix A table through the
// database, from a stored item in that state, visible and hidden.
func TestApplyEveryState(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db, DefaultConfig())
		rows := slices.Concat(appendixA, preApproved, hidden)
		for i, st := range rows {
			contact := fmt.Sprintf("c%d@verona.example", i)
			seed := state(t, st.from)
			seed.JID, seed.Name, seed.Groups = contact, "C", []string{"g"}
			if err := db.Tx(f.ctx, func(tx *sql.Tx) error { return saveItem(f.ctx, tx, f.juliet, seed, false) }); err != nil {
				t.Fatal(err)
			}
			verBefore, _ := f.s.RosterVersion(f.ctx, f.juliet)
			r := f.apply(t, f.juliet, contact, st.ev)
			want := state(t, st.to)
			want.JID, want.Name, want.Groups = contact, "C", []string{"g"}
			stored, ok, err := f.s.Item(f.ctx, f.juliet, contact)
			if err != nil {
				t.Fatal(err)
			}
			push := !visibleEqual(seed, want)
			gone := useless(want)
			if gone {
				want = Item{}
			}
			name := fmt.Sprintf("%d: %s on %v", i, st.from, st.ev)
			switch {
			case !sameRow(r.Before, seed):
				t.Errorf("%s: Before = %+v", name, r.Before)
			case !sameRow(r.After, want):
				t.Errorf("%s: After = %+v, want %+v", name, r.After, want)
			case ok == gone || ok && !sameRow(stored, want):
				t.Errorf("%s: stored %+v (%v), want %+v", name, stored, ok, want)
			case r.Forward != st.fwd || r.AutoSubscribed != st.auto || r.Push != push:
				t.Errorf("%s: forward %v auto %v push %v; want %v %v %v", name, r.Forward, r.AutoSubscribed, r.Push, st.fwd, st.auto, push)
			case (r.Ver != verBefore) != push:
				t.Errorf("%s: version %s -> %s with push %v", name, verBefore, r.Ver, push)
			}
		}
	})
}

// TestApplyConcurrent checks that concurrent steps for one user neither
// collide (two inserts of one new row) nor lose or repeat versions.
func TestApplyConcurrent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db, DefaultConfig())
		// The user's row exists already, so that its creation does not
		// serialise the first round.
		must(t, f.s.SetLastLogout(f.ctx, f.juliet, time.Now(), ""))
		const n = 16
		var wg sync.WaitGroup
		vers := make(chan string, 2*n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				for _, c := range []string{romeo, fmt.Sprintf("c%d@verona.example", i)} {
					r, err := f.s.Apply(f.ctx, f.juliet, c, OutSubscribe)
					if err != nil {
						t.Error(err)
						return
					}
					if r.Push {
						vers <- r.Ver
					}
				}
			})
		}
		close(start)
		wg.Wait()
		close(vers)
		var got []string
		for v := range vers {
			got = append(got, v)
		}
		// romeo once, and each cN once: versions 1..n+1, each once.
		if len(got) != n+1 {
			t.Fatalf("%d pushes, want %d: %v", len(got), n+1, got)
		}
		seen := map[string]bool{}
		for _, v := range got {
			seen[v] = true
		}
		for i := 1; i <= n+1; i++ {
			if !seen[fmt.Sprint(i)] {
				t.Errorf("version %d missing from %v", i, got)
			}
		}
	})
}

func TestOffline(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db, Config{MaxOffline: 3})
		t0 := time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)
		for i := range 3 {
			msg := fmt.Appendf(nil, "<message id='%d'/>", i)
			if err := f.s.StoreOffline(f.ctx, f.juliet, msg, t0.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.s.StoreOffline(f.ctx, f.juliet, []byte("<message/>"), t0); !errors.Is(err, ErrOfflineFull) {
			t.Errorf("fourth message: %v, want ErrOfflineFull", err)
		}
		if err := f.s.StoreOffline(f.ctx, f.nurse, []byte("<message/>"), t0); err != nil {
			t.Errorf("another user's message: %v", err)
		}
		msgs, err := f.s.Offline(f.ctx, f.juliet)
		if err != nil || len(msgs) != 3 {
			t.Fatalf("Offline = %v, %v", msgs, err)
		}
		for i, m := range msgs {
			if string(m.Stanza) != fmt.Sprintf("<message id='%d'/>", i) || !m.Stamp.Equal(t0.Add(time.Duration(i)*time.Second)) {
				t.Errorf("message %d = %s at %v", i, m.Stanza, m.Stamp)
			}
			if i > 0 && m.ID <= msgs[i-1].ID {
				t.Errorf("IDs not increasing: %d after %d", m.ID, msgs[i-1].ID)
			}
		}
		if err := f.s.DeleteOffline(f.ctx, f.juliet, msgs[1].ID); err != nil {
			t.Fatal(err)
		}
		if n, err := f.s.CountOffline(f.ctx, f.juliet); n != 1 || err != nil {
			t.Errorf("CountOffline = %d, %v", n, err)
		}
		if rest, _ := f.s.Offline(f.ctx, f.juliet); len(rest) != 1 || rest[0].ID != msgs[2].ID {
			t.Errorf("left = %+v", rest)
		}
		if n, _ := f.s.CountOffline(f.ctx, f.nurse); n != 1 {
			t.Errorf("nurse's count = %d", n)
		}
	})
}

func TestVCardAndPrivate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db, Config{MaxPrivate: 2})
		if b, ok, err := f.s.VCard(f.ctx, f.juliet); b != nil || ok || err != nil {
			t.Errorf("no vCard = %q, %v, %v", b, ok, err)
		}
		for _, v := range []string{"<vCard xmlns='vcard-temp'><FN>Juliet</FN></vCard>", "<vCard xmlns='vcard-temp'/>"} {
			if err := f.s.SetVCard(f.ctx, f.juliet, []byte(v)); err != nil {
				t.Fatal(err)
			}
			if b, ok, err := f.s.VCard(f.ctx, f.juliet); string(b) != v || !ok || err != nil {
				t.Errorf("VCard = %q, %v, %v; want %q", b, ok, err, v)
			}
		}
		if _, ok, _ := f.s.VCard(f.ctx, f.nurse); ok {
			t.Error("the nurse has Juliet's vCard")
		}

		const ns = "storage:bookmarks"
		if b, ok, err := f.s.Private(f.ctx, f.juliet, ns, "storage"); b != nil || ok || err != nil {
			t.Errorf("no private XML = %q, %v, %v", b, ok, err)
		}
		x1 := "<storage xmlns='storage:bookmarks'><url name='Verona' url='https://verona.example/'/></storage>"
		x2 := "<storage xmlns='storage:bookmarks'/>"
		for _, x := range []string{x1, x2} {
			if err := f.s.SetPrivate(f.ctx, f.juliet, ns, "storage", []byte(x)); err != nil {
				t.Fatal(err)
			}
			if b, ok, err := f.s.Private(f.ctx, f.juliet, ns, "storage"); string(b) != x || !ok || err != nil {
				t.Errorf("Private = %q, %v, %v; want %q", b, ok, err, x)
			}
		}
		if _, ok, _ := f.s.Private(f.ctx, f.juliet, ns, "other"); ok {
			t.Error("found a different local name")
		}
		if err := f.s.SetPrivate(f.ctx, f.juliet, "urn:x", "a", []byte("<a xmlns='urn:x'/>")); err != nil {
			t.Fatal(err)
		}
		if err := f.s.SetPrivate(f.ctx, f.juliet, "urn:x", "b", []byte("<b xmlns='urn:x'/>")); !errors.Is(err, ErrPrivateFull) {
			t.Errorf("third key: %v, want ErrPrivateFull", err)
		}
		if err := f.s.SetPrivate(f.ctx, f.juliet, "urn:x", "a", nil); err != nil {
			t.Errorf("replacing an entry of a full store: %v", err)
		}
		if b, ok, err := f.s.Private(f.ctx, f.juliet, "urn:x", "a"); b == nil || len(b) != 0 || !ok || err != nil {
			t.Errorf("empty private XML = %q, %v, %v", b, ok, err)
		}
	})
}

func TestBlocking(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db, Config{MaxBlocked: 4})
		if l, err := f.s.BlockList(f.ctx, f.juliet); len(l) != 0 || err != nil {
			t.Errorf("empty list = %v, %v", l, err)
		}
		const tyb, mon = "tybalt@capulet.example/sword", "montague.example"
		added, err := f.s.Block(f.ctx, f.juliet, []string{romeo, mon, romeo})
		if err != nil || !slices.Equal(added, []string{romeo, mon}) {
			t.Errorf("Block = %v, %v", added, err)
		}
		added, err = f.s.Block(f.ctx, f.juliet, []string{mon, tyb})
		if err != nil || !slices.Equal(added, []string{tyb}) {
			t.Errorf("Block again = %v, %v", added, err)
		}
		if added, err := f.s.Block(f.ctx, f.juliet, []string{"a.example", "b.example"}); !errors.Is(err, ErrBlockListFull) || added != nil {
			t.Errorf("Block beyond the limit = %v, %v", added, err)
		}
		if l, _ := f.s.BlockList(f.ctx, f.juliet); !slices.Equal(l, []string{romeo, mon, tyb}) {
			t.Errorf("list = %v (all or nothing)", l)
		}
		if l, _ := f.s.BlockList(f.ctx, f.nurse); len(l) != 0 {
			t.Errorf("nurse's list = %v", l)
		}
		removed, err := f.s.Unblock(f.ctx, f.juliet, []string{tyb, "x.example", tyb})
		if err != nil || !slices.Equal(removed, []string{tyb}) {
			t.Errorf("Unblock = %v, %v", removed, err)
		}
		f.s.Block(f.ctx, f.juliet, []string{"a.example"})
		removed, err = f.s.Unblock(f.ctx, f.juliet, nil)
		if err != nil || !slices.Equal(removed, []string{romeo, mon, "a.example"}) {
			t.Errorf("Unblock all = %v, %v", removed, err)
		}
		if removed, err := f.s.Unblock(f.ctx, f.juliet, []string{}); err != nil || len(removed) != 0 {
			t.Errorf("Unblock all of nothing = %v, %v", removed, err)
		}
	})
}

func TestLastLogout(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db, DefaultConfig())
		if _, _, ok, err := f.s.LastLogout(f.ctx, f.juliet); ok || err != nil {
			t.Errorf("never logged out: %v, %v", ok, err)
		}
		// The roster creates the user's row without a logout.
		f.apply(t, f.juliet, romeo, OutSubscribe)
		if _, _, ok, err := f.s.LastLogout(f.ctx, f.juliet); ok || err != nil {
			t.Errorf("never logged out, with a roster: %v, %v", ok, err)
		}
		t0 := time.Date(2025, 3, 1, 12, 0, 0, 500000000, time.UTC)
		for i, status := range []string{"Gone to the balcony", ""} {
			at := t0.Add(time.Duration(i) * time.Hour)
			if err := f.s.SetLastLogout(f.ctx, f.juliet, at, status); err != nil {
				t.Fatal(err)
			}
			got, st, ok, err := f.s.LastLogout(f.ctx, f.juliet)
			if !got.Equal(at) || st != status || !ok || err != nil {
				t.Errorf("LastLogout = %v, %q, %v, %v; want %v, %q", got, st, ok, err, at, status)
			}
		}
		if v, _ := f.s.RosterVersion(f.ctx, f.juliet); v != "1" {
			t.Errorf("SetLastLogout changed the roster version to %s", v)
		}
	})
}

// TestDeleteUserRemovesEverything checks the ON DELETE CASCADE of every
// table.
func TestDeleteUserRemovesEverything(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db, DefaultConfig())
		for _, owner := range []int64{f.juliet, f.nurse} {
			f.apply(t, owner, romeo, OutSubscribe)
			f.apply(t, owner, "stranger@verona.example", InSubscribe)
			must(t, f.s.StoreOffline(f.ctx, owner, []byte("<message/>"), time.Now()))
			must(t, f.s.SetVCard(f.ctx, owner, []byte("<vCard xmlns='vcard-temp'/>")))
			must(t, f.s.SetPrivate(f.ctx, owner, "urn:x", "x", []byte("<x xmlns='urn:x'/>")))
			_, err := f.s.Block(f.ctx, owner, []string{"spam.example"})
			must(t, err)
			must(t, f.s.SetLastLogout(f.ctx, owner, time.Now(), ""))
		}
		must(t, f.acc.DeleteUser(f.ctx, "juliet@capulet.example"))
		for _, table := range []string{"xmpp_users", "xmpp_roster", "xmpp_offline", "xmpp_vcards", "xmpp_private", "xmpp_blocklist"} {
			var mine, others int
			must(t, db.QueryRowContext(f.ctx, "SELECT COUNT(*) FROM "+table+" WHERE user_id = $1", f.juliet).Scan(&mine))
			must(t, db.QueryRowContext(f.ctx, "SELECT COUNT(*) FROM "+table+" WHERE user_id = $1", f.nurse).Scan(&others))
			if mine != 0 || others == 0 {
				t.Errorf("%s: %d rows of the deleted user, %d of the other", table, mine, others)
			}
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
