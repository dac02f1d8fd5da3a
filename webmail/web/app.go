// Package web is the webmail's core: the App every page module mounts its
// handlers on, sessions and login, CSRF, security headers, templates and
// the embedded static assets.
//
// A module (webmail/mailui, webmail/contacts, …) is a package with a
// Mount(*App) function. It registers handlers with App.Page (signed-in
// users), App.AdminPage (administrators; everyone else gets 403) or
// App.Public, and renders its own templates with Ctx.Render after
// App.Templates parsed them with the shared layout.
//
// Every request gets the security headers (CSP without inline scripts or
// styles, no framing, no sniffing, no referrer). Every state-changing
// request (anything but GET and HEAD) must carry the session's CSRF token in
// the "csrf" form field or the X-CSRF-Token header, and a same-origin Origin
// header when the browser sends one; otherwise it gets 403 before the
// handler runs.
package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations"
)

// Submitter sends mail composed in the browser through the same rules as
// submission on :587 (recipient resolution, outbound queue, DKIM signing).
// It is implemented in cmd/tidings over mail/delivery.
type Submitter interface {
	// Submit delivers msg (a complete RFC 5322 message whose From the
	// webmail set to one of from's addresses) to rcpts. It returns after
	// the message is durably stored or queued.
	Submit(ctx context.Context, from accounts.User, rcpts []string, msg []byte) error
}

// Service is one listener group the admin console can switch at run time.
type Service struct {
	Name  string // "smtp", "submission", "imap", "managesieve", "xmpp", …
	Label string // for people: "SMTP (MX, port 25)"
	Addr  string // the configured address ("" when not configured)
	On    bool   // accepting connections now
}

// Services switches listeners at run time (the console's "Servers" form).
type Services interface {
	Services() []Service
	SetService(ctx context.Context, name string, on bool) error
}

// QueueEntry is one message of the outbound queue, for the console.
type QueueEntry struct {
	ID         int64
	Sender     string
	Recipients []string
	Size       int64
	Attempts   int
	NextTry    time.Time
	LastError  string
	Created    time.Time
}

// Queue is the outbound queue as the console sees it.
type Queue interface {
	QueueList(ctx context.Context) ([]QueueEntry, error)
	QueueRetry(ctx context.Context, id int64) error
	QueueDrop(ctx context.Context, id int64) error
}

// Counts are the console's live figures.
type Counts struct {
	XMPPOnline int   // users with at least one XMPP session
	XMPPSess   int   // XMPP client sessions
	IMAPOnline int   // users with at least one IMAP session
	IMAPSess   int   // IMAP sessions
	MailToday  int64 // messages delivered into mailboxes since local midnight
}

// Stats gives the live counts.
type Stats interface {
	Counts(ctx context.Context) Counts
}

// DNSRecord is one record a domain should publish, with the check's verdict.
type DNSRecord struct {
	Name, Type, Value string
	Why               string
	Status            string // "ok", "missing", "differs", "" when not checked
	Found             string
}

// DNS lists (and, with check, looks up) the records a domain should publish.
type DNS interface {
	Records(ctx context.Context, domain string, check bool) ([]DNSRecord, error)
}

// Deps is what the webmail works with. Submitter is required for sending;
// Services, Queue, Stats and DNS may be nil (their console sections say so).
type Deps struct {
	DB        *migrations.DB
	Accounts  *accounts.Store
	Store     *store.Store
	Scripts   *filters.Scripts
	Filter    *filters.Filter // notification settings and script checks
	Submitter Submitter
	Services  Services
	Queue     Queue
	Stats     Stats
	DNS       DNS
	Hostname  string
	Log       *slog.Logger
	// MaxMessageSize bounds composed mail (attachments included), as
	// submission does.
	MaxMessageSize int64
}

// App is the webmail: the router, sessions and templates modules use.
type App struct {
	Deps
	cfg      Config
	mux      *http.ServeMux
	sessions *sessions
	base     *Pages // the layout and the core's own pages
}

// New returns an App. Call Start to run its housekeeping, mount modules,
// then serve it as an http.Handler.
func New(cfg Config, d Deps) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.DB == nil || d.Accounts == nil || d.Store == nil {
		return nil, errors.New("webmail: DB, Accounts and Store are required")
	}
	a := &App{Deps: d, cfg: cfg, mux: http.NewServeMux()}
	a.sessions = newSessions(d.DB, cfg)
	base, err := a.Templates(coreTemplates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	a.base = base
	a.mountCore()
	return a, nil
}

// Config returns the webmail configuration.
func (a *App) Config() Config { return a.cfg }

