package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
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
	s       *Store
	acc     *accounts.Store
	dir     string
	juliet  accounts.User
	romeo   accounts.User
	ctx     context.Context
	changes *Subscription
}

func newBenchFixture(b *testing.B) *fixture {
	return newFixture(b, dbtest.SQLite(b))
}

func newFixture(t testing.TB, db *migrations.DB) *fixture {
	t.Helper()
	cfg := accounts.DefaultConfig()
	cfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(db, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	acc.AddDomain(ctx, "capulet.example", accounts.DomainSettings{})
	f := &fixture{acc: acc, dir: t.TempDir(), ctx: ctx}
	if f.s, err = New(db, f.dir, nil); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*accounts.User{&f.juliet, &f.romeo} {
		name := "juliet"
		if u == &f.romeo {
			name = "romeo"
		}
		if *u, err = acc.AddUser(ctx, accounts.NewUser{Address: name + "@capulet.example", Password: "correct horse battery"}); err != nil {
			t.Fatal(err)
		}
	}
	f.changes = f.s.Bus().Subscribe(0, 1000)
	t.Cleanup(f.changes.Close)
	return f
}

func testMessage(subject string) string {
	return "From: =?utf-8?q?Tybalt_Capulet?= <tybalt@capulet.example>\r\n" +
		"To: Juliet <juliet@capulet.example>\r\n" +
		"Subject: =?utf-8?q?" + strings.ReplaceAll(subject, " ", "_") + "?=\r\n" +
		"Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n" +
		"Message-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@capulet.example>\r\n" +
		"\r\nHello.\r\n"
}

func (f *fixture) deliver(t *testing.T, body string, targets ...Target) []Result {
	t.Helper()
	res, err := f.s.Deliver(f.ctx, strings.NewReader(body), DeliverOptions{}, targets)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (f *fixture) inbox(t *testing.T, u accounts.User) Mailbox {
	t.Helper()
	m, err := f.s.Mailbox(f.ctx, u.ID, "inbox")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// nextChange waits for the next change on the bus.
func (f *fixture) nextChange(t *testing.T) Change {
	t.Helper()
	select {
	case c := <-f.changes.C():
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no change published")
		return Change{}
	}
}

func (f *fixture) drain() {
	for {
		select {
		case <-f.changes.C():
		default:
			return
		}
	}
}

// bodies counts stored message bodies.
func (f *fixture) bodies(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.s.db.QueryRowContext(f.ctx, "SELECT COUNT(*) FROM bodies").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDefaultMailboxes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if err := f.s.EnsureDefaults(f.ctx, f.juliet.ID); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		ms, err := f.s.Mailboxes(f.ctx, f.juliet.ID)
		if err != nil || len(ms) != len(DefaultMailboxes) {
			t.Fatalf("mailboxes = %+v, %v", ms, err)
		}
		uses := map[string]string{}
		validity := map[uint32]bool{}
		for _, m := range ms {
			uses[m.Name] = m.SpecialUse
			validity[m.UIDValidity] = true
			if m.UIDNext != 1 || !m.Subscribed {
				t.Errorf("%s: %+v", m.Name, m)
			}
		}
		if uses["Sent"] != `\Sent` || uses["Trash"] != `\Trash` || uses["INBOX"] != "" || len(validity) != len(ms) {
			t.Errorf("special use %v, %d distinct UIDVALIDITYs", uses, len(validity))
		}
	})
}

func TestDeliverAndRead(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db)
		body := testMessage("Party tonight")
		res := f.deliver(t, body, Target{User: f.juliet}, Target{User: f.romeo, Mailbox: "Lists/Verona", Create: true, Flags: []string{`\seen`, "$Label1"}})
		for _, r := range res {
			if r.Err != nil || r.UID != 1 {
				t.Fatalf("result %+v", r)
			}
		}
		if n := f.bodies(t); n != 1 {
			t.Errorf("%d body files for one delivery to two users", n)
		}
		box := f.inbox(t, f.juliet)
		msgs, err := f.s.List(f.ctx, box.ID, AllUIDs, true)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("List = %+v, %v", msgs, err)
		}
		m := msgs[0]
		if m.Subject != "Party tonight" || m.From != "Tybalt Capulet <tybalt@capulet.example>" || m.MessageID != "Party.tonight@capulet.example" ||
			m.SentDate.Format(time.RFC3339) != "2026-11-21T10:00:00Z" || m.Size != int64(len(body)) || len(m.Flags) != 0 {
			t.Errorf("message = %+v", m)
		}
		if e := m.Envelope; e == nil || e.Subject != "=?utf-8?q?Party_tonight?=" || len(e.To) != 1 || e.To[0].Host != "capulet.example" ||
			len(e.Sender) != 1 || e.Sender[0].Mailbox != "tybalt" || e.ReplyTo[0].Name != "Tybalt Capulet" {
			t.Errorf("envelope = %+v", m.Envelope)
		}
		_, r, err := f.s.Open(f.ctx, box.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if string(got) != body {
			t.Errorf("body = %q", got)
		}
		rb, err := f.s.Mailbox(f.ctx, f.romeo.ID, "Lists/Verona")
		if err != nil {
			t.Fatal(err)
		}
		if msgs, _ := f.s.List(f.ctx, rb.ID, AllUIDs, false); len(msgs) != 1 || !slices.Equal(msgs[0].Flags, []string{"$Label1", `\Seen`}) {
			t.Errorf("romeo's copy = %+v", msgs)
		}
		if bytes, n, _ := f.s.Usage(f.ctx, f.juliet.ID); bytes != int64(len(body)) || n != 1 {
			t.Errorf("usage = %d bytes, %d messages", bytes, n)
		}
		for {
			c := f.nextChange(t)
			if c.Kind == MessagesAdded && c.UserID == f.juliet.ID {
				if c.Mailbox != "INBOX" || !slices.Equal(c.UIDs, []uint32{1}) || c.MailboxID != box.ID {
					t.Errorf("change %+v", c)
				}
				break
			}
		}
		if _, _, err := f.s.Open(f.ctx, box.ID, 2); !errors.Is(err, ErrNoMessage) {
			t.Errorf("Open missing: %v", err)
		}
	})
}

func TestDeliverRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db)
		small := accounts.ByteSize(50)
		f.juliet, _ = f.acc.UpdateUser(f.ctx, f.juliet.Address, accounts.UserUpdate{Quota: &small})
		res := f.deliver(t, testMessage("too much"), Target{User: f.juliet}, Target{User: f.romeo}, Target{User: f.romeo, Mailbox: "Nowhere"})
		if !errors.Is(res[0].Err, ErrOverQuota) || res[1].Err != nil || !errors.Is(res[2].Err, ErrNoMailbox) {
			t.Fatalf("results %v / %v / %v", res[0].Err, res[1].Err, res[2].Err)
		}
		if bytes, n, _ := f.s.Usage(f.ctx, f.juliet.ID); bytes != 0 || n != 0 {
			t.Errorf("refused delivery counted: %d bytes", bytes)
		}
		_, err := f.s.Deliver(f.ctx, strings.NewReader(strings.Repeat("x", 1000)), DeliverOptions{MaxSize: 999}, []Target{{User: f.romeo}})
		if !errors.Is(err, ErrTooBig) {
			t.Fatalf("oversized: %v", err)
		}
		if res = f.deliver(t, "x", Target{User: f.juliet}); res[0].Err != nil {
			t.Fatalf("1 byte under a 50-byte quota: %v", res[0].Err)
		}
		if n := f.bodies(t); n != 2 { // the first delivery (romeo took it) and juliet's 1-byte one
			t.Errorf("%d bodies; refused deliveries must leave none", n)
		}
		// \Recent cannot be stored (RFC 9051 removed it): a per-target error.
		if res = f.deliver(t, "x", Target{User: f.romeo, Flags: []string{`\Recent`}}); !errors.Is(res[0].Err, ErrInvalidKeyword) {
			t.Fatalf("\\Recent: %v", res[0].Err)
		}
	})
}

