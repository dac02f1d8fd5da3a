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
func headerAddresses(v string) ([]string, bool) {
	list, err := mail.ParseAddressList(v)
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

// lenientAddresses recovers addresses from a value net/mail refuses, as
// RFC 2047 decoding can leave commas or quotes in display names: every
// <angle-addr>, or else every comma-separated word that holds an "@".
func lenientAddresses(v string) []string {
	var out []string
	for rest := v; ; {
		i := strings.IndexByte(rest, '<')
		j := strings.IndexByte(rest[i+1:], '>')
		if i < 0 || j < 0 {
			break
		}
		if a := strings.TrimSpace(rest[i+1 : i+1+j]); strings.Contains(a, "@") {
			out = append(out, a)
		}
		rest = rest[i+1+j+1:]
	}
	if out != nil {
		return out
	}
	for _, part := range strings.Split(v, ",") {
		a := strings.TrimSpace(part)
		if !strings.Contains(a, "@") || strings.ContainsAny(a, " \t\"") {
			return nil
		}
		out = append(out, a)
	}
	return out
}

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
