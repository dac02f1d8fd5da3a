// Package streamreader is the hardened XML reader that every XMPP stream
// (client-to-server and server-to-server) is read through. It sits between
// the connection and whatever consumes tokens (mellium.im/xmlstream, an
// [encoding/xml.Decoder] built with [xml.NewTokenDecoder], our own handlers)
// and turns hostile input into a stream error before it costs memory.
//
// A [Reader] enforces, per stream:
//
//   - Restricted XML (RFC 6120 §11.1): a DTD or other directive, a comment,
//     or a processing instruction other than the leading XML declaration
//     ends the stream with restricted-xml. Undefined entities such as
//     &xxe; are syntax errors (not-well-formed); encoding/xml expands only
//     the five predefined entities and character references, so entity
//     expansion bombs cannot happen, but the DOCTYPE is refused anyway.
//   - Byte limits counted before tokenising (RFC 6120 §13.12): the bytes of
//     one first-level element (a stanza, or any other child of the stream
//     root) may not exceed [Limits.MaxStanzaBytes]; the stream header itself
//     gets [HeaderBytes]. A single huge attribute value, text node or name
//     is refused when the parser asks for the first byte past the limit.
//   - Structure limits: element depth within a stanza, attributes per
//     element, elements per stanza (policy-violation).
//   - Rate shaping: a token bucket on bytes read from the connection. Over
//     the rate the reader sleeps; it never disconnects for speed alone.
//
// The usual pre-authentication and post-authentication values are
// [DefaultPreAuth], [DefaultPostAuth] and [DefaultS2S]; call
// [Reader.SetLimits] after SASL succeeds and [Reader.Reset] on every stream
// restart.
//
// # Implementation notes
//
// The connection is read into a 4 KiB buffer owned by the Reader. The
// [encoding/xml.Decoder] reads from that buffer one byte at a time through
// io.ByteReader, so it adds no buffering of its own, and the buffer is
// refilled with at most as many bytes as the current limit still allows:
// the Reader never reads more from the connection than the start of the
// current first-level element plus its limit. Offsets are therefore exact:
// the limit of a stanza is measured from the first byte of its start tag.
//
// Whitespace between first-level elements (RFC 6120 §11.7; keepalives,
// §4.6.4) is consumed by the Reader itself and returned as xml.CharData in
// chunks of at most the buffer size, normalised like encoding/xml does
// (CR LF and lone CR become LF). The decoder never sees it, so keepalives
// cannot accumulate towards a limit or inside the decoder's token buffer.
// A consequence: tokens equal those of a plain xml.Decoder except that a
// run of inter-stanza whitespace may arrive as several CharData tokens, and
// line numbers in syntax errors do not count those newlines.
//
// Before the decoder sees a first-level element, the Reader peeks at its
// first three bytes: "<!-" (comment) and "<!D" (DOCTYPE) are refused with
// restricted-xml whatever their size, "<?" is refused unless it is the
// leading XML declaration, and "<![" (CDATA) or any other text at stream
// level is refused (bad-format; not-well-formed before the stream header).
// Inside a stanza the decoder reports comments, directives and processing
// instructions as tokens, which are refused; one that also exceeds the
// byte limit is reported as policy-violation, because bytes are counted
// first.
//
// Stream restarts (RFC 6120 §5.3.2 after TLS, §6.3.2 after SASL) call
// [Reader.Reset], which drops every buffered byte and builds a fresh
// decoder: plaintext pipelined after <starttls/> (RFC 6120 §5.4.3.3) never
// reaches the new stream. The rate bucket survives restarts: it belongs to
// the connection.
//
// Errors are sticky: after the first error every call returns it again and
// no further token is produced. Stream-level violations are [*Error] values
// carrying the RFC 6120 §4.9.3 condition, whose [Error.WriteTo] renders the
// <stream:error/> to send before closing. Transport problems are returned
// unchanged (a clean close before any stream as io.EOF, a close inside the
// stream as io.ErrUnexpectedEOF, a cancelled context as its error), except
// that a read deadline becomes connection-timeout (RFC 6120 §4.9.3.4).
//
// A Reader is not safe for concurrent use: one goroutine reads a stream.
package streamreader
