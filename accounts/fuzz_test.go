package accounts

import (
	"strings"
	"testing"
)

// FuzzParseAddress: normalisation never panics, is idempotent, and what it
// accepts is a single local@domain with no character that breaks either
// protocol.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"juliet@capulet.example", "Müller@Bücher.example", "a.b@c", "x+y@z", "@", "a@@b", "\u0130@x.example", "ǅ@x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, local, domain, err := ParseAddress(s)
		if err != nil {
			return
		}
		if addr != local+"@"+domain || strings.Count(addr, "@") != 1 || strings.ContainsAny(local, " \"&'/:<>+") {
			t.Fatalf("ParseAddress(%q) = %q", s, addr)
		}
		again, _, _, err := ParseAddress(addr)
		if err != nil || again != addr {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, addr, again, err)
		}
	})
}

func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"0", "10", "2GiB", "1.5g", "500 MB", "1e3", "NaN", "-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseByteSize(s)
		if err != nil {
			return
		}
		if b < 0 {
			t.Fatalf("ParseByteSize(%q) = %d", s, b)
		}
		if back, err := ParseByteSize(b.String()); err != nil || back != b {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, b, b.String(), back, err)
		}
	})
}
