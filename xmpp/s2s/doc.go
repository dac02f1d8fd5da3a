// Package s2s is XMPP server-to-server federation (RFC 6120): an outbound
// pool of streams keyed by (local domain, remote domain) that implements
// [router.Remote], and an inbound listener whose verified stanzas go to
// [router.Router.Route].
//
// Outbound: the remote domain is resolved through _xmpps-server._tcp
// (direct TLS, XEP-0368, ALPN xmpp-server) and _xmpp-server._tcp SRV
// records, falling back to its A/AAAA records on port 5269 (RFC 6120
// §3.2). The stream always uses TLS (STARTTLS on plain ports); it then
// authenticates with SASL EXTERNAL (XEP-0178) when the peer's certificate
// is valid for its domain and the peer offers EXTERNAL, else with Server
// Dialback (XEP-0220) over TLS. Stanzas queue while the stream is being set
// up (bounded: beyond, resource-constraint) and bounce with
// remote-server-not-found or remote-server-timeout when it fails; after a
// failure the pair is not tried again before a capped exponential
// back-off has passed (stanzas bounce at once meanwhile, with the same
// condition, through router.RemoteError). Idle streams close.
//
// Inbound: STARTTLS (required) or direct TLS, then SASL EXTERNAL when the
// peer's client certificate is valid for the stream's from domain, or
// dialback verified with the authoritative server over a dedicated
// connection. Stanzas are accepted only for (from domain, to domain) pairs
// verified on that stream; anything else ends the stream with invalid-from,
// a 'to' that is not a hosted domain with XMPP on with host-unknown.
//
// Bidirectional streams (XEP-0288, Config.Bidi): offered on inbound
// streams and requested on outbound ones, so that one connection carries
// a proved domain pair's stanzas both ways; see bidi.go.
//
// Elements of the stream and dialback namespaces go out with the prefixes
// of our stream header (<stream:features/>, <db:result/>): ejabberd
// matches those names as strings.
//
// Certificate names come from the subjectAltName only (dNSName, SRVName
// _xmpp-server.domain, xmppAddr); the subject CN is never used. The
// dialback key is HMAC-SHA256 over a persistent secret (XEP-0185) kept in
// the database table s2s_secret, so every node of a cluster shares it.
package s2s
