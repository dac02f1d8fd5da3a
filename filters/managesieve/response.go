package managesieve

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Response kinds (RFC 5804 §1.2): every command ends with one of them.
const (
	respOK  = "OK"
	respNO  = "NO"
	respBYE = "BYE"
)

// Response codes (RFC 5804 §1.3).
const (
	codeAuthTooWeak   = "AUTH-TOO-WEAK"
	codeEncryptNeeded = "ENCRYPT-NEEDED"
	codeMaxScripts    = "QUOTA/MAXSCRIPTS"
	codeMaxSize       = "QUOTA/MAXSIZE"
	codeTryLater      = "TRYLATER"
	codeNonexistent   = "NONEXISTENT"
	codeAlreadyExists = "ALREADYEXISTS"
	codeActive        = "ACTIVE"
)

// appendString appends s as a ManageSieve string (RFC 5804 §4): quoted
// when it can be, else a server literal {N} (literal-s2c) — for long text,
// CR or LF (a compile error over several lines), NUL or non-UTF-8 bytes.
func appendString(b []byte, s string) []byte {
	if len(s) > maxQuoted || !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\r\n") {
		return appendLiteral(b, s)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// appendLiteral appends s as a server literal: {N} CRLF and the octets.
func appendLiteral(b []byte, s string) []byte {
	b = append(b, '{')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, "}\r\n"...)
	return append(b, s...)
}

// appendResponse appends an OK, NO or BYE line with an optional response
// code (already formatted, arguments included) and text.
func appendResponse(b []byte, kind, code, text string) []byte {
	b = append(b, kind...)
	if code != "" {
		b = append(b, " ("...)
		b = append(b, code...)
		b = append(b, ')')
	}
	if text != "" {
		b = append(b, ' ')
		b = appendString(b, text)
	}
	return append(b, "\r\n"...)
}

// tagCode is the TAG response code of NOOP (RFC 5804 §2.13).
func tagCode(tag string) string {
	return string(appendString([]byte("TAG "), tag))
}
