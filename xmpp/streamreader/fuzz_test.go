package streamreader

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
)

// fuzzLimits are small so that the fuzzer reaches every limit; New does
// not insist on Validate's minimums.
var fuzzLimits = Limits{MaxStanzaBytes: 200, MaxDepth: 4, MaxAttrs: 8, MaxElements: 12}

// FuzzReader checks, for any input split into any read sizes, that the
// Reader never panics, never returns a token with or after an error, never
// reads from the connection more than the current first-level item's start
// plus its limit, and returns exactly the tokens encoding/xml would, up to
// the point where it stops.
func FuzzReader(f *testing.F) {
	seeds := []string{
		clientStream,
		header + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
		header + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>biwsbj1qdWxpZXQscj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQQ==</auth>",
		header + "<presence/>\r\n \r<presence/>\r" + closing,
		header + "<message><body>&xxe;</body></message>",
		header + "<!-- c --><?pi x?><!DOCTYPE x><![CDATA[x]]>",
		"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>",
		"<?xml version='1.0' encoding='latin1'?>",
		header + repeat("<a>", 10) + repeat("</a>", 10),
		header + "<m a='1' b='2' c='3' d='4' e='5' f='6' g='7' h='8' i='9'/>",
		header + "<m>" + repeat("<e/>", 12) + "</m>",
		header + "<m>" + repeat("x", 300) + "</m>",
	}
	for _, s := range seeds {
		f.Add([]byte(s), uint8(255))
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		src := &countingReader{r: &chunkReader{r: bytes.NewReader(data), n: int(chunk)%32 + 1}}
		r := New(src, fuzzLimits)
		var got []xml.Token
		depth, start, budget := 0, int64(0), 0
		for {
			if depth <= 1 { // a first-level item starts here
				start = r.InputOffset()
				budget = fuzzLimits.MaxStanzaBytes
				if depth == 0 {
					budget = min(budget, HeaderBytes)
				}
			}
			tok, err := r.Token()
			if src.n > start+int64(budget) {
				t.Fatalf("read %d bytes; the item starting at %d may use only %d", src.n, start, budget)
			}
			if err != nil {
				if tok != nil {
					t.Fatalf("token %v returned with error %v", tok, err)
				}
				for range 2 {
					if tok2, err2 := r.Token(); tok2 != nil || err2 != err {
						t.Fatalf("after %v: Token gave %v, %v", err, tok2, err2)
					}
				}
				break
			}
			switch tok.(type) {
			case xml.StartElement:
				depth++
			case xml.EndElement:
				depth--
			}
			got = append(got, xml.CopyToken(tok))
		}
		// Whitespace between first-level items is returned as it arrives;
		// encoding/xml returns it with the text that follows, or not at all
		// if that text is an error. Compare without trailing whitespace.
		for len(got) > 0 && isSpaceToken(got[len(got)-1]) {
			got = got[:len(got)-1]
		}
		want, _ := plainTokens(data)
		if g, w := serialize(got), serialize(want); !strings.HasPrefix(w, g) {
			t.Fatalf("tokens are not a prefix of encoding/xml's:\n got %s\nwant %s", g, w)
		}
	})
}

func isSpaceToken(tok xml.Token) bool {
	cd, ok := tok.(xml.CharData)
	return ok && allSpace(cd)
}
