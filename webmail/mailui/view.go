package mailui

import (
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/webmail/web"
)

// openMsg is the request's message: its mailbox, metadata and body.
type openMsg struct {
	box  store.Mailbox
	meta store.Message
	body *store.Body
}

// open finds {box}/{uid} of the signed-in user. Close the body.
func (u *ui) open(r *http.Request, c *web.Ctx) (*openMsg, error) {
	box, err := u.mailbox(r, c)
	if err != nil {
		return nil, err
	}
	uid, ok := parseUID(r.PathValue("uid"))
	if !ok {
		return nil, web.NotFound
	}
	meta, body, err := u.a.Store.Open(r.Context(), box.ID, uid)
	if errors.Is(err, store.ErrNoMessage) {
		return nil, web.NotFound
	}
	if err != nil {
		return nil, err
	}
	return &openMsg{box: box, meta: meta, body: body}, nil
}

// attachment is a part listed for download.
type attachment struct {
	N          int
	Name, Type string
	Size       int64
	URL        string
}

// viewData is the message page's data.
type viewData struct {
	foldersData
	Box                     store.Mailbox
	BoxTitle, BoxURL        string
	URL                     string // this message
	UID                     uint32
	Subject                 string
	From, To, Cc, ReplyTo   []string
	Date                    time.Time
	Sender, SenderName      string // the first From address, for "add to contacts"
	Plain                   template.HTML
	PlainCut                bool
	HTML                    bool
	HTMLURL                 string
	ShowText                bool // the plain text is shown although there is HTML
	TextURL, RichURL        string
	RemoteImages            int
	ImagesLoaded            bool
	ImagesURL               string
	Attachments             []attachment
	Broken, Raw             string
	RawCut                  bool
	Seen, Flagged           bool
	IsDraft, IsTrash        bool
	Targets                 []folder
	ReplyQ, ReplyAllQ, FwdQ string // box/uid for the compose links
	SourceURL               string
	Back                    string // the list
}

func (u *ui) view(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	c.Nav = "mail"
	m, err := u.open(r, c)
	if err != nil {
		return err
	}
	defer m.body.Close()
	ctx := r.Context()
	images := r.URL.Query().Get("images") == "1"
	p, err := parseMessage(m.body, parseOptions{})
	if err != nil {
		return err
	}
	if !hasFlag(m.meta.Flags, `\Seen`) {
		set := []store.UIDRange{{Start: m.meta.UID, Stop: m.meta.UID}}
		if _, _, err := u.a.Store.StoreFlags(ctx, m.box.ID, set, store.FlagsAdd, []string{`\Seen`}, 0); err != nil {
			return err
		}
	}
	fs, err := u.folders(ctx, c, m.box.Name)
	if err != nil {
		return err
	}
	d := u.viewData(m, p, fs)
	if p.HTML != nil && p.Plain != nil && r.URL.Query().Get("text") == "1" {
		d.ShowText = true
	}
	embedded := map[string]bool{}
	if p.HTML != nil {
		s := sanitizeHTML(p.HTML.text, p.Parts, images)
		d.HTML, d.RemoteImages, d.ImagesLoaded, embedded = true, s.RemoteImages, images && s.RemoteImages > 0, s.EmbeddedCIDs
		d.HTMLURL = d.URL + "/html"
		if images {
			d.HTMLURL += "?images=1"
		}
	}
	if p.Plain != nil && (p.HTML == nil || d.ShowText) {
		d.Plain, d.PlainCut = linkify(p.Plain.text), p.Plain.truncated
	}
	for _, a := range p.Attachments(embedded) {
		name := a.Filename
		if name == "" {
			name = "part-" + strconv.Itoa(a.N+1) + extensionFor(a.Type)
		}
		d.Attachments = append(d.Attachments, attachment{N: a.N, Name: name, Type: a.Type, Size: a.Size,
			URL: d.URL + "/part/" + strconv.Itoa(a.N)})
	}
	return c.Render(w, u.pages, "view.html", cmpOr(d.Subject, "(no subject)"), d)
}

func (u *ui) viewData(m *openMsg, p *parsed, fs []folder) *viewData {
	env := m.meta.Envelope
	if env == nil {
		env = &store.Envelope{}
	}
	url := msgURL(m.box.Name, m.meta.UID)
	ref := m.box.Name + "/" + strconv.FormatUint(uint64(m.meta.UID), 10)
	d := &viewData{foldersData: foldersData{Folders: fs, Current: m.box.Name}, Box: m.box, BoxTitle: boxTitle(m.box.Name),
		BoxURL: boxURL(m.box.Name), URL: url, UID: m.meta.UID, Subject: m.meta.Subject,
		From: formatAddrs(env.From), To: formatAddrs(env.To), Cc: formatAddrs(env.Cc), Date: m.meta.SentDate,
		Broken: p.Broken, Raw: p.Raw, RawCut: p.RawCut, Seen: true, Flagged: hasFlag(m.meta.Flags, `\Flagged`),
		IsDraft: m.box.SpecialUse == `\Drafts` || hasFlag(m.meta.Flags, `\Draft`), IsTrash: m.box.SpecialUse == `\Trash`,
		ReplyQ: ref, ReplyAllQ: ref, FwdQ: ref, SourceURL: url + "/raw", Back: boxURL(m.box.Name),
		TextURL: url + "?text=1", RichURL: url, ImagesURL: url + "?images=1"}
	if len(env.ReplyTo) > 0 && (len(env.From) == 0 || env.ReplyTo[0] != env.From[0]) {
		d.ReplyTo = formatAddrs(env.ReplyTo)
	}
	if d.Date.IsZero() {
		d.Date = m.meta.InternalDate
	}
	if len(env.From) > 0 {
		d.Sender, d.SenderName = addrOf(env.From[0]), env.From[0].Name
	}
	for _, f := range fs {
		if f.Name != m.box.Name {
			d.Targets = append(d.Targets, f)
		}
	}
	return d
}

