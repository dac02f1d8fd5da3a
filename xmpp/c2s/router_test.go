package c2s_test

// End-to-end tests of what the router does for clients: delivery, presence
// and subscriptions, the roster, offline messages, carbons, blocking and
// the services answered by the server, all through real streams.

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/router"
)

const (
	nsCarbons = router.NSCarbons
	nsForward = router.NSForward
	nsDelay   = router.NSDelay
	nsBlock   = router.NSBlocking
)

func rosterQuery(ver string, items ...*elem.Element) *elem.Element {
	return elem.New(router.NSRoster, "query", "ver", ver).Add(nodes(items)...)
}

func nodes(els []*elem.Element) []elem.Node {
	out := make([]elem.Node, len(els))
	for i, e := range els {
		out[i] = e
	}
	return out
}

// rosterItems returns jid → item of a roster query or push.
func rosterItems(iq *elem.Element) map[string]*elem.Element {
	m := map[string]*elem.Element{}
	if q := iq.Child(router.NSRoster, "query"); q != nil {
		for _, it := range q.Elements() {
			m[it.Get("jid")] = it
		}
	}
	return m
}

// getRoster asks for the roster (which also subscribes the resource to
// roster pushes) and returns the items.
func (c *client) getRoster() map[string]*elem.Element {
	c.t.Helper()
	return rosterItems(c.result("get", "", rosterQuery("")))
}

// rosterPush waits for a push about contact and returns its item.
func (c *client) rosterPush(contact string) (*elem.Element, string) {
	c.t.Helper()
	push := c.expect("roster push for "+contact, func(el *elem.Element) bool {
		return isIQSet(router.NSRoster)(el) && rosterItems(el)[contact] != nil
	})
	if f := push.Get("from"); f != "" && f != c.bare() {
		c.t.Fatalf("%s: roster push from %s", c.name, f)
	}
	return rosterItems(push)[contact], push.Child(router.NSRoster, "query").Get("ver")
}

func wantItem(t testing.TB, it *elem.Element, sub, ask string) {
	t.Helper()
	if it == nil || it.Get("subscription") != sub || it.Get("ask") != ask {
		t.Fatalf("roster item %v, want subscription=%q ask=%q", it, sub, ask)
	}
}

// subscribeBoth runs the RFC 6121 §3 handshake both ways between two
// clients that have asked for their rosters and are available.
func subscribeBoth(t testing.TB, a, b *client) {
	t.Helper()
	a.send(elem.New("", "presence", "type", "subscribe", "to", b.bare()))
	it, _ := a.rosterPush(b.bare())
	wantItem(t, it, "none", "subscribe")
	b.expect("subscribe from "+a.bare(), isPresence(a.bare(), "subscribe"))

	b.send(elem.New("", "presence", "type", "subscribed", "to", a.bare()))
	it, _ = b.rosterPush(a.bare())
	wantItem(t, it, "from", "")
	a.expect("subscribed from "+b.bare(), isPresence(b.bare(), "subscribed"))
	it, _ = a.rosterPush(b.bare())
	wantItem(t, it, "to", "")
	a.expect("presence of "+b.jid, isPresence(b.jid, ""))

	b.send(elem.New("", "presence", "type", "subscribe", "to", a.bare()))
	it, _ = b.rosterPush(a.bare())
	wantItem(t, it, "from", "subscribe")
	a.expect("subscribe from "+b.bare(), isPresence(b.bare(), "subscribe"))

	a.send(elem.New("", "presence", "type", "subscribed", "to", b.bare()))
	it, _ = a.rosterPush(b.bare())
	wantItem(t, it, "both", "")
	it, _ = b.rosterPush(a.bare())
	wantItem(t, it, "both", "")
	b.expect("presence of "+a.jid, isPresence(a.jid, ""))
}

// online logs name in with mellium, asks for the roster and sends initial
// presence.
func (e *env) online(t testing.TB, name string) *client {
	t.Helper()
	c := e.login(t, name)
	c.getRoster()
	c.available()
	c.expect("own presence", isPresence(c.jid, ""))
	return c
}

func TestMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	j := e.online(t, "juliet")
	r := e.online(t, "romeo")

	j.send(elem.New("", "message", "to", "romeo@"+domain, "type", "chat", "id", "m1").AddText("", "body", "Wherefore art thou?"))
	m := r.expect("message from juliet", isMessage(j.jid, "Wherefore art thou?"))
	if m.Get("to") != "romeo@"+domain || m.Get("id") != "m1" || m.Get("type") != "chat" {
		t.Errorf("delivered %s", m)
	}
	r.send(elem.New("", "message", "to", j.jid, "type", "chat").AddText("", "body", "By a name I know not"))
	j.expect("reply", isMessage(r.jid, "By a name I know not"))

	// A payload in a foreign namespace and mixed content survive routing.
	r.sendRaw(`<message xmlns='jabber:client' to='` + j.jid + `'><body>x</body><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>a <b>bold</b> move</p></body></html></message>`)
	m = j.expect("xhtml", isMessage(r.jid, "x"))
	html := m.Child("http://jabber.org/protocol/xhtml-im", "html")
	if html == nil || !strings.Contains(html.String(), "<p>a <b>bold</b> move</p>") {
		t.Errorf("xhtml lost: %s", m)
	}

	// No such user, and a user with XMPP off, answer alike.
	for _, to := range []string{"nobody@" + domain, "tybalt@" + domain} {
		if to == "tybalt@"+domain {
			off := false
			if _, err := e.acc.UpdateUser(context.Background(), to, accounts.UserUpdate{XMPPEnabled: &off}); err != nil {
				t.Fatal(err)
			}
		}
		j.send(elem.New("", "message", "to", to, "id", "x-"+to).AddText("", "body", "hello?"))
		er := j.expect("bounce from "+to, func(el *elem.Element) bool { return el.Get("id") == "x-"+to })
		if er.Get("type") != "error" || errorCondition(er) != "service-unavailable" || er.Get("from") != to {
			t.Errorf("to %s: %s", to, er)
		}
	}
	// A domain of ours with XMPP switched off is not hosted for XMPP: it is
	// treated as remote (remote-server-not-found while there is no s2s).
	j.send(elem.New("", "message", "to", "benvolio@"+offDomain, "id", "off").AddText("", "body", "hello?"))
	if er := j.expect("bounce", func(el *elem.Element) bool { return el.Get("id") == "off" }); er.Get("type") != "error" {
		t.Errorf("to a domain with XMPP off: %s", er)
	}
	// A remote domain: no federation yet.
	j.send(elem.New("", "message", "to", "mercutio@verona.example", "id", "remote").AddText("", "body", "hi"))
	er := j.expect("bounce", func(el *elem.Element) bool { return el.Get("id") == "remote" })
	if errorCondition(er) != "remote-server-not-found" {
		t.Errorf("remote: %s", er)
	}
	j.send(elem.New("", "message", "to", "not a jid@"+domain, "id", "bad").AddText("", "body", "hi"))
	if er := j.expect("bounce", func(el *elem.Element) bool { return el.Get("id") == "bad" }); errorCondition(er) != "jid-malformed" {
		t.Errorf("malformed to: %s", er)
	}
}

// TestDeliveryRules: RFC 6121 §8.5 delivery to a bare JID by priority.
func TestDeliveryRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	j := e.online(t, "juliet")
	hi := e.login(t, "romeo")
	lo := e.login(t, "romeo")
	neg := e.login(t, "romeo")
	hi.available(elem.New("", "priority").Add(elem.Text("5")))
	lo.available(elem.New("", "priority").Add(elem.Text("1")))
	neg.available(elem.New("", "priority").Add(elem.Text("-1")))
	for _, c := range []*client{hi, lo, neg} {
		c.sync()
	}
	j.send(elem.New("", "message", "to", "romeo@"+domain, "type", "chat").AddText("", "body", "highest"))
	j.send(elem.New("", "message", "to", "romeo@"+domain, "type", "headline").AddText("", "body", "news"))
	j.sync()
	for _, c := range []*client{hi, lo, neg} {
		c.sync()
	}
	hi.expect("chat", isMessage(j.jid, "highest"))
	lo.none("chat", isMessage(j.jid, "highest"))
	neg.none("chat", isMessage(j.jid, "highest"))
	hi.expect("headline", isMessage(j.jid, "news"))
	lo.expect("headline", isMessage(j.jid, "news"))
	neg.none("headline", isMessage(j.jid, "news"))
	// A full JID reaches even the negative-priority resource.
	j.send(elem.New("", "message", "to", neg.jid).AddText("", "body", "direct"))
	neg.expect("direct", isMessage(j.jid, "direct"))
}

