package contacts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"sort"
	"strings"
	"unicode"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/webmail/web"
)

// maxComplete bounds the suggestions of one completion request.
const maxComplete = 20

// maxSkipReport bounds the skipped cards an import lists one by one.
const maxSkipReport = 200

// maxImport bounds the cards one import adds: an address book, not a
// directory (each card is a transaction).
const maxImport = 10000

func (s *section) export(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	all, err := s.app.Accounts.Contacts(r.Context(), c.User.Address)
	if err != nil {
		return err
	}
	cards := make([]card, len(all))
	for i, ct := range all {
		cards[i] = card{Name: ct.Name, Email: ct.Email, JID: ct.JID, Note: ct.Note}
	}
	var b bytes.Buffer
	if err := writeVCards(&b, cards); err != nil {
		return err
	}
	// RFC 6350 §10.1: text/vcard, UTF-8.
	h := w.Header()
	h.Set("Content-Type", "text/vcard; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="contacts.vcf"`)
	h.Set("Cache-Control", "no-store")
	_, err = w.Write(b.Bytes())
	return err
}

// importData is the import result page.
type importData struct {
	Error    string // the file could not be read at all
	Summary  string
	Imported int
	Skipped  []skipped
	More     int // skipped cards beyond those listed
	Cut      int // cards not read at all, beyond maxImport
}

// skipped is one card the import left out, and why.
type skipped struct {
	Line int
	Who  string
	Why  string
}

func (s *section) importCards(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	c.Nav = "contacts"
	limit := int64(s.app.Config().MaxUpload)
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	data, err := uploaded(r, limit)
	if err == nil {
		var cards []card
		if cards, err = readCards(data); err == nil {
			return c.Render(w, s.ps, "import.html", "Import contacts", s.addCards(r, c, cards))
		}
	}
	c.Status(http.StatusBadRequest)
	return c.Render(w, s.ps, "import.html", "Import contacts", importData{Error: err.Error()})
}

// uploaded returns the form's "file", at most limit bytes.
func uploaded(r *http.Request, limit int64) ([]byte, error) {
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("the file is larger than %s", web.FormatBytes(limit))
		}
		return nil, errors.New("choose a vCard file (.vcf) to import")
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		return nil, errors.New("choose a vCard file (.vcf) to import")
	}
	defer f.Close()
	if hdr.Size > limit {
		return nil, fmt.Errorf("the file is larger than %s", web.FormatBytes(limit))
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading the file: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("the file is larger than %s", web.FormatBytes(limit))
	}
	return data, nil
}

// addCards adds the cards that are valid and not yet in the book.
func (s *section) addCards(r *http.Request, c *web.Ctx, cards []card) importData {
	var d importData
	have := map[string]bool{}
	existing, err := s.app.Accounts.Contacts(r.Context(), c.User.Address)
	if err != nil {
		d.Error = "your contacts could not be read"
		return d
	}
	for _, ct := range existing {
		have[key(ct.Name, ct.Email, ct.JID)] = true
	}
	skip := func(cd card, who, why string) {
		if len(d.Skipped) >= maxSkipReport {
			d.More++
			return
		}
		d.Skipped = append(d.Skipped, skipped{Line: cd.Line, Who: who, Why: why})
	}
	if len(cards) > maxImport {
		d.Cut, cards = len(cards)-maxImport, cards[:maxImport]
	}
	for _, cd := range cards {
		f := &form{Name: cd.Name, Email: cd.Email, JID: cd.JID, Note: cd.Note}
		who := label(f.contact())
		if who == "the contact" {
			who = "(no name)"
		}
		if cd.Problem != "" {
			skip(cd, who, cd.Problem)
			continue
		}
		if !f.check() {
			skip(cd, who, firstError(f.Errors))
			continue
		}
		k := key(f.Name, f.Email, f.JID)
		if have[k] {
			skip(cd, who, "already in your contacts")
			continue
		}
		_, err := s.app.Accounts.AddContact(r.Context(), c.User.Address, f.contact())
		if err != nil {
			if !f.storeFailed(err) {
				s.app.Log.Error("contact import failed", "user", c.User.Address, "err", err)
				f.fail("form", "the server could not store it")
			}
			skip(cd, who, firstError(f.Errors))
			continue
		}
		have[k] = true
		d.Imported++
	}
	d.Summary = fmt.Sprintf("Imported %s, skipped %s.", plural(d.Imported, "contact"), plural(len(d.Skipped)+d.More, "card"))
	if d.Cut > 0 {
		d.Summary += fmt.Sprintf(" The last %s were not read: one import takes at most %d.", plural(d.Cut, "card"), maxImport)
	}
	return d
}

