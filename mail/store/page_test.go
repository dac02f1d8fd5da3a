package store

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

func pageMessage(from, subject string, body int) string {
	return fmt.Sprintf("From: %s\r\nTo: Juliet <juliet@capulet.example>\r\nSubject: %s\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\n%s\r\n",
		from, subject, strings.Repeat("x", body))
}

func subjects(ms []Message) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Subject)
	}
	return strings.Join(s, ",")
}

func TestPage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db)
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		msgs := []struct{ from, subject string }{
			{"Benvolio <ben@montague.example>", "banana"},
			{"alice@example.org", "Apple pie"},
			{"Zed <z@example.org>", "cherry 100%"},
			{"Mercutio <merc@example.org>", "Date_night"},
			{"ÉLODIE <elodie@example.fr>", "éclair"},
		}
		for i, m := range msgs {
			_, err := f.s.Deliver(f.ctx, strings.NewReader(pageMessage(m.from, m.subject, i*100)),
				DeliverOptions{InternalDate: base.Add(time.Duration(i) * time.Hour)}, []Target{{User: f.juliet}})
			if err != nil {
				t.Fatal(err)
			}
		}
		// One of romeo's, which juliet's pages never show.
		f.deliver(t, pageMessage("x@example.org", "banana split", 1), Target{User: f.romeo})
		inbox := f.inbox(t, f.juliet)
		if _, _, err := f.s.StoreFlags(f.ctx, inbox.ID, []UIDRange{{1, 2}}, FlagsAdd, []string{`\Seen`}, 0); err != nil {
			t.Fatal(err)
		}
		for i, tc := range []struct {
			q     PageQuery
			want  string
			total int
		}{
			{PageQuery{}, "banana,Apple pie,cherry 100%,Date_night,éclair", 5},
			{PageQuery{Desc: true, Limit: 2}, "éclair,Date_night", 5},
			{PageQuery{Desc: true, Limit: 2, Offset: 4}, "banana", 5},
			{PageQuery{Offset: 5}, "", 5},
			{PageQuery{Sort: SortSubject}, "Apple pie,banana,cherry 100%,Date_night,éclair", 5},
			{PageQuery{Sort: SortFrom, Desc: true}, "éclair,cherry 100%,Date_night,banana,Apple pie", 5},
			{PageQuery{Sort: SortSize, Desc: true, Limit: 1}, "éclair", 5},
			{PageQuery{Sort: SortTo, Limit: 1}, "banana", 5},
			{PageQuery{Search: "BANANA"}, "banana", 1},
			{PageQuery{Search: "montague"}, "banana", 1},                 // From
			{PageQuery{Search: "juliet@capulet", Limit: 1}, "banana", 5}, // To
			{PageQuery{Search: "100%"}, "cherry 100%", 1},                // % is literal
			{PageQuery{Search: "e_n"}, "Date_night", 1},                  // _ is literal
			{PageQuery{Search: "nothing like it"}, "", 0},                //
			{PageQuery{Unseen: true}, "cherry 100%,Date_night,éclair", 3},
			{PageQuery{Unseen: true, Search: "a"}, "cherry 100%,Date_night,éclair", 3},
		} {
			got, total, err := f.s.Page(f.ctx, inbox.ID, tc.q)
			if err != nil {
				t.Fatalf("%d: %v", i, err)
			}
			if subjects(got) != tc.want || total != tc.total {
				t.Errorf("%d %+v: got %q (%d), want %q (%d)", i, tc.q, subjects(got), total, tc.want, tc.total)
			}
		}
		if _, _, err := f.s.Page(f.ctx, inbox.ID, PageQuery{Sort: "uid; DROP TABLE messages"}); err == nil {
			t.Error("unknown sort accepted")
		}

		counts, err := f.s.MailboxCounts(f.ctx, f.juliet.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(counts) != len(DefaultMailboxes) {
			t.Fatalf("counts: %+v", counts)
		}
		for _, c := range counts {
			want := [2]int{}
			if c.Name == "INBOX" {
				want = [2]int{5, 3}
			}
			if [2]int{c.Messages, c.Unseen} != want || c.UserID != f.juliet.ID {
				t.Errorf("%s: %d messages, %d unseen; want %v", c.Name, c.Messages, c.Unseen, want)
			}
		}
	})
}

// BenchmarkPage10k pages a 10,000-message mailbox by date, newest first.
func BenchmarkPage10k(b *testing.B) {
	f := newBenchFixture(b)
	if err := f.s.EnsureDefaults(f.ctx, f.juliet.ID); err != nil {
		b.Fatal(err)
	}
	inbox, _ := f.s.Mailbox(f.ctx, f.juliet.ID, "INBOX")
	fillMailbox(b, f, inbox.ID, 10000)
	b.ResetTimer()
	for b.Loop() {
		if ms, total, err := f.s.Page(f.ctx, inbox.ID, PageQuery{Desc: true, Limit: 50}); err != nil || len(ms) != 50 || total != 10000 {
			b.Fatal(len(ms), total, err)
		}
	}
}

// fillMailbox inserts n rows sharing one body, straight into the table.
func fillMailbox(b *testing.B, f *fixture, mailboxID int64, n int) {
	res, err := f.s.Deliver(f.ctx, strings.NewReader(pageMessage("a@example.org", "seed", 10)), DeliverOptions{}, []Target{{User: f.juliet}})
	if err != nil {
		b.Fatal(err)
	}
	var body int64
	if err := f.s.db.QueryRowContext(f.ctx, "SELECT body_id FROM messages WHERE mailbox_id = $1 AND uid = $2", mailboxID, res[0].UID).Scan(&body); err != nil {
		b.Fatal(err)
	}
	err = f.s.db.Tx(f.ctx, func(tx *sql.Tx) error {
		for i := 2; i <= n; i++ {
			if _, err := tx.ExecContext(f.ctx, `INSERT INTO messages (mailbox_id, uid, modseq, body_id, size, internal_date, subject, from_addr, to_addr)
				VALUES ($1, $2, 1, $3, $4, $5, $6, $7, 'juliet@capulet.example')`, mailboxID, i, body, 100+i%5000, 1700000000+i*60,
				fmt.Sprintf("subject %d", i), fmt.Sprintf("sender%d@example.org", i%97)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkMailboxCounts10k counts a user's folders, one of 10,000 messages.
func BenchmarkMailboxCounts10k(b *testing.B) {
	f := newBenchFixture(b)
	if err := f.s.EnsureDefaults(f.ctx, f.juliet.ID); err != nil {
		b.Fatal(err)
	}
	inbox, _ := f.s.Mailbox(f.ctx, f.juliet.ID, "INBOX")
	fillMailbox(b, f, inbox.ID, 10000)
	b.ResetTimer()
	for b.Loop() {
		if sts, err := f.s.MailboxCounts(f.ctx, f.juliet.ID); err != nil || len(sts) != len(DefaultMailboxes) {
			b.Fatal(len(sts), err)
		}
	}
}
