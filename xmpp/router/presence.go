package router

import (
	"context"

	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/storage"
)

var subscriptionEvents = map[string][2]storage.Event{
	"subscribe":    {storage.OutSubscribe, storage.InSubscribe},
	"subscribed":   {storage.OutSubscribed, storage.InSubscribed},
	"unsubscribe":  {storage.OutUnsubscribe, storage.InUnsubscribe},
	"unsubscribed": {storage.OutUnsubscribed, storage.InUnsubscribed},
}

// outPresence handles presence a client sent (RFC 6121 §3, §4).
func (res *Resource) outPresence(ctx context.Context, to JID, st *elem.Element) {
	r := res.r
	typ := st.Get("type")
	if to.Domain == "" {
		switch typ {
		case "":
			res.broadcastAvailable(ctx, st)
		case "unavailable":
			res.broadcastUnavailable(ctx, st)
		}
		return // other types need a 'to'
	}
	if ev, ok := subscriptionEvents[typ]; ok {
		if to.Local == "" && r.Hosted(to.Domain) {
			return // our own domains have no presence to subscribe to
		}
		res.outSubscription(ctx, to.Bare(), typ, ev[0], st)
		return
	}
	r.mu.Lock()
	blocked := res.u.isBlocked(to)
	if !blocked && typ == "" {
		if res.directed == nil {
			res.directed = map[string]bool{}
		}
		res.directed[to.String()] = true
	} else if typ == "unavailable" && res.directed != nil {
		delete(res.directed, to.String())
	}
	r.mu.Unlock()
	if blocked {
		return
	}
	if typ == "probe" {
		st.Set("from", res.JID.BareString()) // probes come from the account (RFC 6121 §4.3.1)
		r.Route(ctx, res.JID.Bare(), to, st)
		return
	}
	r.Route(ctx, res.JID, to, st)
}

// broadcastAvailable handles available presence without 'to': initial
// presence (RFC 6121 §4.2) or an update (§4.4).
func (res *Resource) broadcastAvailable(ctx context.Context, st *elem.Element) {
	r := res.r
	r.mu.Lock()
	initial := !res.available
	res.available, res.priority, res.presence = true, parsePriority(st), st
	var siblings []*Resource
	for _, o := range res.u.res {
		if o.available {
			siblings = append(siblings, o)
		}
	}
	r.mu.Unlock()

	items, _, err := r.st.Roster(ctx, res.u.acct.ID)
	if err != nil {
		r.log.Warn("xmpp: reading roster for presence", "user", res.u.jid.String(), "err", err)
	}
	bare := res.JID.Bare()
	for _, it := range items {
		if it.Subscription != storage.SubFrom && it.Subscription != storage.SubBoth {
			continue
		}
		c, err := ParseJID(it.JID)
		if err != nil || res.u.isBlockedLocked(r, c) {
			continue
		}
		r.Route(ctx, res.JID, c, withAddr(st, res.JID.String(), c.String()))
	}
	for _, o := range siblings { // the account's own resources, this one included
		r.send(o, withAddr(st, res.JID.String(), o.JID.String()))
	}
	if !initial {
		return
	}
	// Initial presence: learn the contacts' presence (probes, §4.3), show
	// the other resources to this one, redeliver pending subscription
	// requests (§3.1.3) and offline messages.
	for _, it := range items {
		if it.Subscription != storage.SubTo && it.Subscription != storage.SubBoth {
			continue
		}
		c, err := ParseJID(it.JID)
		if err != nil {
			continue
		}
		probe := elem.New("", "presence", "type", "probe", "from", bare.String(), "to", c.String(), "id", r.newID("probe"))
		r.Route(ctx, bare, c, probe)
	}
	for _, o := range siblings {
		if o == res {
			continue
		}
		r.mu.RLock()
		p := o.presence
		r.mu.RUnlock()
		if p != nil {
			r.send(res, withAddr(p, o.JID.String(), res.JID.String()))
		}
	}
	pending, err := r.st.PendingIn(ctx, res.u.acct.ID)
	if err != nil {
		r.log.Warn("xmpp: reading pending subscription requests", "user", res.u.jid.String(), "err", err)
	}
	for _, p := range pending {
		r.send(res, elem.New("", "presence", "type", "subscribe", "from", p, "to", bare.String()))
	}
	if res.priority >= 0 {
		res.deliverOffline(ctx)
	}
}

