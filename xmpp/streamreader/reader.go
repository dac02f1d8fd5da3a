package streamreader

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
)

// Reader reads the XML tokens of one XMPP stream from a connection and
// enforces Limits and restricted XML on them. It implements xml.TokenReader.
// As with encoding/xml, the bytes in a returned token are valid only until
// the next call to Token; use xml.CopyToken to keep them.
type Reader struct {
	src    source
	dec    *xml.Decoder
	limits Limits
	ctx    context.Context
	clock  Clock

	depth      int   // open elements: 0 before the stream header, 1 inside the stream root
	elements   int   // start tags in the current stanza
	tokens     int   // tokens returned since Reset
	skipped    int64 // whitespace bytes the Reader consumed itself
	anchor     int64 // offset where the current first-level item starts
	rootEnding bool  // the stream header was self-closing; its end comes next
	closed     bool  // the stream root has ended
	crPending  bool  // the last whitespace chunk ended in CR
	ws         []byte
	err        error // sticky
}

var _ xml.TokenReader = (*Reader)(nil)

// An Option configures a Reader.
type Option func(*Reader)

// WithContext sets the context that ends a rate-shaping sleep early (the
// connection's context); Token then returns its error. The default never
// ends.
func WithContext(ctx context.Context) Option { return func(r *Reader) { r.ctx = ctx } }

// WithClock sets the time source of rate shaping (for tests).
func WithClock(c Clock) Option { return func(r *Reader) { r.clock = c } }

// New returns a Reader of the stream arriving on r, enforcing l. It does not
// validate l: check configured limits with Limits.Validate once, at start.
func New(r io.Reader, l Limits, opts ...Option) *Reader {
	rd := &Reader{limits: l, ctx: context.Background(), clock: realClock{}}
	for _, o := range opts {
		o(rd)
	}
	rd.setShaper()
	rd.Reset(r)
	return rd
}

// Reset starts a new stream on r: after STARTTLS r is the TLS connection;
// after SASL success it is the same connection (RFC 6120 §5.3.2, §6.3.2).
// Every byte buffered from the old stream is dropped and a fresh decoder is
// built, so data pipelined before the restart is never parsed (RFC 6120
// §5.4.3.3, §6.4.6). Limits and the rate bucket carry over.
func (r *Reader) Reset(rd io.Reader) {
	r.src.reset(rd)
	r.dec = xml.NewDecoder(&r.src) // strict; no entities beyond the predefined five
	r.dec.CharsetReader = refuseCharset
	r.depth, r.elements, r.tokens, r.skipped = 0, 0, 0, 0
	r.rootEnding, r.closed, r.crPending, r.err = false, false, false, nil
	r.startItem()
}

// SetLimits replaces the limits, typically DefaultPreAuth by DefaultPostAuth
// (or DefaultS2S) once SASL succeeds. A byte limit applies from the start of
// the current first-level item.
func (r *Reader) SetLimits(l Limits) {
	r.limits = l
	r.setShaper()
	r.src.limit = r.anchor + int64(max(0, r.budget()))
}

// Limits returns the limits in force.
func (r *Reader) Limits() Limits { return r.limits }

// InputOffset returns how many bytes of the current stream (since New or
// Reset) have been parsed: the end of the last token returned.
func (r *Reader) InputOffset() int64 { return r.dec.InputOffset() + r.skipped }

// Token returns the next token. At the end of the stream (after
// </stream:stream>, or a close before any stream began) it returns io.EOF.
// Violations are *Error values; after any error Token returns it again.
func (r *Reader) Token() (xml.Token, error) {
	if r.err != nil {
		return nil, r.err
	}
	tok, err := r.next()
	if err != nil {
		r.err = err
		return nil, err
	}
	r.tokens++
	return tok, nil
}