// TestSubscription runs the presence subscription handshake to 'both' and
// checks presence flows both ways afterwards, then cancels it.
func TestSubscription(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	j := e.online(t, "juliet")
	r := e.online(t, "romeo")
	subscribeBoth(t, j, r)
	wantItem(t, j.getRoster()["romeo@"+domain], "both", "")
	wantItem(t, r.getRoster()["juliet@"+domain], "both", "")

	// Presence updates and unavailable presence now reach the contact.
	j.available(elem.New("", "show").Add(elem.Text("away")))
	p := r.expect("juliet away", isPresence(j.jid, ""))
	if p.ChildText("", "show") != "away" || (p.Get("to") != r.jid && p.Get("to") != r.bare()) {
		t.Errorf("update: %s", p)
	}
	// A new resource of romeo learns juliet's presence by probe.
	r2 := e.online(t, "romeo")
	r2.expect("probe answer", isPresence(j.jid, ""))
	r.expect("r2 online", isPresence(r2.jid, ""))

	// A third party does not see juliet's presence.
	n := e.online(t, "nurse")
	j.available()
	j.sync()
	n.sync()
	n.none("juliet's presence", isPresence(j.jid, ""))

	// Juliet cancels romeo's subscription: he sees her go away.
	j.send(elem.New("", "presence", "type", "unsubscribed", "to", "romeo@"+domain))
	r.expect("unsubscribed", isPresence("juliet@"+domain, "unsubscribed"))
	r.expect("juliet unavailable", func(el *elem.Element) bool {
		return el.Local == "presence" && el.Get("type") == "unavailable" && strings.HasPrefix(el.Get("from"), "juliet@"+domain)
	})
	it, _ := r.rosterPush("juliet@" + domain)
	wantItem(t, it, "from", "")

	// Subscribing to a domain we host is ignored, not stored.
	j.send(elem.New("", "presence", "type", "subscribe", "to", domain))
	j.sync()
	if _, ok := j.getRoster()[domain]; ok {
		t.Error("domain JID in the roster")
	}
}

// TestRosterVersioning: get, set, push to interested resources only,
// versions, and the empty result for an unchanged version (RFC 6121 §2.6).
func TestRosterVersioning(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	j := e.login(t, "juliet")
	j2 := e.login(t, "juliet")
	quiet := e.login(t, "juliet") // never asks for the roster

	res := j.result("get", "", rosterQuery(""))
	v0 := res.Child(router.NSRoster, "query").Get("ver")
	if v0 == "" || len(rosterItems(res)) != 0 {
		t.Fatalf("empty roster: %s", res)
	}
	j2.getRoster()

	item := elem.New(router.NSRoster, "item", "jid", "nurse@"+domain, "name", "Nurse").
		AddText(router.NSRoster, "group", "Household").AddText(router.NSRoster, "group", "Verona")
	j.result("set", "", rosterQuery("", item))
	for _, c := range []*client{j, j2} {
		it, ver := c.rosterPush("nurse@" + domain)
		wantItem(t, it, "none", "")
		if it.Get("name") != "Nurse" || ver == v0 || ver == "" {
			t.Fatalf("push: %s ver %s", it, ver)
		}
		var groups []string
		for _, g := range it.Elements() {
			groups = append(groups, g.Text())
		}
		sort.Strings(groups)
		if !slices.Equal(groups, []string{"Household", "Verona"}) {
			t.Fatalf("groups %v", groups)
		}
	}
	quiet.sync()
	quiet.none("roster push", isIQSet(router.NSRoster))

	// The current version: an empty result. An old one: the whole roster.
	res = j.result("get", "", rosterQuery(v0))
	v1 := rosterItems(res)
	_ = v1
	cur := j.result("get", "", rosterQuery("")).Child(router.NSRoster, "query").Get("ver")
	if res := j.result("get", "", rosterQuery(cur)); len(res.Children) != 0 {
		t.Fatalf("unchanged roster: %s", res)
	}
	if res := j.result("get", "", rosterQuery(v0)); rosterItems(res)["nurse@"+domain] == nil {
		t.Fatalf("old version: %s", res)
	}

	// Updating keeps one item and bumps the version.
	j.result("set", "", rosterQuery("", elem.New(router.NSRoster, "item", "jid", "nurse@"+domain, "name", "Angelica")))
	for _, c := range []*client{j, j2} {
		it, ver := c.rosterPush("nurse@" + domain)
		if it.Get("name") != "Angelica" || len(it.Elements()) != 0 || ver == cur {
			t.Fatalf("update push %s ver %s (was %s)", it, ver, cur)
		}
	}
	// Removing pushes subscription='remove'.
	j.result("set", "", rosterQuery("", elem.New(router.NSRoster, "item", "jid", "nurse@"+domain, "subscription", "remove")))
	it, _ := j2.rosterPush("nurse@" + domain)
	if it.Get("subscription") != "remove" {
		t.Fatalf("remove push %s", it)
	}
	if items := j.getRoster(); len(items) != 0 {
		t.Fatalf("roster after remove: %v", items)
	}

	// Bad requests.
	for _, tc := range []struct {
		name  string
		query *elem.Element
		cond  string
	}{
		{"two items", rosterQuery("", elem.New(router.NSRoster, "item", "jid", "a@"+domain), elem.New(router.NSRoster, "item", "jid", "b@"+domain)), "bad-request"},
		{"full JID", rosterQuery("", elem.New(router.NSRoster, "item", "jid", "a@"+domain+"/r")), "bad-request"},
		{"self", rosterQuery("", elem.New(router.NSRoster, "item", "jid", "juliet@"+domain)), "not-allowed"},
		{"duplicate group", rosterQuery("", elem.New(router.NSRoster, "item", "jid", "a@"+domain).AddText(router.NSRoster, "group", "x").AddText(router.NSRoster, "group", "x")), "bad-request"},
		{"empty group", rosterQuery("", elem.New(router.NSRoster, "item", "jid", "a@"+domain).Add(elem.New(router.NSRoster, "group"))), "not-acceptable"},
		{"remove unknown", rosterQuery("", elem.New(router.NSRoster, "item", "jid", "a@"+domain, "subscription", "remove")), "item-not-found"},
	} {
		if r := j.iq("set", "", tc.query); errorCondition(r) != tc.cond {
			t.Errorf("%s: %s, want %s", tc.name, r, tc.cond)
		}
	}
}

