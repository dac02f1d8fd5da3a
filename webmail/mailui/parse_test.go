package mailui

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestParseAddresses(t *testing.T) {
	for i, tc := range []struct {
		in   string
		want []string // addresses; nil with bad
		bad  bool
	}{
		{"", nil, false},
		{" , ", nil, false},
		{"romeo@capulet.example", []string{"romeo@capulet.example"}, false},
		{`"Montague, Romeo" <romeo@capulet.example>, nurse@capulet.example;friar@verona.example`,
			[]string{"romeo@capulet.example", "nurse@capulet.example", "friar@verona.example"}, false},
		{"Juliet <juliet@capulet.example>,", []string{"juliet@capulet.example"}, false},
		{"not an address", nil, true},
		{"romeo@", nil, true},
		{"a@b.example, <broken", nil, true},
	} {
		got, err := parseAddresses(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("%d %q: err %v", i, tc.in, err)
			continue
		}
		var addrs []string
		for _, a := range got {
			addrs = append(addrs, a.Address)
		}
		if strings.Join(addrs, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%d %q: %v, want %v", i, tc.in, addrs, tc.want)
		}
	}
}

func TestLinkify(t *testing.T) {
	for in, want := range map[string]string{
		"plain <b>":                     "plain &lt;b&gt;",
		"go to https://a.example/x.":    `go to <a href="https://a.example/x" rel="noopener noreferrer" target="_blank">https://a.example/x</a>.`,
		`(see http://b.example/?q="x")`: `(see <a href="http://b.example/?q=" rel="noopener noreferrer" target="_blank">http://b.example/?q=</a>&#34;x&#34;)`,
		"javascript:alert(1)":           "javascript:alert(1)",
	} {
		if got := string(linkify(in)); got != want {
			t.Errorf("%q:\n got %s\nwant %s", in, got, want)
		}
	}
}

func TestMsgIDs(t *testing.T) {
	got := msgIDs("<a@b> junk\r\nX-Injected: <c@d> <no-at> <e@f>")
	if strings.Join(got, " ") != "<a@b> <c@d> <e@f>" {
		t.Fatalf("msgIDs: %v", got)
	}
}

// FuzzParseMessage: any input parses without panicking, and what the
// sanitiser makes of any HTML part has no script or event handler.
func FuzzParseMessage(f *testing.F) {
	f.Add("From: a@b\r\nContent-Type: text/html\r\n\r\n<img src=x onerror=alert(1)><script>alert(2)</script>")
	f.Add("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<a href=javascript:x>y</a>\r\n--b--\r\n")
	f.Add("Content-Type: multipart/alternative; boundary=\"\"\r\n\r\n")
	f.Add("\x00\xff")
	f.Fuzz(func(t *testing.T, msg string) {
		p, err := parseMessage(strings.NewReader(msg), parseOptions{images: true})
		if err != nil {
			t.Fatal(err)
		}
		if p.HTML != nil {
			checkSafe(t, sanitizeHTML(p.HTML.text, p.Parts, false).HTML)
		}
	})
}

// checkSafe fails on any element or attribute in sanitised HTML that
// could run script, load remote content or submit data.
func checkSafe(t *testing.T, s string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		switch tok.Data {
		case "script", "style", "iframe", "frame", "object", "embed", "form", "input", "button", "base", "meta", "link", "svg", "math":
			t.Fatalf("<%s> survived in %q", tok.Data, s)
		}
		for _, a := range tok.Attr {
			v := strings.ToLower(strings.TrimSpace(a.Val))
			if strings.HasPrefix(a.Key, "on") || strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "vbscript:") ||
				(a.Key == "src" && (strings.HasPrefix(v, "http") || strings.HasPrefix(v, "//"))) ||
				(a.Key == "href" && strings.HasPrefix(v, "data:")) {
				t.Fatalf("<%s %s=%q> survived in %q", tok.Data, a.Key, a.Val, s)
			}
		}
	}
}
