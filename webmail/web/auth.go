package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidings/tidings/accounts"
)

// Ctx is a signed-in request: who, with which CSRF token.
type Ctx struct {
	User accounts.User
	CSRF string
	Nav  string // set by a handler to highlight its menu entry

	app    *App
	sess   *session
	flash  string
	status int
}

const flashCookie = "__Host-tidings-flash"

// Redirect answers a form post with 303 to url, showing flash (if not "")
// on the next page. htmx requests get HX-Redirect instead.
func (c *Ctx) Redirect(w http.ResponseWriter, r *http.Request, url, flash string) error {
	if flash != "" {
		setCookie(w, flashCookie, encodeFlash(flash), time.Minute)
	}
	if r.Header.Get("HX-Request") != "" {
		w.Header().Set("HX-Redirect", url)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	http.Redirect(w, r, url, http.StatusSeeOther)
	return nil
}

// Status sets the status code the next Render or Fragment writes.
func (c *Ctx) Status(code int) { c.status = code }

// Remote is the client's address, for the throttle and logs.
func Remote(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// RotateSession replaces the request's session by a new one for the same
// user. After a password change it keeps this browser signed in while every
// older session ends.
func (c *Ctx) RotateSession(w http.ResponseWriter, r *http.Request) error {
	tok, err := c.app.sessions.create(r.Context(), c.User, Remote(r).String(), r.UserAgent())
	if err != nil {
		return err
	}
	old := c.sess.id
	ns, err := c.app.sessions.lookup(r.Context(), tok)
	if err != nil || ns == nil {
		return fmt.Errorf("rotate session: %v", err)
	}
	c.sess, c.CSRF = ns, ns.csrf
	setCookie(w, SessionCookie, tok, 0)
	return c.app.sessions.delete(r.Context(), old)
}

// EndOtherSessions signs the user out everywhere but here.
func (c *Ctx) EndOtherSessions(ctx context.Context) (int64, error) {
	return c.app.sessions.deleteUser(ctx, c.User.ID, c.sess.id)
}

// sessionCtx loads the request's session and user; nil without a live one.
func (a *App) sessionCtx(w http.ResponseWriter, r *http.Request) (*Ctx, error) {
	ck, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, nil
	}
	ss, err := a.sessions.lookup(r.Context(), ck.Value)
	if err != nil || ss == nil {
		return nil, err
	}
	u, err := a.Accounts.UserByID(r.Context(), ss.userID)
	if errors.Is(err, accounts.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !u.CanUse(accounts.ServiceWebmail) {
		a.sessions.delete(r.Context(), ss.id)
		return nil, nil
	}
	c := &Ctx{User: u, CSRF: ss.csrf, app: a, sess: ss}
	// The flash is shown (and cleared) by the next full page only, not
	// by fragments or streams that may come in between.
	if fc, err := r.Cookie(flashCookie); err == nil {
		c.flash = decodeFlash(fc.Value)
	}
	return c, nil
}

func (a *App) mountCore() {
	a.mux.Handle("GET /static/", serveStatic())
	a.Public("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})
	a.Public("GET /login", a.loginForm)
	a.Public("POST /login", a.login)
	a.Page("POST /logout", a.logout)
	a.Public("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	a.Page("GET /{$}", func(w http.ResponseWriter, r *http.Request, c *Ctx) error {
		http.Redirect(w, r, "/mail/", http.StatusSeeOther)
		return nil
	})
}

type loginData struct {
	Username, Next, Error string
}

func (a *App) loginForm(w http.ResponseWriter, r *http.Request) {
	if c, _ := a.sessionCtx(w, r); c != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	a.showLogin(w, r, http.StatusOK, loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

func (a *App) showLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	tok := randomToken()
	setCookie(w, loginCookie, tok, time.Hour)
	c := &Ctx{app: a, CSRF: tok, status: status}
	if err := c.render(w, a.base, "login.html", "Sign in", d); err != nil {
		a.Log.Error("webmail login page failed", "err", err)
	}
}

func (a *App) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ck, err := r.Cookie(loginCookie)
	form := r.PostFormValue("csrf")
	d := loginData{Username: strings.TrimSpace(r.PostFormValue("username")), Next: safeNext(r.PostFormValue("next"))}
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) != 1 || checkCSRF(r, form) != nil {
		d.Error = "The sign-in form expired. Please try again."
		a.showLogin(w, r, http.StatusForbidden, d)
		return
	}
	remote := Remote(r)
	u, err := a.Accounts.Authenticate(r.Context(), accounts.Attempt{Username: d.Username, Password: r.PostFormValue("password"),
		Remote: remote, Service: accounts.ServiceWebmail})
	var te *accounts.ThrottledError
	switch {
	case errors.As(err, &te):
		d.Error = fmt.Sprintf("Too many failed sign-ins. Try again in %s.", te.RetryAfter.Round(time.Second))
		a.showLogin(w, r, http.StatusTooManyRequests, d)
		return
	case err != nil && (errors.Is(err, accounts.ErrBadCredentials) || errors.Is(err, accounts.ErrDisabled) || errors.Is(err, accounts.ErrServiceDisabled)):
		d.Error = "Wrong address or password."
		a.showLogin(w, r, http.StatusUnauthorized, d)
		return
	case err != nil:
		a.Log.Error("webmail login failed", "err", err)
		d.Error = "Signing in failed on the server; please try again later."
		a.showLogin(w, r, http.StatusInternalServerError, d)
		return
	}
	tok, err := a.sessions.create(r.Context(), u, remote.String(), r.UserAgent())
	if err != nil {
		a.Log.Error("webmail login failed", "err", err)
		d.Error = "Signing in failed on the server; please try again later."
		a.showLogin(w, r, http.StatusInternalServerError, d)
		return
	}
	a.Log.Info("webmail login", "user", u.Address, "remote", remote)
	setCookie(w, loginCookie, "", -1)
	setCookie(w, SessionCookie, tok, 0)
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

func (a *App) logout(w http.ResponseWriter, r *http.Request, c *Ctx) error {
	if err := a.sessions.delete(r.Context(), c.sess.id); err != nil {
		return err
	}
	setCookie(w, SessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") {
		return "/mail/"
	}
	return next
}

// encodeFlash makes a flash message a cookie value (RFC 6265 allows no
// spaces, commas, semicolons or non-ASCII bytes there).
func encodeFlash(s string) string { return url.QueryEscape(s) }

func decodeFlash(s string) string {
	if len(s) > 600 {
		s = s[:600]
	}
	d, err := url.QueryUnescape(s)
	if err != nil || !utf8.ValidString(d) {
		return ""
	}
	return d
}
