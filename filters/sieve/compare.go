package sieve

import (
	"strings"
)

// comparator is one of the RFC 4790 collations Sieve names.
type comparator int

const (
	cmpCasemap comparator = iota // i;ascii-casemap, the default (RFC 5228 §2.7.3)
	cmpOctet                     // i;octet
	cmpNumeric                   // i;ascii-numeric (RFC 4790 §9.1)
)

var comparatorNames = map[string]comparator{
	"i;ascii-casemap": cmpCasemap,
	"i;octet":         cmpOctet,
	"i;ascii-numeric": cmpNumeric,
}

func (c comparator) String() string {
	for k, v := range comparatorNames {
		if v == c {
			return k
		}
	}
	return "?"
}

// fold prepares a string for the substring and equality operations.
func (c comparator) fold(s string) string {
	if c == cmpCasemap {
		return asciiLower(s)
	}
	return s
}

// asciiLower folds only US-ASCII letters (RFC 4790 §9.2).
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// compare orders a and b: -1, 0 or 1.
func (c comparator) compare(a, b string) int {
	switch c {
	case cmpNumeric:
		return compareNumeric(a, b)
	case cmpCasemap:
		return compareCasemap(a, b)
	}
	return strings.Compare(a, b)
}

// compareCasemap compares with US-ASCII letters folded, without allocating.
func compareCasemap(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := lowerByte(a[i]), lowerByte(b[i])
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// compareNumeric: a string that does not start with a digit is positive
// infinity; otherwise the leading digits are its value (RFC 4790 §9.1.1).
func compareNumeric(a, b string) int {
	da, db := leadingDigits(a), leadingDigits(b)
	switch {
	case da == "" && db == "":
		return 0
	case da == "":
		return 1
	case db == "":
		return -1
	}
	da, db = strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
	if len(da) != len(db) {
		if len(da) < len(db) {
			return -1
		}
		return 1
	}
	return strings.Compare(da, db)
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i]
}