func (r *Reader) next() (xml.Token, error) {
	if r.closed {
		return nil, io.EOF
	}
	if r.depth <= 1 && !r.rootEnding {
		if tok, err := r.between(); tok != nil || err != nil {
			return tok, err
		}
	}
	r.crPending = false
	tok, err := r.dec.Token()
	if err != nil || r.src.err != nil {
		// A source error inside text makes encoding/xml return the text read
		// so far first; a truncated token is not delivered.
		return nil, r.decodeError(err)
	}
	if err := r.check(tok); err != nil {
		return nil, err
	}
	return tok, nil
}

// between runs before each first-level item: it starts the item's byte
// budget, returns whitespace itself (RFC 6120 §11.7) so that keepalives
// never reach the decoder or a limit, and vets the item's first bytes.
func (r *Reader) between() (xml.Token, error) {
	for {
		r.startItem()
		ws, n, err := r.space()
		switch {
		case err == io.EOF && r.depth == 0:
			return nil, io.EOF // closed before a stream began: nothing to say
		case err != nil:
			return nil, r.readError(err)
		case len(ws) > 0:
			return xml.CharData(ws), nil
		case n == 0:
			return nil, r.vet()
		}
	}
}

// startItem starts the byte budget of the next first-level item here.
func (r *Reader) startItem() {
	r.anchor = r.src.off
	r.elements = 0
	r.src.limit = r.anchor + int64(max(0, r.budget()))
}

// budget is the byte limit of the current first-level item.
func (r *Reader) budget() int {
	if r.depth == 0 {
		return min(r.limits.MaxStanzaBytes, HeaderBytes)
	}
	return r.limits.MaxStanzaBytes
}

// space consumes the buffered whitespace, reading once if nothing is
// buffered, and returns it normalised as encoding/xml would, with the
// number of bytes consumed.
func (r *Reader) space() ([]byte, int, error) {
	if len(r.src.buffered()) == 0 {
		if err := r.src.more(); err != nil {
			return nil, 0, err
		}
	}
	buf := r.src.buffered()
	n := 0
	for n < len(buf) && isSpace(buf[n]) {
		n++
	}
	ws := r.normalize(buf[:n])
	r.src.skip(n)
	r.skipped += int64(n)
	return ws, n, nil
}

// normalize rewrites CR LF and lone CR to LF, across chunks too.
func (r *Reader) normalize(b []byte) []byte {
	ws := r.ws[:0]
	for _, c := range b {
		switch {
		case c == '\r':
			ws = append(ws, '\n')
		case c == '\n' && r.crPending:
			// the LF of CR LF; the CR was written as LF
		default:
			ws = append(ws, c)
		}
		r.crPending = c == '\r'
	}
	r.ws = ws
	return ws
}

// vet looks at the first bytes of a first-level item before the decoder
// parses it, so restricted XML is refused whatever its size (RFC 6120
// §11.1). Short reads are left to the decoder, which reports them.
func (r *Reader) vet() error {
	head, _ := r.src.peek(3)
	switch {
	case head[0] != '<':
		return r.textError()
	case len(head) < 3:
		return nil
	case head[1] == '!' && head[2] == '-':
		return restricted("comments are")
	case head[1] == '!' && head[2] == '[':
		return r.textError() // CDATA outside a stanza is text
	case head[1] == '!':
		return restricted("DTDs and other declarations are")
	case head[1] == '?' && r.tokens > 0:
		return restricted("processing instructions are")
	}
	return nil
}

// textError refuses character data other than whitespace outside stanzas.
func (r *Reader) textError() error {
	if r.depth == 0 {
		return &Error{Condition: CondNotWellFormed, Text: "text before the stream header"}
	}
	return &Error{Condition: CondBadFormat, Text: "only whitespace is allowed between stanzas"}
}

