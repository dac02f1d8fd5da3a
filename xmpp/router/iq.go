package router

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/storage"
)

// Namespaces of IQ payloads.
const (
	NSDiscoInfo  = "http://jabber.org/protocol/disco#info"
	NSDiscoItems = "http://jabber.org/protocol/disco#items"
	NSPing       = "urn:xmpp:ping"
	NSVersion    = "jabber:iq:version"
	NSLast       = "jabber:iq:last"
	NSVCard      = "vcard-temp"
	NSPrivate    = "jabber:iq:private"
	NSRegister   = "jabber:iq:register"
	NSSession    = "urn:ietf:params:xml:ns:xmpp-session"
	NSData       = "jabber:x:data"
	NSCaps       = "http://jabber.org/protocol/caps"
	NSOffline    = "msgoffline"
	NSServerInfo = "http://jabber.org/network/serverinfo"
	CapsNode     = "https://tidings.dev/caps"

	maxVCard   = 64 << 10
	maxPrivate = 64 << 10
)

// Version is reported by XEP-0092; cmd/tidings sets it from the build.
var Version = "dev"

// outIQ handles an IQ a client sent (RFC 6120 §8.2.3).
func (res *Resource) outIQ(ctx context.Context, to JID, st *elem.Element) {
	r := res.r
	typ := st.Get("type")
	payloads := len(st.Elements())
	switch {
	case st.Get("id") == "":
		r.replyError(res, st, "modify", "bad-request", "an IQ needs an id")
		return
	case (typ == "get" || typ == "set") && payloads != 1:
		r.replyError(res, st, "modify", "bad-request", "an IQ get or set carries exactly one payload")
		return
	case typ != "get" && typ != "set" && typ != "result" && typ != "error":
		r.replyError(res, st, "modify", "bad-request", "unknown IQ type")
		return
	}
	if to.Domain == "" || to == res.JID.Bare() {
		res.ownIQ(ctx, st)
		return
	}
	if to.IsDomain() && to.Domain == res.JID.Domain && typ == "set" {
		switch st.FirstElement().Space { // account settings some clients address to the server
		case NSRegister, NSCarbons, NSBlocking, NSSession:
			res.ownIQ(ctx, st)
			return
		}
	}
	if res.u.isBlockedLocked(r, to) {
		r.replyBlocked(res, st)
		return
	}
	r.Route(ctx, res.JID, to, st)
}

// ownIQ handles an IQ the client addressed to its own account.
func (res *Resource) ownIQ(ctx context.Context, st *elem.Element) {
	r := res.r
	typ := st.Get("type")
	if typ == "result" || typ == "error" {
		return // answers to roster and block-list pushes
	}
	q := st.FirstElement()
	switch q.Space + " " + q.Local {
	case NSRoster + " query":
		res.rosterIQ(ctx, st, q)
	case NSVCard + " vCard":
		res.vcardIQ(ctx, st, q)
	case NSPrivate + " query":
		res.privateIQ(ctx, st, q)
	case NSBlocking + " blocklist", NSBlocking + " block", NSBlocking + " unblock":
		res.blockingIQ(ctx, st, q)
	case NSCarbons + " enable", NSCarbons + " disable":
		if typ != "set" {
			r.replyError(res, st, "modify", "bad-request", "")
			return
		}
		r.mu.Lock()
		res.carbons = q.Local == "enable"
		r.mu.Unlock()
		r.send(res, resultFor(st))
	case NSSession + " session": // RFC 3921 session establishment, a no-op (RFC 6121 Appendix E)
		r.send(res, resultFor(st))
	case NSRegister + " query":
		res.registerIQ(ctx, st, q)
	case NSLast + " query":
		r.send(res, resultFor(st).Add(elem.New(NSLast, "query", "seconds", "0")))
	default:
		if reply := r.accountIQ(ctx, res.JID, res.u.jid, res.u.acct, st, q); reply != nil {
			r.send(res, reply)
		}
	}
}