func TestFlagsExpungeVanished(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db)
		for i := range 5 {
			f.deliver(t, testMessage(fmt.Sprint("m", i)), Target{User: f.juliet})
		}
		box := f.inbox(t, f.juliet)
		f.drain()
		up, mod, err := f.s.StoreFlags(f.ctx, box.ID, []UIDRange{{1, 3}}, FlagsAdd, []string{`\Seen`, "Work"}, 0)
		if err != nil || len(up) != 3 || len(mod) != 0 || up[0].ModSeq != 7 || !slices.Equal(up[2].Flags, []string{"Work", `\Seen`}) {
			t.Fatalf("StoreFlags = %+v, %v, %v", up, mod, err)
		}
		if c := f.nextChange(t); c.Kind != FlagsChanged || !slices.Equal(c.UIDs, []uint32{1, 2, 3}) || c.ModSeq != 7 {
			t.Errorf("change %+v", c)
		}
		// No change, no new MODSEQ.
		if up, _, _ := f.s.StoreFlags(f.ctx, box.ID, []UIDRange{{1, 1}}, FlagsAdd, []string{`\seen`, "work"}, 0); len(up) != 0 {
			t.Errorf("re-adding flags changed %+v", up)
		}
		// CONDSTORE: UID 1 changed at 7, so UNCHANGEDSINCE 6 leaves it alone.
		up, mod, _ = f.s.StoreFlags(f.ctx, box.ID, []UIDRange{{1, 0}}, FlagsAdd, []string{`\Deleted`}, 6)
		if !slices.Equal(mod, []uint32{1, 2, 3}) || len(up) != 2 || up[0].UID != 4 || up[0].ModSeq != 8 {
			t.Fatalf("UNCHANGEDSINCE: updated %+v, modified %v", up, mod)
		}
		if _, _, err := f.s.StoreFlags(f.ctx, box.ID, nil, FlagsAdd, []string{"bad(keyword"}, 0); !errors.Is(err, ErrInvalidKeyword) {
			t.Errorf("bad keyword: %v", err)
		}
		st, _ := f.s.Status(f.ctx, f.juliet.ID, "INBOX")
		if st.Messages != 5 || st.Unseen != 2 || st.Deleted != 2 || st.HighestModSeq != 8 || st.UIDNext != 6 {
			t.Errorf("status %+v", st)
		}
		// UID EXPUNGE of 5 only, then EXPUNGE of the rest of \Deleted.
		if uids, err := f.s.Expunge(f.ctx, box.ID, []UIDRange{{5, 5}}); err != nil || !slices.Equal(uids, []uint32{5}) {
			t.Fatalf("UID EXPUNGE = %v, %v", uids, err)
		}
		if uids, _ := f.s.Expunge(f.ctx, box.ID, AllUIDs); !slices.Equal(uids, []uint32{4}) {
			t.Fatalf("EXPUNGE = %v", uids)
		}
		if v, _ := f.s.Vanished(f.ctx, box.ID, 8); !slices.Equal(v, []uint32{4, 5}) {
			t.Errorf("vanished since 8 = %v", v)
		}
		if v, _ := f.s.Vanished(f.ctx, box.ID, 9); !slices.Equal(v, []uint32{4}) {
			t.Errorf("vanished since 9 = %v", v)
		}
		// UIDs are never reused, MODSEQ never goes back.
		res := f.deliver(t, testMessage("after"), Target{User: f.juliet})
		if res[0].UID != 6 || res[0].ModSeq != 11 {
			t.Errorf("after expunge: uid %d modseq %d", res[0].UID, res[0].ModSeq)
		}
		if bytes, n, _ := f.s.Usage(f.ctx, f.juliet.ID); n != 4 || bytes <= 0 {
			t.Errorf("usage after expunge: %d messages", n)
		}
		if n := f.bodies(t); n != 4 {
			t.Errorf("%d body files for 4 messages: expunged bodies must go", n)
		}
	})
}

