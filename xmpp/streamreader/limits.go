package streamreader

import (
	"errors"
	"fmt"
)

// Limits bound what one stream may send. Every field must be positive
// except the rate fields (see Validate); a zero structure limit refuses
// everything, it never means "unlimited".
type Limits struct {
	// MaxStanzaBytes caps the bytes of one first-level element, counted from
	// the first byte of its start tag to the last byte of its end tag,
	// before any of it is tokenised. The stream header is capped at
	// HeaderBytes, or at MaxStanzaBytes if that is smaller.
	MaxStanzaBytes int `toml:"max_stanza_bytes" doc:"Largest stanza accepted, in bytes, counted before parsing (RFC 6120 §13.12: at least 10000). Advertised with XEP-0478."`
	// MaxDepth caps element nesting inside a stanza; the stanza element
	// itself is at depth 1.
	MaxDepth int `toml:"max_depth" doc:"Deepest element nesting inside one stanza (the stanza element is depth 1)."`
	// MaxAttrs caps the attributes of one element, namespace declarations
	// included. The stream header needs up to 8.
	MaxAttrs int `toml:"max_attrs" doc:"Most attributes on one element, namespace declarations included (at least 8 for the stream header)."`
	// MaxElements caps the elements in one stanza, the stanza included.
	MaxElements int `toml:"max_elements" doc:"Most elements in one stanza, the stanza element included."`
	// BytesPerSecond is the sustained read rate; reading faster makes the
	// Reader sleep. Zero turns shaping off.
	BytesPerSecond int `toml:"bytes_per_second" doc:"Sustained read rate per connection in bytes per second; faster senders are slowed down, not disconnected. 0 turns shaping off."`
	// Burst is how many bytes may be read at once after an idle period
	// (the token bucket's size).
	Burst int `toml:"burst" doc:"Bytes that may arrive at full speed after an idle period (the rate bucket size)."`
}

// Limit values. Sources: ../shared/reference/xmpp.md §7 and §8.
const (
	// MinStanzaBytes is the smallest stanza limit Validate accepts: the
	// floor RFC 6120 §13.12 sets for stanza size limits, which Prosody also
	// enforces on c2s_stanza_size_limit.
	MinStanzaBytes = 10000
	// HeaderBytes caps the stream header <stream:stream ...> (and the XML
	// declaration before it) on every stream, authenticated or not.
	HeaderBytes = PreAuthStanzaBytes
	// MinAttrs is the smallest MaxAttrs Validate accepts: an s2s stream
	// header carries from, to, id, version, xml:lang, xmlns, xmlns:stream
	// and xmlns:db.
	MinAttrs = 8

	// PreAuthStanzaBytes: the RFC 6120 §13.12 minimum. ejabberd 26.04's
	// pre_auth_max_stanza_size is 8192, below that minimum; nothing sent
	// before authentication (STARTTLS, SASL, XEP-0077 forms) comes close.
	PreAuthStanzaBytes = 10000
	// PreAuthDepth leaves room for an XEP-0077 registration form
	// (iq/query/x/field/value is 5 deep) and SASL2 with Bind2.
	PreAuthDepth = 8
	// PreAuthAttrs: the stream header and pre-auth stanzas have few.
	PreAuthAttrs = 16
	// PreAuthElements is ejabberd 26.04's pre_auth_max_stanza_elements.
	PreAuthElements = 32

	// PostAuthStanzaBytes is Prosody 13's c2s_stanza_size_limit and
	// ejabberd's example max_stanza_size (256 KiB): large enough for
	// vCard and avatar stanzas.
	PostAuthStanzaBytes = 256 << 10
	// PostAuthDepth: real stanzas nest under 16 (MAM results carrying MUC
	// payloads, PubSub items with Atom entries); 32 leaves room.
	PostAuthDepth = 32
	// PostAuthAttrs: no anchor server caps attributes; 64 is far above
	// any real element and keeps the duplicate check cheap.
	PostAuthAttrs = 64
	// PostAuthElements is Tigase's elements-number-limit default.
	PostAuthElements = 1000

	// C2SBytesPerSecond is the c2s rate in Prosody's shipped mod_limits
	// configuration ("10kb/s"); ejabberd's c2s shaper "normal" is 3000.
	C2SBytesPerSecond = 10000
	// C2SBurst is two seconds at that rate, Prosody's burst = "2s".
	C2SBurst = 2 * C2SBytesPerSecond

	// S2SStanzaBytes is Prosody's s2s_stanza_size_limit and ejabberd's
	// example for s2s (512 KiB).
	S2SStanzaBytes = 512 << 10
	// S2SBytesPerSecond is ejabberd's s2s shaper "fast": a server link
	// carries many users' traffic (Prosody ships 30 kB/s for s2sin).
	S2SBytesPerSecond = 100000
	// S2SBurst is two seconds at that rate.
	S2SBurst = 2 * S2SBytesPerSecond
)

// DefaultPreAuth returns the limits for a stream before SASL succeeds
// (c2s and s2s alike).
func DefaultPreAuth() Limits {
	return Limits{
		MaxStanzaBytes: PreAuthStanzaBytes,
		MaxDepth:       PreAuthDepth,
		MaxAttrs:       PreAuthAttrs,
		MaxElements:    PreAuthElements,
		BytesPerSecond: C2SBytesPerSecond,
		Burst:          C2SBurst,
	}
}

// DefaultPostAuth returns the limits for an authenticated c2s stream.
func DefaultPostAuth() Limits {
	return Limits{
		MaxStanzaBytes: PostAuthStanzaBytes,
		MaxDepth:       PostAuthDepth,
		MaxAttrs:       PostAuthAttrs,
		MaxElements:    PostAuthElements,
		BytesPerSecond: C2SBytesPerSecond,
		Burst:          C2SBurst,
	}
}

// DefaultS2S returns the limits for an authenticated server-to-server
// stream.
func DefaultS2S() Limits {
	l := DefaultPostAuth()
	l.MaxStanzaBytes = S2SStanzaBytes
	l.BytesPerSecond = S2SBytesPerSecond
	l.Burst = S2SBurst
	return l
}

// Validate reports every unusable value at once.
func (l Limits) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if l.MaxStanzaBytes < MinStanzaBytes {
		add("max_stanza_bytes: %d is below the minimum of %d (RFC 6120 §13.12)", l.MaxStanzaBytes, MinStanzaBytes)
	}
	if l.MaxDepth < 1 {
		add("max_depth: must be at least 1")
	}
	if l.MaxAttrs < MinAttrs {
		add("max_attrs: %d is below %d, too few for a stream header", l.MaxAttrs, MinAttrs)
	}
	if l.MaxElements < 1 {
		add("max_elements: must be at least 1")
	}
	if l.BytesPerSecond < 0 {
		add("bytes_per_second: must not be negative")
	}
	if l.BytesPerSecond > 0 && l.Burst < 1 {
		add("burst: must be at least 1 when bytes_per_second is set")
	}
	return errors.Join(errs...)
}