// TestOffline: a message to an account without an available resource is
// kept and delivered with a delay stamp after initial presence, once.
func TestOffline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	j := e.online(t, "juliet")
	before := time.Now().Add(-time.Second)
	j.send(elem.New("", "message", "to", "romeo@"+domain, "type", "chat", "id", "o1").AddText("", "body", "Come, gentle night"))
	j.send(elem.New("", "message", "to", "romeo@"+domain, "type", "chat").Add(elem.New(router.NSChatStat, "active")))
	j.send(elem.New("", "message", "to", "romeo@"+domain, "type", "headline").AddText("", "body", "headlines are not kept"))
	j.sync()
	j.none("bounce", func(el *elem.Element) bool { return el.Get("type") == "error" })

	r := e.login(t, "romeo")
	r.sync()
	r.none("message before initial presence", func(el *elem.Element) bool { return el.Local == "message" })
	r.available()
	m := r.expect("offline message", isMessage(j.jid, "Come, gentle night"))
	d := m.Child(nsDelay, "delay")
	if d == nil || d.Get("from") != domain {
		t.Fatalf("no delay: %s", m)
	}
	stamp, err := time.Parse(time.RFC3339, d.Get("stamp"))
	if err != nil || stamp.Before(before.Truncate(time.Second)) || stamp.After(time.Now()) {
		t.Fatalf("stamp %q: %v", d.Get("stamp"), err)
	}
	if m.Get("id") != "o1" || m.Get("to") != "romeo@"+domain {
		t.Errorf("offline message %s", m)
	}
	r.sync()
	r.none("chat state or headline", func(el *elem.Element) bool {
		return el.Local == "message" && (el.Child(router.NSChatStat, "") != nil || el.Get("type") == "headline")
	})

	// Delivered once.
	r2 := e.login(t, "romeo")
	r2.available()
	r2.sync()
	r2.none("offline message again", isMessage(j.jid, "Come, gentle night"))
}

// TestOfflineLimit: a full offline store bounces with resource-constraint.
func TestOfflineLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{router: func(c *router.Config) { c.MaxOffline = 2 }})
	j := e.login(t, "juliet")
	for i := range 3 {
		j.send(elem.New("", "message", "to", "romeo@"+domain, "id", "n"+strconv.Itoa(i)).AddText("", "body", "m"))
	}
	er := j.expect("bounce", func(el *elem.Element) bool { return el.Get("id") == "n2" })
	if errorCondition(er) != "resource-constraint" {
		t.Fatalf("third message: %s", er)
	}
}

// TestCarbons: XEP-0280 received and sent copies to the other
// carbons-enabled resources; private messages are not copied.
func TestCarbons(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	j1 := e.online(t, "juliet")
	j2 := e.online(t, "juliet")
	j3 := e.online(t, "juliet") // carbons off
	r := e.online(t, "romeo")
	for _, c := range []*client{j1, j2} {
		c.result("set", "", elem.New(nsCarbons, "enable"))
	}
	isCarbon := func(kind, body string) func(*elem.Element) bool {
		return func(el *elem.Element) bool {
			c := el.Child(nsCarbons, kind)
			if el.Local != "message" || c == nil {
				return false
			}
			fw := c.Child(nsForward, "forwarded")
			return fw != nil && fw.Child("", "message") != nil && fw.Child("", "message").ChildText("", "body") == body
		}
	}
	fromOwnAccount := func(c *client, el *elem.Element) {
		t.Helper()
		// mellium blanks a from equal to the own bare JID.
		if f := el.Get("from"); f != "" && f != c.bare() {
			t.Fatalf("carbon from %q", f)
		}
	}

	r.send(elem.New("", "message", "to", j1.jid, "type", "chat").AddText("", "body", "to j1"))
	j1.expect("direct", isMessage(r.jid, "to j1"))
	c := j2.expect("received carbon", isCarbon("received", "to j1"))
	fromOwnAccount(j2, c)
	inner := c.Child(nsCarbons, "received").Child(nsForward, "forwarded").Child("", "message")
	if inner.Get("from") != r.jid || inner.Get("to") != j1.jid {
		t.Errorf("forwarded %s", inner)
	}

	j1.send(elem.New("", "message", "to", "romeo@"+domain, "type", "chat").AddText("", "body", "from j1"))
	r.expect("message", isMessage(j1.jid, "from j1"))
	c = j2.expect("sent carbon", isCarbon("sent", "from j1"))
	fromOwnAccount(j2, c)

	// Private and no-copy messages are not copied; nor are groupchat.
	j1.send(elem.New("", "message", "to", "romeo@"+domain, "type", "chat").AddText("", "body", "private").Add(elem.New(nsCarbons, "private")))
	j1.send(elem.New("", "message", "to", "romeo@"+domain, "type", "chat").AddText("", "body", "nocopy").Add(elem.New(router.NSHints, "no-copy")))
	r.expect("private", isMessage(j1.jid, "private"))
	r.expect("nocopy", isMessage(j1.jid, "nocopy"))
	for _, c := range []*client{j1, j2, j3} {
		c.sync()
	}
	j2.none("carbon of a private message", isCarbon("sent", "private"))
	j2.none("carbon of a no-copy message", isCarbon("sent", "nocopy"))
	j3.none("carbon without enabling", func(el *elem.Element) bool { return el.Child(nsCarbons, "") != nil })

	// Disabled again: no more copies.
	j2.result("set", "", elem.New(nsCarbons, "disable"))
	j1.send(elem.New("", "message", "to", "romeo@"+domain, "type", "chat").AddText("", "body", "after disable"))
	r.expect("message", isMessage(j1.jid, "after disable"))
	j2.sync()
	j2.none("carbon after disable", isCarbon("sent", "after disable"))
}

