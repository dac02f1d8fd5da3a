package router

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/storage"
)

// Namespaces of the payloads the router handles.
const (
	NSStanzas  = "urn:ietf:params:xml:ns:xmpp-stanzas"
	NSRoster   = "jabber:iq:roster"
	NSCarbons  = "urn:xmpp:carbons:2"
	NSForward  = "urn:xmpp:forward:0"
	NSDelay    = "urn:xmpp:delay"
	NSHints    = "urn:xmpp:hints"
	NSBlocking = "urn:xmpp:blocking"
	NSBlockErr = "urn:xmpp:blocking:errors"
	NSChatStat = "http://jabber.org/protocol/chatstates"
)

// Handle routes a stanza that the client of res sent. It stamps from with
// the session's full JID whatever the client wrote (RFC 6120 §8.1.2.1) and
// checks to.
func (res *Resource) Handle(ctx context.Context, st *elem.Element) {
	r := res.r
	r.stanzasIn.Add(1)
	st.Set("from", res.JID.String())
	var to JID
	if s := st.Get("to"); s != "" {
		j, err := ParseJID(s)
		if err != nil {
			r.replyError(res, st, "modify", "jid-malformed", "the 'to' address is not a valid JID")
			return
		}
		to = j
		st.Set("to", to.String())
	}
	switch st.Local {
	case "message":
		if to.Domain == "" {
			to = res.JID.Bare() // RFC 6120 §10.3.1: no 'to' means the account itself
		}
		if res.u.isBlocked(to) {
			r.replyBlocked(res, st)
			return
		}
		if st.Get("type") != "error" && res.carbonsEligible(st) {
			res.sentCarbons(st)
		}
		r.Route(ctx, res.JID, to, st)
	case "presence":
		res.outPresence(ctx, to, st)
	case "iq":
		res.outIQ(ctx, to, st)
	}
}

// replyError answers the client of res with an error for st.
func (r *Router) replyError(res *Resource, st *elem.Element, typ, cond, text string) {
	if e := errorReply(st, typ, cond, text); e != nil {
		e.Set("to", res.JID.String())
		res.sess.Send(e)
	}
}

func (r *Router) replyBlocked(res *Resource, st *elem.Element) {
	if st.Local == "presence" {
		return
	}
	if e := errorReply(st, "cancel", "not-acceptable", "you have blocked this contact"); e != nil {
		e.Set("to", res.JID.String())
		e.Child("", "error").Add(elem.New(NSBlockErr, "blocked"))
		res.sess.Send(e)
	}
}

// errorReply builds the error answer to st (RFC 6120 §8.3), or nil when
// st must not be answered (an error, or an IQ result).
func errorReply(st *elem.Element, typ, cond, text string) *elem.Element {
	t := st.Get("type")
	if t == "error" || (st.Local == "iq" && t == "result") {
		return nil
	}
	e := elem.New("", st.Local, "id", st.Get("id"), "type", "error", "from", st.Get("to"), "to", st.Get("from"))
	if st.Local == "message" || st.Local == "presence" {
		// Keep the payload so the sender sees what failed (RFC 6120 §8.3.1).
		for _, c := range st.Elements() {
			if c.Space == "" && (c.Local == "body" || c.Local == "subject" || c.Local == "thread") {
				e.Add(c)
			}
		}
	}
	er := elem.New("", "error", "type", typ).Add(elem.New(NSStanzas, cond))
	if text != "" {
		er.Add(elem.New(NSStanzas, "text").Add(elem.Text(text)))
	}
	return e.Add(er)
}

// Route delivers a stanza whose from is already stamped and verified: from
// a local client, the server itself, or a verified s2s stream.
func (r *Router) Route(ctx context.Context, from, to JID, st *elem.Element) {
	if to.Domain == "" {
		return
	}
	if !r.Hosted(to.Domain) {
		if r.ours(to.Domain) { // XMPP switched off here: no account answers
			if st.Local != "presence" {
				r.bounce(ctx, st, "cancel", "service-unavailable", "")
			}
			return
		}
		r.remote(ctx, from, to, st)
		return
	}
	if to.Local == "" {
		if to.Resource == "" && st.Local == "iq" {
			r.serverIQ(ctx, from, st)
		} else if st.Local == "iq" || st.Local == "message" {
			r.bounce(ctx, st, "cancel", "service-unavailable", "")
		}
		return
	}
	switch st.Local {
	case "message":
		r.localMessage(ctx, from, to, st)
	case "presence":
		r.inPresence(ctx, from, to, st)
	case "iq":
		r.localIQ(ctx, from, to, st)
	}
}

