package streamreader

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"testing"
)

// benchStream is a stream of 1000 chat messages of exactly 1 KiB each, with
// a keepalive newline after each.
func benchStream(tb testing.TB) []byte {
	const msg = "<message to='romeo@example.net/orchard' from='juliet@example.com/balcony' type='chat' id='%04d' xml:lang='en'>" +
		"<body>%s</body><active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/>" +
		"<origin-id xmlns='urn:xmpp:sid:0' id='3b1d5c6e-8f0a-4c2b-9d7e-1a2b3c4d5e6f'/></message>"
	bodyLen := 1024 - len(fmt.Sprintf(msg, 0, ""))
	body := strings.Repeat("O Romeo, Romeo, wherefore art thou Romeo? ", 30)[:bodyLen]
	var b bytes.Buffer
	b.WriteString(restartHeader)
	for i := range 1000 {
		s := fmt.Sprintf(msg, i, body)
		if len(s) != 1024 {
			tb.Fatalf("stanza is %d bytes", len(s))
		}
		b.WriteString(s + "\n")
	}
	b.WriteString(closing)
	return b.Bytes()
}

func countTokens(b *testing.B, tr xml.TokenReader) int {
	n := 0
	for {
		_, err := tr.Token()
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// BenchmarkReader reads the stream through the hardened Reader.
func BenchmarkReader(b *testing.B) {
	data := benchStream(b)
	r := New(bytes.NewReader(data), unshaped(DefaultPostAuth()))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	toks := 0
	for b.Loop() {
		r.Reset(bytes.NewReader(data))
		toks += countTokens(b, r)
	}
	b.ReportMetric(float64(toks)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkPlainDecoder is the baseline: encoding/xml alone, no limits.
func BenchmarkPlainDecoder(b *testing.B) {
	data := benchStream(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	toks := 0
	for b.Loop() {
		toks += countTokens(b, xml.NewDecoder(bytes.NewReader(data)))
	}
	b.ReportMetric(float64(toks)/b.Elapsed().Seconds(), "tokens/s")
}
