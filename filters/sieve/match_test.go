package sieve

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func testRun(maxSteps int) *run {
	opt := DefaultOptions()
	opt.MaxSteps = maxSteps
	return &run{ctx: context.Background(), parent: context.Background(), s: &Script{opt: opt, caps: map[string]bool{}}}
}

func TestWildcard(t *testing.T) {
	tests := []struct {
		pat, text string
		cmp       comparator
		ok        bool
		caps      []string // ${1}...
	}{
		{"*", "", cmpCasemap, true, []string{""}},
		{"", "", cmpCasemap, true, nil},
		{"", "x", cmpCasemap, false, nil},
		{"a*b", "ab", cmpCasemap, true, []string{""}},
		{"a*b", "aXXb", cmpCasemap, true, []string{"XX"}},
		{"a*b", "aXXbc", cmpCasemap, false, nil},
		{"[*] *", "[acme-users] [fwd] version 1.0 is out", cmpCasemap, true, []string{"acme-users", "[fwd] version 1.0 is out"}},
		{"*<*@*", "Sieve discussion <sieve.ietf.org>", cmpCasemap, false, nil},
		{"*<*@*", "Other <acme-users@example.org>", cmpCasemap, true, []string{"Other ", "acme-users", "example.org>"}},
		{"?", "é", cmpCasemap, true, []string{"é"}},
		{"??", "é", cmpCasemap, false, nil},
		{"*?", "aé", cmpCasemap, true, []string{"a", "é"}},
		{"?*?", "xé", cmpCasemap, true, []string{"x", "", "é"}},
		{"A*", "abc", cmpCasemap, true, []string{"bc"}},
		{"A*", "abc", cmpOctet, false, nil},
		{`\*x`, "*x", cmpCasemap, true, nil},
		{`\*x`, "ax", cmpCasemap, false, nil},
		{`a\?`, "a?", cmpCasemap, true, nil},
		{`a\\*`, `a\bc`, cmpCasemap, true, []string{"bc"}},
		{"*a*a*a*", "aaa", cmpCasemap, true, []string{"", "", "", ""}},
		{"*a*a*a*a", "aaa", cmpCasemap, false, nil},
		{"*x?z*", "axyzb", cmpCasemap, true, []string{"a", "y", "b"}},
		{"*ab", "aab", cmpCasemap, true, []string{"a"}},
		{"a*ab*b", "aabb", cmpCasemap, true, []string{"", ""}},
	}
	for i, tt := range tests {
		r := testRun(100000)
		p := compilePattern(tt.pat, tt.cmp)
		ok, caps, err := p.match(r, tt.cmp.fold(tt.text), tt.text)
		if err != nil || ok != tt.ok {
			t.Errorf("%d: %q ~ %q = %v, %v; want %v", i, tt.pat, tt.text, ok, err, tt.ok)
			continue
		}
		if ok && tt.caps != nil && strings.Join(caps[1:], "|") != strings.Join(tt.caps, "|") {
			t.Errorf("%d: %q ~ %q caps %q, want %q", i, tt.pat, tt.text, caps[1:], tt.caps)
		}
		if ok && caps[0] != tt.text {
			t.Errorf("%d: ${0} = %q", i, caps[0])
		}
	}
}

// TestWildcardLinear: a pathological key over a long value stays within a
// small budget (no backtracking).
func TestWildcardLinear(t *testing.T) {
	text := strings.Repeat("a", 1<<20)
	pat := strings.Repeat("*a", 500) + "*b"
	r := testRun(1 << 30)
	start := time.Now()
	ok, _, err := compilePattern(pat, cmpCasemap).match(r, text, text)
	if ok || err != nil {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
	pat = "*a?b*" // a segment with "?" is scanned position by position
	r = testRun(100000)
	_, _, err = compilePattern(pat, cmpCasemap).match(r, text, text)
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("want budget error, got %v", err)
	}
}

