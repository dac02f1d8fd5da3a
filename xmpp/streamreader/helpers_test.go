package streamreader

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

const (
	header = `<?xml version='1.0'?><stream:stream to='example.net' version='1.0' xml:lang='en'` +
		` xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	restartHeader = `<stream:stream to='example.net' version='1.0' xml:lang='en'` +
		` xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	closing = `</stream:stream>`
)

// clientStream is what a client sends on a typical login after TLS and
// SASL: the restarted stream header, binding, session setup, stanzas with
// escapes and CDATA, whitespace keepalives (CR LF too) and the close.
const clientStream = header + "\n" +
	`<iq type='set' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>` +
	`<iq type='get' id='roster_1'><query xmlns='jabber:iq:roster' ver=''/></iq>` + "\r\n" +
	`<enable xmlns='urn:xmpp:sm:3' resume='true'/>` +
	`<presence><show>chat</show><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://conversations.im' ver='QHs4YBL2Lk8a16ZDhuqHhkRTvFs='/></presence>` +
	" \t \r \n " +
	`<message to='romeo@example.net' type='chat' id='m1' xml:lang='en'><body>Wherefore art thou, &lt;Romeo&gt; &amp; &#x263A;?</body>` +
	`<active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/></message>` +
	"  \n\n  " +
	`<message to='romeo@example.net' id='m2'><body><![CDATA[<b>bold</b> & raw]]></body><x:y xmlns:x='urn:example:x' x:attr='v'/></message>` +
	`<r xmlns='urn:xmpp:sm:3'/>` + " " + " " + "\n" +
	`<iq type='result' id='ping_7' to='example.net'/>` +
	closing

// readAll reads every token (copied) until an error; io.EOF counts as
// success and is returned as nil.
func readAll(r xml.TokenReader) ([]xml.Token, error) {
	var toks []xml.Token
	for {
		tok, err := r.Token()
		if err != nil {
			if tok != nil {
				return toks, fmt.Errorf("token %T returned with error %v", tok, err)
			}
			if err == io.EOF {
				err = nil
			}
			return toks, err
		}
		toks = append(toks, xml.CopyToken(tok))
	}
}

// plainTokens decodes b with a plain encoding/xml Decoder up to the end of
// the first root element, an error or EOF.
func plainTokens(b []byte) ([]xml.Token, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	var toks []xml.Token
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return toks, err
		}
		toks = append(toks, xml.CopyToken(tok))
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth--; depth == 0 {
				return toks, nil
			}
		}
	}
}

// serialize writes tokens in a canonical form in which adjacent CharData
// tokens are indistinguishable from one merged token.
func serialize(toks []xml.Token) string {
	var w bytes.Buffer
	for _, tok := range toks {
		switch t := tok.(type) {
		case xml.CharData:
			xml.EscapeText(&w, t)
		case xml.StartElement:
			fmt.Fprintf(&w, "<%q %q", t.Name.Space, t.Name.Local)
			for _, a := range t.Attr {
				fmt.Fprintf(&w, " %q %q=%q", a.Name.Space, a.Name.Local, a.Value)
			}
			w.WriteString(">")
		case xml.EndElement:
			fmt.Fprintf(&w, "</%q %q>", t.Name.Space, t.Name.Local)
		case xml.Comment:
			fmt.Fprintf(&w, "<!--%q-->", []byte(t))
		case xml.ProcInst:
			fmt.Fprintf(&w, "<?%q %q?>", t.Target, t.Inst)
		case xml.Directive:
			fmt.Fprintf(&w, "<!%q>", []byte(t))
		}
	}
	return w.String()
}

// countingReader counts the bytes read from the underlying reader: what the
// Reader took from the connection.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// chunkReader returns at most n bytes per Read, like a slow network.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	return c.r.Read(p[:min(len(p), c.n)])
}

// fakeClock advances only when slept on.
type fakeClock struct {
	now   time.Time
	slept time.Duration
	naps  int
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.now = c.now.Add(d)
	c.slept += d
	c.naps++
	return nil
}

// unshaped returns l without rate shaping, for tests about other limits.
func unshaped(l Limits) Limits {
	l.BytesPerSecond, l.Burst = 0, 0
	return l
}

// condition returns the stream error condition of err, or a description.
func condition(err error) string {
	var se *Error
	switch {
	case err == nil:
		return "<nil>"
	case errors.As(err, &se):
		return se.Condition
	}
	return "non-stream error: " + err.Error()
}

func repeat(s string, n int) string { return strings.Repeat(s, n) }
