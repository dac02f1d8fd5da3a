// Package webtest runs a webmail App over real HTTPS (httptest TLS server)
// on a fresh migrated database, with users and a browser-like client that
// keeps cookies and sends the CSRF token, for the webmail packages' tests.
package webtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
	"github.com/tidings/tidings/webmail/web"
)

// Domain is the test domain; Password every test user's password.
const (
	Domain   = "capulet.example"
	Password = "correct horse battery"
)

// Env is a running webmail over a fresh database.
type Env struct {
	DB       *migrations.DB
	Accounts *accounts.Store
	Store    *store.Store
	Filter   *filters.Filter
	App      *web.App
	Server   *httptest.Server
	Sent     *Outbox
	Admin    accounts.User // admin@capulet.example
	Juliet   accounts.User // juliet@capulet.example
	Romeo    accounts.User // romeo@capulet.example
}

// Outbox is a Submitter that records what the webmail sends and delivers
// local recipients into the store (as cmd/tidings does), so tests can read
// them back.
type Outbox struct {
	mu   sync.Mutex
	Msgs []Submitted
	env  *Env
}

// Submitted is one message the webmail submitted.
type Submitted struct {
	From  string
	Rcpts []string
	Msg   []byte
}

// Submit records the message and delivers local recipients to their INBOX.
func (o *Outbox) Submit(ctx context.Context, from accounts.User, rcpts []string, msg []byte) error {
	o.mu.Lock()
	o.Msgs = append(o.Msgs, Submitted{From: from.Address, Rcpts: rcpts, Msg: msg})
	o.mu.Unlock()
	var targets []store.Target
	for _, r := range rcpts {
		u, err := o.env.Accounts.Resolve(ctx, r)
		if err != nil {
			continue // remote: recorded only
		}
		targets = append(targets, store.Target{User: u})
	}
	if len(targets) == 0 {
		return nil
	}
	_, err := o.env.Store.Deliver(ctx, strings.NewReader(string(msg)), store.DeliverOptions{}, targets)
	return err
}

// Last returns the last submitted message.
func (o *Outbox) Last() (Submitted, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.Msgs) == 0 {
		return Submitted{}, false
	}
	return o.Msgs[len(o.Msgs)-1], true
}

// Options adjust New.
type Options struct {
	Config *web.Config            // nil: defaults
	Deps   func(*web.Deps)        // change the dependencies before the App is built
	Mount  []func(*web.App) error // the sections to mount
	DB     *migrations.DB         // nil: a fresh SQLite database
	Log    *slog.Logger           // nil: errors to stderr
}

// New starts a webmail with admin, juliet and romeo, all with Password.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	db := o.DB
	if db == nil {
		db = dbtest.SQLite(t)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	acfg := accounts.DefaultConfig()
	acfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(db, acfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := acc.AddDomain(ctx, Domain, accounts.DomainSettings{}); err != nil {
		t.Fatal(err)
	}
	stopWatch, err := acc.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopWatch)
	e := &Env{DB: db, Accounts: acc}
	for _, u := range []struct {
		p     *accounts.User
		name  string
		admin bool
	}{{&e.Admin, "admin", true}, {&e.Juliet, "juliet", false}, {&e.Romeo, "romeo", false}} {
		if *u.p, err = acc.AddUser(ctx, accounts.NewUser{Address: u.name + "@" + Domain, Password: Password, Admin: u.admin,
			DisplayName: strings.ToUpper(u.name[:1]) + u.name[1:]}); err != nil {
			t.Fatal(err)
		}
	}
	if e.Store, err = store.New(db, t.TempDir(), log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Store.Close)
	e.Filter = filters.New(db, acc, filters.DefaultConfig(), log)
	e.Sent = &Outbox{env: e}
	cfg := web.DefaultConfig()
	if o.Config != nil {
		cfg = *o.Config
	}
	d := web.Deps{DB: db, Accounts: acc, Store: e.Store, Scripts: e.Filter.Scripts(), Filter: e.Filter,
		Submitter: e.Sent, Hostname: "mail." + Domain, Log: log, MaxMessageSize: 10 << 20}
	if o.Deps != nil {
		o.Deps(&d)
	}
	if e.App, err = web.New(cfg, d); err != nil {
		t.Fatal(err)
	}
	for _, m := range o.Mount {
		if err := m(e.App); err != nil {
			t.Fatal(err)
		}
	}
	stop := e.App.Start(ctx)
	t.Cleanup(stop)
	e.Server = httptest.NewTLSServer(e.App)
	t.Cleanup(e.Server.Close)
	return e
}

// Client is a browser: it keeps cookies, does not follow redirects (tests
// check them), and sends the page's CSRF token with PostForm.
type Client struct {
	t    testing.TB
	e    *Env
	HTTP *http.Client
	CSRF string // the token from the last page that had one
}

// NewClient returns a client with no session.
func (e *Env) NewClient(t testing.TB) *Client {
	jar, _ := cookiejar.New(nil)
	tr := e.Server.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	return &Client{t: t, e: e, HTTP: &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Login signs in as address with Password and fails the test otherwise.
func (e *Env) Login(t testing.TB, address string) *Client {
	t.Helper()
	c := e.NewClient(t)
	c.Get("/login")
	res := c.PostForm("/login", url.Values{"username": {address}, "password": {Password}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %d %s", address, res.StatusCode, res.Body)
	}
	// Pick up the session's CSRF token from the first page, following
	// the section's redirects.
	c.CSRF = ""
	path := "/mail/"
	for range 5 {
		res := c.Get(path)
		if res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusFound {
			break
		}
		path = res.Header.Get("Location")
	}
	if c.CSRF == "" {
		c.Get("/settings/")
	}
	return c
}

// Response is a read response.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       string
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">|name="csrf" value="([^"]+)"`)

// Do sends a request and reads the response, remembering a CSRF token.
func (c *Client) Do(req *http.Request) Response {
	c.t.Helper()
	res, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	if m := csrfMeta.FindStringSubmatch(string(b)); m != nil {
		c.CSRF = m[1] + m[2]
	}
	return Response{StatusCode: res.StatusCode, Header: res.Header, Body: string(b)}
}

// Get fetches path.
func (c *Client) Get(path string) Response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.e.Server.URL+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.Do(req)
}

// PostForm posts form to path with the client's CSRF token (unless the
// form has its own "csrf").
func (c *Client) PostForm(path string, form url.Values) Response {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && c.CSRF != "" {
		form.Set("csrf", c.CSRF)
	}
	req, err := http.NewRequest(http.MethodPost, c.e.Server.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.Do(req)
}

// Post sends body with a content type (multipart forms, vCard uploads)
// and the CSRF token in the X-CSRF-Token header.
func (c *Client) Post(path, contentType string, body io.Reader) Response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.e.Server.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-CSRF-Token", c.CSRF)
	return c.Do(req)
}

// Deliver stores a raw message in u's mailbox ("" for INBOX) and returns
// its UID.
func (e *Env) Deliver(t testing.TB, u accounts.User, mailbox, msg string) uint32 {
	t.Helper()
	res, err := e.Store.Deliver(context.Background(), strings.NewReader(msg), store.DeliverOptions{},
		[]store.Target{{User: u, Mailbox: mailbox}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	return res[0].UID
}

// Message returns a small RFC 5322 message.
func Message(from, to, subject, body string) string {
	return fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n"+
		"Message-ID: <%s@test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		from, to, subject, strings.ReplaceAll(strings.ToLower(subject), " ", "."), body)
}
