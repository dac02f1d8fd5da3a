package sieve

import (
	"net/mail"
	"strings"
)

// addrPart is an ADDRESS-PART (RFC 5228 §2.7.4, RFC 5233 §4).
type addrPart int

const (
	partAll addrPart = iota
	partLocal
	partDomain
	partUser
	partDetail
)

func addrPartOf(x *call) addrPart {
	for tag, p := range map[string]addrPart{"localpart": partLocal, "domain": partDomain, "user": partUser, "detail": partDetail} {
		if x.has(tag) {
			return p
		}
	}
	return partAll
}

// subaddressSep is the separator between user and detail (RFC 5233 §1).
const subaddressSep = "+"

// extract returns the part of a bare address; ok is false when the part
// does not exist (no detail, or :localpart of an unparsable address).
func (p addrPart) extract(addr string, valid bool) (string, bool) {
	if p == partAll {
		return addr, true
	}
	if addr == "" {
		// RFC 5228 §5.4: the null reverse-path is "" whatever the part.
		return "", true
	}
	at := strings.LastIndexByte(addr, '@')
	if !valid || at < 0 {
		return "", false // RFC 5228 §2.7.4
	}
	local, domain := addr[:at], addr[at+1:]
	switch p {
	case partLocal:
		return local, true
	case partDomain:
		return domain, true
	}
	user, detail, found := strings.Cut(local, subaddressSep)
	if p == partUser {
		return user, true
	}
	return detail, found // RFC 5233 §4: no separator, no detail
}

// headerAddresses parses an address header value into bare addresses;
// group names vanish (RFC 5228 §5.1). A value that does not parse is
// returned whole, marked invalid.
// v is the raw value: the parser decodes display names itself (in every
// charset go-message knows), and the addresses come from outside them.
func headerAddresses(v string) ([]string, bool) {
	list, err := addressParser.ParseList(v)
	if err == nil {
		out := make([]string, len(list))
		for i, a := range list {
			out[i] = a.Address
		}
		return out, true
	}
	if strings.TrimSpace(v) == "" {
		return nil, true
	}
	if addrs := lenientAddresses(v); addrs != nil {
		return addrs, true
	}
	return []string{strings.TrimSpace(v)}, false
}

// lenientAddresses recovers addresses from a value net/mail refuses
// (real mail has unquoted dots and stray brackets in display names): every
// <angle-addr> outside quoted strings and comments, or else every
// comma-separated word that holds an "@".
func lenientAddresses(v string) []string {
	var out []string
	bare := blankQuoted(v)
	for off := 0; ; {
		i := strings.IndexByte(bare[off:], '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(bare[off+i+1:], '>')
		if j < 0 {
			break
		}
		if a := strings.TrimSpace(v[off+i+1 : off+i+1+j]); strings.Contains(a, "@") {
			out = append(out, a)
		}
		off += i + 1 + j + 1
	}
	if out != nil {
		return out
	}
	for _, part := range strings.Split(v, ",") {
		a := strings.TrimSpace(part)
		if !strings.Contains(a, "@") || strings.ContainsAny(a, " \t\"()<>") {
			return nil
		}
		out = append(out, a)
	}
	return out
}

// blankQuoted returns v with quoted strings and comments (RFC 5322 §3.2.4,
// §3.2.2) replaced by spaces, byte for byte, so what is left are the
// structural characters.
func blankQuoted(v string) string {
	b := []byte(v)
	inQuote, depth, escaped := false, 0, false
	for i, c := range b {
		quoted := inQuote || depth > 0
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case inQuote:
			inQuote = c != '"'
		case depth > 0 && c == '(':
			depth++
		case depth > 0:
			if c == ')' {
				depth--
			}
		case c == '"':
			inQuote, quoted = true, true
		case c == '(':
			depth, quoted = 1, true
		}
		if quoted {
			b[i] = ' '
		}
	}
	return string(b)
}

// addressParser decodes RFC 2047 display names in any charset.
var addressParser = &mail.AddressParser{WordDecoder: wordDecoder}

// envelopeAddress strips the angle brackets an MTA may leave.
func envelopeAddress(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">") {
		v = v[1 : len(v)-1]
	}
	return v
}

// addressHeaders are the fields the address test may look at
// (RFC 5228 §5.1 requires at least From, To, Cc, Bcc, Sender, Resent-From
// and Resent-To); X- fields are allowed too.
var addressHeaders = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "sender": true,
	"reply-to": true, "resent-from": true, "resent-to": true, "resent-cc": true,
	"resent-bcc": true, "resent-sender": true, "resent-reply-to": true,
	"return-path": true, "delivered-to": true, "envelope-to": true,
	"errors-to": true, "disposition-notification-to": true, "mail-followup-to": true,
	"mail-reply-to": true, "original-recipient": true, "original-from": true,
}

func isAddressHeader(name string) bool {
	name = strings.ToLower(name)
	return addressHeaders[name] || strings.HasPrefix(name, "x-")
}

type parsedAddrs struct {
	addrs []string
	valid bool
}

// addresses parses a header value once per run.
func (r *run) addresses(v string) parsedAddrs {
	if pa, ok := r.addrCache[v]; ok {
		return pa
	}
	if r.addrCache == nil {
		r.addrCache = map[string]parsedAddrs{}
	}
	addrs, valid := headerAddresses(v)
	pa := parsedAddrs{addrs, valid}
	r.addrCache[v] = pa
	return pa
}
