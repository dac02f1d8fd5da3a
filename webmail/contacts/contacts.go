// Package contacts is the webmail's address book: list and search, add,
// edit and delete contacts, vCard export and import, address completion
// for the compose page and "add sender to contacts" from a message.
//
// The contacts are the accounts store's (accounts.Contact): the same ones
// Sieve's :addrbook:default tests in filters, so a contact added here is at
// once "a sender in my contacts" for the user's filter rules.
//
// Implementation notes:
//   - Every handler reads and writes through the signed-in user's address;
//     a contact id of another user is answered like a missing one
//     (web.NotFound), so ids cannot be probed.
//   - vCard (vcard.go) is our own small reader and writer: 4.0 out (RFC
//     6350), 3.0 and 4.0 in (RFC 2426, RFC 6350), just the fields an
//     address book entry has (FN/N, EMAIL, IMPP xmpp:, NOTE).
//   - Email addresses are checked with net/mail and then by accounts (IDNA
//     domain); Jabber IDs with filters.NormalizeJID (bare JID, RFC 7622).
package contacts

import (
	"embed"
	"errors"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"unicode"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/webmail/web"
)

//go:embed templates
var templateFS embed.FS

// Field bounds, as accounts enforces them (a contact is for people).
const (
	maxName = 256
	maxNote = 4096
)

// section is the mounted address book.
type section struct {
	app *web.App
	ps  *web.Pages
}

// Mount registers the address book's pages under /contacts/.
func Mount(a *web.App) error {
	ps, err := a.Templates(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	s := &section{app: a, ps: ps}
	a.Redirect("GET /contacts", "/contacts/")
	a.Page("GET /contacts/{$}", s.list)
	a.Page("POST /contacts/{$}", s.create)
	a.Page("GET /contacts/new", s.newForm)
	a.Page("GET /contacts/{id}", s.edit)
	a.Page("POST /contacts/{id}", s.update)
	a.Page("POST /contacts/{id}/delete", s.delete)
	a.Page("GET /contacts/export.vcf", s.export)
	a.Page("POST /contacts/import", s.importCards)
	a.Page("GET /contacts/complete", s.complete)
	a.Page("POST /contacts/add-sender", s.addSender)
	return nil
}

// listData is the list page.
type listData struct {
	Q        string
	Contacts []accounts.Contact
	Total    int // contacts in the book, before the search
}

func (s *section) list(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	c.Nav = "contacts"
	all, err := s.app.Accounts.Contacts(r.Context(), c.User.Address)
	if err != nil {
		return err
	}
	d := listData{Q: strings.TrimSpace(r.URL.Query().Get("q")), Total: len(all)}
	for _, ct := range all {
		if matches(ct, d.Q) {
			d.Contacts = append(d.Contacts, ct)
		}
	}
	if r.Header.Get("HX-Request") != "" && r.Header.Get("HX-Target") == "contact-list" {
		return c.Fragment(w, s.ps, "list.html", "results", d)
	}
	return c.Render(w, s.ps, "list.html", "Contacts", d)
}

// matches reports whether q (case-insensitive) is in any of ct's fields.
func matches(ct accounts.Contact, q string) bool {
	if q == "" {
		return true
	}
	q = strings.ToLower(q)
	for _, f := range []string{ct.Name, ct.Email, ct.JID, ct.Note} {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	return false
}

// form is the contact form with what was typed and what is wrong with it.
type form struct {
	ID                     int64 // 0 for a new contact
	Name, Email, JID, Note string
	Errors                 map[string]string // by field name; "form" for the whole
}

func formOf(ct accounts.Contact) *form {
	return &form{ID: ct.ID, Name: ct.Name, Email: ct.Email, JID: ct.JID, Note: ct.Note}
}

func readForm(r *http.Request) *form {
	return &form{Name: r.PostFormValue("name"), Email: r.PostFormValue("email"),
		JID: r.PostFormValue("jid"), Note: r.PostFormValue("note")}
}

func (f *form) fail(field, msg string) {
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	if _, ok := f.Errors[field]; !ok {
		f.Errors[field] = msg
	}
}

// check validates and normalises the fields; false if any is wrong.
func (f *form) check() bool {
	f.Name, f.Email, f.JID = strings.TrimSpace(f.Name), strings.TrimSpace(f.Email), strings.TrimSpace(f.JID)
	f.Note = strings.TrimSpace(strings.ReplaceAll(f.Note, "\r\n", "\n"))
	if f.Email != "" {
		a, err := mail.ParseAddress(f.Email)
		if err != nil || strings.ContainsFunc(a.Address, unicode.IsSpace) {
			f.fail("email", "This is not an email address. Write it as name@example.org.")
		} else {
			if f.Name == "" { // "Tybalt <tybalt@capulet.example>" pasted whole
				f.Name = strings.TrimSpace(a.Name)
			}
			f.Email = a.Address
		}
	}
	if f.JID != "" {
		j, err := filters.NormalizeJID(f.JID)
		var je *filters.JIDError
		switch {
		case errors.As(err, &je):
			f.fail("jid", "This is not a Jabber ID: "+je.Reason+".")
		case err != nil:
			f.fail("jid", "This is not a Jabber ID.")
		default:
			f.JID = j
		}
	}
	if strings.ContainsFunc(f.Name, unicode.IsControl) {
		f.fail("name", "The name may not contain line breaks or control characters.")
	}
	if len(f.Name) > maxName {
		f.fail("name", "The name is too long (at most "+strconv.Itoa(maxName)+" bytes).")
	}
	if len(f.Note) > maxNote {
		f.fail("note", "The note is too long (at most "+strconv.Itoa(maxNote)+" bytes).")
	}
	if f.Name == "" && f.Email == "" && f.JID == "" && f.Errors == nil {
		f.fail("form", "Give at least a name, an email address or a Jabber ID.")
	}
	return f.Errors == nil
}

// storeFailed maps what accounts refused to the form's fields; false if
// err is not about the input.
func (f *form) storeFailed(err error) bool {
	var ne *accounts.NameError
	switch {
	case errors.As(err, &ne) && ne.Kind == "email address":
		f.fail("email", "This email address is not valid: "+ne.Rule+".")
	case errors.As(err, &ne) && ne.Kind == "Jabber ID":
		f.fail("jid", "This Jabber ID is not valid: "+ne.Rule+".")
	case err != nil && strings.HasPrefix(err.Error(), "contact: "):
		f.fail("form", strings.TrimPrefix(err.Error(), "contact: ")+".")
	default:
		return false
	}
	return true
}

func (f *form) contact() accounts.Contact {
	return accounts.Contact{ID: f.ID, Name: f.Name, Email: f.Email, JID: f.JID, Note: f.Note}
}

func (s *section) showForm(w http.ResponseWriter, c *web.Ctx, f *form) error {
	c.Nav = "contacts"
	title := "New contact"
	if f.ID != 0 {
		title = "Edit contact"
	}
	if f.Errors != nil {
		c.Status(http.StatusUnprocessableEntity)
	}
	return c.Render(w, s.ps, "form.html", title, f)
}

func (s *section) newForm(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	q := r.URL.Query()
	return s.showForm(w, c, &form{Name: q.Get("name"), Email: q.Get("email"), JID: q.Get("jid")})
}

func (s *section) create(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	f := readForm(r)
	if !f.check() {
		return s.showForm(w, c, f)
	}
	ct, err := s.app.Accounts.AddContact(r.Context(), c.User.Address, f.contact())
	if f.storeFailed(err) {
		return s.showForm(w, c, f)
	}
	if err != nil {
		return err
	}
	return c.Redirect(w, r, "/contacts/", "Added "+label(ct)+" to your contacts.")
}

// contactID parses the {id} of the path; any id that is not a number is
// not found.
func contactID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, web.NotFound
	}
	return id, nil
}

