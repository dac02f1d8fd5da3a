package mailui

import (
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/emersion/go-message/mail"
	"github.com/tidings/tidings/webmail/web"
)

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
	s := readSubmission(r)
	fail := func(msg string) error { return u.refill(w, r, c, s, msg) }
	rc, err := s.recipients()
	if err != nil {
		return fail(err.Error())
	}
	draft := r.PostForm.Get("action") == "draft"
	if !draft && len(rc.all()) == 0 {
		return fail("Add at least one recipient in To, Cc or Bcc.")
	}
	atts, err := u.gather(r, c, s.d.Source, s.keep, s.uploads)
	var he *web.HTTPError
	if errors.As(err, &he) {
		return fail(he.Message)
	}
	if err != nil {
		return err
	}
	if draft {
		return u.saveDraft(w, r, c, s.d, rc, atts, fail)
	}
	return u.send(w, r, c, s.d, rc, atts, fail)
}

// submission is a posted compose form.
type submission struct {
	d       *composeData
	keep    map[int]bool // carried parts to keep
	uploads []*multipart.FileHeader
}

func readSubmission(r *http.Request) submission {
	f := r.PostForm
	s := submission{keep: map[int]bool{}, d: &composeData{Heading: "New message", To: f.Get("to"), Cc: f.Get("cc"), Bcc: f.Get("bcc"),
		Subject: oneLine(f.Get("subject")), Body: f.Get("body"),
		InReplyTo: strings.Join(msgIDs(f.Get("in_reply_to")), " "), References: strings.Join(msgIDs(f.Get("references")), " "),
		Reply: f.Get("reply"), Forward: f.Get("forward"), Source: f.Get("source")}}
	if uid, ok := parseUID(f.Get("draft")); ok {
		s.d.Draft = uid
	}
	for _, k := range f["keep"] {
		if n, err := strconv.Atoi(k); err == nil {
			s.keep[n] = true
		}
	}
	if r.MultipartForm != nil {
		for _, fh := range r.MultipartForm.File["attachment"] {
			if fh.Filename != "" || fh.Size > 0 {
				s.uploads = append(s.uploads, fh)
			}
		}
	}
	return s
}

// recipients parses the address fields, naming every bad one.
func (s submission) recipients() (recipients, error) {
	var rc recipients
	var bad []string
	for _, fld := range []struct {
		label, value string
		dst          *[]*mail.Address
	}{{"To", s.d.To, &rc.to}, {"Cc", s.d.Cc, &rc.cc}, {"Bcc", s.d.Bcc, &rc.bcc}} {
		list, err := parseAddresses(fld.value)
		if err != nil {
			bad = append(bad, fld.label+": "+err.Error())
		}
		*fld.dst = list
	}
	if len(bad) > 0 {
		return rc, errors.New("Please correct the addresses. " + strings.Join(bad, " "))
	}
	return rc, nil
}

// refill shows the form again with what the user sent and why it failed.
// Uploaded files cannot be offered again (browsers never prefill file
// inputs): the page says so.
func (u *ui) refill(w http.ResponseWriter, r *http.Request, c *web.Ctx, s submission, msg string) error {
	d := s.d
	d.Error, d.Lost = msg, len(s.uploads) > 0
	if d.Source != "" {
		if _, p, err := u.source(r, c, d.Source); err == nil {
			d.Carried = carriedParts(p, false)
			for i := range d.Carried {
				d.Carried[i].Keep = s.keep[d.Carried[i].N]
			}
		}
	}
	c.Status(http.StatusUnprocessableEntity)
	return u.showCompose(w, r, c, d)
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
