package imapd

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

// TestTwoSessions: what one session does, another on the same mailbox
// sees on NOOP and while idling, with consistent sequence numbers.
func TestTwoSessions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		e := newEnv(t, db, nil)
		a := e.login(t, "juliet", nil)
		ev, h := newEvents()
		b := e.login(t, "juliet", h)
		if _, err := a.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}

		// On NOOP: EXISTS, FETCH FLAGS, EXPUNGE.
		appendMsg(t, a, "INBOX", simple("Romeo <romeo@montague.example>", "one", "1"), nil)
		appendMsg(t, a, "INBOX", simple("Romeo <romeo@montague.example>", "two", "2"), nil)
		if err := b.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		if n := b.Mailbox().NumMessages; n != 2 {
			t.Fatalf("B sees %d messages after A appended two", n)
		}
		drain(ev.exists)
		if _, err := a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
			t.Fatal(err)
		}
		if err := b.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		f := wait(t, ev.fetch, "FETCH FLAGS on B")
		if f.SeqNum != 1 || !slices.Contains(f.Flags, imap.FlagDeleted) {
			t.Errorf("B got FETCH %d %v", f.SeqNum, f.Flags)
		}
		if _, err := a.Expunge().Collect(); err != nil {
			t.Fatal(err)
		}
		if err := b.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		if seq := wait(t, ev.expunge, "EXPUNGE on B"); seq != 1 {
			t.Errorf("B got EXPUNGE %d", seq)
		}
		if n := b.Mailbox().NumMessages; n != 1 {
			t.Errorf("B sees %d messages after the EXPUNGE", n)
		}
		// B's sequence number 1 is now UID 2.
		if m := fetchOne(t, b, imap.SeqSetNum(1), &imap.FetchOptions{UID: true}); m.UID != 2 {
			t.Errorf("B: message 1 is UID %d, want 2", m.UID)
		}

		// While idling: EXISTS, FETCH, EXPUNGE arrive without a command.
		idle, err := b.Idle()
		if err != nil {
			t.Fatal(err)
		}
		appendMsg(t, a, "INBOX", simple("Romeo <romeo@montague.example>", "three", "3"), nil)
		if n := wait(t, ev.exists, "EXISTS during IDLE"); n != 2 {
			t.Errorf("IDLE: EXISTS %d, want 2", n)
		}
		if _, err := a.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged, imap.FlagDeleted}}, nil).Collect(); err != nil {
			t.Fatal(err)
		}
		if f := wait(t, ev.fetch, "FETCH during IDLE"); f.SeqNum != 2 || !slices.Contains(f.Flags, imap.FlagFlagged) {
			t.Errorf("IDLE: FETCH %d %v", f.SeqNum, f.Flags)
		}
		if _, err := a.Expunge().Collect(); err != nil {
			t.Fatal(err)
		}
		if seq := wait(t, ev.expunge, "EXPUNGE during IDLE"); seq != 2 {
			t.Errorf("IDLE: EXPUNGE %d, want 2", seq)
		}
		if err := idle.Close(); err != nil {
			t.Fatal(err)
		}
		if err := idle.Wait(); err != nil {
			t.Fatal(err)
		}
		if n := b.Mailbox().NumMessages; n != 1 {
			t.Errorf("B sees %d messages after IDLE", n)
		}

		// The session's own STORE answers once, not twice.
		drain(ev.fetch)
		got, err := b.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagAnswered}}, nil).Collect()
		if err != nil || len(got) != 1 {
			t.Errorf("STORE on B = %v, %v", got, err)
		}
		if err := b.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		none(t, ev.fetch, "FETCH echo of B's own STORE")
	})
}

func drain[T any](c chan T) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// TestDeliveryWakesIdle: a message stored the way SMTP delivery stores it
// reaches a client in IDLE.
func TestDeliveryWakesIdle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		e := newEnv(t, db, nil)
		ev, h := newEvents()
		c := e.login(t, "juliet", h)
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		idle, err := c.Idle()
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			body := simple("Friar Laurence <friar@verona.example>", "potion", "Take this vial.")
			res, err := e.st.Deliver(e.ctx, strings.NewReader(body), store.DeliverOptions{}, []store.Target{{User: e.juliet}})
			if err != nil || res[0].Err != nil {
				t.Fatalf("deliver: %v %+v", err, res)
			}
			if n := wait(t, ev.exists, "EXISTS for a delivery"); n != uint32(i) {
				t.Errorf("EXISTS %d, want %d", n, i)
			}
		}
		// A delivery to another user is not announced.
		other := simple("Friar Laurence <friar@verona.example>", "for romeo", "x")
		if _, err := e.st.Deliver(e.ctx, strings.NewReader(other), store.DeliverOptions{}, []store.Target{{User: e.romeo}}); err != nil {
			t.Fatal(err)
		}
		if err := idle.Close(); err != nil {
			t.Fatal(err)
		}
		if err := idle.Wait(); err != nil {
			t.Fatal(err)
		}
		none(t, ev.exists, "EXISTS for romeo's mail")
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
		if err != nil || len(msgs) != 3 || msgs[2].UID != 3 || msgs[2].Envelope.Subject != "potion" {
			t.Errorf("FETCH 1:* after deliveries: %d messages, %v", len(msgs), err)
		}
	})
}

// TestOverflowResync: when the bus drops changes for a user, the selected
// mailboxes are re-read and the sessions still see every change.
func TestOverflowResync(t *testing.T) {
	var log syncBuffer
	e := newEnv(t, dbtest.SQLite(t), nil, logTo(&log))
	c := e.login(t, "juliet", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// Stall the user's feed by holding the mailbox state, deliver more
	// than the feed buffers, then let go.
	e.srv.mu.Lock()
	us := e.srv.users[e.juliet.ID]
	e.srv.mu.Unlock()
	b := us.box(mustMailbox(t, e, "INBOX").ID)
	b.mu.Lock()
	n := changeBuffer + 10
	for i := 0; i < n; i++ {
		if _, err := e.st.Deliver(e.ctx, strings.NewReader(simple("a <a@b.example>", "flood", "x")), store.DeliverOptions{},
			[]store.Target{{User: e.juliet}}); err != nil {
			b.mu.Unlock()
			t.Fatal(err)
		}
	}
	b.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); c.Mailbox().NumMessages != uint32(n); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("client sees %d of %d messages", c.Mailbox().NumMessages, n)
		}
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(log.String(), "change feed overflowed") {
		t.Error("the feed did not overflow; the test proves nothing")
	}
	if m := fetchOne(t, c, imap.SeqSetNum(uint32(n)), &imap.FetchOptions{UID: true}); m.UID != imap.UID(n) {
		t.Errorf("last message has UID %d, want %d", m.UID, n)
	}
}

func mustMailbox(t *testing.T, e *env, name string) store.Mailbox {
	t.Helper()
	m, err := e.st.Mailbox(e.ctx, e.juliet.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