// broadcastUnavailable handles unavailable presence without 'to' (RFC
// 6121 §4.5), also sent for the client when its stream ends.
func (res *Resource) broadcastUnavailable(ctx context.Context, st *elem.Element) {
	r := res.r
	r.mu.Lock()
	was := res.available
	directed := res.directed
	res.available, res.presence, res.directed = false, nil, nil
	var siblings []*Resource
	for _, o := range res.u.res {
		if o.available || o == res {
			siblings = append(siblings, o)
		}
	}
	r.mu.Unlock()
	if !was && len(directed) == 0 {
		return
	}
	sent := map[string]bool{}
	if was {
		items, _, err := r.st.Roster(ctx, res.u.acct.ID)
		if err != nil {
			r.log.Warn("xmpp: reading roster for presence", "user", res.u.jid.String(), "err", err)
		}
		for _, it := range items {
			if it.Subscription != storage.SubFrom && it.Subscription != storage.SubBoth {
				continue
			}
			c, err := ParseJID(it.JID)
			if err != nil {
				continue
			}
			sent[c.String()] = true
			r.Route(ctx, res.JID, c, withAddr(st, res.JID.String(), c.String()))
		}
		for _, o := range siblings {
			r.send(o, withAddr(st, res.JID.String(), o.JID.String()))
		}
	}
	for d := range directed { // RFC 6121 §4.6.3
		c, err := ParseJID(d)
		if err != nil || sent[c.String()] || sent[c.BareString()] {
			continue
		}
		r.Route(ctx, res.JID, c, withAddr(st, res.JID.String(), c.String()))
	}
}

func (u *user) isBlockedLocked(r *Router, j JID) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return u.isBlocked(j)
}

// outSubscription runs the user's side of a subscription stanza (RFC 6121
// §3, Appendix A.2).
func (res *Resource) outSubscription(ctx context.Context, contact JID, typ string, ev storage.Event, st *elem.Element) {
	r := res.r
	if contact == res.JID.Bare() {
		return // no subscriptions to oneself
	}
	if res.u.isBlockedLocked(r, contact) {
		return
	}
	result, err := r.st.Apply(ctx, res.u.acct.ID, contact.String(), ev)
	if err != nil {
		r.log.Warn("xmpp: subscription", "user", res.u.jid.String(), "contact", contact.String(), "err", err)
		r.replyError(res, st, "wait", "internal-server-error", "")
		return
	}
	if result.Push {
		r.rosterPush(res.u, result.After, result.Before.JID, result.Ver)
	}
	if !result.Forward {
		return
	}
	bare := res.JID.Bare()
	out := elem.New("", "presence", "type", typ, "from", bare.String(), "to", contact.String(), "id", st.Get("id"))
	for _, c := range st.Children { // keep a nickname (XEP-0172) or status
		out.Add(c)
	}
	r.Route(ctx, bare, contact, out)
	switch typ {
	case "subscribed": // the contact now sees our presence (§3.1.5)
		for _, p := range res.u.availablePresences(r) {
			r.Route(ctx, p.from, contact, withAddr(p.st, p.from.String(), contact.String()))
		}
	case "unsubscribed":
		if result.Before.Subscription == storage.SubFrom || result.Before.Subscription == storage.SubBoth {
			for _, p := range res.u.availablePresences(r) {
				r.Route(ctx, p.from, contact, elem.New("", "presence", "type", "unavailable", "from", p.from.String(), "to", contact.String()))
			}
		}
	}
}

type fromPresence struct {
	from JID
	st   *elem.Element
}

func (u *user) availablePresences(r *Router) []fromPresence {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []fromPresence
	for _, o := range u.res {
		if o.available && o.presence != nil {
			out = append(out, fromPresence{o.JID, o.presence})
		}
	}
	return out
}

