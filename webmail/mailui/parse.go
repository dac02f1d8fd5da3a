package mailui

import (
	"bufio"
	"errors"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode every charset go-message knows
	"github.com/emersion/go-message/mail"
)

// Limits on what a message view reads into memory. A longer text is cut
// (and says so); attachments are never held, only counted, except inline
// images an HTML part refers to by Content-ID, which are embedded.
const (
	maxText        = 2 << 20  // per displayed text or HTML part
	maxInlineImage = 2 << 20  // per cid: image embedded as a data: URI
	maxInlineTotal = 8 << 20  // all embedded images of one message
	maxRaw         = 1 << 20  // shown when the MIME structure is broken
	maxDepth       = 20       // multipart nesting followed
	maxParts       = 500      // leaf parts listed
	maxForwardSize = 64 << 20 // never copy more than this into a forward
)

// part is one leaf of a message's MIME tree, numbered in walk order from 0
// (the number the /part/{n} URL uses).
type part struct {
	N           int
	Type        string // media type, lower case, e.g. "image/png"
	Charset     string
	Filename    string
	Disposition string // "inline", "attachment" or ""
	ContentID   string // without angle brackets
	Size        int64  // decoded bytes
	text        string // the content of displayed text parts
	truncated   bool
	data        []byte // inline images, when asked for
}

// isBody says whether a part is message text rather than an attachment.
func (p part) isBody() bool {
	return p.Disposition != "attachment" && p.Filename == "" && (p.Type == "text/plain" || p.Type == "text/html")
}

// parsed is what the view shows of a message.
type parsed struct {
	Header      mail.Header
	Plain, HTML *part
	Parts       []part
	Broken      string // why the structure could not be read; Raw holds the text
	Raw         string
	RawCut      bool
}

// Attachments are the parts that are not the shown text (inline images an
// HTML body embeds excluded).
func (p *parsed) Attachments(embedded map[string]bool) []part {
	var out []part
	for _, x := range p.Parts {
		if (p.Plain != nil && x.N == p.Plain.N) || (p.HTML != nil && x.N == p.HTML.N) {
			continue
		}
		if x.ContentID != "" && embedded[x.ContentID] {
			continue
		}
		out = append(out, x)
	}
	return out
}

type parseOptions struct {
	images bool // keep inline images (with a Content-ID) for embedding
}

// parseMessage reads a whole message. It never fails on bad input: a
// message whose structure cannot be read comes back with Broken set and
// its raw text, as far as maxRaw.
func parseMessage(r io.ReadSeeker, opt parseOptions) (*parsed, error) {
	p := &parsed{}
	e, err := message.Read(bufio.NewReader(r))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return p, readRaw(p, r, "the message header cannot be read: "+err.Error())
	}
	p.Header = mail.Header{Header: e.Header}
	inlineBytes := 0
	n := 0
	plain, html := -1, -1
	werr := e.Walk(func(path []int, ent *message.Entity, err error) error {
		if len(path) > maxDepth {
			return errors.New("MIME parts nested too deeply")
		}
		if ent.MultipartReader() != nil {
			return nil
		}
		if n >= maxParts {
			return errors.New("too many MIME parts")
		}
		pt := describe(n, ent.Header, err)
		n++
		shown := pt.isBody() && (pt.Type == "text/plain" && plain < 0 || pt.Type == "text/html" && html < 0)
		if shown && pt.Type == "text/plain" {
			plain = len(p.Parts)
		} else if shown {
			html = len(p.Parts)
		}
		switch {
		case shown:
			b, rerr := io.ReadAll(io.LimitReader(ent.Body, maxText+1))
			pt.Size = int64(len(b))
			if len(b) > maxText {
				b, pt.truncated = b[:maxText], true
				rest, _ := io.Copy(io.Discard, ent.Body)
				pt.Size += rest
			}
			pt.text = strings.ToValidUTF8(string(b), "\uFFFD")
			if rerr != nil && pt.text == "" {
				pt.text = "(this part could not be decoded: " + rerr.Error() + ")"
			}
		case opt.images && pt.ContentID != "" && strings.HasPrefix(pt.Type, "image/") && inlineBytes < maxInlineTotal:
			b, _ := io.ReadAll(io.LimitReader(ent.Body, maxInlineImage+1))
			pt.Size = int64(len(b))
			if len(b) <= maxInlineImage {
				pt.data = b
				inlineBytes += len(b)
			} else {
				rest, _ := io.Copy(io.Discard, ent.Body)
				pt.Size += rest
			}
		default:
			pt.Size, _ = io.Copy(io.Discard, ent.Body)
		}
		p.Parts = append(p.Parts, pt)
		return nil
	})
	if plain >= 0 {
		p.Plain = &p.Parts[plain]
	}
	if html >= 0 {
		p.HTML = &p.Parts[html]
	}
	if werr != nil && len(p.Parts) == 0 {
		return p, readRaw(p, r, "the MIME structure is broken: "+werr.Error())
	}
	if werr != nil {
		p.Broken = "Part of the message could not be read: " + werr.Error()
	}
	return p, nil
}

