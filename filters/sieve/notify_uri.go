package sieve

import (
	"net/url"
	"strings"
)

// Notification methods we support (RFC 5435 §3.1): mailto (RFC 5436) and
// xmpp (RFC 5437).

// notifyMethod returns the lowercased scheme of a supported, valid method
// URI, or "" with the reason it is not.
func notifyMethod(uri string) (string, string) {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok || !validScheme(scheme) {
		return "", "not a URI"
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case "mailto":
		if !validMailtoURI(rest) {
			return "", "invalid mailto URI (RFC 5436 §2, RFC 6068)"
		}
	case "xmpp":
		if !validXMPPURI(rest) {
			return "", "invalid xmpp URI (RFC 5437 §2, RFC 5122)"
		}
	default:
		return "", "unsupported notification method " + quote(scheme)
	}
	return scheme, ""
}

// validMailtoURI: "mailto:" [to] ["?" hfields], with at least one
// recipient, each a valid address (RFC 6068 §2).
func validMailtoURI(rest string) bool {
	if !uriChars(rest) {
		return false
	}
	to, query, _ := strings.Cut(rest, "?")
	var recipients []string
	if to != "" {
		recipients = append(recipients, to)
	}
	if query != "" {
		for _, field := range strings.Split(query, "&") {
			name, value, ok := strings.Cut(field, "=")
			if !ok || name == "" {
				return false
			}
			if strings.EqualFold(name, "to") {
				recipients = append(recipients, value)
			}
		}
	}
	n := 0
	for _, list := range recipients {
		for _, a := range strings.Split(list, ",") {
			addr, err := url.PathUnescape(a)
			if err != nil || validAddress(addr) != nil {
				return false
			}
			n++
		}
	}
	return n > 0
}

// validXMPPURI: "xmpp:" ["//" authority "/"] jid ["?" query]
// ["#" fragment] with a non-empty domain (RFC 5122 §2.2).
func validXMPPURI(rest string) bool {
	if !uriChars(rest) {
		return false
	}
	if strings.HasPrefix(rest, "//") {
		i := strings.IndexByte(rest[2:], '/')
		if i < 0 {
			return false
		}
		rest = rest[2+i+1:]
	}
	path, _, _ := strings.Cut(rest, "#")
	path, _, _ = strings.Cut(path, "?")
	jid, err := url.PathUnescape(path)
	if err != nil {
		return false
	}
	bare, _, _ := strings.Cut(jid, "/")
	node, domain, hasNode := strings.Cut(bare, "@")
	if !hasNode {
		domain = node
	}
	if hasNode && node == "" {
		return false
	}
	return domain != "" && !strings.ContainsAny(domain, "@ ")
}
