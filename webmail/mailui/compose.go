package mailui

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/emersion/go-message/mail"
	"github.com/microcosm-cc/bluemonday"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/webmail/web"
)

// composeData is the compose form: what the user typed and what a reply,
// forward or draft brought along. Form fields carry the same names.
type composeData struct {
	foldersData
	Heading               string
	To, Cc, Bcc, Subject  string
	Body                  string
	InReplyTo, References string // message IDs with angle brackets, space-separated
	Reply                 string // box/uid flagged \Answered after sending
	Forward               string // box/uid flagged $Forwarded after sending
	Draft                 uint32 // the draft (in Drafts) this replaces
	Source                string // box/uid whose attachments can be carried
	Carried               []carried
	Error                 string
	MaxUpload, MaxMessage int64
	Lost                  bool // uploaded files must be chosen again
}

// carried is an attachment of the source message, kept when checked.
type carried struct {
	N          int
	Name, Type string
	Size       int64
	Keep       bool
}

// composeForm shows the empty form, or one prefilled for a reply,
// reply-all, forward or draft.
func (u *ui) composeForm(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	c.Nav = "mail"
	q := r.URL.Query()
	d := &composeData{Heading: "New message", To: strings.TrimSpace(q.Get("to"))}
	var err error
	switch {
	case q.Get("reply") != "":
		err = u.prefillReply(r, c, d, q.Get("reply"), false)
	case q.Get("replyall") != "":
		err = u.prefillReply(r, c, d, q.Get("replyall"), true)
	case q.Get("forward") != "":
		err = u.prefillForward(r, c, d, q.Get("forward"))
	case q.Get("draft") != "":
		err = u.prefillDraft(r, c, d, q.Get("draft"))
	}
	if err != nil {
		return err
	}
	return u.showCompose(w, r, c, d)
}

func (u *ui) showCompose(w http.ResponseWriter, r *http.Request, c *web.Ctx, d *composeData) error {
	fs, err := u.folders(r.Context(), c, "")
	if err != nil {
		return err
	}
	d.Folders = fs
	d.MaxUpload, d.MaxMessage = int64(u.a.Config().MaxUpload), u.a.MaxMessageSize
	return c.Render(w, u.pages, "compose.html", d.Heading, d)
}

// source opens box/uid of the user (a reply's or forward's original).
func (u *ui) source(r *http.Request, c *web.Ctx, ref string) (*openMsg, *parsed, error) {
	i := strings.LastIndex(ref, "/")
	if i <= 0 {
		return nil, nil, web.NotFound
	}
	box, err := u.mailboxNamed(r.Context(), c, ref[:i])
	if err != nil {
		return nil, nil, err
	}
	uid, ok := parseUID(ref[i+1:])
	if !ok {
		return nil, nil, web.NotFound
	}
	meta, body, err := u.a.Store.Open(r.Context(), box.ID, uid)
	if errors.Is(err, store.ErrNoMessage) {
		return nil, nil, web.NotFound
	}
	if err != nil {
		return nil, nil, err
	}
	defer body.Close()
	p, err := parseMessage(body, parseOptions{})
	if err != nil {
		return nil, nil, err
	}
	return &openMsg{box: box, meta: meta}, p, nil
}

func (u *ui) prefillReply(r *http.Request, c *web.Ctx, d *composeData, ref string, all bool) error {
	m, p, err := u.source(r, c, ref)
	if err != nil {
		return err
	}
	env := m.meta.Envelope
	if env == nil {
		env = &store.Envelope{}
	}
	d.Heading, d.Reply = "Reply", ref
	if all {
		d.Heading = "Reply to all"
	}
	to := env.ReplyTo
	if len(to) == 0 {
		to = env.From
	}
	self := strings.ToLower(c.User.Address)
	seen := map[string]bool{self: true}
	pick := func(list []store.Address) []string {
		var out []string
		for _, a := range list {
			if k := strings.ToLower(addrOf(a)); !seen[k] && a.Host != "" {
				seen[k] = true
				out = append(out, formatAddrs([]store.Address{a})...)
			}
		}
		return out
	}
	toList := pick(to)
	if len(toList) == 0 && len(to) > 0 { // replying to one's own message: to its recipients
		if toList = pick(env.To); len(toList) == 0 {
			toList = formatAddrs(to)
		}
	}
	if all {
		toList = append(toList, pick(env.To)...)
		d.Cc = strings.Join(pick(env.Cc), ", ")
	}
	d.To = strings.Join(toList, ", ")
	d.Subject = prefixSubject("Re: ", m.meta.Subject)
	if id := m.meta.MessageID; id != "" {
		d.InReplyTo = "<" + id + ">"
		refs := msgIDs(p.Header.Get("References"))
		if len(refs) == 0 {
			refs = msgIDs(p.Header.Get("In-Reply-To"))
		}
		d.References = strings.Join(append(refs, d.InReplyTo), " ")
	}
	who := "someone"
	if len(env.From) > 0 {
		who = formatAddrs(env.From[:1])[0]
	}
	date := m.meta.SentDate
	if date.IsZero() {
		date = m.meta.InternalDate
	}
	d.Body = fmt.Sprintf("\n\nOn %s, %s wrote:\n%s", date.Format("Mon, 2 Jan 2006 15:04 -0700"), who, quote(bodyText(p)))
	return nil
}