// TestBlocking: XEP-0191 list, pushes, and enforcement both ways.
func TestBlocking(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	j := e.online(t, "juliet")
	j2 := e.online(t, "juliet")
	r := e.online(t, "romeo")
	subscribeBoth(t, j, r)

	if res := j.result("get", "", elem.New(nsBlock, "blocklist")); len(res.FirstElement().Elements()) != 0 {
		t.Fatalf("empty list: %s", res)
	}
	j2.result("get", "", elem.New(nsBlock, "blocklist"))
	j.result("set", "", elem.New(nsBlock, "block").Add(elem.New(nsBlock, "item", "jid", "romeo@"+domain)))
	push := j2.expect("block push", isIQSet(nsBlock))
	if push.FirstElement().Local != "block" || push.FirstElement().FirstElement().Get("jid") != "romeo@"+domain {
		t.Fatalf("push %s", push)
	}
	// Romeo sees juliet go away (XEP-0191 §3.3).
	r.expect("unavailable", isPresence(j.jid, "unavailable"))

	r.send(elem.New("", "message", "to", "juliet@"+domain, "id", "b1", "type", "chat").AddText("", "body", "let me in"))
	er := r.expect("bounce", func(el *elem.Element) bool { return el.Get("id") == "b1" })
	if errorCondition(er) != "service-unavailable" {
		t.Errorf("message from a blocked contact: %s", er)
	}
	r.send(elem.New("", "message", "to", j.jid, "type", "chat").AddText("", "body", "to the resource"))
	r.send(elem.New("", "presence", "to", j.jid))
	if res := r.iq("get", "juliet@"+domain, elem.New(router.NSVCard, "vCard")); errorCondition(res) != "service-unavailable" {
		t.Errorf("iq from a blocked contact: %s", res)
	}
	r.sync()
	j.sync()
	j.none("anything from romeo", func(el *elem.Element) bool { return strings.HasPrefix(el.Get("from"), "romeo@") })

	j.send(elem.New("", "message", "to", "romeo@"+domain, "id", "b2").AddText("", "body", "hello?"))
	er = j.expect("blocked error", func(el *elem.Element) bool { return el.Get("id") == "b2" })
	if errorCondition(er) != "not-acceptable" || er.Child("", "error").Child(router.NSBlockErr, "blocked") == nil {
		t.Errorf("message to a blocked contact: %s", er)
	}

	// The list survives reconnection (loaded at first bind).
	j.closeFn()
	j2.closeFn()
	j.closed()
	j2.closed()
	eventually(t, "juliet offline", func() bool { return !e.r.Online("juliet@"+domain) && len(e.sessions()) == 1 })
	j = e.online(t, "juliet")
	r.send(elem.New("", "message", "to", j.jid, "type", "chat").AddText("", "body", "still blocked?"))
	r.sync()
	j.sync()
	j.none("message from romeo", isMessage(r.jid, "still blocked?"))

	j.result("set", "", elem.New(nsBlock, "unblock").Add(elem.New(nsBlock, "item", "jid", "romeo@"+domain)))
	r.send(elem.New("", "message", "to", j.jid, "type", "chat").AddText("", "body", "unblocked"))
	j.expect("message after unblock", isMessage(r.jid, "unblocked"))
}

