package streamreader

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestNormalStream(t *testing.T) {
	want, err := plainTokens([]byte(clientStream))
	if err != nil {
		t.Fatalf("plain decoder: %v", err)
	}
	sources := []struct {
		name string
		r    func() io.Reader
	}{
		{"whole", func() io.Reader { return strings.NewReader(clientStream) }},
		{"one byte per read", func() io.Reader { return iotest.OneByteReader(strings.NewReader(clientStream)) }},
		{"7 bytes per read", func() io.Reader { return &chunkReader{strings.NewReader(clientStream), 7} }},
		{"data with EOF", func() io.Reader { return iotest.DataErrReader(strings.NewReader(clientStream)) }},
	}
	for i, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			r := New(src.r(), unshaped(DefaultPreAuth()))
			got, err := readAll(r)
			if err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			if g, w := serialize(got), serialize(want); g != w {
				t.Fatalf("case %d: tokens differ from encoding/xml\n got %s\nwant %s", i, g, w)
			}
			if r.InputOffset() != int64(len(clientStream)) {
				t.Errorf("InputOffset = %d, want %d", r.InputOffset(), len(clientStream))
			}
			if tok, err := r.Token(); tok != nil || err != io.EOF {
				t.Errorf("after the stream: %v, %v; want nil, io.EOF", tok, err)
			}
		})
	}
}

func TestEndOfInput(t *testing.T) {
	cases := []struct {
		name, in string
		want     error // io.EOF means a clean end
	}{
		{"nothing", "", io.EOF},
		{"only whitespace", " \n ", io.EOF},
		{"declaration only", "<?xml version='1.0'?>", io.EOF},
		{"inside the stream", header + "<presence/>", io.ErrUnexpectedEOF},
		{"inside a stanza", header + "<message><body>hi", io.ErrUnexpectedEOF},
		{"inside a tag", header + "<message to='ro", io.ErrUnexpectedEOF},
		{"inside the header", "<stream:stream to='exa", io.ErrUnexpectedEOF},
		{"self-closing header", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/> trailing", io.EOF},
		{"after the close", header + closing + "<garbage", io.EOF},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := New(strings.NewReader(c.in), unshaped(DefaultPreAuth()))
			_, err := readAll(r)
			if err == nil {
				err = io.EOF
			}
			if err != c.want {
				t.Fatalf("case %d: got %v, want %v", i, err, c.want)
			}
		})
	}
}

func TestRestrictedAndMalformed(t *testing.T) {
	billionLaughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">` +
		`<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>` +
		`<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>&lol2;`
	cases := []struct {
		name, in string
		want     string
	}{
		{"billion laughs DOCTYPE", billionLaughs, CondRestrictedXML},
		{"DOCTYPE larger than the limit", "<!DOCTYPE x [" + repeat("<!ENTITY a 'b'>", 10000) + "]>", CondRestrictedXML},
		{"DOCTYPE inside a stanza", header + "<message><!DOCTYPE x></message>", CondRestrictedXML},
		{"comment before the header", "<!-- hi -->" + header, CondRestrictedXML},
		{"comment between stanzas", header + "<presence/><!-- hi --><presence/>", CondRestrictedXML},
		{"comment inside a stanza", header + "<message><body>a<!-- hi -->b</body></message>", CondRestrictedXML},
		{"PI after the declaration", "<?xml version='1.0'?><?xml-stylesheet href='a'?>" + restartHeader, CondRestrictedXML},
		{"PI between stanzas", header + "<presence/><?foo bar?>", CondRestrictedXML},
		{"PI inside a stanza", header + "<message><?foo bar?></message>", CondRestrictedXML},
		{"second XML declaration", header + "<?xml version='1.0'?>", CondRestrictedXML},
		{"declaration after whitespace", " <?xml version='1.0'?>" + restartHeader, CondRestrictedXML},
		{"undefined entity in text", header + "<message><body>&xxe;</body></message>", CondNotWellFormed},
		{"undefined entity in attribute", header + "<message to='&xxe;'/>", CondNotWellFormed},
		{"external entity reference", header + "<message><body>&ent SYSTEM 'file:///etc/passwd';</body></message>", CondNotWellFormed},
		{"mismatched end tag", header + "<message></presence>", CondNotWellFormed},
		{"duplicate attribute", header + "<message to='a' to='b'/>", CondNotWellFormed},
		{"duplicate expanded name", header + "<message xmlns:a='urn:x' xmlns:b='urn:x' a:t='1' b:t='2'/>", CondNotWellFormed},
		{"invalid UTF-8", header + "<message><body>\xff\xfe</body></message>", CondNotWellFormed},
		{"NUL character reference", header + "<message><body>&#0;</body></message>", CondNotWellFormed},
		{"Latin-1 declared", "<?xml version='1.0' encoding='ISO-8859-1'?>" + restartHeader, CondUnsupportedEncoding},
		{"text between stanzas", header + "<presence/>hello<presence/>", CondBadFormat},
		{"CDATA between stanzas", header + "<![CDATA[x]]>", CondBadFormat},
		{"text before the header", "hello" + header, CondNotWellFormed},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := New(strings.NewReader(c.in), unshaped(DefaultPreAuth()))
			_, err := readAll(r)
			if got := condition(err); got != c.want {
				t.Fatalf("case %d: got %s (%v), want %s", i, got, err, c.want)
			}
			for range 2 {
				if tok, err2 := r.Token(); tok != nil || err2 != err {
					t.Fatalf("case %d: after the error Token gave %v, %v", i, tok, err2)
				}
			}
		})
	}
}