// localIQ handles an IQ for a local account from someone else.
func (r *Router) localIQ(ctx context.Context, from, to JID, st *elem.Element) {
	typ := st.Get("type")
	u, acct, ok := r.lookup(ctx, to.Bare())
	if !ok {
		r.bounce(ctx, st, "cancel", "service-unavailable", "")
		return
	}
	if r.blockedFor(ctx, u, acct, from) {
		r.bounce(ctx, st, "cancel", "service-unavailable", "")
		return
	}
	if to.Resource != "" {
		if pushPayload(st) { // forged: the server sends its pushes directly, never through Route
			r.bounce(ctx, st, "cancel", "service-unavailable", "")
			return
		}
		r.mu.RLock()
		var res *Resource
		if u != nil {
			res = u.res[to.Resource]
		}
		if res != nil {
			r.send(res, st)
		}
		r.mu.RUnlock()
		if res == nil {
			r.bounce(ctx, st, "cancel", "service-unavailable", "")
		}
		return
	}
	if typ == "result" || typ == "error" {
		return
	}
	q := st.FirstElement()
	if q == nil {
		r.bounce(ctx, st, "modify", "bad-request", "")
		return
	}
	if reply := r.accountIQ(ctx, from, to.Bare(), acct, st, q); reply != nil {
		reply.Set("from", to.BareString())
		r.Route(ctx, to.Bare(), from, reply)
	}
}

// pushPayload reports whether an IQ carries a roster or block-list
// payload. Those are exchanged only between a client and its own server
// (RFC 6121 §2.1.6: a client accepts a roster push only from its account;
// XEP-0191 §3.3 likewise): relayed to a full JID from anyone else they
// would be forged pushes, so they are refused.
func pushPayload(st *elem.Element) bool {
	for _, c := range st.Elements() {
		if c.Space == NSRoster || c.Space == NSBlocking {
			return true
		}
	}
	return false
}

// accountIQ answers IQs for an account's bare JID that the server handles
// on its behalf (RFC 6120 §10.5.4): disco, vCard, ping, last activity.
func (r *Router) accountIQ(ctx context.Context, from, account JID, acct accounts.User, st, q *elem.Element) *elem.Element {
	self := from.Bare() == account
	get := st.Get("type") == "get"
	switch q.Space + " " + q.Local {
	case NSDiscoInfo + " query":
		if !get {
			break
		}
		info := elem.New(NSDiscoInfo, "query", "node", q.Get("node")).
			Add(elem.New(NSDiscoInfo, "identity", "category", "account", "type", "registered"))
		for _, f := range []string{NSDiscoInfo, NSDiscoItems, NSVCard, NSPing, NSOffline} {
			info.Add(elem.New(NSDiscoInfo, "feature", "var", f))
		}
		return resultFor(st).Add(info)
	case NSDiscoItems + " query":
		if !get {
			break
		}
		items := elem.New(NSDiscoItems, "query", "node", q.Get("node"))
		if self && q.Get("node") == "" {
			r.mu.RLock()
			if u := r.users[account.String()]; u != nil {
				for _, res := range u.res {
					items.Add(elem.New(NSDiscoItems, "item", "jid", res.JID.String()))
				}
			}
			r.mu.RUnlock()
		}
		return resultFor(st).Add(items)
	case NSVCard + " vCard":
		if !get {
			return errorReply(st, "auth", "forbidden", "only the owner can change a vCard")
		}
		v, ok, err := r.st.VCard(ctx, acct.ID)
		if err != nil {
			return errorReply(st, "wait", "internal-server-error", "")
		}
		if !ok {
			return resultFor(st).Add(elem.New(NSVCard, "vCard"))
		}
		card, err := elem.Parse(string(v))
		if err != nil {
			return errorReply(st, "wait", "internal-server-error", "")
		}
		return resultFor(st).Add(card)
	case NSPing + " ping":
		if get {
			return resultFor(st)
		}
	case NSLast + " query":
		if !get {
			break
		}
		return r.lastActivity(ctx, from, account, acct, st)
	}
	return errorReply(st, "cancel", "service-unavailable", "")
}

// lastActivity answers XEP-0012 for an account: how long since its last
// session ended, to the owner and to contacts with a subscription.
func (r *Router) lastActivity(ctx context.Context, from, account JID, acct accounts.User, st *elem.Element) *elem.Element {
	if from.Bare() != account {
		item, ok, err := r.st.Item(ctx, acct.ID, from.BareString())
		if err != nil || !ok || (item.Subscription != storage.SubFrom && item.Subscription != storage.SubBoth) {
			return errorReply(st, "auth", "forbidden", "")
		}
	}
	if r.Online(account.String()) {
		return resultFor(st).Add(elem.New(NSLast, "query", "seconds", "0"))
	}
	at, status, ok, err := r.st.LastLogout(ctx, acct.ID)
	if err != nil {
		return errorReply(st, "wait", "internal-server-error", "")
	}
	if !ok {
		return errorReply(st, "cancel", "item-not-found", "")
	}
	q := elem.New(NSLast, "query", "seconds", strconv.Itoa(int(time.Since(at).Seconds())))
	if status != "" {
		q.Add(elem.Text(status))
	}
	return resultFor(st).Add(q)
}

