package s2s

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"io"

	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/streamreader"
)

// Namespaces of server streams.
const (
	nsStream   = "http://etherx.jabber.org/streams"
	nsStreamEr = streamreader.NSStreams
	nsTLS      = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL     = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsDialback = "jabber:server:dialback"     // db:result, db:verify (XEP-0220)
	nsDBFeat   = "urn:xmpp:features:dialback" // the dialback stream feature
	nsStanzas  = "urn:ietf:params:xml:ns:xmpp-stanzas"
)

// header is a peer's stream header.
type header struct {
	from, to, id, version, ns string
	db                        bool // declared xmlns:db
}

// readHeader reads the stream header, skipping the XML declaration and
// whitespace.
func readHeader(rd *streamreader.Reader) (header, error) {
	for {
		tok, err := rd.Token()
		if err != nil {
			return header{}, err
		}
		t, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if t.Name.Space != nsStream || t.Name.Local != "stream" {
			return header{}, &streamreader.Error{Condition: "invalid-namespace", Text: "expected a stream header"}
		}
		var h header
		for _, a := range t.Attr {
			switch {
			case a.Name.Space == "" && a.Name.Local == "from":
				h.from = a.Value
			case a.Name.Space == "" && a.Name.Local == "to":
				h.to = a.Value
			case a.Name.Space == "" && a.Name.Local == "id":
				h.id = a.Value
			case a.Name.Space == "" && a.Name.Local == "version":
				h.version = a.Value
			case a.Name.Space == "" && a.Name.Local == "xmlns":
				h.ns = a.Value
			case a.Name.Space == "xmlns" && a.Name.Local == "db":
				h.db = a.Value == nsDialback
			}
		}
		return h, nil
	}
}

// writeHeader renders our stream header.
func writeHeader(b *bytes.Buffer, from, to, id string) {
	b.WriteString(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0' xml:lang='en'`)
	for _, a := range [][2]string{{"from", from}, {"to", to}, {"id", id}} {
		if a[1] != "" {
			b.WriteString(" " + a[0] + "='")
			xml.EscapeText(b, []byte(a[1]))
			b.WriteString("'")
		}
	}
	b.WriteString(">")
}

// nextElement reads the next first-level element; io.EOF when the peer
// closed its stream.
func nextElement(rd *streamreader.Reader, onToken func()) (*elem.Element, error) {
	for {
		tok, err := rd.Token()
		if err != nil {
			return nil, err
		}
		if onToken != nil {
			onToken()
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil, io.EOF
		case xml.StartElement:
			return elem.Read(rd, t, elem.NSServer)
		}
	}
}

// render writes a first-level element of a server stream. Elements of the
// stream and dialback namespaces carry the prefixes our stream header
// declares (<stream:features/>, <db:result/>, <db:verify/>) rather than a
// default namespace of their own: the same thing in XML, but ejabberd's
// parser matches these names literally and ignores
// <result xmlns='jabber:server:dialback'/> (as a dialback request it never
// answers) and <features xmlns='http://etherx.jabber.org/streams'/>.
func render(e *elem.Element) []byte {
	var b bytes.Buffer
	if p := streamPrefixes[e.Space]; p != "" {
		q := *e // children in the content namespace stay unprefixed: jabber:server
		q.Space, q.Local = "", p+":"+e.Local
		e = &q
	}
	e.Append(&b, elem.NSServer)
	return b.Bytes()
}

// streamPrefixes are the namespace prefixes writeHeader declares.
var streamPrefixes = map[string]string{nsStream: "stream", nsDialback: "db"}

// streamErrorOf describes a received <stream:error/>.
func streamErrorOf(e *elem.Element) string {
	for _, c := range e.Elements() {
		if c.Space == nsStreamEr && c.Local != "text" {
			if t := e.ChildText(nsStreamEr, "text"); t != "" {
				return c.Local + " (" + t + ")"
			}
			return c.Local
		}
	}
	return "unknown"
}

// stanzaErrorOf describes the <error/> child of a dialback answer of type
// error (XEP-0220 §2.4): its condition and text.
func stanzaErrorOf(e *elem.Element) string {
	er := e.Child("", "error") // jabber:server, the content namespace
	if er == nil {
		return "no reason given"
	}
	cond := "undefined-condition"
	for _, c := range er.Elements() {
		if c.Space == nsStanzas && c.Local != "text" {
			cond = c.Local
			break
		}
	}
	if t := er.ChildText(nsStanzas, "text"); t != "" {
		return cond + " (" + t + ")"
	}
	return cond
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
