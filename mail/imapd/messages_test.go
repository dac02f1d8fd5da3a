package imapd

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

var multipart = strings.ReplaceAll(`From: Tybalt Capulet <tybalt@capulet.example>
To: Juliet <juliet@capulet.example>, Nurse <nurse@capulet.example>
Cc: Romeo <romeo@montague.example>
Subject: =?utf-8?q?Caf=C3=A9_tonight?=
Date: Sat, 21 Nov 2026 10:00:00 +0100
Message-ID: <cafe.1@capulet.example>
In-Reply-To: <earlier@capulet.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

Meet me at the balcony.
--b1
Content-Type: application/octet-stream; name="poison.bin"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="poison.bin"

AAECAwQ=
--b1--
`, "\n", "\r\n")

func fetchOne(t *testing.T, c *imapclient.Client, set imap.NumSet, opt *imap.FetchOptions) *imapclient.FetchMessageBuffer {
	t.Helper()
	msgs, err := c.Fetch(set, opt).Collect()
	if err != nil {
		t.Fatalf("FETCH %v: %v", set, err)
	}
	if len(msgs) != 1 {
		t.Fatalf("FETCH %v: %d messages", set, len(msgs))
	}
	return msgs[0]
}

func search(t *testing.T, c *imapclient.Client, uid bool, crit *imap.SearchCriteria) string {
	t.Helper()
	var cmd *imapclient.SearchCommand
	if uid {
		cmd = c.UIDSearch(crit, nil)
	} else {
		cmd = c.Search(crit, nil)
	}
	d, err := cmd.Wait()
	if err != nil {
		t.Fatalf("SEARCH %+v: %v", crit, err)
	}
	if d.All == nil {
		return ""
	}
	return d.All.String()
}

