package router

import (
	"context"

	"github.com/tidings/tidings/xmpp/elem"
)

// RemoteError is a Remote's refusal that names the stanza error the
// sender gets (RFC 6120 §8.3.3): remote-server-timeout (type wait) when
// the other server did not answer in time, resource-constraint (wait)
// when too much waits for it. Any other error from Remote.Send bounces
// with remote-server-not-found (cancel).
type RemoteError struct {
	Type      string // cancel, wait, ...
	Condition string // a defined condition of urn:ietf:params:xml:ns:xmpp-stanzas
	Err       error
}

func (e *RemoteError) Error() string { return e.Err.Error() }
func (e *RemoteError) Unwrap() error { return e.Err }

// Bounce answers st, a stanza a local entity sent that could not be
// delivered, with an error of type typ and condition cond routed back to
// its sender (RFC 6120 §8.3). Errors, IQ results and presence other than
// subscription requests are not answered. For Remote implementations
// whose failure comes after Send returned (xmpp/s2s).
func (r *Router) Bounce(ctx context.Context, st *elem.Element, typ, cond, text string) {
	r.bounce(ctx, st, typ, cond, text)
}
