package imapd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/migrations/dbtest"
)

// TestMalformed: bad commands get BAD and the connection goes on.
func TestMalformed(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), nil)
	r := e.raw(t)
	for i, tc := range []struct{ line, want string }{
		{`LOGIN juliet@capulet.example "` + pw + `"`, "OK"},
		{"FETCH", "BAD"},
		{"SELECT", "BAD"},
		{"FROBNICATE now", "BAD"},
		{"STORE 1 +FLAGS (\\Seen)", "BAD"}, // nothing selected
		{"SELECT INBOX", "OK"},
		{"SEARCH (((", "BAD"},
		{"UID FETCH 1:* (FLAGS", "BAD"},
		{"FETCH 0 FLAGS", "NO"}, // imapserver's number-set error is not a syntax error: NO [SERVERBUG]
		{"FETCH 1:* BODY[99.1]", "OK"},
		{"STATUS INBOX (MESSAGES BOGUS)", "BAD"},
		{"STATUS INBOX (DELETED-STORAGE)", "BAD"},
		{`LIST "" "*"`, "OK"},
		{"NOOP", "OK"},
	} {
		tag := "t" + string(rune('a'+i))
		if reply, _ := r.cmd(tag, tc.line); !strings.HasPrefix(reply, tc.want) {
			t.Errorf("%s: %q, want %s", tc.line, reply, tc.want)
		}
	}
	// Before login an unknown command ends the connection (imapserver's
	// guard against cross-protocol attacks).
	r2 := e.raw(t)
	r2.c.Write([]byte("GET / HTTP/1.1\r\n"))
	if l := r2.line(); !strings.HasPrefix(l, "GET BAD") && !strings.HasPrefix(l, "* BYE") {
		t.Errorf("HTTP request: %q", l)
	}
}

// TestShutdown: Shutdown says BYE to idle sessions, also in IDLE, and
// Serve returns ErrServerClosed.
func TestShutdown(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), nil)
	a := e.login(t, "juliet", nil)
	if _, err := a.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	b := e.login(t, "romeo", nil)
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := b.Idle()
	if err != nil {
		t.Fatal(err)
	}
	_ = idle
	r := e.raw(t) // not logged in
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v with nothing busy", d)
	}
	if l := r.line(); !strings.HasPrefix(l, "* BYE") {
		t.Errorf("unauthenticated session got %q, want BYE", l)
	}
	for name, c := range map[string]<-chan struct{}{"selected": a.Closed(), "idling": b.Closed()} {
		select {
		case <-c:
		case <-time.After(5 * time.Second):
			t.Errorf("%s session still open after Shutdown", name)
		}
	}
	for range 2 {
		if err := <-e.serveDone; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	}
	if err := e.srv.Close(); err != nil {
		t.Errorf("Close after Shutdown: %v", err)
	}
}

// TestRawProtocol: responses imapclient does not expose.
func TestRawProtocol(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), nil)
	r := e.raw(t)
	step := func(tag, line, want string) []string {
		t.Helper()
		reply, untagged := r.cmd(tag, line)
		if !strings.HasPrefix(reply, "OK") {
			t.Fatalf("%s: %s", line, reply)
		}
		if want != "" && !strings.Contains(strings.Join(untagged, "\n"), want) {
			t.Errorf("%s: untagged %q, want %q", line, untagged, want)
		}
		return untagged
	}
	step("a", `LOGIN juliet@capulet.example "`+pw+`"`, "")
	step("b", `UNSUBSCRIBE Junk`, "")
	if lsub := step("c", `LSUB "" "*"`, `* LSUB`); strings.Contains(strings.Join(lsub, "\n"), "Junk") {
		t.Errorf("LSUB lists the unsubscribed Junk: %q", lsub)
	}
	step("d", `CREATE Plays/Tragedies`, "")
	step("d2", `UNSUBSCRIBE Plays`, "")
	step("e", `LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`, `"Plays" (CHILDINFO ("SUBSCRIBED"))`)
	step("f", `APPEND INBOX (\Seen) {12+}`+"\r\nSubject: a\r\n", "")
	step("g", `APPEND INBOX {12+}`+"\r\nSubject: b\r\n", "")
	step("h", `SELECT INBOX`, "* 2 EXISTS")
	step("i", `SEARCH RETURN (SAVE) UNSEEN`, "")
	step("j", `FETCH $ (UID)`, "* 2 FETCH (UID 2)")
	step("k", `ENABLE IMAP4rev2`, "* ENABLED IMAP4rev2")
	step("l", `SEARCH ALL`, `* ESEARCH (TAG "l") ALL 1:2`)
	step("m", `UID SEARCH RETURN (COUNT) SEEN`, `* ESEARCH (TAG "m") UID COUNT 1`)
	step("n", `STATUS INBOX (MESSAGES UNSEEN SIZE)`, `* STATUS INBOX (MESSAGES 2 UNSEEN 1 SIZE 24)`)
	step("o", `CLOSE`, "")
}
