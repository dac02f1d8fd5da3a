package imapd

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

// listed runs LIST and returns name → attributes.
func listed(t *testing.T, c *imapclient.Client, ref, pattern string, opt *imap.ListOptions) map[string][]imap.MailboxAttr {
	t.Helper()
	l, err := c.List(ref, pattern, opt).Collect()
	if err != nil {
		t.Fatalf("LIST %q %q: %v", ref, pattern, err)
	}
	out := map[string][]imap.MailboxAttr{}
	for _, d := range l {
		if d.Delim != '/' {
			t.Errorf("%s: delimiter %q", d.Mailbox, d.Delim)
		}
		out[d.Mailbox] = d.Attrs
	}
	return out
}

func names(m map[string][]imap.MailboxAttr) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func TestMailboxes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		e := newEnv(t, db, nil)
		c := e.login(t, "juliet", nil)

		all := listed(t, c, "", "*", nil)
		want := map[string]imap.MailboxAttr{"INBOX": "", "Sent": imap.MailboxAttrSent, "Drafts": imap.MailboxAttrDrafts,
			"Trash": imap.MailboxAttrTrash, "Junk": imap.MailboxAttrJunk, "Archive": imap.MailboxAttrArchive}
		if len(all) != len(want) {
			t.Errorf("LIST * = %v", all)
		}
		for name, special := range want {
			attrs, ok := all[name]
			if !ok || !slices.Contains(attrs, imap.MailboxAttrHasNoChildren) || special != "" && !slices.Contains(attrs, special) {
				t.Errorf("LIST %s: %v, want \\HasNoChildren %s", name, attrs, special)
			}
		}
		if l := listed(t, c, "", "inbox", nil); len(l) != 1 || l["INBOX"] == nil {
			t.Errorf(`LIST "" inbox = %v`, l)
		}
		if l := listed(t, c, "", "", nil); len(l) != 1 {
			t.Errorf(`LIST "" "" = %v, want the delimiter`, l)
		}

		// CREATE makes the parents; % lists one level.
		if err := c.Create("Projects/Verona/Balcony", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		top := listed(t, c, "", "%", nil)
		if !slices.Contains(top["Projects"], imap.MailboxAttrHasChildren) || top["Projects/Verona"] != nil {
			t.Errorf(`LIST "" %% = %v`, top)
		}
		if l := listed(t, c, "Projects/", "%", nil); strings.Join(names(l), ",") != "Projects/Verona" {
			t.Errorf(`LIST Projects/ %% = %v`, l)
		}
		wantCode(t, c.Create("INBOX", nil).Wait(), imap.ResponseCodeAlreadyExists)
		wantCode(t, c.Create("Projects", nil).Wait(), imap.ResponseCodeAlreadyExists)
		wantCode(t, c.Create("bad*name", nil).Wait(), imap.ResponseCodeCannot)

		// RENAME moves the children along.
		if err := c.Rename("Projects", "Plans", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if l := listed(t, c, "", "Plans*", nil); strings.Join(names(l), ",") != "Plans,Plans/Verona,Plans/Verona/Balcony" {
			t.Errorf("after RENAME: %v", l)
		}
		wantCode(t, c.Rename("Nowhere", "Somewhere", nil).Wait(), imap.ResponseCodeNonExistent)
		wantCode(t, c.Rename("INBOX", "Old", nil).Wait(), imap.ResponseCodeCannot)

		// DELETE.
		for _, name := range []string{"Plans/Verona/Balcony", "Plans/Verona", "Plans"} {
			if err := c.Delete(name).Wait(); err != nil {
				t.Fatalf("DELETE %s: %v", name, err)
			}
		}
		if l := listed(t, c, "", "Plans*", nil); len(l) != 0 {
			t.Errorf("after DELETE: %v", l)
		}
		wantCode(t, c.Delete("INBOX").Wait(), imap.ResponseCodeCannot)
		wantCode(t, c.Delete("Plans").Wait(), imap.ResponseCodeNonExistent)

		// Subscriptions.
		if err := c.Unsubscribe("Junk").Wait(); err != nil {
			t.Fatal(err)
		}
		sub := listed(t, c, "", "*", &imap.ListOptions{SelectSubscribed: true})
		if _, ok := sub["Junk"]; ok || !slices.Contains(sub["INBOX"], imap.MailboxAttrSubscribed) {
			t.Errorf("LIST (SUBSCRIBED) = %v", sub)
		}
		if err := c.Subscribe("Junk").Wait(); err != nil {
			t.Fatal(err)
		}
		wantCode(t, c.Subscribe("Nowhere").Wait(), imap.ResponseCodeNonExistent)
		special := listed(t, c, "", "*", &imap.ListOptions{SelectSpecialUse: true})
		if _, ok := special["INBOX"]; ok || len(special) != 5 {
			t.Errorf("LIST (SPECIAL-USE) = %v", special)
		}

		// STATUS and LIST-STATUS.
		appendMsg(t, c, "INBOX", simple("Romeo <romeo@montague.example>", "hello", "Hi."), nil)
		st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true,
			NumUnseen: true, Size: true, AppendLimit: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if *st.NumMessages != 1 || st.UIDNext != 2 || st.UIDValidity == 0 || *st.NumUnseen != 1 || *st.Size == 0 ||
			st.AppendLimit == nil || *st.AppendLimit != DefaultAppendLimit {
			t.Errorf("STATUS = %+v", st)
		}
		l, err := c.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range l {
			if d.Status == nil || d.Mailbox == "INBOX" && *d.Status.NumMessages != 1 {
				t.Errorf("LIST-STATUS %s: %+v", d.Mailbox, d.Status)
			}
		}
		_, err = c.Status("Nowhere", &imap.StatusOptions{NumMessages: true}).Wait()
		wantCode(t, err, imap.ResponseCodeNonExistent)

		ns, err := c.Namespace().Wait()
		if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' || ns.Personal[0].Prefix != "" {
			t.Errorf("NAMESPACE = %+v, %v", ns, err)
		}
	})
}
