package imapd

import (
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations/dbtest"
)

// TestImaplib runs Python's imaplib against the server: STARTTLS, LOGIN,
// LIST, SELECT, FETCH, STORE, SEARCH, CLOSE, LOGOUT; and a second session
// that resynchronises with ENABLE QRESYNC (unsolicited FETCH with MODSEQ,
// VANISHED, SELECT … (QRESYNC …)), then GETQUOTAROOT and ID.
func TestImaplib(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	e := newEnv(t, dbtest.SQLite(t), nil)
	msgs := []string{
		simple("Romeo <romeo@montague.example>", "Balcony", "By yonder window."),
		simple("Tybalt <tybalt@capulet.example>", "Duel", "Draw!"),
	}
	for _, m := range msgs {
		if _, err := e.st.Deliver(e.ctx, strings.NewReader(m), store.DeliverOptions{}, []store.Target{{User: e.juliet}}); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := net.SplitHostPort(e.addr[IMAP])
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "testdata/imaplib_client.py", host, port, "juliet@capulet.example", pw).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	var got struct {
		CapsPlain    []string `json:"caps_plain"`
		CapsTLS      []string `json:"caps_tls"`
		Login        string   `json:"login"`
		List         []string `json:"list"`
		Exists       int      `json:"exists"`
		FetchMeta    string   `json:"fetch_meta"`
		FetchSubject string   `json:"fetch_subject"`
		RFC822       string   `json:"rfc822"`
		Store        string   `json:"store"`
		StoreResp    []string `json:"store_resp"`
		Unseen       string   `json:"unseen"`
		Seen         string   `json:"seen"`
		UIDFrom      string   `json:"uid_from"`
		Close        string   `json:"close"`
		CapsAuth     []string `json:"caps_auth"`
		Enabled      []string `json:"enabled"`
		Highest      string   `json:"highestmodseq"`
		VanishedLive []string `json:"vanished_live"`
		FetchLive    []string `json:"fetch_live"`
		QResync      string   `json:"qresync_select"`
		VanishedOld  []string `json:"vanished_earlier"`
		QResyncFetch []string `json:"qresync_fetch"`
		QuotaRoot    string   `json:"quotaroot"`
		ID           []string `json:"id"`
		Logout       string   `json:"logout"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("imaplib output: %v\n%s", err, out)
	}
	t.Logf("imaplib: %s", out)
	if !slices.Contains(got.CapsPlain, "LOGINDISABLED") || !slices.Contains(got.CapsPlain, "STARTTLS") ||
		!slices.Contains(got.CapsTLS, "AUTH=PLAIN") {
		t.Errorf("capabilities before/after STARTTLS: %v / %v", got.CapsPlain, got.CapsTLS)
	}
	if got.Login != "OK" || got.Store != "OK" || got.Close != "OK" || got.Logout != "BYE" {
		t.Errorf("LOGIN %s STORE %s CLOSE %s LOGOUT %s", got.Login, got.Store, got.Close, got.Logout)
	}
	if len(got.List) != 6 || !strings.Contains(strings.Join(got.List, "\n"), `(\HasNoChildren \Sent) "/" "Sent"`) {
		t.Errorf("LIST: %q", got.List)
	}
	if got.Exists != 2 {
		t.Errorf("SELECT: %d messages", got.Exists)
	}
	if !strings.Contains(got.FetchMeta, "UID 1") || !strings.Contains(got.FetchMeta, "RFC822.SIZE") ||
		got.FetchSubject != "Subject: Balcony\r\n\r\n" {
		t.Errorf("FETCH: %q %q", got.FetchMeta, got.FetchSubject)
	}
	if got.RFC822 != msgs[1] {
		t.Errorf("FETCH RFC822: %q", got.RFC822)
	}
	if len(got.StoreResp) != 1 || !strings.Contains(got.StoreResp[0], `\Seen`) {
		t.Errorf("STORE responses: %q", got.StoreResp)
	}
	// CONDSTORE/QRESYNC: message 2 (UID 2) was expunged by the first
	// session and message 1 flagged, after the second one's SELECT.
	for _, c := range []string{"CONDSTORE", "QRESYNC", "QUOTA", "ID"} {
		if !slices.Contains(got.CapsAuth, c) {
			t.Errorf("capability %s missing: %v", c, got.CapsAuth)
		}
	}
	if !slices.Equal(got.Enabled, []string{"QRESYNC"}) || got.Highest == "" || got.QResync != "OK" || got.QuotaRoot != "OK" {
		t.Errorf("ENABLE %q, HIGHESTMODSEQ %q, SELECT (QRESYNC) %s, GETQUOTAROOT %s", got.Enabled, got.Highest, got.QResync, got.QuotaRoot)
	}
	if !slices.Equal(got.VanishedLive, []string{"2"}) || !slices.Equal(got.VanishedOld, []string{"(EARLIER) 2"}) {
		t.Errorf("VANISHED live %q, earlier %q", got.VanishedLive, got.VanishedOld)
	}
	if len(got.FetchLive) != 2 || !strings.Contains(got.FetchLive[0], "MODSEQ (") {
		t.Errorf("unsolicited FETCH with CONDSTORE: %q", got.FetchLive)
	}
	if len(got.QResyncFetch) != 1 || !strings.Contains(got.QResyncFetch[0], `UID 1 `) || !strings.Contains(got.QResyncFetch[0], `\Flagged`) ||
		!strings.Contains(got.QResyncFetch[0], "MODSEQ (") {
		t.Errorf("QRESYNC FETCH: %q", got.QResyncFetch)
	}
	if len(got.ID) != 1 || !strings.Contains(got.ID[0], `"name" "Tidings"`) {
		t.Errorf("ID: %q", got.ID)
	}
	// FETCH 2 (RFC822) set \Seen on message 2, STORE on message 1.
	if got.Unseen != "" || got.Seen != "1 2" || got.UIDFrom != "1" {
		t.Errorf("SEARCH UNSEEN %q SEEN %q UID FROM %q", got.Unseen, got.Seen, got.UIDFrom)
	}
}
