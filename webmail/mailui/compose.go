package mailui

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

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

// composeSubmit sends or saves the form (field action: send or draft).
func (u *ui) composeSubmit(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	c.Nav = "mail"
	r.Body = http.MaxBytesReader(w, r.Body, int64(u.a.Config().MaxUpload))
	if err := r.ParseMultipartForm(8 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return web.Errorf(http.StatusRequestEntityTooLarge, "The message with its attachments is larger than the %s the server accepts.",
				web.FormatBytes(int64(u.a.Config().MaxUpload)))
		}
		return web.Errorf(http.StatusBadRequest, "The form could not be read.")
	}
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	f := r.PostForm
	d := &composeData{Heading: "New message", To: f.Get("to"), Cc: f.Get("cc"), Bcc: f.Get("bcc"),
		Subject: oneLine(f.Get("subject")), Body: f.Get("body"),
		InReplyTo: strings.Join(msgIDs(f.Get("in_reply_to")), " "), References: strings.Join(msgIDs(f.Get("references")), " "),
		Reply: f.Get("reply"), Forward: f.Get("forward"), Source: f.Get("source")}
	if uid, ok := parseUID(f.Get("draft")); ok {
		d.Draft = uid
	}
	keep := map[int]bool{}
	for _, s := range f["keep"] {
		if n, err := strconv.Atoi(s); err == nil {
			keep[n] = true
		}
	}
	var uploads []*multipart.FileHeader
	if r.MultipartForm != nil {
		for _, fh := range r.MultipartForm.File["attachment"] {
			if fh.Filename != "" || fh.Size > 0 {
				uploads = append(uploads, fh)
			}
		}
	}
	fail := func(msg string) error {
		d.Error, d.Lost = msg, len(uploads) > 0
		if d.Source != "" {
			if _, p, err := u.source(r, c, d.Source); err == nil {
				d.Carried = carriedParts(p, false)
				for i := range d.Carried {
					d.Carried[i].Keep = keep[d.Carried[i].N]
				}
			}
		}
		c.Status(http.StatusUnprocessableEntity)
		return u.showCompose(w, r, c, d)
	}
	var rc recipients
	var bad []string
	for _, fld := range []struct {
		label, value string
		dst          *[]*mail.Address
	}{{"To", d.To, &rc.to}, {"Cc", d.Cc, &rc.cc}, {"Bcc", d.Bcc, &rc.bcc}} {
		list, err := parseAddresses(fld.value)
		if err != nil {
			bad = append(bad, fld.label+": "+err.Error())
		}
		*fld.dst = list
	}
	if len(bad) > 0 {
		return fail("Please correct the addresses. " + strings.Join(bad, " "))
	}
	draft := f.Get("action") == "draft"
	if !draft && len(rc.all()) == 0 {
		return fail("Add at least one recipient in To, Cc or Bcc.")
	}
	atts, err := u.gather(r, c, d.Source, keep, uploads)
	if err != nil {
		var he *web.HTTPError
		if errors.As(err, &he) {
			return fail(he.Message)
		}
		return err
	}
	if draft {
		return u.saveDraft(w, r, c, d, rc, atts, fail)
	}
	return u.send(w, r, c, d, rc, atts, fail)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, s))
}

// recipients are the parsed address fields.
type recipients struct{ to, cc, bcc []*mail.Address }

func (rc recipients) all() []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range [][]*mail.Address{rc.to, rc.cc, rc.bcc} {
		for _, a := range l {
			if k := strings.ToLower(a.Address); !seen[k] {
				seen[k] = true
				out = append(out, a.Address)
			}
		}
	}
	return out
}

// parseAddresses reads a comma- or semicolon-separated address field.
func parseAddresses(s string) ([]*mail.Address, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, ";", ","))
	s = strings.Trim(s, ", ")
	if s == "" {
		return nil, nil
	}
	var out []*mail.Address
	for _, one := range splitAddresses(s) {
		if strings.TrimSpace(one) == "" {
			continue
		}
		a, err := mail.ParseAddress(one)
		if err != nil || !strings.Contains(a.Address, "@") || strings.HasSuffix(a.Address, "@") || strings.ContainsAny(a.Address, " \r\n") {
			return nil, fmt.Errorf("%q is not a valid address.", strings.TrimSpace(one))
		}
		out = append(out, a)
	}
	if len(out) > 500 {
		return nil, errors.New("too many addresses (500 at most).")
	}
	return out, nil
}

