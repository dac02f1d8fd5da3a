package streamreader

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestErrorXML(t *testing.T) {
	cases := []struct {
		name   string
		err    *Error
		golden string
	}{
		{"size", sizeError("stanza", PreAuthStanzaBytes), "policy-violation.xml"},
		{"restricted", restricted("comments are"), "restricted-xml.xml"},
		{"no text, escaped cause", &Error{Condition: CondNotWellFormed, Err: errors.New("<secret>")}, "not-well-formed.xml"},
		{"text needing escapes", &Error{Condition: CondPolicyViolation, Text: "a < b & 'c'"}, "escaped.xml"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			n, err := c.err.WriteTo(&b)
			if err != nil || n != int64(b.Len()) {
				t.Fatalf("case %d: WriteTo = %d, %v (wrote %d)", i, n, err, b.Len())
			}
			path := filepath.Join("testdata", c.golden)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Fatalf("case %d:\n got %s\nwant %s", i, b.Bytes(), want)
			}
			if strings.Contains(b.String(), "secret") {
				t.Fatalf("case %d: the cause leaked to the peer: %s", i, b.Bytes())
			}
			checkStreamError(t, b.Bytes(), c.err)
		})
	}
}

// checkStreamError parses the rendered error inside a stream, as the peer
// would, and compares condition and text.
func checkStreamError(t *testing.T, rendered []byte, e *Error) {
	t.Helper()
	doc := "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>" + string(rendered) + "</stream:stream>"
	var parsed struct {
		Error struct {
			Conds []xml.Name `xml:",any"`
			Text  []struct {
				Lang  string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
				Value string `xml:",chardata"`
			} `xml:"urn:ietf:params:xml:ns:xmpp-streams text"`
		} `xml:"http://etherx.jabber.org/streams error"`
	}
	if err := xml.Unmarshal([]byte(doc), &parsed); err != nil {
		t.Fatalf("rendered error does not parse: %v\n%s", err, rendered)
	}
	if len(parsed.Error.Conds) == 0 || parsed.Error.Conds[0] != (xml.Name{Space: NSStreams, Local: e.Condition}) {
		t.Fatalf("condition: got %v, want %s", parsed.Error.Conds, e.Condition)
	}
	if e.Text == "" {
		if len(parsed.Error.Text) != 0 {
			t.Fatalf("unexpected text %v", parsed.Error.Text)
		}
		return
	}
	if len(parsed.Error.Text) != 1 || parsed.Error.Text[0].Value != e.Text || parsed.Error.Text[0].Lang != "en" {
		t.Fatalf("text: got %+v, want %q in English", parsed.Error.Text, e.Text)
	}
}

func TestErrorIs(t *testing.T) {
	cause := errors.New("xml: syntax error")
	err := error(notWellFormed(cause))
	cases := []struct {
		name   string
		target error
		want   bool
	}{
		{"own sentinel", ErrNotWellFormed, true},
		{"other sentinel", ErrPolicyViolation, false},
		{"cause", cause, true},
		{"same condition with text", &Error{Condition: CondNotWellFormed, Text: "x"}, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := errors.Is(err, c.target); got != c.want {
				t.Fatalf("case %d: errors.Is = %v, want %v", i, got, c.want)
			}
		})
	}
	if s := err.Error(); !strings.Contains(s, "not-well-formed") || !strings.Contains(s, cause.Error()) {
		t.Fatalf("Error() = %q; want the condition and the cause for the log", s)
	}
}

func TestLimitsValidate(t *testing.T) {
	cases := []struct {
		name   string
		limits Limits
		want   []string // substrings of the error; nil for valid
	}{
		{"pre-auth default", DefaultPreAuth(), nil},
		{"post-auth default", DefaultPostAuth(), nil},
		{"s2s default", DefaultS2S(), nil},
		{"unshaped", unshaped(DefaultPostAuth()), nil},
		{"zero", Limits{}, []string{"max_stanza_bytes", "max_depth", "max_attrs", "max_elements"}},
		{"below the RFC minimum", Limits{MaxStanzaBytes: 8192, MaxDepth: 8, MaxAttrs: 16, MaxElements: 32}, []string{"RFC 6120"}},
		{"rate without burst", Limits{MaxStanzaBytes: 10000, MaxDepth: 8, MaxAttrs: 16, MaxElements: 32, BytesPerSecond: 10}, []string{"burst"}},
		{"negative rate", Limits{MaxStanzaBytes: 10000, MaxDepth: 8, MaxAttrs: 16, MaxElements: 32, BytesPerSecond: -1}, []string{"bytes_per_second"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.limits.Validate()
			if c.want == nil {
				if err != nil {
					t.Fatalf("case %d: %v", i, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("case %d: no error", i)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("case %d: %q does not mention %q", i, err, w)
				}
			}
		})
	}
}
