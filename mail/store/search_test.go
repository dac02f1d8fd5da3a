package store

import (
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

// searchMessages are the messages of TestSearchHeader, UIDs 1 to 4.
var searchMessages = []string{
	"From: =?utf-8?q?J=C3=BCrgen_Stra=C3=9Fe?= <JUERGEN@Example.ORG>\r\nTo: a@x.example, b@y.example\r\n" +
		"Cc: Nurse <nurse@capulet.example>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=96LN?=\r\n\r\nHallo.\r\n",
	"From: a@x.example, Romeo <romeo@montague.example>\r\nTo: juliet@capulet.example\r\nSubject: Balcony\r\n\r\nYonder.\r\n",
	"From: friar@verona.example\r\n\r\nNo subject, no To.\r\n",
	"From: =?utf-8?q?Tybalt_Capulet?= <tybalt@capulet.example>\r\nTo: juliet@capulet.example\r\n" +
		"Bcc: Romeo <romeo@montague.example>\r\nSubject: Duel\r\n\r\nDraw!\r\n",
}

func TestSearchHeader(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db)
		for _, m := range searchMessages {
			f.deliver(t, m, Target{User: f.juliet})
		}
		inbox := f.inbox(t, f.juliet)
		cases := []struct {
			field  HeaderField
			needle string
			want   []uint32
		}{
			{HeaderFrom, "jürgen", []uint32{1}},
			{HeaderFrom, "JÜRGEN", []uint32{1}},
			{HeaderFrom, "straße <juergen@example.org>", []uint32{1}},
			{HeaderFrom, "romeo", []uint32{2}}, // the second From address
			{HeaderFrom, "Tybalt Capulet", []uint32{4}},
			{HeaderFrom, "@", []uint32{1, 2, 3, 4}},
			{HeaderFrom, "", []uint32{1, 2, 3, 4}},
			{HeaderFrom, "x.example>\nromeo", nil}, // two addresses do not make one value
			{HeaderFrom, "montague.example>", []uint32{2}},
			{HeaderTo, "", []uint32{1, 2, 4}},
			{HeaderTo, "B@Y", []uint32{1}},
			{HeaderCc, "nurse", []uint32{1}},
			{HeaderBcc, "romeo", []uint32{4}},
			{HeaderBcc, "", []uint32{4}},
			{HeaderSubject, "", []uint32{1, 2, 4}},
			{HeaderSubject, "köln", []uint32{1}},
			{HeaderSubject, "GRÜßE", []uint32{1}},
			{HeaderSubject, "a", []uint32{1, 2}},
			{HeaderSubject, "nothing", nil},
		}
		check := func(t *testing.T, mailboxID int64, uids []uint32) {
			t.Helper()
			for _, c := range cases {
				got, err := f.s.SearchHeader(f.ctx, mailboxID, c.field, c.needle)
				var want []uint32
				for _, i := range c.want {
					want = append(want, uids[i-1])
				}
				if err != nil || !slices.Equal(got, want) {
					t.Errorf("SearchHeader(%s, %q) = %v, %v; want %v", c.field, c.needle, got, err, want)
				}
			}
		}
		check(t, inbox.ID, []uint32{1, 2, 3, 4})

		// Copies keep their search forms.
		trash, err := f.s.Mailbox(f.ctx, f.juliet.ID, "Trash")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Copy(f.ctx, f.juliet, inbox.ID, AllUIDs, trash.ID); err != nil {
			t.Fatal(err)
		}
		check(t, trash.ID, []uint32{1, 2, 3, 4})

		// Messages stored before migration 0009 have no search forms:
		// they are matched from their cached envelope and subject, and so
		// are their copies.
		err = db.Tx(f.ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(f.ctx, `UPDATE messages SET search_from = NULL, search_to = NULL, search_cc = NULL,
				search_bcc = NULL, search_subject = NULL WHERE mailbox_id = $1 AND uid IN (1, 2)`, inbox.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		check(t, inbox.ID, []uint32{1, 2, 3, 4})
		archive, err := f.s.Mailbox(f.ctx, f.juliet.ID, "Archive")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Move(f.ctx, f.juliet, inbox.ID, AllUIDs, archive.ID); err != nil {
			t.Fatal(err)
		}
		check(t, archive.ID, []uint32{1, 2, 3, 4})

		if _, err := f.s.SearchHeader(f.ctx, inbox.ID, "message-id", "x"); err == nil {
			t.Error("SearchHeader on Message-ID: no error")
		}
	})
}

