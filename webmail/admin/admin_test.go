package admin_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations/dbtest"
	"github.com/tidings/tidings/webmail/admin"
	"github.com/tidings/tidings/webmail/web"
	"github.com/tidings/tidings/webmail/web/webtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// The fakes stand in for cmd/tidings' adapters (tested there against the
// real subsystems); here they let the console's own behaviour be checked.

type fakeServices struct {
	mu   sync.Mutex
	list []web.Service
	fail error
}

func (f *fakeServices) Services() []web.Service {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]web.Service(nil), f.list...)
}

func (f *fakeServices) SetService(_ context.Context, name string, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	for i := range f.list {
		if f.list[i].Name == name {
			f.list[i].On = on
			return nil
		}
	}
	return errors.New("no such service")
}

type fakeQueue struct {
	mu      sync.Mutex
	entries []web.QueueEntry
	retried []int64
}

func (f *fakeQueue) QueueList(context.Context) ([]web.QueueEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]web.QueueEntry(nil), f.entries...), nil
}

func (f *fakeQueue) QueueRetry(_ context.Context, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.entries {
		if e.ID == id {
			f.retried = append(f.retried, id)
			return nil
		}
	}
	return web.NotFound
}

func (f *fakeQueue) QueueDrop(_ context.Context, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, e := range f.entries {
		if e.ID == id {
			f.entries = append(f.entries[:i], f.entries[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("queue entry %d: %w", id, web.NotFound)
}

type fakeStats struct{ c web.Counts }

func (f fakeStats) Counts(context.Context) web.Counts { return f.c }

type fakeDNS struct{}

func (fakeDNS) Records(_ context.Context, domain string, check bool) ([]web.DNSRecord, error) {
	rs := []web.DNSRecord{
		{Name: domain, Type: "MX", Value: "10 mail." + domain + ".", Why: "mail for the domain goes to this server"},
		{Name: "_dmarc." + domain, Type: "TXT", Value: "v=DMARC1; p=quarantine", Why: "DMARC"},
	}
	if check {
		rs[0].Status = "ok"
		rs[1].Status, rs[1].Found = "missing", "not published"
	}
	return rs, nil
}

type fixture struct {
	*webtest.Env
	admin    *webtest.Client
	services *fakeServices
	queue    *fakeQueue
}

// newFixture starts the console with fakes; nilDeps leaves Services,
// Queue, Stats and DNS nil.
func newFixture(t *testing.T, nilDeps bool) *fixture {
	f := &fixture{
		services: &fakeServices{list: []web.Service{
			{Name: "smtp", Label: "SMTP (MX, port 25)", Addr: ":25", On: true},
			{Name: "imap", Label: "IMAP (port 143)", Addr: ":143", On: false},
		}},
		queue: &fakeQueue{entries: []web.QueueEntry{{ID: 7, Sender: "juliet@capulet.example", Recipients: []string{"friar@laurence.example"},
			Size: 2048, Attempts: 3, NextTry: time.Now().Add(time.Hour), LastError: "451 try again later", Created: time.Now().Add(-time.Hour)}}},
	}
	f.Env = webtest.New(t, webtest.Options{Mount: []func(*web.App) error{admin.Mount}, Deps: func(d *web.Deps) {
		if nilDeps {
			return
		}
		d.Services, d.Queue, d.DNS = f.services, f.queue, fakeDNS{}
		d.Stats = fakeStats{web.Counts{XMPPOnline: 3, XMPPSess: 4, IMAPOnline: 5, IMAPSess: 6, MailToday: 42}}
	}})
	f.admin = f.login(t, f.Admin.Address)
	return f
}

// login signs in and picks up the CSRF token from a console page.
func (f *fixture) login(t *testing.T, address string) *webtest.Client {
	c := f.Login(t, address)
	c.Get("/admin/")
	if c.CSRF == "" {
		t.Fatal("no CSRF token after login")
	}
	return c
}

// post posts a form and follows the 303, returning the next page.
func post(t *testing.T, c *webtest.Client, path string, form url.Values) webtest.Response {
	t.Helper()
	res := c.PostForm(path, form)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST %s: %d, want 303\n%s", path, res.StatusCode, res.Body)
	}
	return c.Get(res.Header.Get("Location"))
}

func contains(t *testing.T, res webtest.Response, want ...string) {
	t.Helper()
	body := html.UnescapeString(res.Body)
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q:\n%s", w, body)
		}
	}
}

// concrete turns a route pattern into a method and a path.
func concrete(pattern string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "GET", pattern
	}
	r := strings.NewReplacer("{$}", "", "{name}", "capulet.example", "{address}", "romeo@capulet.example",
		"{alias}", "nurse@capulet.example", "{id}", "7")
	path = r.Replace(path)
	if path == "/admin/" && pattern == "/admin/" {
		path = "/admin/no-such-page"
	}
	return method, path
}