func (r *Router) remote(ctx context.Context, from, to JID, st *elem.Element) {
	if r.Remote == nil {
		r.bounce(ctx, st, "cancel", "remote-server-not-found", "federation is not available")
		return
	}
	if err := r.Remote.Send(ctx, from, to, st); err != nil {
		typ, cond := "cancel", "remote-server-not-found"
		if re, ok := errors.AsType[*RemoteError](err); ok {
			typ, cond = re.Type, re.Condition
		}
		r.bounce(ctx, st, typ, cond, err.Error())
	}
}

// bounce answers st with an error routed back to its sender.
func (r *Router) bounce(ctx context.Context, st *elem.Element, typ, cond, text string) {
	e := errorReply(st, typ, cond, text)
	if e == nil || (st.Local == "presence" && st.Get("type") != "subscribe") {
		return // presence errors only for subscription requests
	}
	from, err1 := ParseJID(e.Get("from"))
	to, err2 := ParseJID(e.Get("to"))
	if err2 != nil {
		return
	}
	if err1 != nil {
		from = JID{}
	}
	r.Route(ctx, from, to, e)
}

// lookup finds the account of a local bare JID: online (u non-nil) or
// from the account store. ok is false for no account, or one that may not
// use XMPP: the two answer the same (service-unavailable).
func (r *Router) lookup(ctx context.Context, bare JID) (u *user, acct accounts.User, ok bool) {
	r.mu.RLock()
	u = r.users[bare.BareString()]
	r.mu.RUnlock()
	if u != nil {
		return u, u.acct, true
	}
	a, err := r.acc.User(ctx, bare.BareString())
	if err != nil {
		if !errors.Is(err, accounts.ErrNotFound) {
			r.log.Warn("xmpp: looking up account", "jid", bare.BareString(), "err", err)
		}
		return nil, accounts.User{}, false
	}
	return nil, a, a.CanUse(accounts.ServiceXMPP)
}

// isBlocked reports whether the user blocked j (XEP-0191 §3.4: the item
// may be a full JID, a bare JID or a domain).
func (u *user) isBlocked(j JID) bool {
	if u == nil || len(u.blocked) == 0 {
		return false
	}
	return u.blocked[j.String()] || u.blocked[j.BareString()] || u.blocked[j.Domain]
}

// blockedFor checks the block list of a user who may be offline.
func (r *Router) blockedFor(ctx context.Context, u *user, acct accounts.User, from JID) bool {
	if u != nil {
		r.mu.RLock()
		defer r.mu.RUnlock()
		return u.isBlocked(from)
	}
	list, err := r.st.BlockList(ctx, acct.ID)
	if err != nil {
		return false
	}
	for _, b := range list {
		if b == from.String() || b == from.BareString() || b == from.Domain {
			return true
		}
	}
	return false
}

func (r *Router) send(res *Resource, st *elem.Element) {
	r.stanzasOut.Add(1)
	res.sess.Send(st)
}

// localMessage applies RFC 6121 §8.5 to a message for a local account.
func (r *Router) localMessage(ctx context.Context, from, to JID, st *elem.Element) {
	typ := st.Get("type")
	u, acct, ok := r.lookup(ctx, to.Bare())
	if !ok {
		if typ != "error" && typ != "headline" {
			r.bounce(ctx, st, "cancel", "service-unavailable", "")
		}
		return
	}
	if r.blockedFor(ctx, u, acct, from) {
		if typ != "error" && typ != "headline" {
			r.bounce(ctx, st, "cancel", "service-unavailable", "")
		}
		return
	}
	eligible := carbonsEligible(st)
	r.mu.RLock()
	if u != nil && to.Resource != "" {
		if res := u.res[to.Resource]; res != nil {
			r.send(res, st)
			if eligible {
				r.receivedCarbonsLocked(u, st, res)
			}
			r.mu.RUnlock()
			return
		}
	}
	var targets []*Resource
	best := -1
	if u != nil {
		for _, res := range u.res {
			if !res.available || res.priority < 0 {
				continue
			}
			switch {
			case typ == "headline":
				targets = append(targets, res)
			case res.priority > best:
				best, targets = res.priority, append(targets[:0], res)
			case res.priority == best:
				targets = append(targets, res)
			}
		}
	}
	for _, res := range targets {
		r.send(res, st)
	}
	if eligible && len(targets) > 0 {
		r.receivedCarbonsLocked(u, st, targets...)
	}
	r.mu.RUnlock()
	if len(targets) > 0 {
		return
	}
	switch typ {
	case "groupchat":
		r.bounce(ctx, st, "cancel", "service-unavailable", "")
	case "headline", "error":
		// silently dropped (RFC 6121 §8.5.2.2.1)
	default:
		r.storeOffline(ctx, acct, to, st)
	}
}

