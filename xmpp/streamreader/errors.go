package streamreader

import (
	"encoding/xml"
	"io"
	"strconv"
)

// NSStreams is the namespace of stream error conditions (RFC 6120 §4.9.2).
const NSStreams = "urn:ietf:params:xml:ns:xmpp-streams"

// Stream error conditions the Reader produces (RFC 6120 §4.9.3).
const (
	CondBadFormat           = "bad-format"           // §4.9.3.1
	CondConnectionTimeout   = "connection-timeout"   // §4.9.3.4
	CondNotWellFormed       = "not-well-formed"      // §4.9.3.13
	CondPolicyViolation     = "policy-violation"     // §4.9.3.14
	CondRestrictedXML       = "restricted-xml"       // §4.9.3.18
	CondUnsupportedEncoding = "unsupported-encoding" // §4.9.3.22
)

// Error is a stream error: the stream cannot continue (RFC 6120 §4.9.1.1).
// Send it with WriteTo, then close the stream.
type Error struct {
	Condition string // an RFC 6120 §4.9.3 condition, such as CondPolicyViolation
	Text      string // human-readable text for the peer; never internals
	Err       error  // the cause, for the log only; may be nil
}

// Sentinels for errors.Is: any *Error matches the sentinel of its condition.
var (
	ErrBadFormat           = &Error{Condition: CondBadFormat}
	ErrConnectionTimeout   = &Error{Condition: CondConnectionTimeout}
	ErrNotWellFormed       = &Error{Condition: CondNotWellFormed}
	ErrPolicyViolation     = &Error{Condition: CondPolicyViolation}
	ErrRestrictedXML       = &Error{Condition: CondRestrictedXML}
	ErrUnsupportedEncoding = &Error{Condition: CondUnsupportedEncoding}
)

func (e *Error) Error() string {
	s := "xmpp stream error: " + e.Condition
	if e.Text != "" {
		s += ": " + e.Text
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's condition: a bare
// *Error with only a Condition.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Text == "" && t.Err == nil && t.Condition == e.Condition
}

// MarshalXML writes the RFC 6120 §4.9.2 syntax:
//
//	<stream:error><COND xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>
//	<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>TEXT</text></stream:error>
//
// The stream prefix is the one bound by the stream header. start is
// ignored.
func (e *Error) MarshalXML(enc *xml.Encoder, _ xml.StartElement) error {
	root := xml.StartElement{Name: xml.Name{Local: "stream:error"}}
	cond := xml.StartElement{Name: xml.Name{Space: NSStreams, Local: e.Condition}}
	toks := []xml.Token{root, cond, cond.End()}
	if e.Text != "" {
		lang := xml.Attr{Name: xml.Name{Space: "http://www.w3.org/XML/1998/namespace", Local: "lang"}, Value: "en"}
		text := xml.StartElement{Name: xml.Name{Space: NSStreams, Local: "text"}, Attr: []xml.Attr{lang}}
		toks = append(toks, text, xml.CharData(e.Text), text.End())
	}
	toks = append(toks, root.End())
	for _, t := range toks {
		if err := enc.EncodeToken(t); err != nil {
			return err
		}
	}
	return nil
}

// WriteTo writes the <stream:error/> element to w (io.WriterTo).
func (e *Error) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	enc := xml.NewEncoder(cw)
	if err := e.MarshalXML(enc, xml.StartElement{}); err != nil {
		return cw.n, err
	}
	err := enc.Close()
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Errors the Reader builds; the texts are what the peer reads.
func sizeError(what string, limit int) *Error {
	return &Error{Condition: CondPolicyViolation, Text: what + " exceeds the limit of " + strconv.Itoa(limit) + " bytes"}
}

func structError(text string) *Error {
	return &Error{Condition: CondPolicyViolation, Text: text}
}

func restricted(what string) *Error {
	return &Error{Condition: CondRestrictedXML, Text: what + " not allowed in XMPP (RFC 6120 §11.1)"}
}

func notWellFormed(cause error) *Error {
	return &Error{Condition: CondNotWellFormed, Text: "XML is not well-formed", Err: cause}
}