// TestAccessControl: every route of the console refuses a user who is not
// an administrator (403) and a browser without a session (login page or
// 401), whatever the method, and works for an administrator.
func TestAccessControl(t *testing.T) {
	f := newFixture(t, false)
	juliet := f.login(t, f.Juliet.Address)
	anon := f.NewClient(t)
	patterns := admin.Patterns()
	if len(patterns) < 25 {
		t.Fatalf("only %d routes", len(patterns))
	}
	for _, p := range patterns {
		method, path := concrete(p)
		t.Run(p, func(t *testing.T) {
			for _, m := range []string{"GET", "POST"} {
				var res, ares webtest.Response
				if m == "GET" {
					res, ares = juliet.Get(path), anon.Get(path)
				} else {
					res, ares = juliet.PostForm(path, url.Values{"force": {"1"}, "on": {"0"}}), anon.PostForm(path, nil)
				}
				if res.StatusCode != http.StatusForbidden || !strings.Contains(res.Body, "This page is for administrators") {
					t.Errorf("non-admin %s %s: %d", m, path, res.StatusCode)
				}
				if m == "GET" && (ares.StatusCode != http.StatusSeeOther || !strings.HasPrefix(ares.Header.Get("Location"), "/login?next=")) {
					t.Errorf("anonymous GET %s: %d %s", path, ares.StatusCode, ares.Header.Get("Location"))
				}
				if m == "POST" && ares.StatusCode != http.StatusUnauthorized {
					t.Errorf("anonymous POST %s: %d", path, ares.StatusCode)
				}
			}
			if method == "GET" {
				want := http.StatusOK
				if p == "/admin/" {
					want = http.StatusNotFound
				}
				if res := f.admin.Get(path); res.StatusCode != want {
					t.Errorf("admin GET %s: %d, want %d", path, res.StatusCode, want)
				}
			}
		})
	}
	// A console page asked for with a trailing slash is redirected to it.
	if res := f.admin.Get("/admin/users/"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/admin/users" {
		t.Errorf("GET /admin/users/: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res := f.admin.Get("/admin/nothing"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /admin/nothing: %d", res.StatusCode)
	}
	// Nothing was changed by the refused requests.
	ctx := context.Background()
	if _, err := f.Accounts.User(ctx, f.Romeo.Address); err != nil {
		t.Errorf("romeo: %v", err)
	}
	if d, err := f.Accounts.Domain(ctx, webtest.Domain); err != nil || !d.MailEnabled {
		t.Errorf("domain: %+v %v", d, err)
	}
	if es, _ := f.queue.QueueList(ctx); len(es) != 1 || len(f.queue.retried) != 0 {
		t.Errorf("queue touched: %v %v", es, f.queue.retried)
	}
	if !f.services.list[0].On {
		t.Error("service switched by a non-admin")
	}
}

// TestCSRF: a console form without the session's token changes nothing.
func TestCSRF(t *testing.T) {
	f := newFixture(t, false)
	for _, tok := range []string{"", "forged"} {
		res := f.admin.PostForm("/admin/users", url.Values{"csrf": {tok}, "address": {"tybalt@capulet.example"}, "password": {webtest.Password}})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("token %q: %d", tok, res.StatusCode)
		}
		res = f.admin.PostForm("/admin/users/romeo@capulet.example/delete", url.Values{"csrf": {tok}})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("delete, token %q: %d", tok, res.StatusCode)
		}
	}
	if _, err := f.Accounts.User(context.Background(), "tybalt@capulet.example"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("user created without a token: %v", err)
	}
	if _, err := f.Accounts.User(context.Background(), f.Romeo.Address); err != nil {
		t.Errorf("user deleted without a token: %v", err)
	}
}

var generatedRE = regexp.MustCompile(`<output id="generated-password"[^>]*>([^<]+)</output>`)

