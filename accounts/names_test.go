package accounts

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestNormalizeLocalpart(t *testing.T) {
	good := []struct{ in, want string }{
		{"juliet", "juliet"},
		{"Juliet", "juliet"},
		{"o.brien", "o.brien"},
		{"a_b-c", "a_b-c"},
		{"Müller", "müller"},
		{"x!#$%*=?^`{|}~", "x!#$%*=?^`{|}~"},
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
	}
	for i, tc := range good {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizeLocalpart(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("%d: NormalizeLocalpart(%q) = %q, %v; want %q", i, tc.in, got, err, tc.want)
			}
		})
	}
	bad := []struct{ in, rule string }{
		{"", "empty"},
		{"a b", "PRECIS"},
		{"tab\there", "PRECIS"},
		{"a@b", "not allowed"},
		{"a/b", "not allowed"},
		{"a&b", "not allowed"},
		{"a'b", "not allowed"},
		{"a:b", "not allowed"},
		{"<ab>", "not allowed"},
		{`a"b`, "not allowed"},
		{"a+b", "subaddress"},
		{".a", "dot"},
		{"a.", "dot"},
		{"a..b", "dot"},
		{strings.Repeat("a", 65), "64 octets"},
	}
	for i, tc := range bad {
		t.Run("bad/"+tc.in, func(t *testing.T) {
			_, err := NormalizeLocalpart(tc.in)
			var ne *NameError
			if !errors.As(err, &ne) || ne.Kind != "localpart" || !strings.Contains(ne.Rule, tc.rule) {
				t.Fatalf("%d: NormalizeLocalpart(%q) error = %v; want a localpart NameError mentioning %q", i, tc.in, err, tc.rule)
			}
		})
	}
}

func TestNormalizeDomain(t *testing.T) {
	good := []struct{ in, want string }{
		{"example.org", "example.org"},
		{"Example.ORG", "example.org"},
		{"example.org.", "example.org"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"localhost", "localhost"},
	}
	for i, tc := range good {
		got, err := NormalizeDomain(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%d: NormalizeDomain(%q) = %q, %v; want %q", i, tc.in, got, err, tc.want)
		}
	}
	if u := DomainUnicode("xn--bcher-kva.example"); u != "bücher.example" {
		t.Errorf("DomainUnicode = %q", u)
	}
	bad := []struct{ in, rule string }{
		{"", "empty"},
		{"exa mple.org", "IDNA"},
		{"a_b.org", "IDNA"},
		{"a..org", "empty label"},
		{"a.org..", "empty label"},
		{".a.org", "empty label"},
		{"a\xbc.org", "UTF-8"},
		{strings.Repeat("a", 64) + ".org", "IDNA"},
		{"192.0.2.1", "IP address"},
		{"[::1]", "IP address"},
	}
	for i, tc := range bad {
		_, err := NormalizeDomain(tc.in)
		var ne *NameError
		if !errors.As(err, &ne) || ne.Kind != "domain" || !strings.Contains(ne.Rule, tc.rule) {
			t.Errorf("%d: NormalizeDomain(%q) error = %v; want a domain NameError mentioning %q", i, tc.in, err, tc.rule)
		}
	}
}

func TestParseAddress(t *testing.T) {
	addr, local, domain, err := ParseAddress("Juliet@Capulet.Example")
	if err != nil || addr != "juliet@capulet.example" || local != "juliet" || domain != "capulet.example" {
		t.Fatalf("ParseAddress = %q %q %q %v", addr, local, domain, err)
	}
	for _, in := range []string{"juliet", "@capulet.example", "juliet@", "a b@c.example"} {
		if _, _, _, err := ParseAddress(in); err == nil {
			t.Errorf("ParseAddress(%q) succeeded", in)
		}
	}
}

func TestByteSize(t *testing.T) {
	cases := []struct {
		in   string
		want ByteSize
	}{
		{"0", 0}, {"1048576", 1 << 20}, {"500MB", 500e6}, {"2GiB", 2 << 30}, {"1.5G", 3 << 29}, {"10 kib", 10240},
	}
	for i, tc := range cases {
		got, err := ParseByteSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%d: ParseByteSize(%q) = %d, %v; want %d", i, tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "-1", "ten", "5XB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", in)
		}
	}
	if s := ByteSize(2 << 30).String(); s != "2GiB" {
		t.Errorf("String = %q", s)
	}
	if s := ByteSize(1000).String(); s != "1000" {
		t.Errorf("String = %q", s)
	}
}

func TestByteSizeJSON(t *testing.T) {
	b, err := json.Marshal(struct{ Q ByteSize }{2 << 30})
	if err != nil || string(b) != `{"Q":2147483648}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var v struct{ Q, R ByteSize }
	if err := json.Unmarshal([]byte(`{"Q":2147483648,"R":"1MiB"}`), &v); err != nil || v.Q != 2<<30 || v.R != 1<<20 {
		t.Fatalf("Unmarshal = %+v, %v", v, err)
	}
	if err := json.Unmarshal([]byte(`{"Q":-1}`), &v); err == nil {
		t.Fatal("negative size accepted")
	}
}
