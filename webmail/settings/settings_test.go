package settings_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations/dbtest"
	"github.com/tidings/tidings/webmail/settings"
	"github.com/tidings/tidings/webmail/web"
	"github.com/tidings/tidings/webmail/web/webtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func newEnv(t *testing.T) *webtest.Env {
	return webtest.New(t, webtest.Options{Mount: []func(*web.App) error{settings.Mount}})
}

func login(t *testing.T, e *webtest.Env, u accounts.User) *webtest.Client {
	t.Helper()
	c := e.Login(t, u.Address)
	if res := c.Get("/settings/"); res.StatusCode != http.StatusOK || c.CSRF == "" {
		t.Fatalf("settings page: %d", res.StatusCode)
	}
	return c
}

func expect(t *testing.T, what string, res webtest.Response, status int, texts ...string) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s: %d, want %d\n%s", what, res.StatusCode, status, res.Body)
	}
	for _, s := range texts {
		if !strings.Contains(res.Body, s) {
			t.Errorf("%s: no %q in\n%s", what, s, res.Body)
		}
	}
}

const newPassword = "wherefore art thou romeo"

func TestPasswordChange(t *testing.T) {
	e := newEnv(t)
	here := login(t, e, e.Juliet)
	there := login(t, e, e.Juliet) // another browser

	res := here.Get("/settings/")
	expect(t, "page", res, http.StatusOK, ">Current password</label>", ">New password</label>", ">Repeat new password</label>",
		">Change password</button>", ">Display name</label>", ">Send new-mail notifications to (Jabber ID)</label>",
		">Sign out everywhere else</button>")

	change := func(current, next, repeat string) webtest.Response {
		return here.PostForm("/settings/password", url.Values{"current_password": {current}, "new_password": {next}, "repeat_password": {repeat}})
	}
	expect(t, "wrong current", change("guess", newPassword, newPassword), http.StatusUnprocessableEntity, "The current password is wrong.")
	expect(t, "mismatch", change(webtest.Password, newPassword, newPassword+"!"), http.StatusUnprocessableEntity, "The two new passwords differ")
	expect(t, "same", change(webtest.Password, webtest.Password, webtest.Password), http.StatusUnprocessableEntity, "same as the current one")
	expect(t, "policy", change(webtest.Password, "short", "short"), http.StatusUnprocessableEntity, "The new password cannot be used: it is shorter than")
	if strings.Contains(change("guess", newPassword, newPassword).Body, newPassword) {
		t.Error("a password is echoed back")
	}
	// Nothing changed yet: both browsers are signed in.
	expect(t, "there, before", there.Get("/settings/"), http.StatusOK)

	// Protocol servers end their sessions on the account event.
	events := make(chan accounts.Event, 16)
	defer e.Accounts.Subscribe(func(ev accounts.Event) { events <- ev })()
	old := here.CSRF
	res = change(webtest.Password, newPassword, newPassword)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/settings/" {
		t.Fatalf("change: %d %v\n%s", res.StatusCode, res.Header, res.Body)
	}
	// This browser stays signed in (with a new session), the other is out.
	expect(t, "here, after", here.Get("/settings/"), http.StatusOK, "Your password has been changed")
	if res := there.Get("/settings/"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Errorf("other session still alive: %d", res.StatusCode)
	}
	select {
	case ev := <-events:
		if ev.Kind != accounts.EventPasswordChanged || ev.Address != e.Juliet.Address {
			t.Errorf("event: %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Error("no password event for the protocol servers")
	}
	// The new password is the account's, for every protocol.
	ctx := context.Background()
	if _, err := e.Accounts.Authenticate(ctx, accounts.Attempt{Username: e.Juliet.Address, Password: webtest.Password, Service: accounts.ServiceIMAP}); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Errorf("old password still works over IMAP: %v", err)
	}
	if _, err := e.Accounts.Authenticate(ctx, accounts.Attempt{Username: e.Juliet.Address, Password: newPassword, Service: accounts.ServiceSMTP}); err != nil {
		t.Errorf("new password over SMTP: %v", err)
	}
	fresh := e.NewClient(t)
	fresh.Get("/login")
	if res := fresh.PostForm("/login", url.Values{"username": {e.Juliet.Address}, "password": {newPassword}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login with the new password: %d", res.StatusCode)
	}
	expect(t, "fresh", fresh.Get("/settings/"), http.StatusOK, e.Juliet.Address)
	// The rotated session's CSRF token works; the old one does not.
	if here.CSRF == old {
		t.Error("CSRF token not rotated with the session")
	}
	expect(t, "old token", here.PostForm("/settings/profile", url.Values{"csrf": {old}, "display_name": {"x"}}), http.StatusForbidden)
}

func TestPasswordCSRF(t *testing.T) {
	e := newEnv(t)
	c := login(t, e, e.Juliet)
	res := c.PostForm("/settings/password", url.Values{"csrf": {""}, "current_password": {webtest.Password},
		"new_password": {newPassword}, "repeat_password": {newPassword}})
	expect(t, "without token", res, http.StatusForbidden)
	if _, err := e.Accounts.Authenticate(context.Background(), accounts.Attempt{Username: e.Juliet.Address, Password: webtest.Password, Service: accounts.ServiceIMAP}); err != nil {
		t.Fatalf("password changed without a CSRF token: %v", err)
	}
}

func TestDisplayName(t *testing.T) {
	e := newEnv(t)
	c := login(t, e, e.Juliet)
	res := c.PostForm("/settings/profile", url.Values{"display_name": {"  Juliet Capulet "}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("profile: %d %s", res.StatusCode, res.Body)
	}
	expect(t, "after", c.Get("/settings/"), http.StatusOK, "Display name saved: Juliet Capulet.", `value="Juliet Capulet"`)
	u, err := e.Accounts.User(context.Background(), e.Juliet.Address)
	if err != nil || u.DisplayName != "Juliet Capulet" {
		t.Fatalf("stored: %q %v", u.DisplayName, err)
	}
	expect(t, "header injection", c.PostForm("/settings/profile", url.Values{"display_name": {"Juliet\r\nBcc: x@evil.example"}}),
		http.StatusUnprocessableEntity, "may not contain line breaks", `aria-invalid="true"`)
	expect(t, "long", c.PostForm("/settings/profile", url.Values{"display_name": {strings.Repeat("é", 129)}}),
		http.StatusUnprocessableEntity, "too long")
	if u, _ := e.Accounts.User(context.Background(), e.Juliet.Address); u.DisplayName != "Juliet Capulet" {
		t.Errorf("refused name stored: %q", u.DisplayName)
	}
	if r, _ := e.Accounts.User(context.Background(), e.Romeo.Address); r.DisplayName != "Romeo" {
		t.Errorf("romeo changed: %q", r.DisplayName)
	}
}

func TestNotifyJID(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sc := e.Filter.Scripts()
	c := login(t, e, e.Juliet)
	set := func(v string) webtest.Response { return c.PostForm("/settings/notify", url.Values{"notify_jid": {v}}) }

	for _, bad := range []string{"juliet@capulet.example/balcony", "not a jid", "juliet@", "ju<liet@capulet.example"} {
		expect(t, bad, set(bad), http.StatusUnprocessableEntity, "This is not a Jabber ID", `aria-invalid="true"`)
	}
	expect(t, "kept input", set("juliet@capulet.example/balcony"), http.StatusUnprocessableEntity,
		`value="juliet@capulet.example/balcony"`, "without a /resource")
	if j, _ := sc.NotifyJID(ctx, e.Juliet.ID); j != "" {
		t.Fatalf("refused JID stored: %q", j)
	}

	if res := set(" Juliet.Phone@Verona.Example "); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("set: %d %s", res.StatusCode, res.Body)
	}
	expect(t, "shown", c.Get("/settings/"), http.StatusOK, "New-mail notifications go to juliet.phone@verona.example.", `value="juliet.phone@verona.example"`)
	if j, err := sc.NotifyJID(ctx, e.Juliet.ID); err != nil || j != "juliet.phone@verona.example" {
		t.Fatalf("stored: %q %v", j, err)
	}
	if j, _ := sc.NotifyJID(ctx, e.Romeo.ID); j != "" {
		t.Errorf("romeo's setting changed: %q", j)
	}
	// Her own JID is the default and stored as such; so is an empty field.
	set("JULIET@capulet.example")
	if j, _ := sc.NotifyJID(ctx, e.Juliet.ID); j != "" {
		t.Errorf("own JID stored as %q", j)
	}
	expect(t, "own", c.Get("/settings/"), http.StatusOK, "go to your own Jabber ID, juliet@capulet.example.")
	set("juliet.phone@verona.example")
	set("")
	if j, _ := sc.NotifyJID(ctx, e.Juliet.ID); j != "" {
		t.Errorf("empty field stored %q", j)
	}
	expect(t, "no token", c.PostForm("/settings/notify", url.Values{"csrf": {"nope"}, "notify_jid": {"x@y.example"}}), http.StatusForbidden)
	if j, _ := sc.NotifyJID(ctx, e.Juliet.ID); j != "" {
		t.Errorf("stored without CSRF token: %q", j)
	}
}

func TestEndOtherSessions(t *testing.T) {
	e := newEnv(t)
	here := login(t, e, e.Juliet)
	there := login(t, e, e.Juliet)
	romeo := login(t, e, e.Romeo)
	if res := here.PostForm("/settings/sessions/end", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("end: %d", res.StatusCode)
	}
	expect(t, "here", here.Get("/settings/"), http.StatusOK, "Signed out 1 other webmail session.")
	if res := there.Get("/settings/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("other session alive: %d", res.StatusCode)
	}
	expect(t, "romeo", romeo.Get("/settings/"), http.StatusOK)
	here.PostForm("/settings/sessions/end", nil)
	expect(t, "again", here.Get("/settings/"), http.StatusOK, "There were no other webmail sessions.")
}