func TestCopyMove(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db)
		for i := range 3 {
			f.deliver(t, testMessage(fmt.Sprint("m", i)), Target{User: f.juliet, Flags: []string{`\Flagged`}})
		}
		inbox := f.inbox(t, f.juliet)
		archive, _ := f.s.Mailbox(f.ctx, f.juliet.ID, "Archive")
		pairs, err := f.s.Copy(f.ctx, f.juliet, inbox.ID, []UIDRange{{2, 3}}, archive.ID)
		if err != nil || !slices.Equal(pairs, []UIDPair{{2, 1}, {3, 2}}) {
			t.Fatalf("Copy = %v, %v", pairs, err)
		}
		if n := f.bodies(t); n != 3 {
			t.Errorf("copies must share bodies: %d files", n)
		}
		pairs, err = f.s.Move(f.ctx, f.juliet, inbox.ID, []UIDRange{{1, 1}}, archive.ID)
		if err != nil || !slices.Equal(pairs, []UIDPair{{1, 3}}) {
			t.Fatalf("Move = %v, %v", pairs, err)
		}
		in, _ := f.s.List(f.ctx, inbox.ID, AllUIDs, false)
		ar, _ := f.s.List(f.ctx, archive.ID, AllUIDs, true)
		if len(in) != 2 || len(ar) != 3 || !slices.Equal(ar[0].Flags, []string{`\Flagged`}) || ar[2].Envelope == nil {
			t.Fatalf("after move: inbox %d, archive %+v", len(in), ar)
		}
		if _, n, _ := f.s.Usage(f.ctx, f.juliet.ID); n != 5 {
			t.Errorf("usage counts %d messages, want 5", n)
		}
		// Another user's mailbox is not a target.
		f.s.EnsureDefaults(f.ctx, f.romeo.ID)
		rin := f.inbox(t, f.romeo)
		if _, err := f.s.Copy(f.ctx, f.juliet, inbox.ID, AllUIDs, rin.ID); !errors.Is(err, ErrNoMailbox) {
			t.Errorf("copy into another user's mailbox: %v", err)
		}
		// Deleting the archive leaves the copied-from bodies in place.
		if err := f.s.DeleteMailbox(f.ctx, f.juliet.ID, "Archive"); err != nil {
			t.Fatal(err)
		}
		if n := f.bodies(t); n != 2 {
			t.Errorf("%d body files after deleting the archive, want the 2 still in INBOX", n)
		}
	})
}

func TestMailboxNames(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"inbox", "INBOX", true}, {"InBoX/sub", "INBOX/sub", true}, {"Lists/Verona", "Lists/Verona", true},
		{"Ärger", "Ärger", true}, {"", "", false}, {"/a", "", false}, {"a/", "", false}, {"a//b", "", false},
		{"a*", "", false}, {"a%b", "", false}, {"a\x01", "", false}, {strings.Repeat("x", 256), "", false},
		{"\xff", "", false},
	}
	for i, tc := range cases {
		got, err := NormalizeMailboxName(tc.in)
		if (err == nil) != tc.ok || got != tc.want || (err != nil && !errors.Is(err, ErrInvalidName)) {
			t.Errorf("%d: NormalizeMailboxName(%q) = %q, %v", i, tc.in, got, err)
		}
	}
}

func TestMailboxLifecycle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db)
		f.s.EnsureDefaults(f.ctx, f.juliet.ID)
		// "_" is a LIKE wildcard: renaming W_rk must not touch Wxrk's children.
		for _, name := range []string{"W_rk", "W_rk/2026", "Wxrk", "Wxrk/other", "w_rk"} {
			if _, err := f.s.CreateMailbox(f.ctx, f.juliet.ID, name, ""); err != nil {
				t.Fatalf("create %s: %v (names other than INBOX are case-sensitive)", name, err)
			}
		}
		if _, err := f.s.CreateMailbox(f.ctx, f.juliet.ID, "W_rk", ""); !errors.Is(err, ErrMailboxExists) {
			t.Fatalf("duplicate: %v", err)
		}
		if err := f.s.RenameMailbox(f.ctx, f.juliet.ID, "W_rk", "Job"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Mailbox(f.ctx, f.juliet.ID, "Job/2026"); err != nil {
			t.Errorf("child not renamed: %v", err)
		}
		for _, kept := range []string{"Wxrk/other", "w_rk"} {
			if _, err := f.s.Mailbox(f.ctx, f.juliet.ID, kept); err != nil {
				t.Errorf("rename touched %s: %v", kept, err)
			}
		}
		for _, bad := range [][2]string{{"INBOX", "Old"}, {"Job", "INBOX"}, {"Job", "Job/x"}, {"Nope", "x"}, {"Job", "Wxrk"}} {
			if err := f.s.RenameMailbox(f.ctx, f.juliet.ID, bad[0], bad[1]); err == nil {
				t.Errorf("rename %s -> %s succeeded", bad[0], bad[1])
			}
		}
		if err := f.s.DeleteMailbox(f.ctx, f.juliet.ID, "inbox"); !errors.Is(err, ErrMailboxInUse) {
			t.Errorf("delete INBOX: %v", err)
		}
		if err := f.s.SetSubscribed(f.ctx, f.juliet.ID, "Job", false); err != nil {
			t.Fatal(err)
		}
		if m, _ := f.s.Mailbox(f.ctx, f.juliet.ID, "Job"); m.Subscribed {
			t.Error("still subscribed")
		}
		// A deleted user's mail goes with them.
		f.deliver(t, testMessage("bye"), Target{User: f.juliet})
		if err := f.acc.DeleteUser(f.ctx, f.juliet.Address); err != nil {
			t.Fatal(err)
		}
		if ms, _ := f.s.Mailboxes(f.ctx, f.juliet.ID); len(ms) != 0 {
			t.Errorf("mailboxes outlived their user: %v", ms)
		}
		if n, err := f.s.SweepOrphans(f.ctx); err != nil || n != 1 {
			t.Errorf("SweepOrphans = %d, %v; want the deleted user's body", n, err)
		}
		if n, _ := f.s.SweepOrphans(f.ctx); n != 0 || f.bodies(t) != 0 {
			t.Errorf("second sweep removed %d; %d bodies left", n, f.bodies(t))
		}
	})
}