// TestBytesBeforeTokenising proves that a huge name, attribute value or text
// node is refused without the Reader reading much more than the limit from
// the connection: the limit is enforced before tokenising.
func TestBytesBeforeTokenising(t *testing.T) {
	const mib = 1 << 20
	big := repeat("a", mib)
	pre, post := unshaped(DefaultPreAuth()), unshaped(DefaultPostAuth())
	cases := []struct {
		name   string
		limits Limits
		prefix string // bytes before the item that must fail
		item   string
	}{
		{"attribute value", pre, header, "<message to='" + big + "'/>"},
		{"text node", pre, header, "<message><body>" + big + "</body></message>"},
		{"tag name", pre, header, "<" + big + "/>"},
		{"attribute name", pre, header, "<message " + big + "='x'/>"},
		{"whitespace inside a stanza", pre, header, "<message>" + repeat(" ", mib) + "</message>"},
		{"CDATA", pre, header, "<message><![CDATA[" + big + "]]></message>"},
		{"unterminated comment inside a stanza", pre, header, "<message><!--" + big},
		{"stream header attribute", pre, "", "<stream:stream to='" + big + "'>"},
		{"stream header after SASL", post, "", "<stream:stream to='" + big + "'>"},
		{"post-auth text node", post, header, "<message><body>" + big + "</body></message>"},
		{"second stanza", pre, header + "<presence/>", "<message><body>" + big + "</body></message>"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := &countingReader{r: strings.NewReader(c.prefix + c.item)}
			r := New(src, c.limits)
			_, err := readAll(r)
			if !errors.Is(err, ErrPolicyViolation) {
				t.Fatalf("case %d: got %v, want policy-violation", i, err)
			}
			limit := c.limits.MaxStanzaBytes
			if c.prefix == "" {
				limit = min(limit, HeaderBytes)
			}
			if max := int64(len(c.prefix) + limit); src.n > max {
				t.Fatalf("case %d: read %d bytes from the connection, more than the %d before the item plus the limit %d",
					i, src.n, len(c.prefix), limit)
			}
		})
	}
}

func TestPostAuthLimit(t *testing.T) {
	big := "<message><body>" + repeat("x", 200<<10) + "</body></message>"
	auth := "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>"
	pre, post := unshaped(DefaultPreAuth()), unshaped(DefaultPostAuth())
	cases := []struct {
		name    string
		first   Limits
		switchT Limits // applied after the first stanza
		want    error
	}{
		{"pre-auth refuses 200 KiB", pre, pre, ErrPolicyViolation},
		{"post-auth allows 200 KiB", post, post, nil},
		{"switch to post-auth mid-stream", pre, post, nil},
		{"switch back to pre-auth", post, pre, ErrPolicyViolation},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := New(strings.NewReader(header+auth+"\n"+big+closing), c.first)
			for {
				tok, err := r.Token()
				if err != nil {
					t.Fatalf("case %d: before the switch: %v", i, err)
				}
				if e, ok := tok.(xml.EndElement); ok && e.Name.Local == "auth" {
					break
				}
			}
			r.SetLimits(c.switchT)
			if r.Limits() != c.switchT {
				t.Fatalf("case %d: Limits() did not change", i)
			}
			_, err := readAll(r)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("case %d: got %v, want %v", i, err, c.want)
			}
		})
	}
}

