package store

import (
	"fmt"
	"sort"
	"strings"
)

// systemFlags are the IMAP system flags a message can hold (RFC 9051
// §2.3.2; \Recent is gone in IMAP4rev2 and never stored).
var systemFlags = map[string]string{
	`\seen`: `\Seen`, `\answered`: `\Answered`, `\flagged`: `\Flagged`,
	`\deleted`: `\Deleted`, `\draft`: `\Draft`,
}

// maxKeyword bounds a keyword's length (Dovecot's limit is similar).
const maxKeyword = 100

// normalizeFlags validates flags and keywords and returns them without
// duplicates (keywords compare case-insensitively, RFC 9051 §2.3.2),
// system flags in canonical case, sorted.
func normalizeFlags(in []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, f := range in {
		lower := strings.ToLower(f)
		if strings.HasPrefix(f, `\`) {
			canon, ok := systemFlags[lower]
			if !ok {
				return nil, fmt.Errorf("%w: %q is not a flag a message can hold", ErrInvalidKeyword, f)
			}
			f = canon
		} else if !validKeyword(f) {
			return nil, fmt.Errorf("%w: %q", ErrInvalidKeyword, f)
		}
		if !seen[lower] {
			seen[lower] = true
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out, nil
}

// validKeyword: an IMAP atom (RFC 9051 §9 flag-keyword) of bounded length.
func validKeyword(k string) bool {
	if k == "" || len(k) > maxKeyword {
		return false
	}
	for _, c := range []byte(k) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

func splitFlags(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, " ")
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

// FlagOp says how StoreFlags combines flags (RFC 9051 §6.4.6).
type FlagOp int

// The STORE operations.
const (
	FlagsSet FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// applyFlags computes a message's new flags.
func applyFlags(cur []string, op FlagOp, flags []string) []string {
	switch op {
	case FlagsSet:
		return flags
	case FlagsAdd:
		merged, _ := normalizeFlags(append(append([]string{}, cur...), flags...))
		return merged
	default:
		var out []string
		for _, f := range cur {
			if !hasFlag(flags, f) {
				out = append(out, f)
			}
		}
		return out
	}
}
