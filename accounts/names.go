package accounts

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/secure/precis"
)

// NameError says which rule a rejected name broke.
type NameError struct {
	Kind  string // "localpart", "domain" or "address"
	Value string
	Rule  string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Kind, e.Value, e.Rule)
}

// maxLocalpart is the longest local part SMTP must accept (RFC 5321
// §4.5.3.1.1). JIDs allow 1023 octets (RFC 7622 §3.3), so mail is the bound.
const maxLocalpart = 64

// localpartSpecials are the ASCII punctuation characters a localpart may hold:
// RFC 5322 atext minus those RFC 7622 §3.3.1 forbids in a JID localpart
// (" & ' / : < > @) and minus '+', which Tidings reserves for subaddresses
// (juliet+lists@example.org, RFC 5233).
const localpartSpecials = "!#$%*-=?^_`{|}~."

// NormalizeLocalpart returns the canonical form of a user or alias name. The
// result is valid both as an email local part (RFC 5321 dot-atom, RFC 6531
// for non-ASCII) and as a JID localpart (PRECIS UsernameCaseMapped,
// RFC 8265 §3.3 and RFC 7622 §3.3): the one normalisation every protocol uses.
func NormalizeLocalpart(s string) (string, error) {
	bad := func(rule string) (string, error) {
		return "", &NameError{Kind: "localpart", Value: s, Rule: rule}
	}
	if s == "" {
		return bad("must not be empty")
	}
	if !utf8.ValidString(s) {
		return bad("not valid UTF-8")
	}
	n, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return bad("not a valid username under PRECIS UsernameCaseMapped (RFC 8265): no spaces, control or symbol characters")
	}
	if len(n) > maxLocalpart {
		return bad(fmt.Sprintf("longer than %d octets (RFC 5321 §4.5.3.1.1)", maxLocalpart))
	}
	for _, r := range n {
		switch {
		case r == '+':
			return bad("'+' is reserved for subaddresses (user+tag@domain)")
		case r >= utf8.RuneSelf, r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case strings.ContainsRune(localpartSpecials, r):
		default:
			return bad(fmt.Sprintf("character %q is not allowed in both email addresses and Jabber IDs", r))
		}
	}
	if strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".") || strings.Contains(n, "..") {
		return bad("dots may not start or end it or appear twice in a row (RFC 5322 §3.2.3 dot-atom)")
	}
	return n, nil
}

var domainProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.VerifyDNSLength(true),
	idna.StrictDomainName(true),
	idna.Transitional(false),
)

// NormalizeDomain returns the canonical form of a domain name: IDNA2008
// (UTS #46 non-transitional) A-labels in lower case, without a trailing dot.
// This is the form stored and used as a map key; [DomainUnicode] gives the
// form to show people.
func NormalizeDomain(s string) (string, error) {
	bad := func(rule string) (string, error) {
		return "", &NameError{Kind: "domain", Value: s, Rule: rule}
	}
	t := strings.TrimSuffix(s, ".") // one trailing dot: the DNS root
	if t == "" {
		return bad("must not be empty")
	}
	if strings.HasSuffix(t, ".") || strings.HasPrefix(t, ".") || strings.Contains(t, "..") {
		return bad("has an empty label (a dot at the start, at the end, or twice in a row)")
	}
	if strings.HasPrefix(t, "[") || isIPv4(t) {
		return bad("must be a domain name, not an IP address")
	}
	if !utf8.ValidString(t) {
		return bad("not valid UTF-8")
	}
	a, err := domainProfile.ToASCII(t)
	if err == nil {
		// The A-label form must itself be valid: it is what gets stored.
		_, err = domainProfile.ToUnicode(a)
	}
	if err != nil {
		return bad("not a valid internationalized domain name (IDNA2008, RFC 5891): " + idnaReason(err))
	}
	return a, nil
}

func idnaReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

func isIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// DomainUnicode returns the display (U-label) form of a canonical domain.
func DomainUnicode(ascii string) string {
	u, err := idna.Display.ToUnicode(ascii)
	if err != nil {
		return ascii
	}
	return u
}

// ParseAddress splits and normalises "local@domain" and returns the
// canonical address with its parts. A Jabber ID's bare form is the same string.
func ParseAddress(s string) (addr, local, domain string, err error) {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return "", "", "", &NameError{Kind: "address", Value: s, Rule: "must have the form local@domain"}
	}
	if local, err = NormalizeLocalpart(s[:i]); err != nil {
		return "", "", "", err
	}
	if domain, err = NormalizeDomain(s[i+1:]); err != nil {
		return "", "", "", err
	}
	return local + "@" + domain, local, domain, nil
}
