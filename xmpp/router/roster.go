package router

import (
	"context"
	"errors"
	"strings"

	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/storage"
)

const (
	maxItemName  = 1023 // bytes of a roster item name
	maxGroupName = 1023 // bytes of a group name (RFC 6121 §2.1.2.5 lets servers cap it)
	maxGroups    = 64
)

// rosterIQ handles jabber:iq:roster for the account's own client (RFC
// 6121 §2).
func (res *Resource) rosterIQ(ctx context.Context, st, q *elem.Element) {
	r := res.r
	switch st.Get("type") {
	case "get":
		items, ver, err := r.st.Roster(ctx, res.u.acct.ID)
		if err != nil {
			r.replyError(res, st, "wait", "internal-server-error", "")
			return
		}
		r.mu.Lock()
		res.interested = true
		r.mu.Unlock()
		reply := resultFor(st)
		if q.Get("ver") != "" && q.Get("ver") == ver { // §2.6.3: nothing changed
			r.send(res, reply)
			return
		}
		query := elem.New(NSRoster, "query", "ver", ver)
		for _, it := range items {
			query.Add(itemElement(it))
		}
		r.send(res, reply.Add(query))
	case "set":
		items := q.Elements()
		if len(items) != 1 || items[0].Local != "item" || items[0].Space != NSRoster {
			r.replyError(res, st, "modify", "bad-request", "a roster set carries exactly one item")
			return
		}
		it := items[0]
		c, err := ParseJID(it.Get("jid"))
		if err != nil || !c.IsBare() {
			r.replyError(res, st, "modify", "bad-request", "the item needs a valid bare JID")
			return
		}
		if it.Get("subscription") == "remove" {
			res.rosterRemove(ctx, st, c)
			return
		}
		if c == res.JID.Bare() {
			r.replyError(res, st, "modify", "not-allowed", "you cannot add yourself")
			return
		}
		name := it.Get("name")
		var groups []string
		seen := map[string]bool{}
		for _, g := range it.Elements() {
			if g.Local != "group" || g.Space != NSRoster {
				continue
			}
			t := g.Text()
			if t == "" || len(t) > maxGroupName {
				r.replyError(res, st, "modify", "not-acceptable", "group names must be 1 to 1023 bytes")
				return
			}
			if seen[t] {
				r.replyError(res, st, "modify", "bad-request", "duplicate group")
				return
			}
			seen[t] = true
			groups = append(groups, t)
		}
		if len(name) > maxItemName || len(groups) > maxGroups {
			r.replyError(res, st, "modify", "not-acceptable", "name or groups too long")
			return
		}
		item, ver, err := r.st.SetItem(ctx, res.u.acct.ID, c.String(), name, groups)
		if errors.Is(err, storage.ErrRosterFull) {
			r.replyError(res, st, "cancel", "resource-constraint", "the roster is full")
			return
		}
		if err != nil {
			r.replyError(res, st, "wait", "internal-server-error", "")
			return
		}
		r.send(res, resultFor(st))
		r.rosterPush(res.u, item, c.String(), ver)
	default:
		r.replyError(res, st, "modify", "bad-request", "")
	}
}

// rosterRemove deletes an item and cancels the subscriptions both ways
// (RFC 6121 §2.5.3).
func (res *Resource) rosterRemove(ctx context.Context, st *elem.Element, c JID) {
	r := res.r
	before, ver, existed, err := r.st.RemoveItem(ctx, res.u.acct.ID, c.String())
	if err != nil {
		r.replyError(res, st, "wait", "internal-server-error", "")
		return
	}
	if !existed || before.Hidden {
		r.replyError(res, st, "cancel", "item-not-found", "")
		return
	}
	r.send(res, resultFor(st))
	r.rosterPush(res.u, storage.Item{}, c.String(), ver)
	bare := res.JID.Bare()
	if before.Subscription == storage.SubTo || before.Subscription == storage.SubBoth || before.PendingOut {
		r.Route(ctx, bare, c, elem.New("", "presence", "type", "unsubscribe", "from", bare.String(), "to", c.String()))
	}
	if before.Subscription == storage.SubFrom || before.Subscription == storage.SubBoth || before.PendingIn {
		if before.Subscription == storage.SubFrom || before.Subscription == storage.SubBoth {
			for _, p := range res.u.availablePresences(r) {
				r.Route(ctx, p.from, c, elem.New("", "presence", "type", "unavailable", "from", p.from.String(), "to", c.String()))
			}
		}
		r.Route(ctx, bare, c, elem.New("", "presence", "type", "unsubscribed", "from", bare.String(), "to", c.String()))
	}
}

// rosterPush sends the changed item (or a removal when item.JID is empty
// or hidden) to every resource that asked for the roster (§2.1.6).
func (r *Router) rosterPush(u *user, item storage.Item, contact, ver string) {
	var el *elem.Element
	if item.JID == "" || item.Hidden {
		el = elem.New(NSRoster, "item", "jid", contact, "subscription", "remove")
	} else {
		el = itemElement(item)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, res := range u.res {
		if !res.interested {
			continue
		}
		push := elem.New("", "iq", "type", "set", "id", r.newID("push"), "to", res.JID.String()).
			Add(elem.New(NSRoster, "query", "ver", ver).Add(el))
		r.send(res, push)
	}
}

func itemElement(it storage.Item) *elem.Element {
	e := elem.New(NSRoster, "item", "jid", it.JID, "name", it.Name, "subscription", string(it.Subscription))
	if it.PendingOut {
		e.Set("ask", "subscribe")
	}
	if it.Approved {
		e.Set("approved", "true")
	}
	for _, g := range it.Groups {
		e.AddText(NSRoster, "group", g)
	}
	return e
}

// resultFor returns an empty IQ result answering st.
func resultFor(st *elem.Element) *elem.Element {
	return elem.New("", "iq", "type", "result", "id", st.Get("id"), "from", st.Get("to"), "to", st.Get("from"))
}

func trimSpace(s string) string { return strings.TrimSpace(s) }
