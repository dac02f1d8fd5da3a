// Package admin is the administrators' console under /admin/: live counts,
// domains with their mail and XMPP switches and the DNS records to publish,
// users, aliases, the listeners switched at run time ("Servers") and the
// outbound queue.
//
// Every route is registered with web.App.AdminPage: a signed-in user who is
// not an administrator gets 403, a browser without a session is sent to the
// login page, and every form carries the session's CSRF token (checked by
// the core). Unknown paths under /admin/ are admin pages too (404 for
// administrators, 403 for everyone else), so nobody else can probe the
// console's shape.
//
// Implementation notes:
//   - Deleting a domain or a user and dropping queued mail go through a
//     confirmation page reached by GET, so they are confirmed without
//     JavaScript too. State changes only on POST, answered with a redirect
//     and a flash (POST-redirect-GET). The one exception is a generated
//     password: it is rendered once in the POST's answer (never in a
//     cookie or a URL), with Cache-Control: no-store.
//   - An administrator can neither delete, demote nor disable their own
//     account, nor delete the domain it lives in: the console must not
//     lock out the administrator using it.
//   - Servers, queue, counts and DNS records come through interfaces
//     (web.Services, web.Queue, web.Stats, web.DNS) that cmd/tidings
//     implements; a nil one makes its section say "not available". A Queue
//     reports an unknown entry with an error matching web.NotFound.
package admin

import (
	"embed"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/webmail/web"
)

//go:embed templates
var files embed.FS

// console is the mounted section.
type console struct {
	a  *web.App
	ps *web.Pages
}

type route struct {
	pattern string
	h       web.Handler
}

// routes lists every handler of the console; each is an admin page.
func (h *console) routes() []route {
	return []route{
		{"GET /admin/{$}", h.dashboard},
		{"GET /admin/counts", h.counts},

		{"GET /admin/domains", h.domains},
		{"POST /admin/domains", h.addDomain},
		{"GET /admin/domains/{name}", h.domain},
		{"POST /admin/domains/{name}", h.setDomain},
		{"GET /admin/domains/{name}/dns", h.domainDNS},
		{"GET /admin/domains/{name}/delete", h.confirmDeleteDomain},
		{"POST /admin/domains/{name}/delete", h.deleteDomain},

		{"GET /admin/users", h.users},
		{"GET /admin/users/new", h.newUser},
		{"POST /admin/users", h.addUser},
		{"GET /admin/users/{address}", h.user},
		{"POST /admin/users/{address}", h.updateUser},
		{"POST /admin/users/{address}/password", h.resetPassword},
		{"GET /admin/users/{address}/delete", h.confirmDeleteUser},
		{"POST /admin/users/{address}/delete", h.deleteUser},

		{"GET /admin/aliases", h.aliases},
		{"POST /admin/aliases", h.addAlias},
		{"POST /admin/aliases/{alias}/delete", h.deleteAlias},

		{"GET /admin/servers", h.servers},
		{"POST /admin/servers/{name}", h.setServer},

		{"GET /admin/queue", h.queue},
		{"POST /admin/queue/{id}/retry", h.retryQueued},
		{"GET /admin/queue/{id}/drop", h.confirmDrop},
		{"POST /admin/queue/{id}/drop", h.dropQueued},

		// Anything else under /admin/: 404 for administrators (a GET of a
		// page with a trailing slash is redirected to it), 403 for others.
		{"/admin/", func(w http.ResponseWriter, r *http.Request, _ *web.Ctx) error {
			if p := r.URL.Path; r.Method == http.MethodGet && p != "/admin/" && strings.HasSuffix(p, "/") {
				http.Redirect(w, r, strings.TrimRight(p, "/"), http.StatusSeeOther)
				return nil
			}
			return web.NotFound
		}},
	}
}

// Mount registers the console's handlers.
func Mount(a *web.App) error {
	ps, err := a.Templates(files, "templates/*.html", "templates/*.tmpl")
	if err != nil {
		return err
	}
	h := &console{a: a, ps: ps}
	for _, r := range h.routes() {
		a.AdminPage(r.pattern, r.h)
	}
	return nil
}

// render shows one of the console's pages.
func (h *console) render(w http.ResponseWriter, c *web.Ctx, page, title string, data any) error {
	c.Nav = "admin"
	return c.Render(w, h.ps, page, title, data)
}

// userPath is the console's URL of a user, alias or domain name: a
// localpart may hold '/', '?', '#' and '%'.
func userPath(address string) string { return "/admin/users/" + url.PathEscape(address) }

func domainPath(name string) string { return "/admin/domains/" + url.PathEscape(name) }

// checked reads a checkbox.
func checked(r *http.Request, name string) bool { return r.PostFormValue(name) != "" }

// field reads a text field without surrounding space.
func field(r *http.Request, name string) string { return strings.TrimSpace(r.PostFormValue(name)) }

// nameProblem turns the account store's refusal of a name or password into
// a sentence for the form, or "" if err is neither.
func nameProblem(err error) string {
	var ne *accounts.NameError
	var pe *accounts.PasswordError
	switch {
	case errors.As(err, &ne):
		return sentence(ne.Error())
	case errors.As(err, &pe):
		return sentence("The password was refused: " + pe.Reason)
	}
	return ""
}

// sentence starts s with a capital and ends it with a full stop.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// onOff says a switch's state in words (never by colour alone).
func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
