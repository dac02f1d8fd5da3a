package filters

import (
	"context"
	"fmt"
	"mime"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters/sieve"
)

// notifyBacklog bounds the notices waiting for the XMPP side; when it is
// full new ones are dropped (the mail itself is already stored).
const notifyBacklog = 1024

// notifyTimeout bounds one hand-over to the Notifier.
const notifyTimeout = 5 * time.Second

// xmppJID extracts the bare JID of an xmpp: URI (RFC 5437 §2.1, RFC 5122
// §2): an optional //authority/ is skipped, the query and resource are
// dropped, percent-encoding is decoded.
func xmppJID(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, "xmpp:")
	if !ok {
		return "", false
	}
	if strings.HasPrefix(rest, "//") { // xmpp://auth@host/jid
		i := strings.IndexByte(rest[2:], '/')
		if i < 0 {
			return "", false
		}
		rest = rest[2+i+1:]
	}
	rest, _, _ = strings.Cut(rest, "?")
	jid, err := url.PathUnescape(rest)
	if err != nil {
		return "", false
	}
	jid, _, _ = strings.Cut(jid, "/")
	if strings.Count(jid, "@") != 1 || strings.HasPrefix(jid, "@") || strings.HasSuffix(jid, "@") {
		return "", false
	}
	return strings.ToLower(jid), true
}

// mailtoAddress extracts the first address of a mailto: URI (RFC 6068).
func mailtoAddress(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, "mailto:")
	if !ok {
		return "", false
	}
	rest, _, _ = strings.Cut(rest, "?")
	rest, _, _ = strings.Cut(rest, ",")
	addr, err := url.PathUnescape(rest)
	if err != nil || strings.Count(addr, "@") != 1 {
		return "", false
	}
	return addr, true
}

// capability answers notify_method_capability (RFC 5435 §5): "online" for
// an xmpp: URI is the live presence of a local user ("yes"/"no");
// everything else is "maybe". For the user's own JID it is the presence at
// the notification address, where such a notice would land (xmppTarget).
func (f *Filter) capability(u accounts.User) func(ctx context.Context, uri, capa string) string {
	return func(ctx context.Context, uri, capa string) string {
		if !strings.EqualFold(capa, "online") {
			return "maybe"
		}
		jid, ok := xmppJID(uri)
		if !ok {
			return "maybe"
		}
		if jid == strings.ToLower(u.JID()) {
			jid, _ = f.xmppTarget(ctx, u, jid)
		}
		if f.Notifier == nil || !u.CanUse(accounts.ServiceXMPP) && jid == strings.ToLower(u.JID()) {
			return "no"
		}
		if f.Notifier.Online(jid) {
			return "yes"
		}
		if f.ours(ctx, jid) {
			return "no"
		}
		return "maybe"
	}
}

// ours reports whether jid is on one of our domains.
func (f *Filter) ours(ctx context.Context, jid string) bool {
	_, err := f.accounts.Domain(ctx, jid[strings.LastIndexByte(jid, '@')+1:])
	return err == nil
}

// notification turns one notify action into a notice, or drops it (with a
// log line) when policy forbids it. By default a user may notify only
// their own JID or address (Config.NotifyOthers); an xmpp: notice to their
// own JID goes where [Filter.xmppTarget] says.
func (f *Filter) notification(ctx context.Context, u accounts.User, env *sieve.Env, n sieve.Notify, out *Outcome) {
	from, subject := sender(env.Msg)
	text := n.Message
	if text == "" {
		text = "New mail from " + from + ": " + subject
	}
	own := strings.ToLower(u.Address)
	if jid, ok := xmppJID(n.Method); ok {
		to, ok := f.xmppTarget(ctx, u, jid)
		if !ok {
			f.log.Info("notify refused: not the user's own JID", "user", u.Address, "to", jid)
			return
		}
		out.Notifies = append(out.Notifies, Notification{To: to, From: from, Subject: subject, Text: text})
		return
	}
	if addr, ok := mailtoAddress(n.Method); ok {
		if strings.ToLower(addr) != own && !f.cfg.NotifyOthers {
			f.log.Info("notify refused: not the user's own address", "user", u.Address, "to", addr)
			return
		}
		fromHdr := n.From
		if fromHdr == "" {
			fromHdr = u.Address
		}
		out.Mailto = append(out.Mailto, Reply{To: addr, Body: composeNotice(fromHdr, addr, text, env.Now)})
		return
	}
	f.log.Info("notify method not supported", "user", u.Address, "method", n.Method)
}