func TestMessages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		e := newEnv(t, db, nil)
		c := e.login(t, "juliet", nil)
		date := time.Date(2026, 11, 22, 8, 30, 0, 0, time.FixedZone("", 3600))
		if uid := appendMsg(t, c, "INBOX", multipart, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagFlagged}, Time: date}); uid != 1 {
			t.Fatalf("APPENDUID %d", uid)
		}
		sel, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if sel.NumMessages != 1 || sel.UIDNext != 2 || sel.UIDValidity == 0 ||
			!slices.Contains(sel.Flags, imap.FlagSeen) || !slices.Contains(sel.PermanentFlags, imap.FlagWildcard) {
			t.Errorf("SELECT = %+v", sel)
		}

		subject := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}
		whole := &imap.FetchItemBodySection{Peek: true}
		part1 := &imap.FetchItemBodySection{Part: []int{1}, Peek: true}
		partial := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 6, Size: 6}}
		m := fetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true,
			Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
			BodySection:   []*imap.FetchItemBodySection{whole, subject, part1, partial},
			BinarySection: []*imap.FetchItemBinarySection{{Part: []int{2}, Peek: true}}})
		if m.UID != 1 || !slices.Equal(m.Flags, []imap.Flag{imap.FlagFlagged}) || m.RFC822Size != int64(len(multipart)) ||
			!m.InternalDate.Equal(date) {
			t.Errorf("UID %d FLAGS %v SIZE %d INTERNALDATE %v", m.UID, m.Flags, m.RFC822Size, m.InternalDate)
		}
		env := m.Envelope
		if env == nil || env.Subject != "Café tonight" || len(env.From) != 1 || env.From[0].Addr() != "tybalt@capulet.example" ||
			env.From[0].Name != "Tybalt Capulet" || len(env.To) != 2 || len(env.Cc) != 1 || env.MessageID != "cafe.1@capulet.example" ||
			!slices.Equal(env.InReplyTo, []string{"earlier@capulet.example"}) || len(env.Sender) != 1 ||
			!env.Date.Equal(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)) {
			t.Errorf("ENVELOPE %+v", env)
		}
		if got := m.FindBodySection(whole); string(got) != multipart {
			t.Errorf("BODY[] differs from what was appended:\n%q", got)
		}
		if got := string(m.FindBodySection(subject)); got != "Subject: =?utf-8?q?Caf=C3=A9_tonight?=\r\n\r\n" {
			t.Errorf("BODY[HEADER.FIELDS (SUBJECT)] = %q", got)
		}
		if got := string(m.FindBodySection(part1)); got != "Meet me at the balcony." {
			t.Errorf("BODY[1] = %q", got)
		}
		if got := string(m.FindBodySection(partial)); got != multipart[6:12] {
			t.Errorf("BODY[]<6.6> = %q", got)
		}
		if len(m.BinarySection) != 1 || !bytes.Equal(m.BinarySection[0].Bytes, []byte{0, 1, 2, 3, 4}) {
			t.Errorf("BINARY[2] = %+v", m.BinarySection)
		}
		bs, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
		if !ok || bs.Subtype != "mixed" || len(bs.Children) != 2 {
			t.Fatalf("BODYSTRUCTURE %#v", m.BodyStructure)
		}
		text, _ := bs.Children[0].(*imap.BodyStructureSinglePart)
		att, _ := bs.Children[1].(*imap.BodyStructureSinglePart)
		if text == nil || text.MediaType() != "text/plain" || att == nil || att.MediaType() != "application/octet-stream" ||
			att.Encoding != "base64" || att.Disposition() == nil || att.Disposition().Value != "attachment" {
			t.Errorf("BODYSTRUCTURE parts %#v %#v", text, att)
		}

		// BODY[TEXT] without PEEK sets \Seen and reports it.
		m = fetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierText}}})
		if !slices.Contains(m.Flags, imap.FlagSeen) {
			t.Errorf("FETCH BODY[TEXT] flags %v, want \\Seen", m.Flags)
		}

		// Three more: 2 from Romeo, 3 from Tybalt, 4 from Romeo.
		appendMsg(t, c, "INBOX", simple("Romeo <romeo@montague.example>", "Balcony", "By yonder window."), nil)
		appendMsg(t, c, "INBOX", simple("Tybalt <tybalt@capulet.example>", "Duel", strings.Repeat("Draw! ", 500)), nil)
		appendMsg(t, c, "INBOX", simple("Romeo <romeo@montague.example>", "Farewell", "Parting is such sweet sorrow."), nil)
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		if n := c.Mailbox().NumMessages; n != 4 {
			t.Fatalf("EXISTS %d after three APPENDs, want 4", n)
		}

		// STORE.
		got, err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted, "$Important"}}, nil).Collect()
		if err != nil || len(got) != 1 || got[0].SeqNum != 2 || !slices.Contains(got[0].Flags, imap.FlagDeleted) || !slices.Contains(got[0].Flags, "$Important") {
			t.Errorf("STORE +FLAGS = %+v, %v", got, err)
		}
		got, err = c.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagAnswered}}, nil).Collect()
		if err != nil || len(got) != 0 {
			t.Errorf("STORE +FLAGS.SILENT = %+v, %v", got, err)
		}
		got, err = c.Store(imap.UIDSetNum(4), &imap.StoreFlags{Op: imap.StoreFlagsSet, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
		if err != nil || len(got) != 1 || !slices.Equal(got[0].Flags, []imap.Flag{imap.FlagSeen}) {
			t.Errorf("UID STORE FLAGS = %+v, %v", got, err)
		}
		_, err = c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{`\Bogus`}}, nil).Collect()
		wantCode(t, err, imap.ResponseCodeCannot)

		// SEARCH.
		since := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
		for i, tc := range []struct {
			uid  bool
			crit imap.SearchCriteria
			want string
		}{
			{false, imap.SearchCriteria{}, "1:4"},
			{false, imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, "2:3"},
			{false, imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, "2"},
			{false, imap.SearchCriteria{Flag: []imap.Flag{"$important"}}, "2"},
			{false, imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "ROMEO"}}}, "2,4"},
			{false, imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "To", Value: "nurse@"}}}, "1"},
			{false, imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "café"}}}, "1"},
			{false, imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "duel@"}}}, "3"},
			{true, imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 2, Stop: 3}}}}, "2:3"},
			{true, imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 3, Stop: 0}}}, NotFlag: []imap.Flag{imap.FlagSeen}}, "3"},
			{false, imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 0, Stop: 0}}}}, "4"},
			{false, imap.SearchCriteria{Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagDeleted}}}}, "1,3:4"},
			{false, imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagFlagged}}, {Flag: []imap.Flag{imap.FlagAnswered}}}}}, "1,3"},
			{false, imap.SearchCriteria{Larger: 2000}, "3"},
			{false, imap.SearchCriteria{Smaller: 400}, "2,4"},
			{false, imap.SearchCriteria{Since: since, Before: since.Add(24 * time.Hour)}, "1"},
			{false, imap.SearchCriteria{SentBefore: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}, "1:4"},
			{false, imap.SearchCriteria{Body: []string{"BALCONY"}}, "1"},
			{false, imap.SearchCriteria{Text: []string{"yonder"}}, "2"},
			{false, imap.SearchCriteria{Text: []string{"farewell"}}, "4"},
		} {
			if got := search(t, c, tc.uid, &tc.crit); got != tc.want {
				t.Errorf("%d: SEARCH %+v = %q, want %q", i, tc.crit, got, tc.want)
			}
		}
		es, err := c.Search(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}},
			&imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true}).Wait()
		if err != nil || es.Min != 1 || es.Max != 4 || es.Count != 3 {
			t.Errorf("ESEARCH = %+v, %v", es, err)
		}

		// COPY and MOVE with COPYUID.
		cd, err := c.Copy(imap.SeqSetNum(1, 3), "Archive").Wait()
		archive, _ := c.Status("Archive", &imap.StatusOptions{UIDValidity: true, NumMessages: true}).Wait()
		if err != nil || cd.UIDValidity != archive.UIDValidity || cd.SourceUIDs.String() != "1,3" || cd.DestUIDs.String() != "1:2" ||
			*archive.NumMessages != 2 {
			t.Errorf("COPY = %+v, %v; Archive %+v", cd, err, archive)
		}
		_, err = c.Copy(imap.SeqSetNum(1), "Nowhere").Wait()
		wantCode(t, err, imap.ResponseCodeTryCreate)
		md, err := c.Move(imap.UIDSetNum(4), "Trash").Wait()
		if err != nil || md.SourceUIDs.String() != "4" || md.DestUIDs.String() != "1" {
			t.Errorf("MOVE = %+v, %v", md, err)
		}
		if n := c.Mailbox().NumMessages; n != 3 {
			t.Errorf("%d messages after MOVE, want 3", n)
		}

		// EXPUNGE: UID EXPUNGE leaves \Deleted messages outside its set.
		if _, err := c.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
			t.Fatal(err)
		}
		gone, err := c.UIDExpunge(imap.UIDSetNum(3)).Collect()
		if err != nil || !slices.Equal(gone, []uint32{3}) {
			t.Errorf("UID EXPUNGE 3 = %v, %v", gone, err)
		}
		gone, err = c.Expunge().Collect()
		if err != nil || !slices.Equal(gone, []uint32{2}) {
			t.Errorf("EXPUNGE = %v, %v", gone, err)
		}
		if s := search(t, c, true, &imap.SearchCriteria{}); s != "1" {
			t.Errorf("UIDs left: %s, want 1", s)
		}

		// APPEND errors.
		ac := c.Append("Nowhere", 10, nil)
		ac.Write([]byte("Subject: x"))
		ac.Close()
		_, err = ac.Wait()
		wantCode(t, err, imap.ResponseCodeTryCreate)
		quota := accounts.ByteSize(100)
		if _, err := e.acc.UpdateUser(e.ctx, "juliet@capulet.example", accounts.UserUpdate{Quota: &quota}); err != nil {
			t.Fatal(err)
		}
		cmd := c.Append("INBOX", int64(len(multipart)), nil)
		cmd.Write([]byte(multipart))
		cmd.Close()
		_, err = cmd.Wait()
		wantCode(t, err, imap.ResponseCodeOverQuota)

		// EXAMINE is read-only: no \Seen, no STORE.
		if _, err := c.Select("Archive", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			t.Fatal(err)
		}
		m = fetchOne(t, c, imap.SeqSetNum(2), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{{}}})
		if slices.Contains(m.Flags, imap.FlagSeen) {
			t.Error("FETCH BODY[] in EXAMINE set \\Seen")
		}
		_, err = c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
		wantCode(t, err, imap.ResponseCodeCannot)
		if err := c.Unselect().Wait(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLargeMessage: BODY[] of a message above streamAbove is streamed from
// the store, whole and partial.
func TestLargeMessage(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), nil)
	c := e.login(t, "juliet", nil)
	var b strings.Builder
	b.WriteString(simple("Romeo <romeo@montague.example>", "long letter", ""))
	for i := 0; b.Len() < streamAbove*3/2; i++ {
		b.WriteString(strings.Repeat(string(rune('a'+i%26)), 76) + "\r\n")
	}
	body := b.String()
	appendMsg(t, c, "INBOX", body, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	whole := &imap.FetchItemBodySection{Peek: true}
	part := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: streamAbove - 10, Size: streamAbove}}
	m := fetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{whole, part}})
	if got := m.FindBodySection(whole); string(got) != body {
		t.Errorf("BODY[]: %d bytes, want %d", len(got), len(body))
	}
	if got := m.FindBodySection(part); string(got) != body[streamAbove-10:min(len(body), 2*streamAbove-10)] {
		t.Errorf("BODY[]<%d.%d>: %d bytes", part.Partial.Offset, part.Partial.Size, len(got))
	}
}
