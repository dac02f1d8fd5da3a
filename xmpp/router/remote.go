package router

import (
	"context"

	"github.com/tidings/tidings/xmpp/elem"
)

// Bounce answers st, a stanza a local entity sent that could not be
// delivered, with an error of type typ and condition cond routed back to
// its sender (RFC 6120 §8.3). Errors, IQ results and presence other than
// subscription requests are not answered. For Remote implementations
// whose failure comes after Send returned (xmpp/s2s).
func (r *Router) Bounce(ctx context.Context, st *elem.Element, typ, cond, text string) {
	r.bounce(ctx, st, typ, cond, text)
}