// storeOffline keeps a message for an account without an available
// resource, stamped with XEP-0203 delay.
func (r *Router) storeOffline(ctx context.Context, acct accounts.User, to JID, st *elem.Element) {
	if !storable(st) {
		return
	}
	c := st.Copy()
	c.Add(elem.New(NSDelay, "delay", "from", to.Domain, "stamp", time.Now().UTC().Format("2006-01-02T15:04:05Z")))
	mu := r.offlineLock(acct.ID)
	mu.Lock()
	defer mu.Unlock()
	err := r.st.StoreOffline(ctx, acct.ID, c.Bytes(), time.Now())
	switch {
	case errors.Is(err, storage.ErrOfflineFull):
		r.bounce(ctx, st, "wait", "resource-constraint", "the recipient's offline storage is full")
	case err != nil:
		r.log.Warn("xmpp: storing offline message", "to", to.BareString(), "err", err)
		r.bounce(ctx, st, "wait", "internal-server-error", "")
	default:
		r.offlineStored.Add(1)
		// A resource may have become available after the delivery check
		// and read the offline store before this message was in it.
		if res := r.bestResource(to.BareString()); res != nil {
			res.deliverOfflineLocked(ctx)
		}
	}
}

// offlineLock serialises storing and delivering one account's offline
// messages, so none is stranded or delivered twice.
func (r *Router) offlineLock(id int64) *sync.Mutex {
	return &r.offlineMu[uint64(id)%uint64(len(r.offlineMu))]
}

// bestResource returns an available resource of bare with the highest
// non-negative priority, or nil.
func (r *Router) bestResource(bare string) *Resource {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var best *Resource
	if u := r.users[bare]; u != nil {
		for _, res := range u.res {
			if res.available && res.priority >= 0 && (best == nil || res.priority > best.priority) {
				best = res
			}
		}
	}
	return best
}

// storable reports whether a message is worth keeping offline: it has a
// body or subject, or some payload other than chat states and hints
// (XEP-0160 §3, XEP-0334).
func storable(st *elem.Element) bool {
	for _, c := range st.Elements() {
		switch {
		case c.Space == "" && (c.Local == "body" || c.Local == "subject"):
			return true
		case c.Space == "" || c.Space == NSChatStat || c.Space == NSHints:
		case c.Space == NSDelay:
		default:
			return true
		}
	}
	return false
}

// deliverOffline sends res the stored messages, then deletes them.
func (res *Resource) deliverOffline(ctx context.Context) {
	mu := res.r.offlineLock(res.u.acct.ID)
	mu.Lock()
	defer mu.Unlock()
	res.deliverOfflineLocked(ctx)
}

func (res *Resource) deliverOfflineLocked(ctx context.Context) {
	r := res.r
	msgs, err := r.st.Offline(ctx, res.u.acct.ID)
	if err != nil {
		r.log.Warn("xmpp: reading offline messages", "user", res.u.jid.String(), "err", err)
		return
	}
	if len(msgs) == 0 {
		return
	}
	for _, m := range msgs {
		e, err := elem.Parse(string(m.Stanza))
		if err != nil {
			r.log.Warn("xmpp: unreadable offline message dropped", "user", res.u.jid.String(), "id", m.ID, "err", err)
			continue
		}
		r.send(res, e)
	}
	if err := r.st.DeleteOffline(ctx, res.u.acct.ID, msgs[len(msgs)-1].ID); err != nil {
		r.log.Warn("xmpp: deleting delivered offline messages", "user", res.u.jid.String(), "err", err)
	}
}

// withTo returns a shallow copy of st addressed from → to.
func withAddr(st *elem.Element, from, to string) *elem.Element {
	c := *st
	c.Attr = nil
	for _, a := range st.Attr {
		if a.Name.Space == "" && (a.Name.Local == "to" || a.Name.Local == "from") {
			continue
		}
		c.Attr = append(c.Attr, a)
	}
	c.Set("from", from)
	c.Set("to", to)
	return &c
}

// parsePriority reads <priority/> (RFC 6121 §4.7.2.3): -128..127, default 0.
func parsePriority(st *elem.Element) int {
	p, err := strconv.Atoi(st.ChildText("", "priority"))
	if err != nil {
		return 0
	}
	return max(-128, min(127, p))
}
