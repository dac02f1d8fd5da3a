// Package mutf7 encodes and decodes IMAP's modified UTF-7 (RFC 3501
// §5.1.3), the mailbox-name encoding of IMAP4rev1 and of Maildir++ folder
// names on disk (Dovecot, Courier): `Entw&APw-rfe` is "Entwürfe".
//
// Printable US-ASCII other than "&" stands for itself, "&" is "&-", and
// everything else is UTF-16 in a modified base64 ("," for "/", no padding)
// between "&" and "-". Decode is strict, so that a name that was never
// encoded (a folder called "R&D") is told apart from one that was: it
// refuses empty or unterminated shifts, base64 that encodes printable
// ASCII, leftover bits, unpaired surrogates and raw bytes outside
// printable ASCII. Encode produces the canonical form, which Decode
// accepts and turns back into the same string.
package mutf7

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrInvalid is returned for a string that is not modified UTF-7.
var ErrInvalid = errors.New("not modified UTF-7 (RFC 3501 §5.1.3)")

// alphabet is RFC 2152's base64 with "," for "/" (RFC 3501 §5.1.3).
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

// Encode returns s (UTF-8; invalid bytes become U+FFFD) in modified UTF-7.
func Encode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '&':
			b.WriteString("&-")
			i++
		case direct(c):
			b.WriteByte(c)
			i++
		default:
			j := i
			for j < len(s) && !direct(s[j]) && s[j] != '&' {
				_, n := utf8.DecodeRuneInString(s[j:])
				j += n
			}
			b.WriteByte('&')
			encodeRun(&b, s[i:j])
			b.WriteByte('-')
			i = j
		}
	}
	return b.String()
}

// direct reports whether c stands for itself: printable US-ASCII but "&".
func direct(c byte) bool { return c >= 0x20 && c <= 0x7e && c != '&' }

// encodeRun writes s as UTF-16BE in modified base64, without padding.
func encodeRun(b *strings.Builder, s string) {
	var bits uint32
	n := 0 // bits pending in bits
	for _, r := range s {
		for _, u := range utf16.AppendRune(nil, r) {
			bits, n = bits<<16|uint32(u), n+16
			for n >= 6 {
				n -= 6
				b.WriteByte(alphabet[bits>>n&0x3f])
			}
			bits &= 1<<n - 1
		}
	}
	if n > 0 {
		b.WriteByte(alphabet[bits<<(6-n)&0x3f])
	}
}

// Decode returns the UTF-8 string s encodes, or ErrInvalid.
func Decode(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '&':
			end := strings.IndexByte(s[i+1:], '-')
			if end < 0 {
				return "", ErrInvalid // unterminated shift
			}
			run := s[i+1 : i+1+end]
			i += end + 2
			if run == "" {
				b.WriteByte('&')
				continue
			}
			if err := decodeRun(&b, run); err != nil {
				return "", err
			}
		case direct(c):
			b.WriteByte(c)
			i++
		default:
			return "", ErrInvalid // a raw byte that needs encoding
		}
	}
	return b.String(), nil
}

// decodeRun decodes one base64 run of UTF-16BE into b.
func decodeRun(b *strings.Builder, run string) error {
	var bits uint32
	n := 0
	var units []uint16
	for i := 0; i < len(run); i++ {
		v := strings.IndexByte(alphabet, run[i])
		if v < 0 {
			return ErrInvalid
		}
		bits, n = bits<<6|uint32(v), n+6
		if n >= 16 {
			n -= 16
			units = append(units, uint16(bits>>n))
			bits &= 1<<n - 1
		}
	}
	// What is left must be padding: fewer than 6 bits, all zero.
	if n >= 6 || bits != 0 || len(units) == 0 {
		return ErrInvalid
	}
	for i := 0; i < len(units); i++ {
		u := units[i]
		r := rune(u)
		switch {
		case utf16.IsSurrogate(r):
			if i+1 == len(units) {
				return ErrInvalid
			}
			if r = utf16.DecodeRune(r, rune(units[i+1])); r == utf8.RuneError {
				return ErrInvalid
			}
			i++
		case r < 0x80 && direct(byte(r)), r == '&':
			return ErrInvalid // must stand for itself (or be "&-")
		}
		b.WriteRune(r)
	}
	return nil
}