func TestCompareNumeric(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1", "1", 0}, {"01", "1", 0}, {"2", "10", -1}, {"10abc", "9", 1},
		{"abc", "99999", 1}, {"abc", "", 0}, {"", "0", 1}, {"0", "000", 0},
	}
	for i, tt := range tests {
		if got := compareNumeric(tt.a, tt.b); got != tt.want {
			t.Errorf("%d: compare(%q, %q) = %d, want %d", i, tt.a, tt.b, got, tt.want)
		}
	}
}

func TestCanonicalList(t *testing.T) {
	tests := []struct{ in, want string }{
		{":addrbook:default", "urn:ietf:params:sieve:addrbook:default"},
		{":addrbook:personal?label=x", "urn:ietf:params:sieve:addrbook:personal?label=x"},
		{"tag:example.com,2010-05-28:mylist", "tag:example.com,2010-05-28:mylist"},
		{"ldap://ldap.example.com/cn=x", "ldap://ldap.example.com/cn=x"},
		{":", ""}, {"no list", ""}, {"1abc:x", ""}, {"tag:", ""},
	}
	for i, tt := range tests {
		if got := canonicalList(tt.in); got != tt.want {
			t.Errorf("%d: canonicalList(%q) = %q, want %q", i, tt.in, got, tt.want)
		}
	}
}

func TestNotifyMethod(t *testing.T) {
	tests := []struct {
		uri string
		ok  bool
	}{
		{"mailto:a@example.com", true},
		{"MAILTO:a@example.com,b@example.com", true},
		{"mailto:?to=a@example.com&subject=x", true},
		{"mailto:a%40example.com", true},
		{"mailto:", false},
		{"mailto:not-an-address", false},
		{"mailto:a@example.com?subject", false},
		{"xmpp:romeo@im.example.com", true},
		{"xmpp:im.example.com", true},
		{"xmpp:romeo@im.example.com/orchard?message;subject=x", true},
		{"xmpp://guest@example.com/romeo@example.net", true},
		{"xmpp:@example.com", false},
		{"xmpp:", false},
		{"xmpp:a b@example.com", false},
		{"tel:+1", false},
		{"not a uri", false},
	}
	for i, tt := range tests {
		scheme, why := notifyMethod(tt.uri)
		if (scheme != "") != tt.ok {
			t.Errorf("%d: notifyMethod(%q) = %q (%s), want ok=%v", i, tt.uri, scheme, why, tt.ok)
		}
	}
}

func TestDecodeEncoded(t *testing.T) {
	tests := []struct{ in, want string }{
		{"${hex:24 24}", "$$"},
		{"${HEX: 40 }", "@"},
		{"${hex:40", "${hex:40"},
		{"${hex:400}", "${hex:400}"},
		{"${hex:}", "${hex:}"},
		{"${unicode:40}", "@"},
		{"${Unicode:0000263a}", "☺"},
		{"${unicode:263a 263a}", "☺☺"},
		{"$${hex:41}", "$A"},
		{"${foo:41}", "${foo:41}"},
	}
	for i, tt := range tests {
		got, err := decodeEncoded(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("%d: decode(%q) = %q, %v; want %q", i, tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"${unicode:D800}", "${unicode:110000}", "${unicode:FFFFFFFFFFFFFFFFFFFF}"} {
		if _, err := decodeEncoded(bad); err == nil {
			t.Errorf("decode(%q): want error", bad)
		}
	}
}

func TestHeaderAddresses(t *testing.T) {
	tests := []struct {
		in    string
		want  string
		valid bool
	}{
		{"Alice <a@example.org>, b@example.com", "a@example.org|b@example.com", true},
		{"undisclosed-recipients:;", "", true},
		{"Team: a@b.example, c@d.example;", "a@b.example|c@d.example", true},
		{"Doe, John <jd@example.com>, Roe, Jane <jr@example.com>", "jd@example.com|jr@example.com", true},
		{"a@example.com,,b@example.com", "a@example.com|b@example.com", true},
		{"not an address", "not an address", false},
	}
	for i, tt := range tests {
		got, valid := headerAddresses(tt.in)
		if strings.Join(got, "|") != tt.want || valid != tt.valid {
			t.Errorf("%d: headerAddresses(%q) = %q, %v", i, tt.in, got, valid)
		}
	}
}
