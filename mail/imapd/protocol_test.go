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