// serverIQ answers IQs addressed to a hosted domain.
func (r *Router) serverIQ(ctx context.Context, from JID, st *elem.Element) {
	typ := st.Get("type")
	if typ == "result" || typ == "error" {
		return // answers to our pings and pushes
	}
	q := st.FirstElement()
	domain := st.Get("to")
	var reply *elem.Element
	if q == nil {
		reply = errorReply(st, "modify", "bad-request", "")
	} else {
		switch q.Space + " " + q.Local {
		case NSDiscoInfo + " query":
			reply = resultFor(st).Add(r.serverInfo(domain, q.Get("node")))
		case NSDiscoItems + " query":
			reply = resultFor(st).Add(elem.New(NSDiscoItems, "query", "node", q.Get("node")))
		case NSPing + " ping":
			reply = resultFor(st)
		case NSVersion + " query":
			if r.cfg.VersionEnabled {
				reply = resultFor(st).Add(elem.New(NSVersion, "query").
					AddText(NSVersion, "name", "Tidings").AddText(NSVersion, "version", Version))
			}
		case NSLast + " query": // XEP-0012 §5: server uptime
			reply = resultFor(st).Add(elem.New(NSLast, "query", "seconds", strconv.Itoa(int(time.Since(r.started).Seconds()))))
		}
		if typ != "get" && reply != nil {
			reply = errorReply(st, "cancel", "service-unavailable", "")
		}
		if reply == nil {
			reply = errorReply(st, "cancel", "service-unavailable", "")
		}
	}
	if reply == nil {
		return
	}
	to, err := ParseJID(reply.Get("to"))
	if err != nil {
		return
	}
	r.Route(ctx, JID{Domain: domain}, to, reply)
}