// TestLimitIsPerStanza: many stanzas and long runs of keepalives add up to
// far more than the limit, but no single stanza exceeds it.
func TestLimitIsPerStanza(t *testing.T) {
	stanza := "<message><body>" + repeat("y", 9000) + "</body></message>"
	cases := []struct {
		name, body string
		want       error
	}{
		{"200 stanzas of 9 KB", repeat(stanza, 200), nil},
		{"stanza of exactly the limit", "<m>" + repeat("z", PreAuthStanzaBytes-7) + "</m>", nil},
		{"one byte over the limit", "<m>" + repeat("z", PreAuthStanzaBytes-6) + "</m>", ErrPolicyViolation},
		{"4 MB of keepalives", repeat(repeat(" ", 999)+"\n", 4000) + "<presence/>", nil},
		{"keepalives between stanzas", repeat(stanza+repeat(" \r\n", 5000), 20), nil},
		{"4 MB of CR LF", repeat("\r\n", 2<<20) + "<presence/>", nil},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := header + c.body + closing
			r := New(strings.NewReader(in), unshaped(DefaultPreAuth()))
			got, err := readAll(r)
			if c.want != nil {
				if !errors.Is(err, c.want) {
					t.Fatalf("case %d: got %v, want %v", i, err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			want, _ := plainTokens([]byte(in))
			if serialize(got) != serialize(want) {
				t.Fatalf("case %d: tokens differ from encoding/xml", i)
			}
		})
	}
}

func TestStructureLimits(t *testing.T) {
	pre, post := unshaped(DefaultPreAuth()), unshaped(DefaultPostAuth())
	nest := func(n int) string { return repeat("<a>", n) + repeat("</a>", n) }
	attrs := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(" a" + string(rune('A'+i/26)) + string(rune('a'+i%26)) + "='1'")
		}
		return b.String()
	}
	cases := []struct {
		name   string
		limits Limits
		in     string
		want   error
	}{
		{"depth bomb pre-auth", pre, header + repeat("<a>", 10000), ErrPolicyViolation},
		{"depth bomb post-auth", post, header + repeat("<a xmlns='urn:x'>", 10000), ErrPolicyViolation},
		{"depth at the limit", pre, header + nest(PreAuthDepth) + closing, nil},
		{"depth over the limit", pre, header + nest(PreAuthDepth+1) + closing, ErrPolicyViolation},
		{"attributes at the limit", pre, header + "<m" + attrs(PreAuthAttrs) + "/>" + closing, nil},
		{"attributes over the limit", pre, header + "<m" + attrs(PreAuthAttrs+1) + "/>" + closing, ErrPolicyViolation},
		{"header attributes over the limit", pre, "<stream:stream" + attrs(PreAuthAttrs+1) + ">", ErrPolicyViolation},
		{"elements at the limit", pre, header + "<m>" + repeat("<e/>", PreAuthElements-1) + "</m>" + closing, nil},
		{"elements over the limit", pre, header + "<m>" + repeat("<e/>", PreAuthElements) + "</m>" + closing, ErrPolicyViolation},
		{"elements are counted per stanza", pre, header + repeat("<m>"+repeat("<e/>", PreAuthElements-1)+"</m>", 10) + closing, nil},
		{"post-auth elements over the limit", post, header + "<m>" + repeat("<e/>", PostAuthElements) + "</m>", ErrPolicyViolation},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := &countingReader{r: strings.NewReader(c.in)}
			start := time.Now()
			_, err := readAll(New(src, c.limits))
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("case %d: got %v, want %v", i, err, c.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("case %d: took %v", i, d)
			}
			if strings.Contains(c.name, "bomb") && src.n > int64(len(header)+c.limits.MaxStanzaBytes) {
				t.Errorf("case %d: read %d bytes for a depth bomb", i, src.n)
			}
		})
	}
}

