package store

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

// TestImport: a batch goes in, in order, with its dates and flags; a
// refused message stops the batch and leaves no body behind.
func TestImport(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db)
		spool := func(body string) *Spooled {
			sp, err := f.s.Spool(strings.NewReader(body), 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sp.Close() })
			return sp
		}
		when := time.Date(2020, 2, 2, 12, 0, 0, 0, time.UTC)
		msgs := []ImportMessage{
			{Body: spool(testMessage("one")), InternalDate: when, Flags: []string{`\Seen`}},
			{Body: spool(testMessage("two")), Mailbox: "Old/2020", Flags: []string{"$Label1"}},
			{Body: spool("Subject: no date\r\n\r\nx\r\n")},
			{Body: spool(testMessage("three"))},
		}
		n, err := f.s.Import(f.ctx, f.juliet, msgs)
		if n != 4 || err != nil {
			t.Fatalf("Import = %d, %v", n, err)
		}
		inbox := f.inbox(t, f.juliet)
		list, err := f.s.List(f.ctx, inbox.ID, AllUIDs, false)
		if err != nil || len(list) != 3 {
			t.Fatalf("INBOX: %v, %v", list, err)
		}
		if list[0].Subject != "one" || !list[0].InternalDate.Equal(when) || strings.Join(list[0].Flags, " ") != `\Seen` ||
			list[2].Subject != "three" || !list[2].InternalDate.Equal(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)) ||
			time.Since(list[1].InternalDate) > time.Minute {
			t.Errorf("INBOX = %+v", list)
		}
		old, err := f.s.Mailbox(f.ctx, f.juliet.ID, "Old/2020")
		if err != nil {
			t.Fatal(err)
		}
		m, body, err := f.s.Open(f.ctx, old.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(body)
		body.Close()
		if string(b) != testMessage("two") || strings.Join(m.Flags, " ") != "$Label1" {
			t.Errorf("Old/2020: %q %v", b, m.Flags)
		}

		// Over quota in the middle: the first goes in, the rest not.
		bytes, _, _ := f.s.Usage(f.ctx, f.juliet.ID)
		quota := accounts.ByteSize(bytes + int64(len(testMessage("four"))) + 1)
		f.juliet, _ = f.acc.UpdateUser(f.ctx, f.juliet.Address, accounts.UserUpdate{Quota: &quota})
		before := f.bodies(t)
		n, err = f.s.Import(f.ctx, f.juliet, []ImportMessage{
			{Body: spool(testMessage("four"))}, {Body: spool(testMessage("five"))}, {Body: spool(testMessage("six"))},
		})
		var ie *ImportError
		if n != 1 || !errors.Is(err, ErrOverQuota) || !errors.As(err, &ie) || ie.Index != 1 {
			t.Fatalf("Import over quota = %d, %v", n, err)
		}
		if got := f.bodies(t); got != before+1 {
			t.Errorf("bodies: %d, want %d (the refused one's body must go)", got, before+1)
		}

		// An invalid flag is refused the same way.
		n, err = f.s.Import(f.ctx, f.romeo, []ImportMessage{{Body: spool("Subject: x\r\n\r\n"), Flags: []string{`\Bogus`}}})
		if n != 0 || !errors.Is(err, ErrInvalidKeyword) {
			t.Errorf("Import with a bad flag = %d, %v", n, err)
		}
	})
}
