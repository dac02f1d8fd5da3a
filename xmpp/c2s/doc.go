// Package c2s serves XMPP client connections (RFC 6120): :5222 with
// STARTTLS and :5223 with direct TLS (XEP-0368, ALPN xmpp-client), SASL
// against the shared account store, resource binding, and then hands every
// stanza to xmpp/router.
//
// A connection has one reader goroutine (serve), reading through the
// hardened xmpp/streamreader (pre-authentication limits until SASL
// succeeds, post-authentication limits after), and writes through a byte
// queue drained by a writer goroutine that exists only while there is
// something to write: an idle session holds no writer goroutine and no
// buffers. The queue is bounded (MaxQueueBytes); a client that falls
// behind is disconnected instead of stalling whoever sends to it.
//
// SASL is our own (mellium's SASLServer cannot do SCRAM and its -PLUS
// panics): SCRAM-SHA-1 and SCRAM-SHA-256 from the stored keys (RFC 5802,
// RFC 7677), their -PLUS variants with tls-exporter channel binding (RFC
// 9266, advertised per XEP-0440) when the TLS connection has a unique
// exporter (TLS 1.3, or 1.2 with extended master secret), and PLAIN only
// inside TLS. A client that says "y" (it could bind but thinks we cannot)
// is accepted with a non-PLUS mechanism even though we offer -PLUS: we bind
// only with tls-exporter, and clients that know only tls-unique rightly say
// "y" on TLS 1.3 (see scram.first). Unknown users get stable fake salts
// (one per mechanism, like real accounts) so SCRAM does not reveal which
// accounts exist. The authzid must be empty or the authenticated account.
// Every failure goes to the shared throttle; MaxAuthFailures failures end
// the stream.
//
// Binding uses only the authenticated identity (never the stream header's
// from) and the router's resource-conflict policy. Before binding, a
// NegotiationTimeout read deadline applies; after it, a session silent for
// PingAfter gets an XEP-0199 ping and is closed when it stays silent for
// PingTimeout more.
package c2s