// notFound turns accounts.ErrNotFound (missing, or another user's) into
// the one page for both.
func notFound(err error) error {
	if errors.Is(err, accounts.ErrNotFound) {
		return web.NotFound
	}
	return err
}

func (s *section) edit(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	id, err := contactID(r)
	if err != nil {
		return err
	}
	ct, err := s.app.Accounts.Contact(r.Context(), c.User.Address, id)
	if err != nil {
		return notFound(err)
	}
	return s.showForm(w, c, formOf(ct))
}

func (s *section) update(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	id, err := contactID(r)
	if err != nil {
		return err
	}
	f := readForm(r)
	f.ID = id
	if !f.check() {
		// Only the owner sees the form again; anyone else gets 404.
		if _, err := s.app.Accounts.Contact(r.Context(), c.User.Address, id); err != nil {
			return notFound(err)
		}
		return s.showForm(w, c, f)
	}
	ct, err := s.app.Accounts.UpdateContact(r.Context(), c.User.Address, f.contact())
	if errors.Is(err, accounts.ErrNotFound) {
		return web.NotFound
	}
	if f.storeFailed(err) {
		return s.showForm(w, c, f)
	}
	if err != nil {
		return err
	}
	return c.Redirect(w, r, "/contacts/", "Saved "+label(ct)+".")
}

func (s *section) delete(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	id, err := contactID(r)
	if err != nil {
		return err
	}
	ct, err := s.app.Accounts.Contact(r.Context(), c.User.Address, id)
	if err != nil {
		return notFound(err)
	}
	if err := s.app.Accounts.DeleteContact(r.Context(), c.User.Address, id); err != nil {
		return notFound(err)
	}
	return c.Redirect(w, r, "/contacts/", "Deleted "+label(ct)+".")
}

// label names a contact in messages.
func label(ct accounts.Contact) string {
	for _, s := range []string{ct.Name, ct.Email, ct.JID} {
		if s != "" {
			return s
		}
	}
	return "the contact"
}