func addrOf(a store.Address) string {
	if a.Host == "" {
		return a.Mailbox
	}
	return a.Mailbox + "@" + a.Host
}

func formatAddrs(list []store.Address) []string {
	out := make([]string, 0, len(list))
	for _, a := range list {
		if a.Name != "" {
			out = append(out, a.Name+" <"+addrOf(a)+">")
		} else {
			out = append(out, addrOf(a))
		}
	}
	return out
}

func cmpOr(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// htmlDoc wraps a sanitised HTML part for the iframe. Its own stylesheet
// is inline: the iframe's policy allows inline styles and nothing else.
const htmlDocHead = `<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">` +
	`<style>body{margin:.5rem;font-family:system-ui,sans-serif;overflow-wrap:anywhere;color:#1b1f24;background:#fff}` +
	`img{max-width:100%;height:auto}table{max-width:100%}</style></head><body>`

// viewHTML serves the sanitised HTML part with its own policy: no script,
// no fetch but inline images, and remote images only when asked.
func (u *ui) viewHTML(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	m, err := u.open(r, c)
	if err != nil {
		return err
	}
	defer m.body.Close()
	p, err := parseMessage(m.body, parseOptions{images: true})
	if err != nil {
		return err
	}
	if p.HTML == nil {
		return web.NotFound
	}
	images := r.URL.Query().Get("images") == "1"
	s := sanitizeHTML(p.HTML.text, p.Parts, images)
	imgSrc := "img-src data:"
	if images {
		imgSrc = "img-src data: https: http:"
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "+imgSrc+"; frame-ancestors 'self'; base-uri 'none'; form-action 'none'")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	io.WriteString(w, htmlDocHead)
	io.WriteString(w, s.HTML)
	if p.HTML.truncated {
		io.WriteString(w, "<p><em>(The rest of this message is too long to show.)</em></p>")
	}
	_, err = io.WriteString(w, "</body></html>")
	return err
}

// part serves one part for download, never as a page: attachment
// disposition, a content type from a safe list, and a sandbox policy.
func (u *ui) part(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	m, err := u.open(r, c)
	if err != nil {
		return err
	}
	defer m.body.Close()
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 {
		return web.NotFound
	}
	found, err := walkPart(m.body, n, func(p part, body io.Reader) error {
		name := p.Filename
		if name == "" {
			name = "part-" + strconv.Itoa(n+1) + extensionFor(p.Type)
		}
		h := w.Header()
		h.Set("Content-Type", downloadType(p.Type))
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
		h.Set("Cache-Control", "private, no-store")
		_, err := io.Copy(w, body)
		return err
	})
	if err != nil && !found {
		return err
	}
	if !found {
		return web.NotFound
	}
	return nil
}

// downloadable types keep their type; anything else (HTML, SVG, XML,
// scripts, unknown) downloads as application/octet-stream.
var downloadable = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/bmp": true, "image/tiff": true,
	"application/pdf": true, "application/zip": true, "application/gzip": true, "text/plain": true, "text/csv": true,
	"text/calendar": true, "text/vcard": true, "text/x-vcard": true, "message/rfc822": true, "application/msword": true,
	"application/vnd.ms-excel": true, "application/vnd.ms-powerpoint": true, "application/vnd.oasis.opendocument.text": true,
	"application/vnd.oasis.opendocument.spreadsheet":                            true,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   true,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         true,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": true,
}

func downloadType(t string) string {
	switch {
	case downloadable[t] && strings.HasPrefix(t, "text/"):
		return t + "; charset=utf-8"
	case downloadable[t], strings.HasPrefix(t, "audio/"), strings.HasPrefix(t, "video/"):
		return t
	}
	return "application/octet-stream"
}

// extensionFor gives a file name extension for an unnamed part.
func extensionFor(t string) string {
	switch t {
	case "text/plain":
		return ".txt"
	case "text/html":
		return ".html"
	case "message/rfc822":
		return ".eml"
	}
	if exts, _ := mime.ExtensionsByType(t); len(exts) > 0 {
		return exts[0]
	}
	return ""
}

// raw serves the message source as plain text.
func (u *ui) raw(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	m, err := u.open(r, c)
	if err != nil {
		return err
	}
	defer m.body.Close()
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "private, no-store")
	_, err = io.Copy(w, m.body)
	return err
}
