package elem_test

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/tidings/tidings/xmpp/elem"
)

func mustParse(t *testing.T, s string) *elem.Element {
	t.Helper()
	e, err := elem.Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return e
}

// reparse writes e inside a stream of content namespace content and reads
// it back the way a receiving stream would.
func reparse(t *testing.T, e *elem.Element, content string) *elem.Element {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("<stream:stream xmlns='" + content + "' xmlns:stream='http://etherx.jabber.org/streams'>")
	e.Append(&b, content)
	b.WriteString("</stream:stream>")
	d := xml.NewDecoder(&b)
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			t.Fatalf("reading %s: %v", b.String(), err)
		}
		if st, ok := tok.(xml.StartElement); ok {
			depth++
			if depth == 2 {
				got, err := elem.Read(d, st, content)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	in := `<message xmlns='jabber:client' to='romeo@capulet.example' type='chat' xml:lang='en'>` +
		`<body>a &lt;b&gt; &amp; "c" 'd'</body>` +
		`<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>one <b>two</b> three</p></body></html>` +
		`<x xmlns='urn:example' xmlns:a='urn:a' xmlns:b='urn:b' a:one='1' b:two='2'><y a:three='3'/></x>` +
		`</message>`
	e := mustParse(t, in)
	if e.Space != "" || e.Local != "message" || e.Lang() != "en" {
		t.Fatalf("parsed %#v", e)
	}
	for _, content := range []string{elem.NSClient, elem.NSServer} {
		got := reparse(t, e, content)
		if got.String() != e.String() {
			t.Errorf("through %s:\n got %s\nwant %s", content, got, e)
		}
	}
	if got := e.ChildText("", "body"); got != `a <b> & "c" 'd'` {
		t.Errorf("body %q", got)
	}
	p := e.Child("http://jabber.org/protocol/xhtml-im", "html").FirstElement().FirstElement()
	if len(p.Children) != 3 || p.Children[0] != elem.Text("one ") || p.Children[2] != elem.Text(" three") {
		t.Errorf("mixed content %#v", p.Children)
	}
	x := e.Child("urn:example", "x")
	var spaces []string
	for _, a := range x.Attr {
		spaces = append(spaces, a.Name.Space+" "+a.Name.Local+"="+a.Value)
	}
	if strings.Join(spaces, ",") != "urn:a one=1,urn:b two=2" {
		t.Errorf("foreign attributes %v", spaces)
	}
	if y := x.FirstElement(); len(y.Attr) != 1 || y.Attr[0].Name.Space != "urn:a" {
		t.Errorf("child attribute %v", y.Attr)
	}
}

// TestContentNamespace: a stanza is written without xmlns at the top of a
// stream; under a foreign parent (a forwarded message) the stream's
// content namespace is declared.
func TestContentNamespace(t *testing.T) {
	inner := mustParse(t, `<message xmlns='jabber:client' from='a@b.example/c'><body>hi</body></message>`)
	carbon := elem.New("", "message", "to", "a@b.example/d").
		Add(elem.New("urn:xmpp:carbons:2", "received").Add(elem.New("urn:xmpp:forward:0", "forwarded").Add(inner)))
	var c2s, s2s bytes.Buffer
	carbon.Append(&c2s, elem.NSClient)
	carbon.Append(&s2s, elem.NSServer)
	want := `<message to="a@b.example/d"><received xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">` +
		`<message xmlns="%s" from="a@b.example/c"><body>hi</body></message></forwarded></received></message>`
	if got := c2s.String(); got != strings.ReplaceAll(want, "%s", elem.NSClient) {
		t.Errorf("c2s: %s", got)
	}
	if got := s2s.String(); got != strings.ReplaceAll(want, "%s", elem.NSServer) {
		t.Errorf("s2s: %s", got)
	}
	// Read from an s2s stream, the stanza's namespace is "" too.
	got := reparse(t, carbon, elem.NSServer)
	fw := got.FirstElement().FirstElement().FirstElement()
	if fw.Space != "" || fw.ChildText("", "body") != "hi" {
		t.Errorf("forwarded %s", fw)
	}
	// String and Bytes declare the content namespace for storage.
	if s := inner.String(); !strings.HasPrefix(s, `<message xmlns="jabber:client"`) || string(inner.Bytes()) != s {
		t.Errorf("String %s", s)
	}
}

// TestEscaping: what the writer escapes comes back unchanged, also through
// parsers that normalise attribute values (XML 1.0 §3.3.3: a literal
// newline or tab in an attribute becomes a space) and line ends (§2.11).
func TestEscaping(t *testing.T) {
	value := "line one\r\nline two\ttab \"quoted\" 'single' <&>"
	e := elem.New("", "message", "id", value).AddText("", "body", value)
	var b bytes.Buffer
	e.WriteTo(&b)
	out := b.String()
	attr := out[strings.Index(out, `id="`)+4 : strings.Index(out, `"><body>`)]
	for _, c := range []string{"\r", "\n", "\t", `"`, "<"} {
		if strings.Contains(attr, c) {
			t.Errorf("attribute value %q contains a literal %q", attr, c)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("literal CR written: %q", out)
	}
	got := reparse(t, e, elem.NSClient)
	if got.Get("id") != value || got.ChildText("", "body") != value {
		t.Errorf("got id %q body %q", got.Get("id"), got.ChildText("", "body"))
	}
}

func TestAccessors(t *testing.T) {
	e := elem.New("", "iq", "type", "get", "id", "", "to", "x.example")
	if len(e.Attr) != 2 {
		t.Errorf("empty attribute kept: %v", e.Attr)
	}
	e.Set("id", "1").Set("type", "set").Set("to", "")
	if e.Get("id") != "1" || e.Get("type") != "set" || e.Get("to") != "" || len(e.Attr) != 2 {
		t.Errorf("after Set: %v", e.Attr)
	}
	e.Add(elem.New("urn:a", "q"), elem.Text("t"), elem.New("urn:b", "r"), elem.New("urn:a", "q"))
	if e.FirstElement().Space != "urn:a" || len(e.Elements()) != 3 || e.Child("urn:b", "") == nil || e.Child("urn:c", "q") != nil {
		t.Errorf("children %s", e)
	}
	e.Remove("urn:a", "q")
	if len(e.Elements()) != 1 || e.Text() != "t" {
		t.Errorf("after Remove %s", e)
	}
	c := e.Copy()
	c.Set("id", "2")
	c.FirstElement().Set("x", "y")
	c.AddText("", "extra", "")
	if e.Get("id") != "1" || e.FirstElement().Get("x") != "" || len(e.Elements()) != 1 {
		t.Errorf("Copy is shallow: %s", e)
	}
}

func TestReadErrors(t *testing.T) {
	for _, s := range []string{"", "<a>", "<a><b></a>", "text only"} {
		if _, err := elem.Parse(s); err == nil {
			t.Errorf("Parse(%q) succeeded", s)
		}
	}
}
