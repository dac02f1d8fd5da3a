// Package elem is the element tree the XMPP server routes: a stanza read
// from a stream becomes an *Element, is inspected and stamped by the router,
// and is written to another stream with [Element.WriteTo].
//
// Namespaces are kept as URIs, never as prefixes: parsing resolves them
// (encoding/xml does the resolution) and writing declares each one with a
// default-namespace attribute where it changes. The stream's content
// namespace (jabber:client on c2s, jabber:server on s2s) is stored as the
// empty namespace "" so a stanza can move between stream kinds unchanged;
// the writer renders "" as nothing at the top and as the stream's content
// namespace when it appears under a foreign parent (a message forwarded
// inside XEP-0297 <forwarded/>, for instance). Attributes in foreign
// namespaces get generated prefixes; xml:lang keeps the xml prefix.
//
// Mixed content keeps its order ([Text] nodes between child elements), so
// XHTML-IM bodies survive routing.
package elem

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// Namespaces the tree treats specially.
const (
	NSClient = "jabber:client"
	NSServer = "jabber:server"
	NSXML    = "http://www.w3.org/XML/1998/namespace"
)

// Node is an *Element or a Text.
type Node interface{ node() }

// Text is character data.
type Text string

func (Text) node() {}

// Element is one XML element. Space "" is the stream's content namespace.
type Element struct {
	Space, Local string
	Attr         []xml.Attr // without namespace declarations
	Children     []Node
}

func (*Element) node() {}

// New returns an element with attributes given as name, value pairs.
func New(space, local string, attrs ...string) *Element {
	e := &Element{Space: space, Local: local}
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] != "" {
			e.Attr = append(e.Attr, xml.Attr{Name: xml.Name{Local: attrs[i]}, Value: attrs[i+1]})
		}
	}
	return e
}

// Get returns the value of the un-namespaced attribute name, or "".
func (e *Element) Get(name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// Set sets (or with an empty value removes) the un-namespaced attribute name.
func (e *Element) Set(name, value string) *Element {
	for i, a := range e.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			if value == "" {
				e.Attr = append(e.Attr[:i], e.Attr[i+1:]...)
			} else {
				e.Attr[i].Value = value
			}
			return e
		}
	}
	if value != "" {
		e.Attr = append(e.Attr, xml.Attr{Name: xml.Name{Local: name}, Value: value})
	}
	return e
}

// Lang returns xml:lang, or "".
func (e *Element) Lang() string {
	for _, a := range e.Attr {
		if a.Name.Local == "lang" && a.Name.Space == NSXML {
			return a.Value
		}
	}
	return ""
}

// Add appends children and returns e.
func (e *Element) Add(children ...Node) *Element {
	e.Children = append(e.Children, children...)
	return e
}

// AddText appends a child element <local>text</local> in space.
func (e *Element) AddText(space, local, text string) *Element {
	c := &Element{Space: space, Local: local}
	if text != "" {
		c.Children = []Node{Text(text)}
	}
	return e.Add(c)
}

// Child returns the first child element with this namespace and local name
// (local "" matches any), or nil.
func (e *Element) Child(space, local string) *Element {
	for _, n := range e.Children {
		if c, ok := n.(*Element); ok && c.Space == space && (local == "" || c.Local == local) {
			return c
		}
	}
	return nil
}

// Elements returns the child elements.
func (e *Element) Elements() []*Element {
	var out []*Element
	for _, n := range e.Children {
		if c, ok := n.(*Element); ok {
			out = append(out, c)
		}
	}
	return out
}

// FirstElement returns the first child element, or nil.
func (e *Element) FirstElement() *Element {
	for _, n := range e.Children {
		if c, ok := n.(*Element); ok {
			return c
		}
	}
	return nil
}

// Remove deletes the child elements with this namespace and local name.
func (e *Element) Remove(space, local string) {
	kept := e.Children[:0]
	for _, n := range e.Children {
		if c, ok := n.(*Element); ok && c.Space == space && c.Local == local {
			continue
		}
		kept = append(kept, n)
	}
	e.Children = kept
}

// Text returns the concatenated character data directly inside e.
func (e *Element) Text() string {
	var b strings.Builder
	for _, n := range e.Children {
		if t, ok := n.(Text); ok {
			b.WriteString(string(t))
		}
	}
	return b.String()
}

// ChildText returns the text of the first child (space, local), or "".
func (e *Element) ChildText(space, local string) string {
	if c := e.Child(space, local); c != nil {
		return c.Text()
	}
	return ""
}

// Copy returns a deep copy.
func (e *Element) Copy() *Element {
	c := &Element{Space: e.Space, Local: e.Local, Attr: append([]xml.Attr(nil), e.Attr...)}
	if len(e.Children) > 0 {
		c.Children = make([]Node, len(e.Children))
		for i, n := range e.Children {
			if ce, ok := n.(*Element); ok {
				c.Children[i] = ce.Copy()
			} else {
				c.Children[i] = n
			}
		}
	}
	return c
}