// xmppTarget decides where an xmpp: notice for jid goes, and whether it may
// go at all. The user's notification address (Scripts.NotifyJID, set in
// the webmail's settings) routes it:
//   - a notice to the user's own JID goes to the notification address when
//     one is set, else to the own JID (so scripts and the rule editor always
//     write notify "xmpp:<own JID>" and the setting decides where it lands);
//   - a notice naming the notification address itself is allowed: the user
//     chose it;
//   - any other JID only with Config.NotifyOthers.
//
// When the setting cannot be read the notice goes to the own JID: a
// notification is best effort and never fails the delivery.
func (f *Filter) xmppTarget(ctx context.Context, u accounts.User, jid string) (string, bool) {
	own := strings.ToLower(u.JID())
	if jid != own && f.cfg.NotifyOthers {
		return jid, true
	}
	configured, err := f.scripts.NotifyJID(ctx, u.ID)
	if err != nil {
		f.log.Warn("notification address unreadable; using the own JID", "user", u.Address, "err", err)
	}
	configured = strings.ToLower(configured)
	switch {
	case jid == own && configured != "":
		return configured, true
	case jid == own, configured != "" && jid == configured:
		return jid, true
	}
	return "", false
}

// sender names the mail's author and subject for a notice. The From field
// is parsed raw, so the display name is decoded once, by the parser, and
// can neither hide nor fake the address.
func sender(m sieve.Message) (from, subject string) {
	if v := m.Header("Subject"); len(v) > 0 {
		subject = strings.TrimSpace(v[0])
	}
	if subject == "" {
		subject = "(no subject)"
	}
	v := m.RawHeader("From")
	if len(v) == 0 {
		return "(unknown sender)", subject
	}
	a, err := addressParser.Parse(v[0])
	switch {
	case err != nil:
		if d := m.Header("From"); len(d) > 0 {
			return strings.TrimSpace(d[0]), subject
		}
		return strings.TrimSpace(v[0]), subject
	case a.Name != "":
		return a.Name, subject
	}
	return a.Address, subject
}

// addressParser decodes RFC 2047 display names in every charset
// go-message knows.
var addressParser = &mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: charset.Reader}}

// composeNotice is the mailto notification (RFC 5436 §2.7: Auto-Submitted:
// auto-notified).
func composeNotice(from, to, text string, now time.Time) []byte {
	subject := text
	if len(subject) > 200 {
		subject = subject[:200]
	}
	return fmt.Appendf(nil, "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nAuto-Submitted: auto-notified\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n",
		from, to, mimeWord(subject), now.Format(time.RFC1123Z), text)
}

// Notify hands a run's notices to the XMPP side after the delivery
// committed; url links to the stored message. It never blocks: the notices
// go to a bounded backlog drained by [Filter.Start]'s goroutine, and each
// user is rate-limited (Config.NotifyRate per hour).
func (f *Filter) Notify(u accounts.User, url string, notes []Notification) {
	for _, n := range notes {
		if !f.allow(u.ID) {
			f.log.Info("notification dropped: rate limit", "user", u.Address, "to", n.To)
			continue
		}
		n.URL, n.Owner = url, u.Address
		select {
		case f.notes <- n:
		default:
			f.log.Warn("notification dropped: backlog full", "user", u.Address, "to", n.To)
		}
	}
}

// pruneEvery is how often expired vacation memory is deleted.
const pruneEvery = time.Hour

// Start runs the goroutine that delivers notices (and prunes the vacation
// memory hourly) until ctx ends or stop is called.
func (f *Filter) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		prune := time.NewTicker(pruneEvery)
		defer prune.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case n := <-f.notes:
				f.deliverNotice(ctx, n)
			case <-prune.C:
				if err := f.PruneVacation(ctx); err != nil {
					f.log.Warn("pruning the vacation memory", "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (f *Filter) deliverNotice(ctx context.Context, n Notification) {
	defer func() {
		if r := recover(); r != nil {
			f.log.Error("panic delivering a notification", "to", n.To, "panic", r)
		}
	}()
	if f.Notifier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	if err := f.Notifier.Notify(ctx, n); err != nil {
		f.log.Warn("notification failed", "to", n.To, "err", err)
	}
}

// bucket is a token bucket refilled at NotifyRate per hour.
type bucket struct {
	tokens float64
	last   time.Time
}

func (f *Filter) allow(userID int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	b := f.rate[userID]
	if b == nil {
		if len(f.rate) >= maxCache {
			clear(f.rate)
		}
		b = &bucket{tokens: float64(f.cfg.NotifyRate), last: now}
		f.rate[userID] = b
	}
	b.tokens = min(float64(f.cfg.NotifyRate), b.tokens+now.Sub(b.last).Hours()*float64(f.cfg.NotifyRate))
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