// serverFeatures are the disco#info features of a hosted domain.
func (r *Router) serverFeatures() []string {
	f := []string{NSDiscoInfo, NSDiscoItems, NSPing, NSVCard, NSRoster, NSPrivate, NSBlocking,
		NSCarbons, NSLast, NSOffline, NSRegister, "urn:xmpp:features:rosterver", "urn:xmpp:features:pre-approval",
		"jabber:iq:roster", "urn:xmpp:delay"}
	if r.cfg.VersionEnabled {
		f = append(f, NSVersion)
	}
	sort.Strings(f)
	return compact(f)
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// contactForm is the XEP-0157 form of a domain: field var → values.
func (r *Router) contactForm(domain string) map[string][]string {
	m := map[string][]string{}
	for name, list := range map[string][]string{
		"abuse-addresses":   r.cfg.AbuseAddresses,
		"admin-addresses":   r.cfg.AdminAddresses,
		"support-addresses": r.cfg.SupportAddresses,
	} {
		for _, a := range list {
			m[name] = append(m[name], strings.ReplaceAll(a, "{domain}", domain))
		}
	}
	return m
}

// serverInfo builds the disco#info of a domain, with the XEP-0157 form.
func (r *Router) serverInfo(domain, node string) *elem.Element {
	q := elem.New(NSDiscoInfo, "query", "node", node).
		Add(elem.New(NSDiscoInfo, "identity", "category", "server", "type", "im", "name", "Tidings"))
	for _, f := range r.serverFeatures() {
		q.Add(elem.New(NSDiscoInfo, "feature", "var", f))
	}
	form := r.contactForm(domain)
	if len(form) > 0 {
		x := elem.New(NSData, "x", "type", "result")
		x.Add(elem.New(NSData, "field", "var", "FORM_TYPE", "type", "hidden").AddText(NSData, "value", NSServerInfo))
		for _, name := range sortedKeys(form) {
			f := elem.New(NSData, "field", "var", name)
			for _, v := range form[name] {
				f.AddText(NSData, "value", v)
			}
			x.Add(f)
		}
		q.Add(x)
	}
	return q
}

// Caps returns the XEP-0115 element for a domain's stream features: the
// verification string is computed from the same disco#info the domain
// answers (XEP-0115 §5.1).
func (r *Router) Caps(domain string) *elem.Element {
	var b strings.Builder
	b.WriteString("server/im//Tidings<")
	for _, f := range r.serverFeatures() {
		b.WriteString(f + "<")
	}
	if form := r.contactForm(domain); len(form) > 0 {
		b.WriteString(NSServerInfo + "<")
		for _, name := range sortedKeys(form) {
			b.WriteString(name + "<")
			vals := append([]string(nil), form[name]...)
			sort.Strings(vals)
			for _, v := range vals {
				b.WriteString(v + "<")
			}
		}
	}
	sum := sha1.Sum([]byte(b.String()))
	return elem.New(NSCaps, "c", "hash", "sha-1", "node", CapsNode, "ver", base64.StdEncoding.EncodeToString(sum[:]))
}

func sortedKeys(m map[string][]string) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// vcardIQ reads or replaces the account's own vCard (XEP-0054).
func (res *Resource) vcardIQ(ctx context.Context, st, q *elem.Element) {
	r := res.r
	if st.Get("type") == "get" {
		r.send(res, r.accountIQ(ctx, res.JID, res.u.jid, res.u.acct, st, q))
		return
	}
	data := q.Bytes()
	if len(data) > maxVCard {
		r.replyError(res, st, "modify", "not-acceptable", "the vCard is larger than 64 KiB")
		return
	}
	if err := r.st.SetVCard(ctx, res.u.acct.ID, data); err != nil {
		r.replyError(res, st, "wait", "internal-server-error", "")
		return
	}
	r.send(res, resultFor(st))
}

// privateIQ is XEP-0049 private XML storage.
func (res *Resource) privateIQ(ctx context.Context, st, q *elem.Element) {
	r := res.r
	kids := q.Elements()
	if len(kids) != 1 {
		r.replyError(res, st, "modify", "bad-request", "private storage takes exactly one element")
		return
	}
	k := kids[0]
	if k.Space == "" || strings.HasPrefix(k.Space, "jabber:") {
		r.replyError(res, st, "modify", "not-acceptable", "that namespace is reserved")
		return
	}
	if st.Get("type") == "get" {
		data, ok, err := r.st.Private(ctx, res.u.acct.ID, k.Space, k.Local)
		if err != nil {
			r.replyError(res, st, "wait", "internal-server-error", "")
			return
		}
		out := elem.New(NSPrivate, "query")
		if stored, perr := elem.Parse(string(data)); ok && perr == nil {
			out.Add(stored)
		} else {
			out.Add(elem.New(k.Space, k.Local))
		}
		r.send(res, resultFor(st).Add(out))
		return
	}
	data := k.Bytes()
	if len(data) > maxPrivate {
		r.replyError(res, st, "modify", "not-acceptable", "private data larger than 64 KiB")
		return
	}
	if err := r.st.SetPrivate(ctx, res.u.acct.ID, k.Space, k.Local, data); err != nil {
		r.replyError(res, st, "wait", "internal-server-error", "")
		return
	}
	r.send(res, resultFor(st))
}

// blockingIQ is XEP-0191: the list, block and unblock, with pushes to the
// resources that asked for the list, and unavailable presence to newly
// blocked contacts.
func (res *Resource) blockingIQ(ctx context.Context, st, q *elem.Element) {
	r := res.r
	typ := st.Get("type")
	acct := res.u.acct
	if q.Local == "blocklist" {
		if typ != "get" {
			r.replyError(res, st, "modify", "bad-request", "")
			return
		}
		list, err := r.st.BlockList(ctx, acct.ID)
		if err != nil {
			r.replyError(res, st, "wait", "internal-server-error", "")
			return
		}
		r.mu.Lock()
		res.blocklistRq = true
		r.mu.Unlock()
		out := elem.New(NSBlocking, "blocklist")
		for _, j := range list {
			out.Add(elem.New(NSBlocking, "item", "jid", j))
		}
		r.send(res, resultFor(st).Add(out))
		return
	}
	if typ != "set" {
		r.replyError(res, st, "modify", "bad-request", "")
		return
	}
	var jids []string
	for _, it := range q.Elements() {
		j, err := ParseJID(it.Get("jid"))
		if err != nil {
			r.replyError(res, st, "modify", "jid-malformed", "")
			return
		}
		jids = append(jids, j.String())
	}
	var changed []string
	var err error
	if q.Local == "block" {
		if len(jids) == 0 {
			r.replyError(res, st, "modify", "bad-request", "block needs at least one item")
			return
		}
		changed, err = r.st.Block(ctx, acct.ID, jids)
	} else {
		changed, err = r.st.Unblock(ctx, acct.ID, jids)
	}
	if errors.Is(err, storage.ErrBlockListFull) {
		r.replyError(res, st, "cancel", "resource-constraint", "the block list is full")
		return
	}
	if err != nil {
		r.replyError(res, st, "wait", "internal-server-error", "")
		return
	}
	r.mu.Lock()
	for _, j := range changed {
		res.u.blocked[j] = q.Local == "block"
		if q.Local != "block" {
			delete(res.u.blocked, j)
		}
	}
	var pushTo []*Resource
	for _, o := range res.u.res {
		if o.blocklistRq {
			pushTo = append(pushTo, o)
		}
	}
	r.mu.Unlock()
	r.send(res, resultFor(st))
	if len(changed) == 0 {
		return
	}
	for _, o := range pushTo {
		push := elem.New(NSBlocking, q.Local)
		if q.Local == "block" || len(jids) > 0 {
			for _, j := range changed {
				push.Add(elem.New(NSBlocking, "item", "jid", j))
			}
		}
		r.send(o, elem.New("", "iq", "type", "set", "id", r.newID("block"), "to", o.JID.String()).Add(push))
	}
	// Blocked contacts stop seeing us, unblocked ones see us again
	// (XEP-0191 §3.3, §3.4), but only those allowed to see our presence.
	watchers := res.presenceWatchers(ctx, changed)
	for _, p := range res.u.availablePresences(r) {
		for _, c := range watchers {
			st := withAddr(p.st, p.from.String(), c.String())
			if q.Local == "block" {
				st = elem.New("", "presence", "type", "unavailable", "from", p.from.String(), "to", c.String())
			}
			r.Route(ctx, p.from, c, st)
		}
	}
}

// presenceWatchers returns the contacts covered by the block-list entries
// (domain, bare or full JIDs) that may see the account's presence: roster
// items with a from or both subscription, and recipients of directed
// presence.
func (res *Resource) presenceWatchers(ctx context.Context, entries []string) []JID {
	r := res.r
	var list []JID
	matches := func(c JID) bool {
		for _, e := range entries {
			if e == c.String() || e == c.BareString() || e == c.Domain {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	items, _, err := r.st.Roster(ctx, res.u.acct.ID)
	if err != nil {
		r.log.Warn("xmpp: reading roster for blocking", "user", res.u.jid.String(), "err", err)
	}
	for _, it := range items {
		c, err := ParseJID(it.JID)
		if err != nil || (it.Subscription != storage.SubFrom && it.Subscription != storage.SubBoth) || !matches(c) {
			continue
		}
		seen[c.String()] = true
		list = append(list, c)
	}
	r.mu.RLock()
	for _, o := range res.u.res {
		for d := range o.directed {
			if c, err := ParseJID(d); err == nil && !seen[c.String()] && !seen[c.BareString()] && matches(c) {
				seen[c.String()] = true
				list = append(list, c)
			}
		}
	}
	r.mu.RUnlock()
	return list
}

// registerIQ is XEP-0077 for a logged-in account: the form, and a
// password change (RFC 6121 has none). Account removal is refused: the
// administrators own the user base.
func (res *Resource) registerIQ(ctx context.Context, st, q *elem.Element) {
	r := res.r
	if st.Get("type") == "get" {
		out := elem.New(NSRegister, "query").Add(elem.New(NSRegister, "registered")).
			AddText(NSRegister, "username", res.JID.Local).Add(elem.New(NSRegister, "password"))
		r.send(res, resultFor(st).Add(out))
		return
	}
	if q.Child(NSRegister, "remove") != nil {
		r.replyError(res, st, "cancel", "not-allowed", "accounts are removed by the administrators")
		return
	}
	user, pw := q.ChildText(NSRegister, "username"), q.ChildText(NSRegister, "password")
	if pw == "" || (user != "" && !strings.EqualFold(user, res.JID.Local)) {
		r.replyError(res, st, "modify", "bad-request", "send your username and the new password")
		return
	}
	// The change ends the user's sessions, this one included, through the
	// account event; pwChange makes that wait until the result below is
	// queued, so the client learns its change worked before the stream ends.
	r.pwChange.Lock()
	defer r.pwChange.Unlock()
	if err := r.acc.SetPassword(ctx, res.u.acct.Address, pw); err != nil {
		var pe *accounts.PasswordError
		if errors.As(err, &pe) {
			r.replyError(res, st, "modify", "not-acceptable", pe.Reason)
			return
		}
		r.replyError(res, st, "wait", "internal-server-error", "")
		return
	}
	r.send(res, resultFor(st))
}