// key identifies a contact for duplicate checks: its email address, else
// its Jabber ID, else its name.
func key(name, email, jid string) string {
	switch {
	case email != "":
		return "e:" + strings.ToLower(email)
	case jid != "":
		return "j:" + strings.ToLower(jid)
	}
	return "n:" + strings.ToLower(name)
}

func firstError(errs map[string]string) string {
	for _, f := range []string{"form", "name", "email", "jid", "note"} {
		if e, ok := errs[f]; ok {
			return e
		}
	}
	return "not valid"
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// complete answers the compose page's address completion: <option>
// elements for a <datalist>, at most maxComplete, of the user's contacts
// with an email address whose name or address contains the typed text
// (case-insensitive), those starting with it first. The text is q (or, if
// q is absent, the field htmx sends: to, cc or bcc); of a list of
// addresses only the part after the last comma counts.
func (s *section) complete(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	q := r.URL.Query()
	term := q.Get("q")
	for _, f := range []string{"to", "cc", "bcc"} {
		if term == "" {
			term = q.Get(f)
		}
	}
	if i := strings.LastIndexByte(term, ','); i >= 0 {
		term = term[i+1:]
	}
	term = strings.ToLower(strings.TrimSpace(term))
	var out []accounts.Contact
	if term != "" {
		all, err := s.app.Accounts.Contacts(r.Context(), c.User.Address)
		if err != nil {
			return err
		}
		out = completions(all, term)
	}
	return c.Fragment(w, s.ps, "list.html", "options", out)
}

// completions filters and orders contacts for complete.
func completions(all []accounts.Contact, term string) []accounts.Contact {
	var out []accounts.Contact
	rank := map[int64]int{}
	for _, ct := range all {
		if ct.Email == "" {
			continue
		}
		name, email := strings.ToLower(ct.Name), strings.ToLower(ct.Email)
		switch {
		case strings.HasPrefix(name, term) || strings.HasPrefix(email, term) || wordPrefix(name, term):
			rank[ct.ID] = 0
		case strings.Contains(name, term) || strings.Contains(email, term):
			rank[ct.ID] = 1
		default:
			continue
		}
		out = append(out, ct)
	}
	sort.SliceStable(out, func(i, j int) bool { return rank[out[i].ID] < rank[out[j].ID] })
	if len(out) > maxComplete {
		out = out[:maxComplete]
	}
	return out
}

// wordPrefix reports whether a word of name starts with term.
func wordPrefix(name, term string) bool {
	for _, w := range strings.Fields(name) {
		if strings.HasPrefix(w, term) {
			return true
		}
	}
	return false
}

// addSender adds a message's sender to the contacts, from the message
// view's "Add to contacts" button, and returns to back.
func (s *section) addSender(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	back := localPath(r.PostFormValue("back"))
	a, err := mail.ParseAddress(strings.TrimSpace(r.PostFormValue("email")))
	if err != nil {
		return c.Redirect(w, r, back, "The sender could not be added: their address is not valid.")
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		name = a.Name
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, name)
	all, err := s.app.Accounts.Contacts(r.Context(), c.User.Address)
	if err != nil {
		return err
	}
	for _, ct := range all {
		if strings.EqualFold(ct.Email, a.Address) {
			return c.Redirect(w, r, back, label(ct)+" is already in your contacts.")
		}
	}
	f := &form{Name: name, Email: a.Address}
	if !f.check() {
		return c.Redirect(w, r, back, "The sender could not be added: "+firstError(f.Errors))
	}
	ct, err := s.app.Accounts.AddContact(r.Context(), c.User.Address, f.contact())
	if f.storeFailed(err) {
		return c.Redirect(w, r, back, "The sender could not be added: "+firstError(f.Errors))
	}
	if err != nil {
		return err
	}
	return c.Redirect(w, r, back, "Added "+label(ct)+" to your contacts.")
}

// localPath keeps a return address on this site: a path starting with one
// "/", no scheme, no host, no control characters. Anything else gives the
// contact list.
func localPath(p string) string {
	const fallback = "/contacts/"
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, `/\`) ||
		strings.ContainsFunc(p, func(r rune) bool { return unicode.IsControl(r) || r == '\\' }) {
		return fallback
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return fallback
	}
	return p
}