// inPresence handles presence for a local account (RFC 6121 §8.5.2.1.2,
// §8.5.3): from another local account or a verified remote server.
func (r *Router) inPresence(ctx context.Context, from, to JID, st *elem.Element) {
	typ := st.Get("type")
	if ev, ok := subscriptionEvents[typ]; ok {
		r.inSubscription(ctx, from.Bare(), to.Bare(), typ, ev[1], st)
		return
	}
	if typ == "probe" {
		r.inProbe(ctx, from, to.Bare())
		return
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	u := r.users[to.BareString()]
	if u == nil || u.isBlocked(from) {
		return
	}
	if to.Resource != "" {
		if res := u.res[to.Resource]; res != nil {
			r.send(res, st)
		}
		return
	}
	if typ == "error" {
		return
	}
	for _, res := range u.res {
		if res.available {
			r.send(res, st)
		}
	}
}

// inSubscription runs the contact's side of a subscription stanza (RFC
// 6121 §3, Appendix A.3). from is the requesting account, to ours.
func (r *Router) inSubscription(ctx context.Context, from, to JID, typ string, ev storage.Event, st *elem.Element) {
	u, acct, ok := r.lookup(ctx, to)
	if !ok {
		if typ == "subscribe" { // RFC 6121 §3.1.3: no such user
			r.Route(ctx, to, from, elem.New("", "presence", "type", "unsubscribed", "from", to.String(), "to", from.String()))
		}
		return
	}
	if from == to || r.blockedFor(ctx, u, acct, from) {
		return
	}
	result, err := r.st.Apply(ctx, acct.ID, from.String(), ev)
	if err != nil {
		r.log.Warn("xmpp: subscription", "user", to.String(), "contact", from.String(), "err", err)
		return
	}
	r.mu.RLock()
	u = r.users[to.String()]
	r.mu.RUnlock()
	if result.Push && u != nil {
		r.rosterPush(u, result.After, result.Before.JID, result.Ver)
	}
	if result.AutoSubscribed {
		r.Route(ctx, to, from, elem.New("", "presence", "type", "subscribed", "from", to.String(), "to", from.String()))
		if u != nil {
			for _, p := range u.availablePresences(r) {
				r.Route(ctx, p.from, from, withAddr(p.st, p.from.String(), from.String()))
			}
		}
		return
	}
	if !result.Forward || u == nil {
		return
	}
	deliver := withAddr(st, from.String(), to.String())
	r.mu.RLock()
	for _, res := range u.res {
		if res.available {
			r.send(res, deliver)
		}
	}
	r.mu.RUnlock()
	switch typ {
	case "unsubscribe": // the contact no longer sees our presence (§3.3.3)
		for _, p := range u.availablePresences(r) {
			r.Route(ctx, p.from, from, elem.New("", "presence", "type", "unavailable", "from", p.from.String(), "to", from.String()))
		}
	case "unsubscribed": // we no longer see theirs (§3.2.3)
		un := elem.New("", "presence", "type", "unavailable", "from", from.String(), "to", to.String())
		r.mu.RLock()
		for _, res := range u.res {
			if res.available {
				r.send(res, un)
			}
		}
		r.mu.RUnlock()
	}
}

// inProbe answers a presence probe for a local account (RFC 6121 §4.3.2).
func (r *Router) inProbe(ctx context.Context, from, to JID) {
	u, acct, ok := r.lookup(ctx, to)
	if !ok {
		r.Route(ctx, to, from, elem.New("", "presence", "type", "unsubscribed", "from", to.String(), "to", from.String()))
		return
	}
	if r.blockedFor(ctx, u, acct, from) {
		return
	}
	item, found, err := r.st.Item(ctx, acct.ID, from.BareString())
	if err != nil {
		return
	}
	if !found || (item.Subscription != storage.SubFrom && item.Subscription != storage.SubBoth) {
		r.Route(ctx, to, from, elem.New("", "presence", "type", "unsubscribed", "from", to.String(), "to", from.String()))
		return
	}
	var ps []fromPresence
	if u != nil {
		ps = u.availablePresences(r)
	}
	if len(ps) == 0 {
		r.Route(ctx, to, from, elem.New("", "presence", "type", "unavailable", "from", to.String(), "to", from.String()))
		return
	}
	for _, p := range ps {
		r.Route(ctx, p.from, from, withAddr(p.st, p.from.String(), from.String()))
	}
}