// TestFillSearchForms: messages from before migration 0009 get the forms a
// delivery would have written, in batches, through the partial index.
func TestFillSearchForms(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db)
		for _, m := range searchMessages {
			f.deliver(t, m, Target{User: f.juliet})
		}
		forms := func() []string {
			var out []string
			rows, err := db.QueryContext(f.ctx, `SELECT COALESCE(search_from, 'NULL') || '|' || COALESCE(search_to, 'NULL') || '|' ||
				COALESCE(search_cc, 'NULL') || '|' || COALESCE(search_bcc, 'NULL') || '|' || COALESCE(search_subject, 'NULL')
				FROM messages ORDER BY id`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				out = append(out, s)
			}
			return out
		}
		delivered := forms()
		if !strings.Contains(delivered[0], "jürgen straße <juergen@example.org>|") {
			t.Errorf("forms at delivery: %q", delivered[0])
		}
		err := db.Tx(f.ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(f.ctx, `UPDATE messages SET search_from = NULL, search_to = NULL, search_cc = NULL,
				search_bcc = NULL, search_subject = NULL`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []int{3, 1, 0} {
			if n, err := f.s.fillSearchForms(f.ctx, 3); n != want || err != nil {
				t.Errorf("fillSearchForms = %d, %v; want %d", n, err, want)
			}
		}
		if got := forms(); !slices.Equal(got, delivered) {
			t.Errorf("filled forms\n%q\nwant those of the delivery\n%q", got, delivered)
		}
		if n, err := f.s.FillSearchForms(f.ctx); n != 0 || err != nil {
			t.Errorf("FillSearchForms with none left = %d, %v", n, err)
		}
	})
}

func TestCachedField(t *testing.T) {
	for _, c := range []struct {
		name string
		want HeaderField
	}{{"From", HeaderFrom}, {"TO", HeaderTo}, {"cC", HeaderCc}, {"bcc", HeaderBcc}, {"Subject", HeaderSubject}, {"Message-ID", ""}, {"", ""}} {
		got, ok := CachedField(c.name)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("CachedField(%q) = %q, %v", c.name, got, ok)
		}
	}
}

