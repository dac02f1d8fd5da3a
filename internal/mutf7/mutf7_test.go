package mutf7

import (
	"errors"
	"testing"
	"unicode/utf8"
)

func TestCodec(t *testing.T) {
	for _, c := range []struct{ utf8, mutf7 string }{
		{"", ""},
		{"INBOX", "INBOX"},
		{"Entwürfe", "Entw&APw-rfe"}, // as Dovecot writes it
		{"Gelöschte Elemente", "Gel&APY-schte Elemente"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"}, // RFC 3501 §5.1.3
		{"R&D", "R&-D"},
		{"&", "&-"},
		{"äö", "&AOQA9g-"},      // one run, not two
		{"😀 ok", "&2D3eAA- ok"}, // a surrogate pair
		{"tab\there", "tab&AAk-here"},
		{"Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"},
	} {
		if got := Encode(c.utf8); got != c.mutf7 {
			t.Errorf("Encode(%q) = %q, want %q", c.utf8, got, c.mutf7)
		}
		if got, err := Decode(c.mutf7); err != nil || got != c.utf8 {
			t.Errorf("Decode(%q) = %q, %v, want %q", c.mutf7, got, err, c.utf8)
		}
	}
}

func TestDecodeLenient(t *testing.T) {
	// Two adjacent runs are not what Encode writes, but mean the same.
	if got, err := Decode("&AOQ-&APY-"); err != nil || got != "äö" {
		t.Errorf("adjacent runs: %q, %v", got, err)
	}
}

func TestDecodeInvalid(t *testing.T) {
	for _, s := range []string{
		"R&D",        // unterminated shift: a name that was never encoded
		"&",          // likewise
		"&Jjo",       // no "-"
		"&AGE-",      // "a" must stand for itself
		"&ACY-",      // "&" must be "&-"
		"&2D0-",      // a lone high surrogate
		"&3gA-",      // a lone low surrogate
		"&3gDYPQ-",   // low before high
		"&AOR-",      // leftover bits not zero
		"&AO-",       // not a whole UTF-16 unit
		"&AOQA-",     // 6 bits left over
		"&*AOQ-",     // not in the alphabet
		"&AOQ/-",     // "/" is "," in modified base64
		"&AOQ=-",     // no padding
		"Entwürfe",   // raw UTF-8
		"a\x01b",     // raw control byte
		"tab\there",  // likewise
		"del\x7fete", // DEL
	} {
		if got, err := Decode(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%q) = %q, %v; want ErrInvalid", s, got, err)
		}
	}
}

func TestEncodeInvalidUTF8(t *testing.T) {
	if got, _ := Decode(Encode("a\xffb")); got != "a\uFFFDb" {
		t.Errorf("invalid UTF-8: %q", got)
	}
}

func FuzzCodec(f *testing.F) {
	for _, s := range []string{"Entw&APw-rfe", "R&D", "&-", "&2D3eAA- ok", "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "Entwürfe", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := Encode(s)
		for i := 0; i < len(enc); i++ {
			if c := enc[i]; c < 0x20 || c > 0x7e {
				t.Fatalf("Encode(%q) = %q has byte %#x", s, enc, c)
			}
		}
		if utf8.ValidString(s) {
			if got, err := Decode(enc); err != nil || got != s {
				t.Fatalf("Decode(Encode(%q)) = %q, %v", s, got, err)
			}
		}
		if d, err := Decode(s); err == nil {
			if !utf8.ValidString(d) {
				t.Fatalf("Decode(%q) = %q: not UTF-8", s, d)
			}
			if again, err := Decode(Encode(d)); err != nil || again != d {
				t.Fatalf("Decode(Encode(Decode(%q))) = %q, %v, want %q", s, again, err, d)
			}
		}
	})
}