// check enforces the per-token rules on what the decoder returned.
func (r *Reader) check(tok xml.Token) error {
	switch t := tok.(type) {
	case xml.StartElement:
		return r.start(t)
	case xml.EndElement:
		r.depth--
		r.closed = r.depth == 0
		r.rootEnding = false
	case xml.CharData:
		if r.depth <= 1 && !allSpace(t) {
			return r.textError()
		}
	case xml.Comment:
		return restricted("comments are") // RFC 6120 §11.1
	case xml.Directive:
		return restricted("DTDs and other declarations are") // RFC 6120 §11.1
	case xml.ProcInst:
		if t.Target != "xml" || r.tokens > 0 { // RFC 6120 §11.1, §11.5
			return restricted("processing instructions are")
		}
	}
	return nil
}

// start enforces attribute, depth and element limits on a start tag.
func (r *Reader) start(t xml.StartElement) error {
	r.depth++
	if len(t.Attr) > r.limits.MaxAttrs {
		return structError(fmt.Sprintf("an element has more than %d attributes", r.limits.MaxAttrs))
	}
	if dupAttr(t.Attr) { // XML 1.0 §3.1 "Unique Att Spec"; encoding/xml does not check
		return notWellFormed(errors.New("duplicate attribute"))
	}
	if r.depth == 1 { // the stream header
		r.rootEnding = r.src.last2() == [2]byte{'/', '>'}
		return nil
	}
	r.elements++
	if r.depth-1 > r.limits.MaxDepth {
		return structError(fmt.Sprintf("elements nest deeper than %d levels", r.limits.MaxDepth))
	}
	if r.elements > r.limits.MaxElements {
		return structError(fmt.Sprintf("a stanza has more than %d elements", r.limits.MaxElements))
	}
	return nil
}

// decodeError classifies an error from the decoder: the source's own error
// if the source failed, else a syntax error.
func (r *Reader) decodeError(err error) error {
	if r.src.err != nil {
		if r.src.err == io.EOF {
			return io.ErrUnexpectedEOF // inside a token or the stream
		}
		return r.readError(r.src.err)
	}
	if errors.Is(err, errCharset) {
		return &Error{Condition: CondUnsupportedEncoding, Text: "only UTF-8 is supported (RFC 6120 §11.6)", Err: err}
	}
	return notWellFormed(err)
}

// readError classifies an error met while reading bytes.
func (r *Reader) readError(err error) error {
	var t interface{ Timeout() bool }
	switch {
	case err == errLimit:
		if r.depth == 0 {
			return sizeError("stream header", r.budget())
		}
		return sizeError("stanza", r.budget())
	case err == io.EOF:
		return io.ErrUnexpectedEOF
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err // the connection is being closed
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &t) && t.Timeout():
		return &Error{Condition: CondConnectionTimeout, Text: "no data received in time", Err: err}
	}
	return err
}

func (r *Reader) setShaper() {
	rate, burst := r.limits.BytesPerSecond, max(1, r.limits.Burst)
	switch {
	case rate <= 0:
		r.src.shape = nil
	case r.src.shape == nil:
		r.src.shape = newShaper(r.ctx, r.clock, rate, burst)
	default:
		r.src.shape.set(rate, burst)
	}
}

var errCharset = errors.New("declared encoding is not UTF-8")

// refuseCharset makes a declared encoding other than UTF-8 an error
// (RFC 6120 §11.6); encoding/xml accepts UTF-8 without asking.
func refuseCharset(string, io.Reader) (io.Reader, error) { return nil, errCharset }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func allSpace(b []byte) bool {
	for _, c := range b {
		if !isSpace(c) {
			return false
		}
	}
	return true
}

// dupAttr reports whether two attributes have the same (expanded) name.
func dupAttr(attrs []xml.Attr) bool {
	if len(attrs) <= 16 {
		for i := range attrs {
			for j := range i {
				if attrs[i].Name == attrs[j].Name {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[xml.Name]bool, len(attrs))
	for _, a := range attrs {
		if seen[a.Name] {
			return true
		}
		seen[a.Name] = true
	}
	return false
}
