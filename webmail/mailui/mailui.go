// Package mailui is the webmail's mail section: the folder list with
// unread counts, a paged, sortable, searchable message list, the message
// view (HTML mail sanitised and sandboxed, remote images blocked until the
// user loads them, attachments), actions on one or many messages (move,
// delete, flag, mark read), compose with reply, reply-all, forward and
// drafts, and live updates over Server-Sent Events from the store's change
// bus.
//
// URLs. A mailbox is one path segment: its name path-escaped, so the
// hierarchy separator '/' travels as %2F ("Work/Projects" is
// /mail/Work%2FProjects/). ServeMux unescapes each segment, so the box
// wildcard gives the name back whole.
//
//	GET  /mail/                           redirect to INBOX
//	GET  /mail/{box}/                     message list (?page= &sort=date|from|subject|size &order=asc|desc &q= &unread=1)
//	GET  /mail/{box}/{uid}                message view (marks it read)
//	GET  /mail/{box}/{uid}/html           the sanitised HTML part, for the sandboxed iframe (?images=1)
//	GET  /mail/{box}/{uid}/part/{n}       download part n (walk order from 0)
//	GET  /mail/{box}/{uid}/raw            the message source as text/plain
//	POST /mail/{box}/actions              uid=…(many) action=read|unread|flag|unflag|delete|move to=… back=…
//	GET  /mail/compose                    ?to= ?reply=box/uid ?replyall=box/uid ?forward=box/uid ?draft=uid
//	POST /mail/compose                    action=send|draft (multipart with attachments)
//	GET  /mail/folders                    the folder list fragment (?box= marks the current one)
//	GET  /mail/events                     Server-Sent Events: "mail" on every change, "reload" after an overflow
//
// Every mailbox is looked up by name under the signed-in user's ID, so a
// UID of someone else's mailbox is never reachable: it answers 404 like a
// message that is not there.
//
// Viewing a message marks it \Seen, as an IMAP FETCH of its body does: the
// one state change a GET makes, idempotent and the user's own.
package mailui

import (
	"context"
	"embed"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/webmail/web"
)

//go:embed templates
var templateFiles embed.FS

// ui is the mounted section.
type ui struct {
	a     *web.App
	pages *web.Pages
}

// Mount registers the section's handlers.
func Mount(a *web.App) error {
	ps, err := a.Templates(templateFiles, "templates/*.html", "templates/*.tmpl")
	if err != nil {
		return err
	}
	u := &ui{a: a, pages: ps}
	a.Page("GET /mail/{$}", u.home)
	a.Page("GET /mail/folders", u.foldersFragment)
	a.Page("GET /mail/events", u.events)
	a.Page("GET /mail/compose", u.composeForm)
	a.Page("POST /mail/compose", u.composeSubmit)
	a.Page("GET /mail/{box}/{$}", u.list)
	a.Page("POST /mail/{box}/actions", u.actions)
	a.Page("GET /mail/{box}/{uid}", u.view)
	a.Page("GET /mail/{box}/{uid}/html", u.viewHTML)
	a.Page("GET /mail/{box}/{uid}/raw", u.raw)
	a.Page("GET /mail/{box}/{uid}/part/{n}", u.part)
	return nil
}

func (u *ui) home(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	http.Redirect(w, r, boxURL("INBOX"), http.StatusSeeOther)
	return nil
}

// boxURL is a mailbox's list URL.
func boxURL(name string) string { return "/mail/" + escapeBox(name) + "/" }

// msgURL is a message's view URL.
func msgURL(box string, uid uint32) string {
	return "/mail/" + escapeBox(box) + "/" + strconv.FormatUint(uint64(uid), 10)
}

// escapeBox makes a mailbox name one path segment ('/' is %2F; "." and
// ".." are escaped so that no one cleans them away).
func escapeBox(name string) string {
	s := url.PathEscape(name)
	if strings.Trim(s, ".") == "" {
		s = strings.ReplaceAll(s, ".", "%2E")
	}
	return s
}

// mailbox finds the request's {box} among the user's mailboxes.
func (u *ui) mailbox(r *http.Request, c *web.Ctx) (store.Mailbox, error) {
	return u.mailboxNamed(r.Context(), c, r.PathValue("box"))
}

func (u *ui) mailboxNamed(ctx context.Context, c *web.Ctx, name string) (store.Mailbox, error) {
	m, err := u.a.Store.Mailbox(ctx, c.User.ID, name)
	if errors.Is(err, store.ErrNoMailbox) {
		// A new user's default mailboxes come with the first look.
		if err := u.a.Store.EnsureDefaults(ctx, c.User.ID); err != nil {
			return m, err
		}
		m, err = u.a.Store.Mailbox(ctx, c.User.ID, name)
	}
	if errors.Is(err, store.ErrNoMailbox) || errors.Is(err, store.ErrInvalidName) {
		return m, web.NotFound
	}
	return m, err
}

// parseUID reads a UID from a URL or form; 0 is never one.
func parseUID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil && n > 0
}

// specialMailbox finds the user's mailbox with a special use (RFC 6154),
// else the one with the default name, else creates it.
func (u *ui) specialMailbox(ctx context.Context, c *web.Ctx, use, name string) (store.Mailbox, error) {
	ms, err := u.a.Store.Mailboxes(ctx, c.User.ID)
	if err != nil {
		return store.Mailbox{}, err
	}
	for _, m := range ms {
		if m.SpecialUse == use {
			return m, nil
		}
	}
	for _, m := range ms {
		if m.Name == name {
			return m, nil
		}
	}
	m, err := u.a.Store.CreateMailbox(ctx, c.User.ID, name, use)
	if errors.Is(err, store.ErrMailboxExists) {
		return u.a.Store.Mailbox(ctx, c.User.ID, name)
	}
	return m, err
}

// hasFlag reports whether flags hold f (system flags compare
// case-insensitively).
func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

// isHTMX tells an htmx request that targets the element id.
func isHTMX(r *http.Request, target string) bool {
	return r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Target") == target
}