func TestVCard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	j := e.login(t, "juliet")
	r := e.login(t, "romeo")
	if res := j.result("get", "", elem.New(router.NSVCard, "vCard")); res.Child(router.NSVCard, "vCard") == nil {
		t.Fatalf("empty vCard: %s", res)
	}
	card := elem.New(router.NSVCard, "vCard").AddText(router.NSVCard, "FN", "Juliet Capulet").
		Add(elem.New(router.NSVCard, "NICKNAME").Add(elem.Text("Jules & <co>")))
	j.result("set", "", card)
	for _, c := range []*client{j, r} {
		res := c.result("get", "juliet@"+domain, elem.New(router.NSVCard, "vCard"))
		v := res.Child(router.NSVCard, "vCard")
		if v == nil || v.ChildText(router.NSVCard, "FN") != "Juliet Capulet" || v.ChildText(router.NSVCard, "NICKNAME") != "Jules & <co>" {
			t.Fatalf("%s reads %s", c.name, res)
		}
		if c == r && res.Get("from") != "juliet@"+domain {
			t.Errorf("answer from %q", res.Get("from"))
		}
	}
	if res := r.iq("set", "juliet@"+domain, elem.New(router.NSVCard, "vCard").AddText(router.NSVCard, "FN", "Rosaline")); errorCondition(res) != "forbidden" {
		t.Fatalf("romeo writes juliet's vCard: %s", res)
	}
	big := elem.New(router.NSVCard, "vCard").AddText(router.NSVCard, "NOTE", strings.Repeat("x", 70<<10))
	if res := j.iq("set", "", big); errorCondition(res) != "not-acceptable" {
		t.Fatalf("large vCard: %s", res)
	}
}

func TestPrivateStorage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	j := e.login(t, "juliet")
	r := e.login(t, "romeo")
	q := func(payload *elem.Element) *elem.Element { return elem.New(router.NSPrivate, "query").Add(payload) }
	bm := elem.New("storage:bookmarks", "storage").Add(elem.New("storage:bookmarks", "conference", "jid", "crypt@chat."+domain, "autojoin", "true"))
	j.result("set", "", q(bm))
	res := j.result("get", "", q(elem.New("storage:bookmarks", "storage")))
	got := res.FirstElement().Child("storage:bookmarks", "storage")
	if got == nil || got.Child("storage:bookmarks", "conference").Get("jid") != "crypt@chat."+domain {
		t.Fatalf("bookmarks: %s", res)
	}
	res = j.result("get", "", q(elem.New("storage:rosternotes", "storage")))
	if got := res.FirstElement().Child("storage:rosternotes", "storage"); got == nil || len(got.Children) != 0 {
		t.Fatalf("unset key: %s", res)
	}
	if res := j.iq("set", "", q(elem.New("jabber:iq:roster", "query"))); errorCondition(res) != "not-acceptable" {
		t.Errorf("reserved namespace: %s", res)
	}
	if res := r.iq("get", "juliet@"+domain, q(elem.New("storage:bookmarks", "storage"))); errorCondition(res) != "service-unavailable" {
		t.Errorf("romeo reads juliet's private storage: %s", res)
	}
}

