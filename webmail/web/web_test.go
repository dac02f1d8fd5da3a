package web_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations/dbtest"
	"github.com/tidings/tidings/webmail/web"
	"github.com/tidings/tidings/webmail/web/webtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// probe mounts a user page, an admin page and a state-changing page.
func probe(a *web.App) error {
	a.Page("GET /mail/", func(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
		w.Write([]byte(`<meta name="csrf-token" content="` + c.CSRF + `">hello ` + c.User.Address))
		return nil
	})
	a.Page("POST /mail/poke", func(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
		return c.Redirect(w, r, "/mail/", "Poked.")
	})
	a.AdminPage("GET /admin/", func(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
		w.Write([]byte("console"))
		return nil
	})
	return nil
}

func TestLoginSessionCSRF(t *testing.T) {
	e := webtest.New(t, webtest.Options{Mount: []func(*web.App) error{probe}})

	anon := e.NewClient(t)
	if res := anon.Get("/mail/"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login?next=") {
		t.Fatalf("anonymous GET: %d %v", res.StatusCode, res.Header)
	}
	if res := anon.PostForm("/mail/poke", nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous POST: %d", res.StatusCode)
	}
	// Login without the login form's cookie token: refused.
	if res := anon.PostForm("/login", url.Values{"username": {e.Juliet.Address}, "password": {webtest.Password}, "csrf": {"forged"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("login without token: %d", res.StatusCode)
	}
	anon.Get("/login")
	if res := anon.PostForm("/login", url.Values{"username": {e.Juliet.Address}, "password": {"wrong"}}); res.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(res.Body, "Wrong address or password") {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}

	c := e.Login(t, e.Juliet.Address)
	res := c.Get("/mail/")
	if !strings.Contains(res.Body, "hello juliet@") {
		t.Fatalf("page: %q", res.Body)
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("headers: %v", res.Header)
	}
	// The cookie is Secure, HttpOnly, SameSite, host-only.
	u, _ := url.Parse(e.Server.URL)
	if cs := c.HTTP.Jar.Cookies(u); len(cs) == 0 {
		t.Fatal("no session cookie")
	}

	// CSRF: no token, a wrong token, a foreign Origin.
	if res := c.PostForm("/mail/poke", url.Values{"csrf": {""}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("POST without token: %d", res.StatusCode)
	}
	if res := c.PostForm("/mail/poke", url.Values{"csrf": {"x" + c.CSRF}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("POST with wrong token: %d", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/mail/poke", strings.NewReader("csrf="+url.QueryEscape(c.CSRF)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if res := c.Do(req); res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin POST: %d", res.StatusCode)
	}
	if res := c.PostForm("/mail/poke", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("good POST: %d %s", res.StatusCode, res.Body)
	}

	// Not an admin: 403 on the console.
	if res := c.Get("/admin/"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("non-admin: %d", res.StatusCode)
	}
	if res := e.Login(t, e.Admin.Address).Get("/admin/"); res.StatusCode != http.StatusOK || res.Body != "console" {
		t.Fatalf("admin: %d %q", res.StatusCode, res.Body)
	}

	// A password change elsewhere ends the session; so does disabling.
	if err := e.Accounts.SetPassword(context.Background(), e.Juliet.Address, "another long password"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return c.Get("/mail/").StatusCode == http.StatusSeeOther })

	r2 := e.Login(t, e.Romeo.Address)
	disabled := true
	if _, err := e.Accounts.UpdateUser(context.Background(), e.Romeo.Address, accounts.UserUpdate{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	if res := r2.Get("/mail/"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("disabled user still served: %d", res.StatusCode)
	}

	// Logout ends the session.
	a := e.Login(t, e.Admin.Address)
	if res := a.PostForm("/logout", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if res := a.Get("/mail/"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout: %d", res.StatusCode)
	}
}

func TestSafeNext(t *testing.T) {
	e := webtest.New(t, webtest.Options{Mount: []func(*web.App) error{probe}})
	c := e.NewClient(t)
	c.Get("/login")
	res := c.PostForm("/login", url.Values{"username": {e.Juliet.Address}, "password": {webtest.Password}, "next": {"//evil.example/"}})
	if loc := res.Header.Get("Location"); loc != "/mail/" {
		t.Fatalf("next=//evil: redirected to %q", loc)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if ok() {
			return
		}
		sleep()
	}
	t.Fatal("condition not reached")
}

func sleep() { time.Sleep(50 * time.Millisecond) }