// splitAddresses splits at commas outside quotes and angle brackets.
func splitAddresses(s string) []string {
	var out []string
	quoted, angle, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			quoted = !quoted
		case '<':
			angle = !quoted
		case '>':
			angle = false
		case ',':
			if !quoted && !angle {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// outAttachment is one attachment of a composed message.
type outAttachment struct {
	Name, Type string
	Data       []byte
	open       func() (io.ReadCloser, error)
}

// gather collects the attachments: the kept parts of the source message
// and the uploads, bounded by the message size limit.
func (u *ui) gather(r *http.Request, c *web.Ctx, source string, keep map[int]bool, uploads []*multipart.FileHeader) ([]outAttachment, error) {
	limit := u.a.MaxMessageSize
	if limit <= 0 {
		limit = maxForwardSize
	}
	var total int64
	tooBig := func() error {
		return web.Errorf(http.StatusRequestEntityTooLarge, "The attachments are larger than the %s a message may be.", web.FormatBytes(limit))
	}
	var out []outAttachment
	if source != "" && len(keep) > 0 {
		m, _, err := u.source(r, c, source)
		if err != nil {
			return nil, err
		}
		_, body, err := u.a.Store.Open(r.Context(), m.box.ID, m.meta.UID)
		if err != nil {
			return nil, err
		}
		defer body.Close()
		for n := range maxParts {
			if !keep[n] {
				continue
			}
			found, err := walkPart(body, n, func(p part, rd io.Reader) error {
				b, err := io.ReadAll(io.LimitReader(rd, limit-total+1))
				if err != nil {
					return err
				}
				total += int64(len(b))
				if total > limit {
					return tooBig()
				}
				name := p.Filename
				if name == "" {
					name = "part-" + strconv.Itoa(n+1) + extensionFor(p.Type)
				}
				out = append(out, outAttachment{Name: name, Type: p.Type, Data: b})
				return nil
			})
			if err != nil {
				return nil, err
			}
			if !found {
				break
			}
			if _, err := body.Seek(0, io.SeekStart); err != nil {
				return nil, err
			}
		}
	}
	for _, fh := range uploads {
		total += fh.Size
		if total > limit {
			return nil, tooBig()
		}
		typ := fh.Header.Get("Content-Type")
		if typ == "" || strings.ContainsAny(typ, "\r\n") {
			typ = "application/octet-stream"
		}
		out = append(out, outAttachment{Name: cleanFilename(fh.Filename), Type: typ, open: func() (io.ReadCloser, error) { return fh.Open() }})
	}
	return out, nil
}

// build writes the message: From is always the signed-in user. Bcc is
// written only for the user's own copies (Sent, Drafts), never for what
// is sent.
func (u *ui) build(c *web.Ctx, d *composeData, rc recipients, atts []outAttachment, withBcc bool, msgID string, now time.Time) ([]byte, error) {
	var h mail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*mail.Address{{Name: c.User.DisplayName, Address: c.User.Address}})
	if len(rc.to) > 0 {
		h.SetAddressList("To", rc.to)
	}
	if len(rc.cc) > 0 {
		h.SetAddressList("Cc", rc.cc)
	}
	if withBcc && len(rc.bcc) > 0 {
		h.SetAddressList("Bcc", rc.bcc)
	}
	h.SetSubject(d.Subject)
	h.SetMessageID(msgID)
	if d.InReplyTo != "" {
		h.Set("In-Reply-To", d.InReplyTo)
	}
	if d.References != "" {
		h.Set("References", d.References)
	}
	h.Set("MIME-Version", "1.0")
	h.Set("User-Agent", "Tidings webmail")
	text := strings.ReplaceAll(strings.ReplaceAll(d.Body, "\r\n", "\n"), "\n", "\r\n")
	var th mail.InlineHeader
	th.Set("Content-Type", "text/plain; charset=utf-8")
	var buf bytes.Buffer
	if len(atts) == 0 {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w, err := mail.CreateSingleInlineWriter(&buf, h)
		if err != nil {
			return nil, err
		}
		io.WriteString(w, text)
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	mw, err := mail.CreateWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	tw, err := mw.CreateSingleInline(th)
	if err != nil {
		return nil, err
	}
	io.WriteString(tw, text)
	if err := tw.Close(); err != nil {
		return nil, err
	}
	for _, a := range atts {
		var ah mail.AttachmentHeader
		ah.Set("Content-Type", a.Type)
		ah.SetFilename(cmpOr(a.Name, "attachment"))
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return nil, err
		}
		if a.open != nil {
			f, err := a.open()
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(aw, f)
			f.Close()
			if err != nil {
				return nil, err
			}
		} else {
			aw.Write(a.Data)
		}
		if err := aw.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (u *ui) messageID(c *web.Ctx) string {
	b := make([]byte, 16)
	rand.Read(b)
	host := u.a.Hostname
	if host == "" {
		host = c.User.Domain
	}
	return hex.EncodeToString(b) + "@" + host
}

// send submits the message, files a copy in Sent and removes the draft.
func (u *ui) send(w http.ResponseWriter, r *http.Request, c *web.Ctx, d *composeData, rc recipients, atts []outAttachment, fail func(string) error) error {
	if u.a.Submitter == nil {
		return fail("Sending mail is not available on this server.")
	}
	ctx := r.Context()
	now, id := time.Now(), u.messageID(c)
	msg, err := u.build(c, d, rc, atts, false, id, now)
	if err != nil {
		return err
	}
	if u.a.MaxMessageSize > 0 && int64(len(msg)) > u.a.MaxMessageSize {
		return fail(fmt.Sprintf("The message is %s, more than the %s a message may be.", web.FormatBytes(int64(len(msg))),
			web.FormatBytes(u.a.MaxMessageSize)))
	}
	if err := u.a.Submitter.Submit(ctx, c.User, rc.all(), msg); err != nil {
		u.a.Log.Info("webmail send refused", "user", c.User.Address, "err", err)
		return fail("The message was not sent: " + err.Error())
	}
	flash := "Message sent."
	copyMsg := msg
	if len(rc.bcc) > 0 {
		if copyMsg, err = u.build(c, d, rc, atts, true, id, now); err != nil {
			return err
		}
	}
	if err := u.file(r, c, `\Sent`, "Sent", copyMsg, []string{`\Seen`}); err != nil {
		u.a.Log.Warn("webmail: sent copy not stored", "user", c.User.Address, "err", err)
		flash = "Message sent, but its copy could not be saved in Sent: " + storeError(err)
	}
	if d.Draft != 0 {
		u.removeDraft(r, c, d.Draft)
	}
	u.markSource(r, c, d.Reply, `\Answered`)
	u.markSource(r, c, d.Forward, `$Forwarded`)
	back := boxURL("INBOX")
	if i := strings.LastIndex(d.Reply, "/"); i > 0 {
		back = boxURL(d.Reply[:i])
	}
	return c.Redirect(w, r, back, flash)
}

// saveDraft stores the form in Drafts, replacing the draft it edits.
func (u *ui) saveDraft(w http.ResponseWriter, r *http.Request, c *web.Ctx, d *composeData, rc recipients, atts []outAttachment, fail func(string) error) error {
	msg, err := u.build(c, d, rc, atts, true, u.messageID(c), time.Now())
	if err != nil {
		return err
	}
	if u.a.MaxMessageSize > 0 && int64(len(msg)) > u.a.MaxMessageSize {
		return fail("The draft is larger than a message may be.")
	}
	drafts, err := u.specialMailbox(r.Context(), c, `\Drafts`, "Drafts")
	if err != nil {
		return err
	}
	res, err := u.a.Store.Deliver(r.Context(), bytes.NewReader(msg), store.DeliverOptions{},
		[]store.Target{{User: c.User, Mailbox: drafts.Name, Flags: []string{`\Draft`, `\Seen`}}})
	if err == nil && res[0].Err != nil {
		err = res[0].Err
	}
	if err != nil {
		return fail("The draft could not be saved: " + storeError(err))
	}
	if d.Draft != 0 {
		u.removeDraft(r, c, d.Draft)
	}
	return c.Redirect(w, r, "/mail/compose?draft="+strconv.FormatUint(uint64(res[0].UID), 10), "Draft saved.")
}

// file stores a copy of msg in the user's special-use mailbox.
func (u *ui) file(r *http.Request, c *web.Ctx, use, name string, msg []byte, flags []string) error {
	box, err := u.specialMailbox(r.Context(), c, use, name)
	if err != nil {
		return err
	}
	res, err := u.a.Store.Deliver(r.Context(), bytes.NewReader(msg), store.DeliverOptions{},
		[]store.Target{{User: c.User, Mailbox: box.Name, Flags: flags}})
	if err == nil && res[0].Err != nil {
		err = res[0].Err
	}
	return err
}

func (u *ui) removeDraft(r *http.Request, c *web.Ctx, uid uint32) {
	ctx := r.Context()
	drafts, err := u.specialMailbox(ctx, c, `\Drafts`, "Drafts")
	if err == nil {
		set := []store.UIDRange{{Start: uid, Stop: uid}}
		if _, _, err = u.a.Store.StoreFlags(ctx, drafts.ID, set, store.FlagsAdd, []string{`\Deleted`}, 0); err == nil {
			_, err = u.a.Store.Expunge(ctx, drafts.ID, set)
		}
	}
	if err != nil {
		u.a.Log.Warn("webmail: old draft not removed", "user", c.User.Address, "uid", uid, "err", err)
	}
}

// markSource flags a reply's or forward's original (best effort).
func (u *ui) markSource(r *http.Request, c *web.Ctx, ref, flag string) {
	i := strings.LastIndex(ref, "/")
	if i <= 0 {
		return
	}
	box, err := u.mailboxNamed(r.Context(), c, ref[:i])
	uid, ok := parseUID(ref[i+1:])
	if err != nil || !ok {
		return
	}
	set := []store.UIDRange{{Start: uid, Stop: uid}}
	if _, _, err := u.a.Store.StoreFlags(r.Context(), box.ID, set, store.FlagsAdd, []string{flag}, 0); err != nil {
		u.a.Log.Warn("webmail: flag not set", "user", c.User.Address, "flag", flag, "err", err)
	}
}

func storeError(err error) string {
	switch {
	case errors.Is(err, store.ErrOverQuota):
		return "your mailbox is full."
	case errors.Is(err, store.ErrTooBig):
		return "it is too big."
	}
	return "a server error (logged)."
}

// formatAddress writes an address for a form field: the bare address, or
// the display name (quoted when needed) with it in angle brackets.
func formatAddress(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.String()
}