func TestLoadIndex(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		f := newFixture(t, db)
		for i := range 7 {
			f.deliver(t, testMessage(fmt.Sprint("message ", i)), Target{User: f.juliet})
		}
		inbox := f.inbox(t, f.juliet)
		// No keywords yet, only system flags.
		if _, _, err := f.s.StoreFlags(f.ctx, inbox.ID, []UIDRange{{1, 3}}, FlagsAdd, []string{`\Seen`, `\Answered`}, 0); err != nil {
			t.Fatal(err)
		}
		if _, kws, err := f.s.LoadIndex(f.ctx, inbox.ID); err != nil || len(kws) != 0 {
			t.Errorf("keywords %q, %v; want none", kws, err)
		}
		for _, s := range []struct {
			uid   uint32
			flags []string
		}{{2, []string{"$Forwarded"}}, {3, []string{"junk"}}, {5, []string{"$Forwarded", "NonJunk", `\Flagged`}}} {
			if _, _, err := f.s.StoreFlags(f.ctx, inbox.ID, []UIDRange{{s.uid, s.uid}}, FlagsAdd, s.flags, 0); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := f.s.StoreFlags(f.ctx, inbox.ID, []UIDRange{{4, 4}, {7, 7}}, FlagsAdd, []string{`\Deleted`}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Expunge(f.ctx, inbox.ID, AllUIDs); err != nil {
			t.Fatal(err)
		}
		want, err := f.s.Index(f.ctx, inbox.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		got, kws, err := f.s.LoadIndex(f.ctx, inbox.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || len(got) != 5 {
			t.Fatalf("%d messages, want %d: %v", len(got), len(want), got)
		}
		for i, m := range want {
			if got[i].UID != m.UID || got[i].ModSeq != m.ModSeq {
				t.Errorf("message %d: %+v, want UID %d MODSEQ %d", i, got[i], m.UID, m.ModSeq)
			}
		}
		if !slices.Equal(kws, []string{"$Forwarded", "NonJunk", "junk"}) {
			t.Errorf("keywords %q", kws)
		}
		empty, err := f.s.Mailbox(f.ctx, f.juliet.ID, "Drafts")
		if err != nil {
			t.Fatal(err)
		}
		if got, kws, err := f.s.LoadIndex(f.ctx, empty.ID); err != nil || len(got) != 0 || len(kws) != 0 {
			t.Errorf("empty mailbox: %v %q %v", got, kws, err)
		}
	})
}

func TestEachNumber(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []uint64
	}{
		{"[]", nil}, {" [ ] ", nil}, {"[7]", []uint64{7}}, {"[1,2,3]", []uint64{1, 2, 3}}, {"[1, 20, 300]", []uint64{1, 20, 300}},
		{"[18446744073709551615]", []uint64{math.MaxUint64}},
	} {
		var got []uint64
		if err := eachNumber(c.in, func(v uint64) error { got = append(got, v); return nil }); err != nil || !slices.Equal(got, c.want) {
			t.Errorf("eachNumber(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "1,2", "[1,2", "[1,,2]", "[,]", "[-1]", "[1.5]", "[18446744073709551616]", `["1"]`, "[null]"} {
		if err := eachNumber(in, func(uint64) error { return nil }); err == nil {
			t.Errorf("eachNumber(%q): no error", in)
		}
	}
}

// fillSearchable inserts n rows sharing one body straight into the table,
// with search forms as a delivery writes them: every fourth from Romeo,
// every third \Seen, and one keyword.
func fillSearchable(b *testing.B, f *fixture, mailboxID int64, n int) {
	res, err := f.s.Deliver(f.ctx, strings.NewReader(testMessage("seed")), DeliverOptions{}, []Target{{User: f.juliet}})
	if err != nil {
		b.Fatal(err)
	}
	var body int64
	if err := f.s.db.QueryRowContext(f.ctx, "SELECT body_id FROM messages WHERE mailbox_id = $1 AND uid = $2", mailboxID, res[0].UID).Scan(&body); err != nil {
		b.Fatal(err)
	}
	froms := []string{"tybalt <tybalt@capulet.example>", "romeo <romeo@montague.example>", " <nurse@capulet.example>", " <friar@verona.example>"}
	err = f.s.db.Tx(f.ctx, func(tx *sql.Tx) error {
		for i := 2; i <= n; i++ {
			flags := map[bool]string{true: `\Seen`}[i%3 == 0]
			if i == n/2 {
				flags = "$Forwarded"
			}
			if _, err := tx.ExecContext(f.ctx, `INSERT INTO messages (mailbox_id, uid, modseq, body_id, size, internal_date, flags, subject,
				from_addr, to_addr, search_from, search_to, search_cc, search_bcc, search_subject)
				VALUES ($1, $2, $2, $3, 1000, $4, $5, $6, $7, 'juliet@capulet.example', $7, ' <juliet@capulet.example>', '', '', lower($6))`,
				mailboxID, i, body, 1700000000+i*60, flags, fmt.Sprintf("Message %d about %s", i, []string{"love", "war", "wine", "plague"}[i%4]),
				froms[i%4]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLoadIndex100k: what IMAP SELECT reads from a 100,000-message
// mailbox.
func BenchmarkLoadIndex100k(b *testing.B) {
	f := newBenchFixture(b)
	if err := f.s.EnsureDefaults(f.ctx, f.juliet.ID); err != nil {
		b.Fatal(err)
	}
	inbox, _ := f.s.Mailbox(f.ctx, f.juliet.ID, "INBOX")
	fillSearchable(b, f, inbox.ID, 100000)
	b.ResetTimer()
	for b.Loop() {
		if ms, kws, err := f.s.LoadIndex(f.ctx, inbox.ID); err != nil || len(ms) != 100000 || len(kws) != 1 {
			b.Fatal(len(ms), kws, err)
		}
	}
}

// BenchmarkSearchHeader100k: IMAP SEARCH FROM and SUBJECT on a
// 100,000-message mailbox, each matching a quarter of it.
func BenchmarkSearchHeader100k(b *testing.B) {
	f := newBenchFixture(b)
	if err := f.s.EnsureDefaults(f.ctx, f.juliet.ID); err != nil {
		b.Fatal(err)
	}
	inbox, _ := f.s.Mailbox(f.ctx, f.juliet.ID, "INBOX")
	fillSearchable(b, f, inbox.ID, 100000)
	for _, c := range []struct {
		field  HeaderField
		needle string
		want   int
	}{{HeaderFrom, "Romeo", 24999}, {HeaderSubject, "plague", 25000}} {
		b.Run(string(c.field), func(b *testing.B) {
			for b.Loop() {
				if uids, err := f.s.SearchHeader(f.ctx, inbox.ID, c.field, c.needle); err != nil || len(uids) != c.want {
					b.Fatal(len(uids), err)
				}
			}
		})
	}
}