func TestBrokenMIMEStoredAsIs(t *testing.T) {
	f := newFixture(t, dbtest.SQLite(t))
	body := "Subject: =?bogus?x?zz?=\r\nFrom: <<<@@@\r\nContent-Type: multipart/mixed; boundary=\r\nno blank line, no end"
	res := f.deliver(t, body, Target{User: f.juliet})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	_, r, err := f.s.Open(f.ctx, res[0].MailboxID, res[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, _ := io.ReadAll(r); string(got) != body {
		t.Errorf("body changed: %q", got)
	}
	if f.bodies(t) != 1 {
		t.Error("body not stored once")
	}
}

func TestBusOverflow(t *testing.T) {
	b := NewBus()
	s := b.Subscribe(7, 2)
	other := b.Subscribe(8, 2)
	for i := range 5 {
		b.publish(Change{Kind: MessagesAdded, UserID: 7, UIDs: []uint32{uint32(i)}})
	}
	if !s.Overflowed() || s.Overflowed() {
		t.Error("overflow not reported once")
	}
	if len(s.C()) != 2 || len(other.C()) != 0 || other.Overflowed() {
		t.Error("changes went to the wrong subscriber")
	}
	s.Close()
	s.Close()
	b.publish(Change{UserID: 7}) // after Close: must not panic
	n := 0
	for range s.C() {
		n++
	}
	if n != 2 {
		t.Errorf("%d buffered changes after Close, want 2 and then a closed channel", n)
	}
}

// TestConcurrentDelivery: parallel deliveries and flag changes on one
// mailbox give unique, gap-free UIDs, strictly rising MODSEQs and exact
// usage.
func TestConcurrentDelivery(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db)
		const n = 40
		body := testMessage("same")
		var wg sync.WaitGroup
		var mu sync.Mutex
		uids := map[uint32]bool{}
		for range n {
			wg.Go(func() {
				res, err := f.s.Deliver(f.ctx, strings.NewReader(body), DeliverOptions{}, []Target{{User: f.juliet}})
				if err != nil || res[0].Err != nil {
					t.Errorf("deliver: %v %v", err, res)
					return
				}
				mu.Lock()
				uids[res[0].UID] = true
				mu.Unlock()
				f.s.StoreFlags(f.ctx, res[0].MailboxID, []UIDRange{{res[0].UID, res[0].UID}}, FlagsAdd, []string{`\Seen`}, 0)
			})
		}
		wg.Wait()
		for uid := uint32(1); uid <= n; uid++ {
			if !uids[uid] {
				t.Fatalf("UID %d missing: %v", uid, uids)
			}
		}
		box := f.inbox(t, f.juliet)
		msgs, _ := f.s.List(f.ctx, box.ID, AllUIDs, false)
		modseqs := map[uint64]bool{}
		for _, m := range msgs {
			modseqs[m.ModSeq] = true
		}
		if len(msgs) != n || len(modseqs) != n || box.HighestModSeq != 1+2*n || box.UIDNext != n+1 {
			t.Errorf("%d messages, %d distinct MODSEQs, highest %d, uidnext %d", len(msgs), len(modseqs), box.HighestModSeq, box.UIDNext)
		}
		if bytes, count, _ := f.s.Usage(f.ctx, f.juliet.ID); count != n || bytes != int64(n*len(body)) {
			t.Errorf("usage %d bytes, %d messages", bytes, count)
		}
	})
}

