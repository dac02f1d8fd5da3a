package sieve

import (
	"errors"
	"strconv"
	"strings"
)

// decodeEncoded replaces "${hex:...}" and "${unicode:...}" sequences
// (RFC 5228 §2.4.2.4). Malformed sequences stay as written; a code point
// outside 0-D7FF and E000-10FFFF is an error.
func decodeEncoded(v string) (string, error) {
	if !strings.Contains(v, "${") {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); {
		if v[i] != '$' || !strings.HasPrefix(v[i:], "${") {
			b.WriteByte(v[i])
			i++
			continue
		}
		end := strings.IndexByte(v[i:], '}')
		if end < 0 {
			b.WriteString(v[i:])
			break
		}
		out, ok, err := decodeSeq(v[i+2 : i+end])
		if err != nil {
			return "", err
		}
		if !ok {
			b.WriteByte('$')
			i++
			continue
		}
		b.WriteString(out)
		i += end + 1
	}
	return b.String(), nil
}

func decodeSeq(seq string) (string, bool, error) {
	colon := strings.IndexByte(seq, ':')
	if colon < 0 {
		return "", false, nil
	}
	kind, body := strings.ToLower(seq[:colon]), seq[colon+1:]
	fields := strings.Fields(body)
	if (kind != "hex" && kind != "unicode") || len(fields) == 0 {
		return "", false, nil
	}
	var b strings.Builder
	for _, f := range fields {
		n, err := strconv.ParseUint(f, 16, 64)
		if err != nil && kind == "unicode" && allHex(f) {
			n = 0x110000 // too large: reported below
		} else if err != nil {
			return "", false, nil
		}
		if kind == "hex" {
			if len(f) > 2 {
				return "", false, nil
			}
			b.WriteByte(byte(n))
			continue
		}
		if n > 0x10FFFF || (n >= 0xD800 && n <= 0xDFFF) {
			return "", false, errors.New("invalid unicode code point " + f + " (RFC 5228 §2.4.2.4)")
		}
		b.WriteRune(rune(n))
	}
	return b.String(), true, nil
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !isDigit(s[i]) && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
