package s2s

import (
	"time"

	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/router"
)

// Bidirectional streams (XEP-0288). The receiving server offers
// <bidi xmlns='urn:xmpp:features:bidi'/> among the features after TLS and
// before authentication; the initiating server that wants it sends
// <bidi xmlns='urn:xmpp:bidi'/> (no answer) and then authenticates as
// usual. The domain pair proved that way then also carries stanzas the
// other way: from the receiving domain to the initiating one, on the same
// connection.
const (
	nsBidi     = "urn:xmpp:bidi"
	nsBidiFeat = "urn:xmpp:features:bidi"
)

// requestBidi asks for a bidirectional stream when the peer offers it
// (XEP-0288 §2.2), before authentication.
func (oc *outConn) requestBidi(feats *elem.Element) error {
	if !oc.s.cfg.Bidi || oc.bidi || feats.Child(nsBidiFeat, "bidi") == nil {
		return nil
	}
	if err := oc.w.now([]byte(`<bidi xmlns='urn:xmpp:bidi'/>`)); err != nil {
		return err
	}
	oc.bidi = true
	return nil
}

// enableBidi handles the peer's <bidi/>: once a pair is verified, our
// stanzas to that domain go on this stream.
func (c *inConn) enableBidi() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.verified) > 0 || c.external {
		return streamErr("policy-violation", "bidi must be requested before authentication (XEP-0288 §2.2)")
	}
	c.bidi = true
	return nil
}

// adopt makes the bidirectional inbound stream c the way our stanzas for p
// go, unless p has a link already (one we opened, or are opening).
func (s *Server) adopt(c *inConn, p pair, how string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.links[p] != nil {
		return
	}
	now := time.Now()
	s.links[p] = &link{s: s, p: p, in: c, state: "ready", auth: how, addr: c.addr, since: now,
		lastUsed: now, w: c.w, bidi: true}
	delete(s.failures, p)
	s.log.Info("s2s: sending on the inbound stream (bidi)", "local", p.local, "remote", p.remote, "addr", c.addr)
}

// dropInbound forgets the links that went over the inbound stream c.
func (s *Server) dropInbound(c *inConn) {
	var gone []*link
	s.mu.Lock()
	for p, l := range s.links {
		if l.in == c {
			delete(s.links, p)
			gone = append(gone, l)
		}
	}
	s.mu.Unlock()
	for _, l := range gone { // link locks after s.mu, never inside it
		l.mu.Lock()
		l.state = "closed"
		l.mu.Unlock()
	}
}

func isStanza(e *elem.Element) bool {
	return e.Space == "" && (e.Local == "message" || e.Local == "presence" || e.Local == "iq")
}

// acceptStanza routes a stanza received from a peer whose (from, to)
// domain pair, as (local = to, remote = from), verified reports as proved
// on that stream (RFC 6120 §13.5, XEP-0220 §4, XEP-0288 §3).
func (s *Server) acceptStanza(e *elem.Element, verified func(pair) bool) error {
	if e.Get("from") == "" || e.Get("to") == "" {
		return streamErr("improper-addressing", "stanzas between servers need from and to")
	}
	from, err := router.ParseJID(e.Get("from"))
	if err != nil {
		return streamErr("invalid-from", "the 'from' is not a valid JID")
	}
	to, err := router.ParseJID(e.Get("to"))
	if err != nil {
		return streamErr("improper-addressing", "the 'to' is not a valid JID")
	}
	if !verified(pair{local: to.Domain, remote: from.Domain}) {
		return streamErr("invalid-from", "the domain pair "+from.Domain+" → "+to.Domain+" is not verified on this stream")
	}
	if !s.router.Hosted(to.Domain) {
		return streamErr("host-unknown", "this server does not serve XMPP for "+to.Domain)
	}
	e.Set("from", from.String())
	e.Set("to", to.String())
	s.stanzasIn.Add(1)
	s.router.Route(s.ctx, from, to, e)
	return nil
}