// TestCreateUser: a user the console creates can sign in to the webmail
// and to IMAP and XMPP with that password, typed or generated.
func TestCreateUser(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	page := f.admin.Get("/admin/users/new")
	contains(t, page, `<label for="address">Address</label>`, `<label for="password">Password</label>`, "Generate a password", "Create user")

	res := post(t, f.admin, "/admin/users", url.Values{"address": {"Tybalt@Capulet.example"}, "name": {"Tybalt"}, "password": {webtest.Password},
		"quota": {"2GiB"}, "xmpp": {"1"}})
	contains(t, res, "User tybalt@capulet.example created.", `value="Tybalt"`, `value="2GiB"`)
	u, err := f.Accounts.User(ctx, "tybalt@capulet.example")
	if err != nil || u.Quota != 2<<30 || !u.XMPPEnabled || u.Admin || u.DisplayName != "Tybalt" {
		t.Fatalf("created: %+v %v", u, err)
	}
	f.Login(t, u.Address) // fails the test if the webmail refuses
	for _, svc := range []accounts.Service{accounts.ServiceIMAP, accounts.ServiceXMPP, accounts.ServiceSMTP} {
		if _, err := f.Accounts.Authenticate(ctx, accounts.Attempt{Username: u.Address, Password: webtest.Password, Service: svc}); err != nil {
			t.Errorf("%s login: %v", svc, err)
		}
	}

	// Generated: shown once on the answer, and it works.
	gen := f.admin.PostForm("/admin/users", url.Values{"address": {"nurse@capulet.example"}, "generate": {"1"}, "admin": {"1"}})
	m := generatedRE.FindStringSubmatch(gen.Body)
	if gen.StatusCode != http.StatusOK || m == nil || gen.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("generated: %d %v\n%s", gen.StatusCode, gen.Header, gen.Body)
	}
	nurse, err := f.Accounts.Authenticate(ctx, accounts.Attempt{Username: "nurse@capulet.example", Password: html.UnescapeString(m[1]), Service: accounts.ServiceIMAP})
	if err != nil || !nurse.Admin {
		t.Fatalf("generated password: %+v %v", nurse, err)
	}
	if strings.Contains(f.admin.Get("/admin/users/nurse@capulet.example").Body, m[1]) {
		t.Error("the generated password is shown again")
	}

	// Refusals keep what was typed and say why.
	for _, tc := range []struct {
		form   url.Values
		status int
		want   string
	}{
		{url.Values{"address": {"not an address"}, "password": {webtest.Password}}, 400, "Invalid address"},
		{url.Values{"address": {"x@montague.example"}, "password": {webtest.Password}}, 400, "There is no domain montague.example here"},
		{url.Values{"address": {"juliet@capulet.example"}, "password": {webtest.Password}}, 409, "juliet@capulet.example is already taken"},
		{url.Values{"address": {"paris@capulet.example"}}, 400, "Enter a password, or tick “Generate a password”"},
		{url.Values{"address": {"paris@capulet.example"}, "password": {"short"}}, 400, "The password was refused"},
		{url.Values{"address": {"paris@capulet.example"}, "password": {webtest.Password}, "quota": {"lots"}}, 400, `The quota "lots" is not a size`},
	} {
		res := f.admin.PostForm("/admin/users", tc.form)
		if res.StatusCode != tc.status {
			t.Errorf("%v: %d, want %d", tc.form, res.StatusCode, tc.status)
		}
		contains(t, res, tc.want, `value="`+tc.form.Get("address")+`"`)
	}
	if _, err := f.Accounts.User(ctx, "paris@capulet.example"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("refused user exists: %v", err)
	}
}