// TestResetDropsBufferedBytes: plaintext a client (or an attacker) pipelines
// after <starttls/> must not be parsed as part of the TLS stream (RFC 6120
// §5.4.3.3).
func TestResetDropsBufferedBytes(t *testing.T) {
	const injected = "<message to='victim@example.net'><body>injected</body></message>"
	plain := &countingReader{r: strings.NewReader(header + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" + injected)}
	r := New(plain, unshaped(DefaultPreAuth()))
	for {
		tok, err := r.Token()
		if err != nil {
			t.Fatalf("before STARTTLS: %v", err)
		}
		if e, ok := tok.(xml.EndElement); ok && e.Name.Local == "starttls" {
			break
		}
	}
	if r.InputOffset() >= plain.n {
		t.Fatalf("test is void: nothing was buffered past <starttls/> (offset %d, read %d)", r.InputOffset(), plain.n)
	}
	tlsStream := restartHeader + "<message to='juliet@example.net'><body>real</body></message>" + closing
	r.Reset(strings.NewReader(tlsStream))
	if r.InputOffset() != 0 {
		t.Errorf("InputOffset after Reset = %d", r.InputOffset())
	}
	got, err := readAll(r)
	if err != nil {
		t.Fatalf("after Reset: %v", err)
	}
	s := serialize(got)
	if strings.Contains(s, "injected") || strings.Contains(s, "victim") {
		t.Fatalf("pipelined plaintext survived the restart: %s", s)
	}
	want, _ := plainTokens([]byte(tlsStream))
	if s != serialize(want) {
		t.Fatalf("new stream differs:\n got %s\nwant %s", s, serialize(want))
	}
}

func TestResetClearsState(t *testing.T) {
	r := New(strings.NewReader(header+"<!-- x -->"), unshaped(DefaultPreAuth()))
	if _, err := readAll(r); !errors.Is(err, ErrRestrictedXML) {
		t.Fatalf("first stream: %v", err)
	}
	r.Reset(strings.NewReader(clientStream))
	if _, err := readAll(r); err != nil {
		t.Fatalf("second stream: %v", err)
	}
}

func TestDecodeElementThroughReader(t *testing.T) {
	r := New(strings.NewReader(clientStream), unshaped(DefaultPreAuth()))
	d := xml.NewTokenDecoder(r)
	var msg struct {
		To   string `xml:"to,attr"`
		Body string `xml:"body"`
	}
	for {
		tok, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := tok.(xml.StartElement); ok && s.Name.Local == "message" {
			if err := d.DecodeElement(&msg, &s); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if msg.To != "romeo@example.net" || msg.Body != "Wherefore art thou, <Romeo> & \u263a?" {
		t.Fatalf("decoded %+v", msg)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestTransportErrors(t *testing.T) {
	closed := errors.New("use of closed network connection")
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"read deadline", os.ErrDeadlineExceeded, CondConnectionTimeout},
		{"closed", closed, "non-stream error: " + closed.Error()},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := io.MultiReader(strings.NewReader(header+"<message>"), errReader{c.err})
			_, err := readAll(New(src, unshaped(DefaultPreAuth())))
			if got := condition(err); got != c.want || !errors.Is(err, c.err) {
				t.Fatalf("case %d: got %s (%v), want %s wrapping %v", i, got, err, c.want, c.err)
			}
		})
	}
}

func TestInputOffset(t *testing.T) {
	in := header + "  <presence/>\n" + closing
	r := New(bytes.NewReader([]byte(in)), unshaped(DefaultPreAuth()))
	want := []int{len("<?xml version='1.0'?>"), len(header), len(header) + 2, len(header) + 2 + len("<presence/>"),
		len(header) + 2 + len("<presence/>"), len(header) + 3 + len("<presence/>"), len(in)}
	for i, w := range want {
		if _, err := r.Token(); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		if got := r.InputOffset(); got != int64(w) {
			t.Errorf("after token %d: InputOffset = %d, want %d", i, got, w)
		}
	}
}