// capsVer computes the XEP-0115 §5.1 verification string of a disco#info
// result, independently of the server's code.
func capsVer(q *elem.Element) string {
	var ids, feats []string
	forms := map[string]string{}
	for _, c := range q.Elements() {
		switch c.Local {
		case "identity":
			ids = append(ids, c.Get("category")+"/"+c.Get("type")+"/"+c.Lang()+"/"+c.Get("name"))
		case "feature":
			feats = append(feats, c.Get("var"))
		case "x":
			var formType string
			var fields []string
			for _, f := range c.Elements() {
				var vals []string
				for _, v := range f.Elements() {
					vals = append(vals, v.Text())
				}
				if f.Get("var") == "FORM_TYPE" {
					formType = vals[0]
					continue
				}
				sort.Strings(vals)
				fields = append(fields, f.Get("var")+"<"+strings.Join(vals, "<"))
			}
			sort.Strings(fields)
			forms[formType] = formType + "<" + strings.Join(fields, "<") + "<"
		}
	}
	sort.Strings(ids)
	sort.Strings(feats)
	s := strings.Join(ids, "<") + "<" + strings.Join(feats, "<") + "<"
	var types []string
	for k := range forms {
		types = append(types, k)
	}
	sort.Strings(types)
	for _, k := range types {
		s += forms[k]
	}
	sum := sha1.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestServerDisco: disco#info of the domain with the XEP-0157 contact
// form, the caps hash in the stream features matching it, and disco of an
// account.
func TestServerDisco(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{router: func(c *router.Config) {
		c.SupportAddresses = []string{"xmpp:support@{domain}", "https://{domain}/help"}
	}})
	// The features after binding carry the caps element.
	r := e.dialRaw(t, true)
	r.open(domain, "")
	r.auth("PLAIN", plain("", "juliet", pw))
	f := r.open(domain, "")
	caps := f.Child(router.NSCaps, "c")

	j := e.login(t, "juliet")
	res := j.result("get", domain, elem.New(router.NSDiscoInfo, "query"))
	if res.Get("from") != domain {
		t.Errorf("answer from %q", res.Get("from"))
	}
	q := res.Child(router.NSDiscoInfo, "query")
	id := q.Child(router.NSDiscoInfo, "identity")
	if id == nil || id.Get("category") != "server" || id.Get("type") != "im" {
		t.Fatalf("identity: %s", q)
	}
	var feats []string
	for _, c := range q.Elements() {
		if c.Local == "feature" {
			feats = append(feats, c.Get("var"))
		}
	}
	for _, want := range []string{router.NSDiscoInfo, router.NSRoster, nsCarbons, nsBlock, router.NSPing, router.NSVersion,
		router.NSLast, router.NSVCard, router.NSPrivate, "urn:xmpp:features:rosterver"} {
		if !slices.Contains(feats, want) {
			t.Errorf("feature %s missing from %v", want, feats)
		}
	}
	if !slices.IsSorted(feats) || len(slices.Compact(slices.Clone(feats))) != len(feats) {
		t.Errorf("features not sorted and unique: %v", feats)
	}
	x := q.Child(router.NSData, "x")
	if x == nil {
		t.Fatalf("no XEP-0157 form: %s", q)
	}
	fields := map[string][]string{}
	for _, fl := range x.Elements() {
		for _, v := range fl.Elements() {
			fields[fl.Get("var")] = append(fields[fl.Get("var")], v.Text())
		}
	}
	want := map[string][]string{
		"FORM_TYPE":         {router.NSServerInfo},
		"abuse-addresses":   {"mailto:abuse@" + domain},
		"admin-addresses":   {"mailto:postmaster@" + domain},
		"support-addresses": {"xmpp:support@" + domain, "https://" + domain + "/help"},
	}
	for k, v := range want {
		if !slices.Equal(fields[k], v) {
			t.Errorf("field %s = %v, want %v", k, fields[k], v)
		}
	}
	if x.Elements()[0].Get("type") != "hidden" {
		t.Errorf("FORM_TYPE not hidden: %s", x)
	}
	if caps == nil || caps.Get("hash") != "sha-1" || caps.Get("ver") != capsVer(q) {
		t.Errorf("caps %v, want ver %s", caps, capsVer(q))
	}

	if res := j.result("get", domain, elem.New(router.NSDiscoItems, "query")); res.Child(router.NSDiscoItems, "query") == nil {
		t.Errorf("disco#items: %s", res)
	}
	// An account's disco#info is answered by the server for it.
	res = j.result("get", "romeo@"+domain, elem.New(router.NSDiscoInfo, "query"))
	if id := res.FirstElement().Child(router.NSDiscoInfo, "identity"); id == nil || id.Get("category") != "account" {
		t.Errorf("account disco: %s", res)
	}
	// Set to the server and unknown payloads: service-unavailable.
	if res := j.iq("set", domain, elem.New(router.NSDiscoInfo, "query")); errorCondition(res) != "service-unavailable" {
		t.Errorf("set disco: %s", res)
	}
	if res := j.iq("get", domain, elem.New("urn:example:nothing", "query")); errorCondition(res) != "service-unavailable" {
		t.Errorf("unknown payload: %s", res)
	}
	// IQ rules (RFC 6120 §8.2.3), with the raw client (mellium adds ids).
	raw := e.loginClient(t, "juliet", "")
	raw.send(elem.New("", "iq", "type", "get", "to", domain).Add(elem.New(router.NSPing, "ping")))
	if res := raw.expect("no id", func(el *elem.Element) bool { return el.Local == "iq" && el.Get("id") == "" }); errorCondition(res) != "bad-request" {
		t.Errorf("iq without id: %s", res)
	}
	raw.send(elem.New("", "iq", "type", "get", "to", domain, "id", "two").Add(elem.New(router.NSPing, "ping"), elem.New(router.NSPing, "ping")))
	if res := raw.expect("two payloads", func(el *elem.Element) bool { return el.Get("id") == "two" }); errorCondition(res) != "bad-request" {
		t.Errorf("two payloads: %s", res)
	}
	raw.send(elem.New("", "iq", "type", "fetch", "to", domain, "id", "typ").Add(elem.New(router.NSPing, "ping")))
	if res := raw.expect("bad type", func(el *elem.Element) bool { return el.Get("id") == "typ" }); errorCondition(res) != "bad-request" {
		t.Errorf("unknown type: %s", res)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	t.Run("on", func(t *testing.T) {
		e := newEnv(t, options{})
		j := e.login(t, "juliet")
		q := j.result("get", domain, elem.New(router.NSVersion, "query")).Child(router.NSVersion, "query")
		if q.ChildText(router.NSVersion, "name") != "Tidings" || q.ChildText(router.NSVersion, "version") != router.Version {
			t.Fatalf("version: %s", q)
		}
	})
	t.Run("off", func(t *testing.T) {
		e := newEnv(t, options{router: func(c *router.Config) { c.VersionEnabled = false }})
		j := e.login(t, "juliet")
		if res := j.iq("get", domain, elem.New(router.NSVersion, "query")); errorCondition(res) != "service-unavailable" {
			t.Fatalf("version off: %s", res)
		}
	})
}

// TestLastActivity: XEP-0012 for the server (uptime), for oneself, and for
// a contact: only with a subscription, and the time since the last logout.
func TestLastActivity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	j := e.online(t, "juliet")
	q := j.result("get", domain, elem.New(router.NSLast, "query")).FirstElement()
	if n, err := strconv.Atoi(q.Get("seconds")); err != nil || n < 0 {
		t.Fatalf("uptime: %s", q)
	}
	if q := j.result("get", "", elem.New(router.NSLast, "query")).FirstElement(); q.Get("seconds") != "0" {
		t.Fatalf("own: %s", q)
	}
	n := e.login(t, "nurse")
	if res := n.iq("get", "juliet@"+domain, elem.New(router.NSLast, "query")); errorCondition(res) != "forbidden" {
		t.Fatalf("stranger: %s", res)
	}
	r := e.online(t, "romeo")
	subscribeBoth(t, j, r)
	if q := r.result("get", "juliet@"+domain, elem.New(router.NSLast, "query")).FirstElement(); q.Get("seconds") != "0" {
		t.Fatalf("online contact: %s", q)
	}
	j.closeFn()
	j.closed()
	r.expect("juliet offline", isPresence(j.jid, "unavailable"))
	eventually(t, "juliet unbound", func() bool { return !e.bound(j.jid) })
	q = r.result("get", "juliet@"+domain, elem.New(router.NSLast, "query")).FirstElement()
	if s, err := strconv.Atoi(q.Get("seconds")); err != nil || s < 0 || s > 5 {
		t.Fatalf("offline contact: %s", q)
	}
}