// ErrUnexpectedEnd is returned by Read when the token stream ends inside
// an element.
var ErrUnexpectedEnd = errors.New("elem: element not closed")

// Read builds the element that start opens from the following tokens of r,
// up to and including its end. content is the stream's content namespace
// (NSClient or NSServer), stored as "". The tokens may be reused by r: Read
// copies what it keeps.
func Read(r xml.TokenReader, start xml.StartElement, content string) (*Element, error) {
	root := fromStart(start, content)
	stack := []*Element{root}
	for len(stack) > 0 {
		tok, err := r.Token()
		if err != nil {
			if err == io.EOF {
				return nil, ErrUnexpectedEnd
			}
			return nil, err
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			c := fromStart(t, content)
			top.Children = append(top.Children, c)
			stack = append(stack, c)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if n := len(top.Children); n > 0 {
				if prev, ok := top.Children[n-1].(Text); ok {
					top.Children[n-1] = prev + Text(t)
					continue
				}
			}
			top.Children = append(top.Children, Text(string(t)))
		}
	}
	return root, nil
}

func fromStart(t xml.StartElement, content string) *Element {
	e := &Element{Space: t.Name.Space, Local: t.Name.Local}
	if e.Space == content {
		e.Space = ""
	}
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue // declarations are regenerated on write
		}
		e.Attr = append(e.Attr, xml.Attr{Name: xml.Name{Space: a.Name.Space, Local: a.Name.Local}, Value: a.Value})
	}
	return e
}

// Parse reads one element from a string (tests and fixed payloads); the
// content namespace is jabber:client.
func Parse(s string) (*Element, error) {
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		if st, ok := tok.(xml.StartElement); ok {
			return Read(d, st, NSClient)
		}
	}
}

// WriteTo writes e as it appears inside a stream whose content namespace
// is the default one (no xmlns on the stanza).
func (e *Element) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	e.Append(&b, NSClient)
	return b.WriteTo(w)
}

// Append writes e to b as a first-level element of a stream with content
// namespace content.
func (e *Element) Append(b *bytes.Buffer, content string) {
	e.write(b, "", content, nil)
}

// String renders e with the jabber:client content namespace declared, for
// logs, storage and tests.
func (e *Element) String() string {
	var b bytes.Buffer
	e.write(&b, "\x00", NSClient, nil) // "\x00": no parent namespace, so "" is declared
	return b.String()
}

// Bytes renders e like String.
func (e *Element) Bytes() []byte {
	var b bytes.Buffer
	e.write(&b, "\x00", NSClient, nil)
	return b.Bytes()
}

func (e *Element) write(b *bytes.Buffer, parent, content string, prefixes map[string]string) {
	b.WriteByte('<')
	b.WriteString(e.Local)
	if e.Space != parent {
		ns := e.Space
		if ns == "" {
			ns = content
		}
		b.WriteString(` xmlns="`)
		escapeAttr(b, ns)
		b.WriteByte('"')
	}
	for _, a := range e.Attr {
		b.WriteByte(' ')
		switch a.Name.Space {
		case "":
		case NSXML:
			b.WriteString("xml:")
		default:
			p, ok := prefixes[a.Name.Space]
			if !ok {
				if prefixes == nil {
					prefixes = map[string]string{}
				} else {
					prefixes = clone(prefixes)
				}
				p = "ns" + itoa(len(prefixes)+1)
				prefixes[a.Name.Space] = p
				b.WriteString("xmlns:" + p + `="`)
				escapeAttr(b, a.Name.Space)
				b.WriteString(`" `)
			}
			b.WriteString(p + ":")
		}
		b.WriteString(a.Name.Local)
		b.WriteString(`="`)
		escapeAttr(b, a.Value)
		b.WriteByte('"')
	}
	if len(e.Children) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	for _, n := range e.Children {
		switch c := n.(type) {
		case *Element:
			c.write(b, e.Space, content, prefixes)
		case Text:
			escape(b, string(c))
		}
	}
	b.WriteString("</")
	b.WriteString(e.Local)
	b.WriteByte('>')
}

func clone(m map[string]string) map[string]string {
	c := make(map[string]string, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// escape writes s with the XML special characters escaped. Quotes are
// escaped too; CR is kept as a character reference so it survives the
// receiver's line-end handling (XML 1.0 §2.11).
func escape(b *bytes.Buffer, s string) { escapeTo(b, s, false) }

// escapeAttr is escape for attribute values: LF and tab are written as
// character references too, because a receiving parser replaces literal
// ones in attribute values by spaces (XML 1.0 §3.3.3).
func escapeAttr(b *bytes.Buffer, s string) { escapeTo(b, s, true) }

func escapeTo(b *bytes.Buffer, s string, attr bool) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '\n':
			if !attr {
				continue
			}
			esc = "&#xA;"
		case '\t':
			if !attr {
				continue
			}
			esc = "&#x9;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '&':
			esc = "&amp;"
		case '"':
			esc = "&quot;"
		case '\'':
			esc = "&apos;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		last = i + 1
	}
	b.WriteString(s[last:])
}
