package managesieve

import (
	"strconv"
	"strings"
)

// implementation is the IMPLEMENTATION capability.
const implementation = "Tidings"

// capability is one line of the capability response (RFC 5804 §1.7).
type capability struct {
	name     string
	value    string
	hasValue bool
}

// capabilities lists what the connection offers in its present state.
func (c *conn) capabilities() []capability {
	s := c.srv
	caps := []capability{
		{name: "IMPLEMENTATION", value: implementation, hasValue: true},
		// SASL may be empty only when STARTTLS is offered (RFC 5804 §1.7).
		{name: "SASL", value: c.mechanisms(), hasValue: true},
		{name: "SIEVE", value: strings.Join(s.Extensions, " "), hasValue: true},
	}
	for _, e := range s.Extensions {
		if e == "enotify" { // NOTIFY goes with the enotify extension (RFC 5804 §1.7)
			caps = append(caps, capability{name: "NOTIFY", value: strings.Join(s.notify, " "), hasValue: true})
			break
		}
	}
	caps = append(caps, capability{name: "MAXREDIRECTS", value: strconv.Itoa(s.maxRedirect), hasValue: true})
	if c.canStartTLS() {
		caps = append(caps, capability{name: "STARTTLS"}) // never after TLS (RFC 5804 §2.2)
	}
	if c.authed {
		caps = append(caps, capability{name: "OWNER", value: c.user.Address, hasValue: true})
	}
	return append(caps,
		capability{name: "UNAUTHENTICATE"}, // RFC 5804 §2.14
		capability{name: "VERSION", value: "1.0", hasValue: true})
}

// mechanisms is the SASL capability: PLAIN (RFC 4616) inside TLS only,
// unless insecure authentication is allowed.
func (c *conn) mechanisms() string {
	if c.tls || c.srv.cfg.AllowInsecureAuth {
		return "PLAIN"
	}
	return ""
}

func (c *conn) canStartTLS() bool { return !c.tls && !c.authed && c.srv.TLS != nil }

// greeting is the OK that ends the capabilities sent at connect.
func (c *conn) greeting() string {
	if h := c.srv.Hostname; h != "" {
		return h + " ManageSieve ready"
	}
	return "ManageSieve ready"
}

// sendCapabilities sends the capability lines and OK text (RFC 5804 §1.7,
// §2.4): at connect, after STARTTLS and for CAPABILITY.
func (c *conn) sendCapabilities(text string) error {
	var b []byte
	for _, cp := range c.capabilities() {
		b = appendString(b, cp.name)
		if cp.hasValue {
			b = append(b, ' ')
			b = appendString(b, cp.value)
		}
		b = append(b, "\r\n"...)
	}
	return c.send(appendResponse(b, respOK, "", text))
}
