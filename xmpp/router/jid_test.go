package router

import (
	"strings"
	"testing"

	"github.com/tidings/tidings/accounts"
)

func TestParseJID(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"juliet@capulet.example", "juliet@capulet.example"},
		{"Juliet@Capulet.Example", "juliet@capulet.example"},
		{"juliet@capulet.example.", "juliet@capulet.example"},
		{"juliet@capulet.example/Balcony Scene", "juliet@capulet.example/Balcony Scene"},
		{"juliet@capulet.example/a/b@c", "juliet@capulet.example/a/b@c"},
		{"capulet.example", "capulet.example"},
		{"capulet.example/res", "capulet.example/res"},
		{"ΣΑΣ@Bücher.example", "σασ@xn--bcher-kva.example"},
		{"juliet@xn--bcher-kva.example", "juliet@xn--bcher-kva.example"},
		{"under_score@capulet.example", "under_score@capulet.example"},
		{"juliet@capulet.example/\u2163", "juliet@capulet.example/\u2163"}, // OpaqueString keeps compatibility characters
	} {
		j, err := ParseJID(tc.in)
		if err != nil || j.String() != tc.want {
			t.Errorf("ParseJID(%q) = %q, %v; want %q", tc.in, j.String(), err, tc.want)
		}
	}
	for _, in := range []string{
		"", "@capulet.example", "juliet@", "juliet@capulet.example/", "/res", "not a jid@capulet.example",
		"ju<liet@capulet.example", "juliet@capulet.example/" + strings.Repeat("r", 1024),
		strings.Repeat("l", 1024) + "@capulet.example",
	} {
		if j, err := ParseJID(in); err == nil {
			t.Errorf("ParseJID(%q) = %q, want an error", in, j)
		}
	}
}

// TestParseJIDDomain: the fast path for plain ASCII domains gives exactly
// what the account store's normalisation gives, errors included.
func TestParseJIDDomain(t *testing.T) {
	for _, d := range []string{
		"capulet.example", "x.y", "a-b.example", "a1.example", "localhost",
		"a..b", ".example", "example..", "-a.example", "a-.example", "a.-b", "a.b-",
		strings.Repeat("a", 63) + ".example", strings.Repeat("a", 64) + ".example",
		strings.Repeat("abcdefghi.", 26) + "example", // 267 bytes
		"xn--bcher-kva.example", "xn--zz.example", "xn--.example", "ab--cd.example",
		"127.0.0.1", "1.example", "example.123", "a_b.example", "UPPER.example",
	} {
		want, nerr := accounts.NormalizeDomain(d)
		j, err := ParseJID("u@" + d)
		switch {
		case nerr != nil && err == nil:
			t.Errorf("%q: parsed as %q; the account store refuses it (%v)", d, j.Domain, nerr)
		case nerr == nil && err != nil:
			t.Errorf("%q: %v; the account store accepts it as %q", d, err, want)
		case nerr == nil && j.Domain != want:
			t.Errorf("%q: domain %q, want %q", d, j.Domain, want)
		}
	}
}

func TestJIDForms(t *testing.T) {
	j, _ := ParseJID("juliet@capulet.example/balcony")
	if j.Bare().String() != "juliet@capulet.example" || j.BareString() != "juliet@capulet.example" || j.IsBare() || j.IsDomain() {
		t.Errorf("forms of %v", j)
	}
	d, _ := ParseJID("capulet.example")
	if !d.IsDomain() || !d.IsBare() || d.BareString() != "capulet.example" {
		t.Errorf("forms of %v", d)
	}
}