// TestConcurrentWrites: deliveries, flag changes, expunges and moves of
// one user, all at once, never deadlock (PostgreSQL reports 40P01 when
// transactions lock the same rows in different orders) and leave the
// usage right.
func TestConcurrentWrites(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db)
		for i := range 20 {
			f.deliver(t, testMessage(fmt.Sprint("seed ", i)), Target{User: f.juliet})
		}
		inbox := f.inbox(t, f.juliet)
		other, err := f.s.CreateMailbox(f.ctx, f.juliet.ID, "Other", "")
		if err != nil {
			t.Fatal(err)
		}
		boxes := []int64{inbox.ID, other.ID}
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Go(func() {
				for i := range 25 {
					box, to := boxes[(g+i)%2], boxes[(g+i+1)%2]
					var err error
					switch (g + i) % 5 {
					case 0:
						_, err = f.s.Deliver(f.ctx, strings.NewReader(testMessage("more")), DeliverOptions{},
							[]Target{{User: f.juliet, Mailbox: []string{"INBOX", "Other"}[i%2]}})
					case 1, 2:
						_, _, err = f.s.StoreFlags(f.ctx, box, AllUIDs, FlagsAdd, []string{`\Deleted`, fmt.Sprint("k", i)}, 0)
					case 3:
						_, err = f.s.Expunge(f.ctx, box, AllUIDs)
					default:
						_, err = f.s.Move(f.ctx, f.juliet, box, []UIDRange{{Start: uint32(i), Stop: 0}}, to)
					}
					if err != nil {
						t.Errorf("goroutine %d, step %d: %v", g, i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		var bytes, count int64
		for _, id := range boxes {
			msgs, err := f.s.List(f.ctx, id, AllUIDs, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				bytes += m.Size
				count++
			}
		}
		if b, c, _ := f.s.Usage(f.ctx, f.juliet.ID); b != bytes || c != count {
			t.Errorf("usage %d bytes, %d messages; the mailboxes hold %d, %d", b, c, bytes, count)
		}
	})
}

func TestDeliverAllOrNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db)
		small := accounts.ByteSize(10)
		f.juliet, _ = f.acc.UpdateUser(f.ctx, f.juliet.Address, accounts.UserUpdate{Quota: &small})
		_, err := f.s.Deliver(f.ctx, strings.NewReader(testMessage("x")), DeliverOptions{AllOrNothing: true},
			[]Target{{User: f.romeo}, {User: f.juliet}})
		if !errors.Is(err, ErrOverQuota) {
			t.Fatalf("err = %v, want ErrOverQuota", err)
		}
		if _, n, _ := f.s.Usage(f.ctx, f.romeo.ID); n != 0 || f.bodies(t) != 0 {
			t.Errorf("half-delivered: romeo has %d messages, %d bodies stored", n, f.bodies(t))
		}
	})
}

// TestEmptySetIsNothing: an empty UID set selects no message, so a caller's
// empty selection never becomes the whole mailbox.
func TestEmptySetIsNothing(t *testing.T) {
	f := newFixture(t, dbtest.SQLite(t))
	f.deliver(t, testMessage("keep"), Target{User: f.juliet, Flags: []string{`\Deleted`}})
	box := f.inbox(t, f.juliet)
	if msgs, _ := f.s.List(f.ctx, box.ID, nil, false); len(msgs) != 0 {
		t.Errorf("List(nil) = %d messages", len(msgs))
	}
	if up, _, _ := f.s.StoreFlags(f.ctx, box.ID, nil, FlagsAdd, []string{`\Seen`}, 0); len(up) != 0 {
		t.Errorf("StoreFlags(nil) changed %d", len(up))
	}
	if gone, _ := f.s.Expunge(f.ctx, box.ID, nil); len(gone) != 0 {
		t.Errorf("Expunge(nil) removed %v", gone)
	}
	archive, _ := f.s.Mailbox(f.ctx, f.juliet.ID, "Archive")
	if pairs, _ := f.s.Move(f.ctx, f.juliet, box.ID, []UIDRange{}, archive.ID); len(pairs) != 0 {
		t.Errorf("Move(empty) moved %v", pairs)
	}
	if msgs, _ := f.s.List(f.ctx, box.ID, AllUIDs, false); len(msgs) != 1 {
		t.Errorf("List(AllUIDs) = %d messages", len(msgs))
	}
	if idx, err := f.s.Index(f.ctx, box.ID, 1); err != nil || len(idx) != 1 || idx[0].UID != 1 || !slices.Equal(idx[0].Flags, []string{`\Deleted`}) {
		t.Errorf("Index = %+v, %v", idx, err)
	}
}
