package mailui

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/tidings/tidings/webmail/web"
)

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