// Start runs the session sweeper until ctx ends; it returns a function that
// stops it. Sessions need no account events: every request re-reads the
// user (disabled, webmail off) and its credentials' salt (password changed).
func (a *App) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Minute)
		defer t.Stop()
		for {
			if n, err := a.sessions.sweep(ctx); err != nil && ctx.Err() == nil {
				a.Log.Warn("webmail session sweep failed", "err", err)
			} else if n > 0 {
				a.Log.Debug("webmail sessions expired", "n", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// ServeHTTP serves every webmail request with the security headers.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	a.mux.ServeHTTP(w, r)
}

// Handler is a page handler. Returning an error renders the error page: an
// *HTTPError with its status and message, anything else as 500 (logged,
// never shown).
type Handler func(w http.ResponseWriter, r *http.Request, c *Ctx) error

// HTTPError is an error with a status and a message safe to show.
type HTTPError struct {
	Status  int
	Message string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

// Errorf returns an *HTTPError.
func Errorf(status int, format string, args ...any) error {
	return &HTTPError{Status: status, Message: fmt.Sprintf(format, args...)}
}

// NotFound is the error for anything the user may not see or that is not
// there: the two are never told apart, so ids cannot be probed.
var NotFound = &HTTPError{Status: http.StatusNotFound, Message: "Not found."}

// Public registers a handler that needs no session (pattern as for
// http.ServeMux, e.g. "GET /login").
func (a *App) Public(pattern string, h http.HandlerFunc) { a.mux.HandleFunc(pattern, h) }

// Page registers a handler for signed-in users. Without a session, GET
// requests are redirected to the login page and others get 401.
func (a *App) Page(pattern string, h Handler) { a.mux.Handle(pattern, a.wrap(h, false)) }

// Redirect registers a signed-in GET of pattern that redirects to to, such
// as a section's "GET /contacts" → "/contacts/".
func (a *App) Redirect(pattern, to string) {
	a.Page(pattern, func(w http.ResponseWriter, r *http.Request, _ *Ctx) error {
		http.Redirect(w, r, to, http.StatusSeeOther)
		return nil
	})
}

// AdminPage registers a handler for administrators; signed-in users who are
// not get 403.
func (a *App) AdminPage(pattern string, h Handler) { a.mux.Handle(pattern, a.wrap(h, true)) }

func (a *App) wrap(h Handler, admin bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := a.sessionCtx(w, r)
		if err != nil {
			a.fail(w, r, nil, err)
			return
		}
		if c == nil {
			if r.Method == http.MethodGet && r.Header.Get("HX-Request") == "" {
				http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			a.fail(w, r, nil, Errorf(http.StatusUnauthorized, "Your session has ended. Please sign in again."))
			return
		}
		if admin && !c.User.Admin {
			a.fail(w, r, c, Errorf(http.StatusForbidden, "This page is for administrators."))
			return
		}
		if !safeMethod(r.Method) {
			// Bound the body before anything reads it (the CSRF check may
			// parse a multipart form).
			r.Body = http.MaxBytesReader(w, r.Body, int64(a.cfg.MaxUpload))
			if err := checkCSRF(r, c.CSRF); err != nil {
				a.Log.Warn("webmail request refused", "reason", err, "user", c.User.Address, "path", r.URL.Path)
				a.fail(w, r, c, Errorf(http.StatusForbidden, "The form has expired or came from another site. Reload the page and try again."))
				return
			}
		}
		if err := h(w, r, c); err != nil {
			a.fail(w, r, c, err)
		}
	})
}

// fail renders err as an error page (or a short text for htmx requests).
func (a *App) fail(w http.ResponseWriter, r *http.Request, c *Ctx, err error) {
	var he *HTTPError
	if !errors.As(err, &he) {
		if errors.Is(err, context.Canceled) {
			return
		}
		a.Log.Error("webmail request failed", "path", r.URL.Path, "err", err)
		he = &HTTPError{Status: http.StatusInternalServerError, Message: "Something went wrong on the server; it has been logged."}
	}
	if r.Header.Get("HX-Request") != "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(he.Status)
		io.WriteString(w, he.Message)
		return
	}
	if c == nil {
		c = &Ctx{app: a}
	}
	c.status = he.Status
	if rerr := c.render(w, a.base, "error.html", "Error", he); rerr != nil {
		a.Log.Error("webmail error page failed", "err", rerr)
	}
}

func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// securityHeaders sets what every response carries. Pages that show remote
// images on request widen img-src with Ctx.AllowRemoteImages.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", cspBase+"img-src 'self' data: cid:")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

const cspBase = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; font-src 'self'; " +
	"frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
