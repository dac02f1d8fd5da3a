package smtpd

import (
	"bufio"
	"bytes"
	"errors"
	"io"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// maxHeaderScan bounds how much of a message is buffered to check its
// header; a longer header is checked as far as it got.
const maxHeaderScan = 1 << 20

// dataChecker passes DATA through while refusing bare CR and bare LF
// (SMTP smuggling, RFC 5321 §2.3.8) and calling onHeader once the header
// has arrived. Its errors surface as read errors, so the delivery that is
// reading fails before anything is committed.
type dataChecker struct {
	r        io.Reader
	onHeader func(header) error
	prevCR   bool
	hdr      []byte
	hdrDone  bool
	err      error
}

func newDataChecker(r io.Reader, onHeader func(header) error) *dataChecker {
	return &dataChecker{r: r, onHeader: onHeader}
}

func (c *dataChecker) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	for _, b := range p[:n] {
		if c.prevCR != (b == '\n') {
			c.err = errBareNewline
			return 0, c.err
		}
		c.prevCR = b == '\r'
	}
	if errors.Is(err, io.EOF) && c.prevCR {
		c.err = errBareNewline
		return 0, c.err
	}
	if !c.hdrDone {
		if herr := c.scanHeader(p[:n], err != nil); herr != nil {
			c.err = herr
			return 0, herr
		}
	}
	return n, err
}

func (c *dataChecker) scanHeader(p []byte, last bool) error {
	c.hdr = append(c.hdr, p...)
	end := headerEnd(c.hdr)
	if end < 0 && len(c.hdr) <= maxHeaderScan && !last {
		return nil
	}
	if end < 0 {
		end = min(len(c.hdr), maxHeaderScan)
	}
	c.hdrDone = true
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(c.hdr[:end])))
	c.hdr = nil
	return c.onHeader(header{h})
}

// headerEnd returns the length of the header including the blank line, or
// -1 if it has not ended yet.
func headerEnd(b []byte) int {
	if bytes.HasPrefix(b, []byte("\r\n")) {
		return 2
	}
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return -1
}

// header is a parsed message header.
type header struct{ textproto.Header }

func (h header) count(key string) int { return len(h.Values(key)) }

// addresses returns the addresses of every key field; unparsable fields
// yield nothing.
func (h header) addresses(key string) []string {
	var out []string
	for _, v := range h.Values(key) {
		list, err := mail.ParseAddressList(v)
		if err != nil {
			continue
		}
		for _, a := range list {
			out = append(out, a.Address)
		}
	}
	return out
}
