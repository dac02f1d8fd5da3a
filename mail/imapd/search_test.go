package imapd

import (
	"database/sql"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

// TestSearchCachedHeaders: keys on From, To, Cc, Bcc and Subject are
// matched by the store; alone or with other keys that need no message row,
// no row is read. Both paths must agree, also on a message that is gone
// from the store but still in the session's view.
func TestSearchCachedHeaders(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		e := newEnv(t, db, nil)
		c := e.login(t, "juliet", nil)
		for _, m := range []string{
			simple("Romeo <romeo@montague.example>", "Balcony", "By yonder window."),
			simple("Tybalt <tybalt@capulet.example>", "Duel", "Draw!"),
			simple("ROMEO <romeo@montague.example>", "Farewell", "Parting is such sweet sorrow."),
			simple("Nurse <nurse@capulet.example>", "Romeo's letter", "Anon!"),
		} {
			appendMsg(t, c, "INBOX", m, nil)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		hdr := func(kv ...string) []imap.SearchCriteriaHeaderField {
			var out []imap.SearchCriteriaHeaderField
			for i := 0; i < len(kv); i += 2 {
				out = append(out, imap.SearchCriteriaHeaderField{Key: kv[i], Value: kv[i+1]})
			}
			return out
		}
		cases := []struct {
			name string
			uid  bool
			crit imap.SearchCriteria
			want string
		}{
			{"FROM", false, imap.SearchCriteria{Header: hdr("From", "romeo")}, "1,3"},
			{"FROM SUBJECT", false, imap.SearchCriteria{Header: hdr("FROM", "Romeo", "subject", "FAREWELL")}, "3"},
			{"FROM SEEN", false, imap.SearchCriteria{Header: hdr("From", "romeo"), Flag: []imap.Flag{imap.FlagSeen}}, "3"},
			{"FROM UNSEEN", false, imap.SearchCriteria{Header: hdr("From", "romeo"), NotFlag: []imap.Flag{imap.FlagSeen}}, "1"},
			{"NOT FROM", false, imap.SearchCriteria{Not: []imap.SearchCriteria{{Header: hdr("From", "romeo")}}}, "2,4"},
			{"OR FROM SUBJECT", false, imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Header: hdr("From", "tybalt")}, {Header: hdr("Subject", "romeo")}}}}, "2,4"},
			{"FROM UID", true, imap.SearchCriteria{Header: hdr("From", "romeo"), UID: []imap.UIDSet{{{Start: 2, Stop: 0}}}}, "3"},
			{"FROM TO", false, imap.SearchCriteria{Header: hdr("From", "capulet", "To", "juliet <")}, "2,4"},
			{"FROM empty", false, imap.SearchCriteria{Header: hdr("From", "")}, "1:4"},
			{"CC empty", false, imap.SearchCriteria{Header: hdr("Cc", "")}, ""},
			{"SUBJECT HEADER", false, imap.SearchCriteria{Header: hdr("Subject", "romeo", "Message-ID", "letter@")}, "4"},
			{"FROM BODY", false, imap.SearchCriteria{Header: hdr("From", "romeo"), Body: []string{"sorrow"}}, "3"},
		}
		for _, tc := range cases {
			if got := search(t, c, tc.uid, &tc.crit); got != tc.want {
				t.Errorf("SEARCH %s = %q, want %q", tc.name, got, tc.want)
			}
		}

		// Message 1 goes from the store behind the server's back: the
		// session still lists it, and neither path may report it.
		err := db.Tx(e.ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(e.ctx, "DELETE FROM messages WHERE uid = 1")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			crit imap.SearchCriteria
			want string
		}{
			{"FROM", imap.SearchCriteria{Header: hdr("From", "romeo")}, "3"},
			{"NOT FROM", imap.SearchCriteria{Not: []imap.SearchCriteria{{Header: hdr("From", "tybalt")}}}, "3:4"},
		} {
			if got := search(t, c, false, &tc.crit); got != tc.want {
				t.Errorf("SEARCH %s after message 1 went = %q, want %q", tc.name, got, tc.want)
			}
		}
	})
}