// readRaw fills p with the message's raw text.
func readRaw(p *parsed, r io.ReadSeeker, why string) error {
	p.Broken = "This message is shown as raw text: " + why
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(r, maxRaw+1))
	if err != nil {
		return err
	}
	if len(b) > maxRaw {
		b, p.RawCut = b[:maxRaw], true
	}
	p.Raw = strings.ToValidUTF8(string(b), "\uFFFD")
	return nil
}

// describe reads a leaf's header. A part whose encoding or charset is
// unknown is still described (and read undecoded).
func describe(n int, h message.Header, err error) part {
	pt := part{N: n}
	t, params, terr := h.ContentType()
	if terr != nil || t == "" {
		t = "text/plain"
	}
	pt.Type = strings.ToLower(t)
	pt.Charset = params["charset"]
	disp, dparams, _ := h.ContentDisposition()
	pt.Disposition = strings.ToLower(disp)
	ah := mail.AttachmentHeader{Header: h}
	if name, ferr := ah.Filename(); ferr == nil && name != "" {
		pt.Filename = name
	} else if name := dparams["filename"]; name != "" {
		pt.Filename = name
	} else if name := params["name"]; name != "" {
		pt.Filename = decodeWord(name)
	}
	pt.Filename = cleanFilename(pt.Filename)
	if pt.Type == "message/rfc822" && pt.Filename == "" {
		pt.Filename = "message.eml"
	}
	if cid := strings.TrimSpace(h.Get("Content-Id")); cid != "" {
		pt.ContentID = strings.Trim(cid, "<>")
	}
	if err != nil && pt.Disposition != "attachment" && pt.isBody() {
		// An unknown charset: the text is shown as it came.
		pt.Charset = ""
	}
	return pt
}

func decodeWord(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// cleanFilename keeps a file name harmless for a download: no directory,
// no control characters, bounded.
func cleanFilename(s string) string {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	for len(s) > 200 {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	if s == "." || s == ".." {
		return ""
	}
	return s
}

// walkPart finds leaf n and calls fn with its description and decoded body.
// It reports false when there is no such part.
func walkPart(r io.Reader, n int, fn func(part, io.Reader) error) (bool, error) {
	e, err := message.Read(bufio.NewReader(r))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return false, nil
	}
	i, found := 0, false
	errFound := errors.New("found")
	werr := e.Walk(func(path []int, ent *message.Entity, err error) error {
		if len(path) > maxDepth {
			return errors.New("nested too deeply")
		}
		if ent.MultipartReader() != nil {
			return nil
		}
		if i == n {
			found = true
			if ferr := fn(describe(i, ent.Header, err), ent.Body); ferr != nil {
				return ferr
			}
			return errFound
		}
		i++
		return nil
	})
	if werr != nil && !errors.Is(werr, errFound) && found {
		return true, werr
	}
	return found, nil
}
