package imapd

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

// TestIdleBoxes: a mailbox released by its last session stays loaded and
// fed while its user is logged in, up to keepIdle of them, so that
// selecting it again shows what happened meanwhile without a reload.
func TestIdleBoxes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		e := newEnv(t, db, nil)
		c := e.login(t, "juliet", nil)
		for i := range 3 {
			appendMsg(t, c, "INBOX", simple("Romeo <romeo@montague.example>", fmt.Sprint("Message ", i), "Hi."), nil)
		}
		inbox := mustMailbox(t, e, "INBOX")
		selectN := func(name string, wantN uint32) *imap.SelectData {
			t.Helper()
			d, err := c.Select(name, nil).Wait()
			if err != nil || d.NumMessages != wantN {
				t.Fatalf("SELECT %s = %+v, %v; want %d messages", name, d, err, wantN)
			}
			return d
		}
		unselect := func() {
			t.Helper()
			if err := c.Unselect().Wait(); err != nil {
				t.Fatal(err)
			}
		}
		us := e.userState(t)
		idleBox := func(id int64) *box {
			us.mu.Lock()
			defer us.mu.Unlock()
			if b := us.boxes[id]; b != nil && b.refs == 0 && slices.Contains(us.idle, b) {
				return b
			}
			return nil
		}
		// waitBox waits until the feed has brought b to what ok checks.
		waitBox := func(b *box, what string, ok func(b *box) bool) {
			t.Helper()
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				b.mu.Lock()
				done := ok(b)
				b.mu.Unlock()
				if done {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("idle box: no %s", what)
				}
			}
		}

		selectN("INBOX", 3)
		unselect()
		b := idleBox(inbox.ID)
		if b == nil {
			t.Fatal("INBOX was not kept after UNSELECT")
		}
		// While idle: a delivery, a keyword and an expunge.
		if _, err := e.st.Deliver(e.ctx, strings.NewReader(simple("Nurse <nurse@capulet.example>", "Anon", "Anon!")), store.DeliverOptions{},
			[]store.Target{{User: e.juliet}}); err != nil {
			t.Fatal(err)
		}
		waitBox(b, "delivery", func(b *box) bool { return len(b.msgs) == 4 })
		if _, _, err := e.st.StoreFlags(e.ctx, inbox.ID, []store.UIDRange{{Start: 1, Stop: 2}}, store.FlagsAdd, []string{"$Junk", `\Deleted`}, 0); err != nil {
			t.Fatal(err)
		}
		waitBox(b, "keyword", func(b *box) bool { return b.keywords["$Junk"] })
		if _, err := e.st.Expunge(e.ctx, inbox.ID, store.AllUIDs); err != nil {
			t.Fatal(err)
		}
		waitBox(b, "expunge", func(b *box) bool { return len(b.msgs) == 2 })
		d := selectN("INBOX", 2)
		if d.UIDNext != 5 || !slices.Contains(d.Flags, "$Junk") {
			t.Errorf("SELECT INBOX after changes while idle: %+v", d)
		}
		us.mu.Lock()
		same := us.boxes[inbox.ID] == b
		us.mu.Unlock()
		if !same {
			t.Error("SELECT INBOX loaded the mailbox again")
		}
		if uids := search(t, c, true, &imap.SearchCriteria{}); uids != "3:4" {
			t.Errorf("UID SEARCH ALL = %q", uids)
		}
		unselect()

		// Only the keepIdle most recently released stay.
		names := []string{"Sent", "Drafts", "Trash", "Junk"}
		for _, name := range names {
			selectN(name, 0)
			unselect()
		}
		if idleBox(inbox.ID) != nil {
			t.Errorf("INBOX still kept after %d other mailboxes", len(names))
		}
		for _, name := range names {
			if idleBox(mustMailbox(t, e, name).ID) == nil {
				t.Errorf("%s not kept", name)
			}
		}
		// A deleted mailbox is not kept.
		if err := c.Create("Old", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		old := mustMailbox(t, e, "Old")
		selectN("Old", 0)
		unselect()
		if idleBox(old.ID) == nil {
			t.Fatal("Old not kept")
		}
		if err := c.Delete("Old").Wait(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); idleBox(old.ID) != nil; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("a deleted mailbox is still kept")
			}
		}
	})
}

// userState returns juliet's shared state; she must be logged in.
func (e *env) userState(t *testing.T) *userState {
	t.Helper()
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	us := e.srv.users[e.juliet.ID]
	if us == nil {
		t.Fatal("juliet is not logged in")
	}
	return us
}