// TestSelfProtection: an administrator cannot demote, disable or delete
// themself, nor delete their own domain.
func TestSelfProtection(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	self := "/admin/users/" + f.Admin.Address
	page := f.admin.Get(self)
	contains(t, page, "You cannot delete your own account.", "you cannot disable it or remove your administrator rights")
	if strings.Contains(page.Body, "Delete user…") {
		t.Error("delete offered for oneself")
	}
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"name": {"Boss"}, "xmpp": {"1"}}, "You cannot remove your own administrator rights"},
		{url.Values{"name": {"Boss"}, "admin": {"1"}, "disabled": {"1"}}, "You cannot disable your own account."},
	} {
		res := f.admin.PostForm(self, tc.form)
		if res.StatusCode != http.StatusConflict {
			t.Errorf("%v: %d", tc.form, res.StatusCode)
		}
		contains(t, res, tc.want)
	}
	if res := f.admin.PostForm(self+"/delete", nil); res.StatusCode != http.StatusConflict {
		t.Errorf("delete self: %d", res.StatusCode)
	} else {
		contains(t, res, "You cannot delete your own account.")
	}
	if res := f.admin.PostForm("/admin/domains/capulet.example/delete", url.Values{"force": {"1"}}); res.StatusCode != http.StatusConflict {
		t.Errorf("delete own domain: %d", res.StatusCode)
	} else {
		contains(t, res, "your own account is in it")
	}
	u, err := f.Accounts.User(ctx, f.Admin.Address)
	if err != nil || !u.Admin || u.Disabled || u.DisplayName != "Admin" {
		t.Fatalf("admin changed: %+v %v", u, err)
	}
	// Editing oneself otherwise works.
	post(t, f.admin, self, url.Values{"name": {"Boss"}, "admin": {"1"}, "xmpp": {"1"}, "quota": {"0"}})
	if u, _ := f.Accounts.User(ctx, f.Admin.Address); u.DisplayName != "Boss" || u.Quota != 0 {
		t.Errorf("self edit: %+v", u)
	}
	// And so does one's own password reset, without signing out here.
	res := post(t, f.admin, self+"/password", url.Values{"password": {"a brand new password"}})
	contains(t, res, "Password of admin@capulet.example changed")
	if res := f.admin.Get("/admin/"); res.StatusCode != http.StatusOK {
		t.Errorf("signed out by own password reset: %d", res.StatusCode)
	}
}