func (u *ui) prefillForward(r *http.Request, c *web.Ctx, d *composeData, ref string) error {
	m, p, err := u.source(r, c, ref)
	if err != nil {
		return err
	}
	env := m.meta.Envelope
	if env == nil {
		env = &store.Envelope{}
	}
	d.Heading, d.Forward, d.Source = "Forward", ref, ref
	d.Subject = prefixSubject("Fwd: ", m.meta.Subject)
	var b strings.Builder
	b.WriteString("\n\n---------- Forwarded message ----------\n")
	fmt.Fprintf(&b, "From: %s\n", strings.Join(formatAddrs(env.From), ", "))
	if !m.meta.SentDate.IsZero() {
		fmt.Fprintf(&b, "Date: %s\n", m.meta.SentDate.Format("Mon, 2 Jan 2006 15:04 -0700"))
	}
	fmt.Fprintf(&b, "Subject: %s\n", m.meta.Subject)
	fmt.Fprintf(&b, "To: %s\n", strings.Join(formatAddrs(env.To), ", "))
	if len(env.Cc) > 0 {
		fmt.Fprintf(&b, "Cc: %s\n", strings.Join(formatAddrs(env.Cc), ", "))
	}
	b.WriteString("\n" + bodyText(p))
	d.Body = b.String()
	d.Carried = carriedParts(p, true)
	return nil
}

func (u *ui) prefillDraft(r *http.Request, c *web.Ctx, d *composeData, uidText string) error {
	drafts, err := u.specialMailbox(r.Context(), c, `\Drafts`, "Drafts")
	if err != nil {
		return err
	}
	uid, ok := parseUID(uidText)
	if !ok {
		return web.NotFound
	}
	ref := drafts.Name + "/" + strconv.FormatUint(uint64(uid), 10)
	m, p, err := u.source(r, c, ref)
	if err != nil {
		return err
	}
	list := func(key string) string {
		as, _ := p.Header.AddressList(key)
		out := make([]string, 0, len(as))
		for _, a := range as {
			out = append(out, formatAddress(a))
		}
		return strings.Join(out, ", ")
	}
	d.Heading, d.Draft, d.Source = "Edit draft", uid, ref
	d.To, d.Cc, d.Bcc, d.Subject = list("To"), list("Cc"), list("Bcc"), m.meta.Subject
	d.InReplyTo = strings.Join(msgIDs(p.Header.Get("In-Reply-To")), " ")
	d.References = strings.Join(msgIDs(p.Header.Get("References")), " ")
	if p.Plain != nil {
		d.Body = p.Plain.text
	}
	d.Carried = carriedParts(p, true)
	return nil
}

// carriedParts lists a source's attachments.
func carriedParts(p *parsed, keep bool) []carried {
	var out []carried
	for _, a := range p.Attachments(nil) {
		if a.ContentID != "" && a.Disposition != "attachment" && p.HTML != nil {
			continue // an HTML body's inline image: it goes with the HTML only
		}
		name := a.Filename
		if name == "" {
			name = "part-" + strconv.Itoa(a.N+1) + extensionFor(a.Type)
		}
		out = append(out, carried{N: a.N, Name: name, Type: a.Type, Size: a.Size, Keep: keep})
	}
	return out
}

// bodyText is a message's text for quoting: the plain part, else the HTML
// part's text.
func bodyText(p *parsed) string {
	switch {
	case p.Plain != nil:
		return p.Plain.text
	case p.HTML != nil:
		s := bluemonday.StrictPolicy().Sanitize(strings.NewReplacer("<br>", "\n", "<br/>", "\n", "<br />", "\n", "</p>", "</p>\n\n", "</div>", "</div>\n").Replace(p.HTML.text))
		return htmlUnescape(s)
	}
	return p.Raw
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&quot;", `"`, "&nbsp;", " ").Replace(s)
}

// quote prefixes every line with "> ".
func quote(s string) string {
	s = strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n ")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ">") {
			lines[i] = ">" + l
		} else {
			lines[i] = "> " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

func prefixSubject(prefix, s string) string {
	if strings.HasPrefix(strings.ToLower(s), strings.ToLower(prefix)) {
		return s
	}
	return prefix + s
}

var msgIDPattern = regexp.MustCompile(`<[^<>\s"]{1,250}@[^<>\s"]{1,250}>`)

// msgIDs extracts message IDs (with brackets) from a header value or a
// form field; anything else is dropped, so the field cannot inject.
func msgIDs(s string) []string {
	ids := msgIDPattern.FindAllString(s, 50)
	return ids
}

// formatAddress writes an address for a form field: the bare address, or
// the display name (quoted when needed) with it in angle brackets.
func formatAddress(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.String()
}
