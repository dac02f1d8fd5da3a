package router

import (
	"errors"
	"strings"

	"github.com/tidings/tidings/accounts"
	"golang.org/x/text/secure/precis"
)

// JID is a parsed, canonical Jabber ID (RFC 7622): localpart with PRECIS
// UsernameCaseMapped, domain as a lower-case IDNA A-label (the form the
// account store keeps), resource with PRECIS OpaqueString.
type JID struct{ Local, Domain, Resource string }

// ErrJID is returned for a JID that cannot be parsed or prepared.
var ErrJID = errors.New("malformed JID")

// ParseJID parses and prepares s.
func ParseJID(s string) (JID, error) {
	var j JID
	rest := s
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		j.Resource, rest = rest[i+1:], rest[:i]
		if j.Resource == "" {
			return JID{}, ErrJID
		}
	}
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		j.Local, rest = rest[:i], rest[i+1:]
		if j.Local == "" {
			return JID{}, ErrJID
		}
	}
	j.Domain = strings.TrimSuffix(rest, ".") // one trailing dot: the DNS root
	if j.Domain == "" || strings.HasSuffix(j.Domain, ".") || len(j.Domain) > 1023 || len(j.Local) > 1023 || len(j.Resource) > 1023 {
		return JID{}, ErrJID
	}
	var err error
	if !plainDomain(j.Domain) {
		if j.Domain, err = accounts.NormalizeDomain(j.Domain); err != nil {
			return JID{}, ErrJID
		}
	}
	if j.Local != "" && !plainLower(j.Local, false) {
		if j.Local, err = precis.UsernameCaseMapped.String(j.Local); err != nil {
			return JID{}, ErrJID
		}
		if strings.ContainsAny(j.Local, "\"&'/:<>@") {
			return JID{}, ErrJID
		}
	}
	if j.Resource != "" && !plainASCII(j.Resource) {
		if j.Resource, err = precis.OpaqueString.String(j.Resource); err != nil {
			return JID{}, ErrJID
		}
	}
	return j, nil
}

// plainLower reports whether s is already canonical: lower-case ASCII
// letters, digits, '-', '.', '_' (and for localparts no leading or
// trailing oddities matter to PRECIS).
func plainLower(s string, domain bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.':
		case c == '_' && !domain:
		default:
			return false
		}
	}
	return true
}

// plainDomain reports whether s is a domain that accounts.NormalizeDomain
// would return unchanged, so the IDNA work can be skipped: lower-case LDH
// labels of 1 to 63 bytes, none starting or ending with '-' or with "--" in
// the third and fourth position (A-labels and reserved forms), a last
// label that is not all digits (an IPv4 address), at most 253 bytes in
// all. Anything else takes the slow path, which refuses what is invalid.
func plainDomain(s string) bool {
	if len(s) > 253 || !plainLower(s, true) {
		return false
	}
	for {
		label, rest, more := strings.Cut(s, ".")
		n := len(label)
		if n == 0 || n > 63 || label[0] == '-' || label[n-1] == '-' || (n >= 4 && label[2:4] == "--") {
			return false
		}
		if !more {
			return strings.Trim(label, "0123456789") != ""
		}
		s = rest
	}
}

// plainASCII reports whether s is printable ASCII without spaces: PRECIS
// OpaqueString leaves it unchanged.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// Bare returns the JID without its resource.
func (j JID) Bare() JID { return JID{Local: j.Local, Domain: j.Domain} }

// IsBare reports whether j has no resource.
func (j JID) IsBare() bool { return j.Resource == "" }

// IsDomain reports whether j is a domain JID.
func (j JID) IsDomain() bool { return j.Local == "" && j.Resource == "" }

// String renders j.
func (j JID) String() string {
	s := j.Domain
	if j.Local != "" {
		s = j.Local + "@" + s
	}
	if j.Resource != "" {
		s += "/" + j.Resource
	}
	return s
}

// BareString renders the bare JID.
func (j JID) BareString() string {
	if j.Local == "" {
		return j.Domain
	}
	return j.Local + "@" + j.Domain
}
