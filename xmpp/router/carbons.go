package router

import "github.com/tidings/tidings/xmpp/elem"

// carbonsEligible applies XEP-0280 §6: chat messages, and normal ones with
// a body, unless marked private or no-copy, and never a carbon itself.
func carbonsEligible(st *elem.Element) bool {
	switch st.Get("type") {
	case "chat":
	case "", "normal":
		if st.Child("", "body") == nil {
			return false
		}
	default:
		return false
	}
	for _, c := range st.Elements() {
		switch {
		case c.Space == NSCarbons: // private, received, sent
			return false
		case c.Space == NSHints && c.Local == "no-copy":
			return false
		}
	}
	return true
}

func (res *Resource) carbonsEligible(st *elem.Element) bool { return carbonsEligible(st) }

// carbon wraps st for resource to (XEP-0280 §7, §8).
func carbon(kind string, owner, to JID, st *elem.Element) *elem.Element {
	return elem.New("", "message", "from", owner.BareString(), "to", to.String(), "type", st.Get("type")).
		Add(elem.New(NSCarbons, kind).Add(elem.New(NSForward, "forwarded").Add(st)))
}

// receivedCarbonsLocked copies a message delivered to some resources of u
// to its other carbons-enabled, available resources. Router.mu is held.
func (r *Router) receivedCarbonsLocked(u *user, st *elem.Element, got ...*Resource) {
	for _, o := range u.res {
		if !o.carbons || !o.available || contains(got, o) {
			continue
		}
		r.send(o, carbon("received", u.jid, o.JID, st))
	}
}

// sentCarbons copies a message the client of res sent to the account's
// other carbons-enabled resources.
func (res *Resource) sentCarbons(st *elem.Element) {
	r := res.r
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, o := range res.u.res {
		if o == res || !o.carbons || !o.available {
			continue
		}
		r.send(o, carbon("sent", res.u.jid, o.JID, st))
	}
}

func contains(list []*Resource, x *Resource) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}