// TestEditUser: settings, password reset, delete, and the user list.
func TestEditUser(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	f.Deliver(t, f.Romeo, "", webtest.Message("juliet@capulet.example", "romeo@capulet.example", "Wherefore", strings.Repeat("art thou ", 200)))
	romeo := "/admin/users/romeo@capulet.example"
	contains(t, f.admin.Get(romeo), "in 1 messages", "Save changes", "Reset password", "Delete user…")

	res := post(t, f.admin, romeo, url.Values{"name": {"Romeo M."}, "disabled": {"1"}, "quota": {"1GiB"}})
	contains(t, res, "Saved the settings of romeo@capulet.example.")
	u, _ := f.Accounts.User(ctx, f.Romeo.Address)
	if !u.Disabled || u.XMPPEnabled || u.Admin || u.Quota != 1<<30 || u.DisplayName != "Romeo M." {
		t.Errorf("updated: %+v", u)
	}
	if res := f.admin.PostForm(romeo, url.Values{"quota": {"huge"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("bad quota: %d", res.StatusCode)
	}
	post(t, f.admin, romeo, url.Values{"name": {"Romeo"}, "xmpp": {"1"}, "quota": {""}})
	if u, _ := f.Accounts.User(ctx, f.Romeo.Address); u.Disabled || !u.XMPPEnabled || u.Quota != f.Accounts.Config().DefaultQuota {
		t.Errorf("re-enabled: %+v", u)
	}

	// Password reset, typed and refused.
	if res := f.admin.PostForm(romeo+"/password", nil); res.StatusCode != http.StatusBadRequest {
		t.Errorf("empty password: %d", res.StatusCode)
	}
	post(t, f.admin, romeo+"/password", url.Values{"password": {"parting is such sweet sorrow"}})
	if _, err := f.Accounts.Authenticate(ctx, accounts.Attempt{Username: f.Romeo.Address, Password: "parting is such sweet sorrow", Service: accounts.ServiceXMPP}); err != nil {
		t.Errorf("new password: %v", err)
	}

	// The list: filter by domain and search.
	if _, err := f.Accounts.AddDomain(ctx, "montague.example", accounts.DomainSettings{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Accounts.AddUser(ctx, accounts.NewUser{Address: "benvolio@montague.example", Password: webtest.Password}); err != nil {
		t.Fatal(err)
	}
	list := f.admin.Get("/admin/users?domain=montague.example")
	contains(t, list, "benvolio@montague.example", "1 user match")
	if strings.Contains(list.Body, "romeo@") {
		t.Error("domain filter")
	}
	list = f.admin.Get("/admin/users?q=ROM")
	contains(t, list, "romeo@capulet.example")
	if strings.Contains(list.Body, "juliet@") || strings.Contains(list.Body, "benvolio@") {
		t.Error("search")
	}
	if res := f.admin.Get("/admin/users/nobody@capulet.example"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown user: %d", res.StatusCode)
	}

	// Delete, through the confirmation page.
	contains(t, f.admin.Get(romeo+"/delete"), "Delete romeo@capulet.example?", "Delete user")
	contains(t, post(t, f.admin, romeo+"/delete", nil), "User romeo@capulet.example deleted.")
	if _, err := f.Accounts.User(ctx, f.Romeo.Address); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("romeo: %v", err)
	}
}

func TestDomains(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	contains(t, f.admin.Get("/admin/domains"), "capulet.example", `<label for="domain">Domain</label>`, "Add domain")

	res := post(t, f.admin, "/admin/domains", url.Values{"domain": {"Montague.Example"}})
	contains(t, res, "Domain montague.example added.", "Save switches", "DNS records")
	for _, tc := range []struct {
		name   string
		status int
		want   string
	}{
		{"bad domain!", 400, "Invalid domain"},
		{"montague.example", 409, "already hosted here"},
		{"", 400, "Enter a domain name"},
	} {
		res := f.admin.PostForm("/admin/domains", url.Values{"domain": {tc.name}})
		if res.StatusCode != tc.status {
			t.Errorf("%q: %d", tc.name, res.StatusCode)
		}
		contains(t, res, tc.want)
	}

	// Switches.
	contains(t, post(t, f.admin, "/admin/domains/montague.example", url.Values{"xmpp": {"1"}}), "montague.example: mail off, XMPP on.")
	if d, _ := f.Accounts.Domain(ctx, "montague.example"); d.MailEnabled || !d.XMPPEnabled {
		t.Errorf("switches: %+v", d)
	}

	// DNS records and their check.
	dns := f.admin.Get("/admin/domains/montague.example/dns")
	contains(t, dns, "10 mail.montague.example.", "Check DNS")
	if strings.Contains(dns.Body, "missing") {
		t.Error("check shown unasked")
	}
	contains(t, f.admin.Get("/admin/domains/montague.example/dns?check=1"), "1 of 2 records need attention", "missing", "not published", ">ok<")

	// Delete: refused while users exist, unless forced.
	if _, err := f.Accounts.AddUser(ctx, accounts.NewUser{Address: "benvolio@montague.example", Password: webtest.Password}); err != nil {
		t.Fatal(err)
	}
	contains(t, f.admin.Get("/admin/domains/montague.example/delete"), "Delete with all its users", "Delete domain")
	res = f.admin.PostForm("/admin/domains/montague.example/delete", nil)
	if res.StatusCode != http.StatusConflict {
		t.Errorf("delete in use: %d", res.StatusCode)
	}
	contains(t, res, "montague.example still has 1 users")
	contains(t, post(t, f.admin, "/admin/domains/montague.example/delete", url.Values{"force": {"1"}}), "Domain montague.example deleted.")
	if _, err := f.Accounts.User(ctx, "benvolio@montague.example"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("user of deleted domain: %v", err)
	}
	if res := f.admin.Get("/admin/domains/montague.example"); res.StatusCode != http.StatusNotFound {
		t.Errorf("deleted domain: %d", res.StatusCode)
	}
}

func TestAliases(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	contains(t, f.admin.Get("/admin/aliases"), `<label for="alias">Alias address</label>`, `<label for="target">Delivers to</label>`, "Add alias")
	res := post(t, f.admin, "/admin/aliases", url.Values{"alias": {"Nurse@capulet.example"}, "target": {"juliet@capulet.example"}})
	contains(t, res, "Alias nurse@capulet.example added: it delivers to juliet@capulet.example.", "nurse@capulet.example")
	if u, err := f.Accounts.Resolve(ctx, "nurse@capulet.example"); err != nil || u.ID != f.Juliet.ID {
		t.Fatalf("resolve: %+v %v", u, err)
	}
	for _, tc := range []struct {
		alias, target string
		status        int
		want          string
	}{
		{"nurse@capulet.example", "romeo@capulet.example", 409, "already taken"},
		{"friar@laurence.example", "romeo@capulet.example", 400, "There is no domain laurence.example here"},
		{"friar@capulet.example", "friar@laurence.example", 400, "There is no user friar@laurence.example"},
		{"bad alias", "romeo@capulet.example", 400, "Invalid"},
		{"", "romeo@capulet.example", 400, "Enter both"},
	} {
		res := f.admin.PostForm("/admin/aliases", url.Values{"alias": {tc.alias}, "target": {tc.target}})
		if res.StatusCode != tc.status {
			t.Errorf("%s → %s: %d", tc.alias, tc.target, res.StatusCode)
		}
		contains(t, res, tc.want)
	}
	contains(t, post(t, f.admin, "/admin/aliases/nurse@capulet.example/delete", nil), "Alias nurse@capulet.example deleted.")
	if _, err := f.Accounts.Resolve(ctx, "nurse@capulet.example"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("deleted alias: %v", err)
	}
	contains(t, post(t, f.admin, "/admin/aliases/nurse@capulet.example/delete", nil), "There is no alias nurse@capulet.example")
}

func TestServersQueueCounts(t *testing.T) {
	f := newFixture(t, false)
	contains(t, f.admin.Get("/admin/servers"), "SMTP (MX, port 25)", "Turn off", "IMAP (port 143)", "Turn on")
	contains(t, post(t, f.admin, "/admin/servers/imap", url.Values{"on": {"1"}}), "IMAP (port 143) is on.")
	contains(t, post(t, f.admin, "/admin/servers/smtp", url.Values{"on": {"0"}}), "SMTP (MX, port 25) is off.")
	if s := f.services.Services(); s[0].On || !s[1].On {
		t.Errorf("services: %+v", s)
	}
	if res := f.admin.PostForm("/admin/servers/gopher", url.Values{"on": {"1"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown service: %d", res.StatusCode)
	}
	if res := f.admin.PostForm("/admin/servers/smtp", url.Values{"on": {"maybe"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("bad switch: %d", res.StatusCode)
	}
	f.services.fail = errors.New("listen tcp :25: bind: address already in use")
	res := f.admin.PostForm("/admin/servers/smtp", url.Values{"on": {"1"}})
	if res.StatusCode != http.StatusInternalServerError {
		t.Errorf("failed switch: %d", res.StatusCode)
	}
	contains(t, res, "Could not turn SMTP (MX, port 25) on: listen tcp :25: bind: address already in use")

	contains(t, f.admin.Get("/admin/queue"), "friar@laurence.example", "451 try again later", "Retry now", "Drop…")
	contains(t, post(t, f.admin, "/admin/queue/7/retry", nil), "Entry 7 will be retried now.")
	if len(f.queue.retried) != 1 {
		t.Errorf("retried: %v", f.queue.retried)
	}
	contains(t, f.admin.Get("/admin/queue/7/drop"), "Drop queued mail 7?", "friar@laurence.example")
	contains(t, post(t, f.admin, "/admin/queue/7/drop", nil), "Entry 7 dropped.", "The queue is empty.")
	contains(t, post(t, f.admin, "/admin/queue/7/drop", nil), "Entry 7 is no longer in the queue.")
	contains(t, post(t, f.admin, "/admin/queue/7/retry", nil), "Entry 7 is no longer in the queue.")
	if res := f.admin.PostForm("/admin/queue/x/drop", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("bad id: %d", res.StatusCode)
	}

	dash := f.admin.Get("/admin/")
	contains(t, dash, `hx-get="/admin/counts"`, `hx-trigger="every 10s"`, "Users online over XMPP", `id="count-xmpp-users">3<`,
		`id="count-imap-sessions">6<`, `id="count-mail-today">42<`, ">3</span> users")
	frag := f.admin.Get("/admin/counts")
	contains(t, frag, `id="count-imap-users">5<`)
	if strings.Contains(frag.Body, "<html") {
		t.Error("the counts fragment has the layout")
	}
}

// TestNotAvailable: without the cmd/tidings adapters the sections say so.
func TestNotAvailable(t *testing.T) {
	f := newFixture(t, true)
	contains(t, f.admin.Get("/admin/"), "Live counts are not available")
	contains(t, f.admin.Get("/admin/servers"), "not available in this server")
	contains(t, f.admin.Get("/admin/queue"), "not available in this server")
	contains(t, f.admin.Get("/admin/domains/capulet.example/dns"), "DNS records are not available")
	if res := f.admin.PostForm("/admin/servers/smtp", url.Values{"on": {"1"}}); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("servers: %d", res.StatusCode)
	}
	if res := f.admin.PostForm("/admin/queue/1/drop", nil); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("queue: %d", res.StatusCode)
	}
}