// TestAccountEvents: disabling, deleting, a password change and switching
// XMPP off for a user end the sessions at once (accounts.Store.Watch →
// router.AccountEvent), and others are unaffected.
func TestAccountEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	ctx := context.Background()
	yes, no := true, false
	witness := e.online(t, "juliet")
	for _, tc := range []struct {
		user   string
		change func() error
	}{
		{"romeo", func() error {
			_, err := e.acc.UpdateUser(ctx, "romeo@"+domain, accounts.UserUpdate{Disabled: &yes})
			return err
		}},
		{"nurse", func() error { return e.acc.DeleteUser(ctx, "nurse@"+domain) }},
		{"tybalt", func() error { return e.acc.SetPassword(ctx, "tybalt@"+domain, "a new password, long enough") }},
	} {
		c1 := e.online(t, tc.user)
		c2 := e.login(t, tc.user)
		start := time.Now()
		if err := tc.change(); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*client{c1, c2} {
			if err := c.closed(); err == nil || !strings.Contains(err.Error(), "not-authorized") {
				t.Errorf("%s: stream ended with %v", tc.user, err)
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: closing took %v", tc.user, d)
		}
		eventually(t, tc.user+" unbound", func() bool {
			for _, s := range e.sessions() {
				if strings.HasPrefix(s, tc.user+"@") {
					return false
				}
			}
			return true
		})
	}
	// Deleted: messages bounce like for any unknown user.
	witness.send(elem.New("", "message", "to", "nurse@"+domain, "id", "gone").AddText("", "body", "hello?"))
	if er := witness.expect("bounce", func(el *elem.Element) bool { return el.Get("id") == "gone" }); errorCondition(er) != "service-unavailable" {
		t.Errorf("to a deleted user: %s", er)
	}
	// Switching XMPP off for one user (a "changed" event, re-read).
	c := e.login(t, "juliet")
	if _, err := e.acc.UpdateUser(ctx, "juliet@"+domain, accounts.UserUpdate{XMPPEnabled: &no}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{c, witness} {
		if err := c.closed(); err == nil || !strings.Contains(err.Error(), "not-authorized") {
			t.Errorf("juliet with XMPP off: %v", err)
		}
	}
	// A fresh client of a disabled account cannot log in; others can.
	if _, err := e.melliumSession(t, "romeo", pw, false, "", sasl.ScramSha256Plus); err == nil {
		t.Error("disabled account logged in")
	}
	if _, err := e.melliumSession(t, "tybalt", pw, false, "", sasl.ScramSha256Plus); err == nil {
		t.Error("old password accepted")
	}
	s, err := e.melliumSession(t, "tybalt", "a new password, long enough", false, "", sasl.ScramSha256Plus)
	if err != nil {
		t.Fatal(err)
	}
	e.serveMellium(t, "tybalt", s).sync()
}
