package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/filters/managesieve"
	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/router"
	xstorage "github.com/tidings/tidings/xmpp/storage"
)

// startFilters makes the Sieve filter that delivery runs for every local
// recipient, with its two bridges to XMPP: live presence and headline
// notices through the router (once XMPP has started), and the roster for
// :addrbook:default.
func (s *server) startFilters(ctx context.Context) error {
	f := filters.New(s.db, s.accounts, s.cfg.Filters, s.log.With("subsystem", "filters"))
	f.Notifier = xmppNotifier{s}
	f.Roster = rosterJIDs{xstorage.New(s.db, s.cfg.XMPP.StorageConfig())}
	f.MailboxExists = func(ctx context.Context, userID int64, name string) bool {
		_, err := s.store.Mailbox(ctx, userID, name)
		return err == nil
	}
	s.filter = f
	s.stopFilters = f.Start(context.WithoutCancel(ctx))
	return nil
}

// messageURL links a stored message in webmail for notifications.
func (s *server) messageURL(_ accounts.User, mailbox string, uid uint32) string {
	if mailbox == "" {
		mailbox = "INBOX"
	}
	return fmt.Sprintf("https://%s/mail/%s/%d", s.cfg.Hostname, url.PathEscape(mailbox), uid)
}

// xmppNotifier implements filters.Notifier over the XMPP router: a
// headline from the domain's service JID to the user's bare JID, which
// RFC 6121 §8.5.2.1.1 delivers to every available resource with a
// non-negative priority and never stores offline.
type xmppNotifier struct{ s *server }

// NSOOB and NSHints are the namespaces of XEP-0066 and XEP-0334.
const (
	nsOOB   = "jabber:x:oob"
	nsHints = "urn:xmpp:hints"
)

func (n xmppNotifier) router() *router.Router { return n.s.liveRouter.Load() }

func (n xmppNotifier) Online(jid string) bool {
	r := n.router()
	return r != nil && r.Online(jid)
}

// Notify sends the headline. To a local JID it goes only when that
// account is online; to a JID on another server (the user's chosen
// notification address) it goes over federation from the user's own
// domain, and the other server drops it if nobody is online there.
func (n xmppNotifier) Notify(ctx context.Context, note filters.Notification) error {
	r := n.router()
	if r == nil {
		return nil
	}
	to, err := router.ParseJID(note.To)
	if err != nil {
		return err
	}
	from := router.JID{Domain: to.Domain}
	if d, err := n.s.accounts.Domain(ctx, to.Domain); err == nil {
		if !d.XMPPEnabled || !r.Online(note.To) {
			return nil // offline: nothing sent, nothing queued
		}
	} else if at := strings.LastIndexByte(note.Owner, '@'); at > 0 {
		from = router.JID{Domain: note.Owner[at+1:]}
	} else {
		return nil
	}
	msg := elem.New("", "message", "type", "headline", "from", from.Domain, "to", note.To)
	msg.AddText("", "subject", "New mail")
	msg.AddText("", "body", body(note))
	if note.URL != "" {
		msg.Add(elem.New(nsOOB, "x").AddText(nsOOB, "url", note.URL).AddText(nsOOB, "desc", note.Subject))
	}
	msg.Add(elem.New(nsHints, "no-store"))
	r.Route(ctx, from, to, msg)
	return nil
}

func body(n filters.Notification) string {
	if n.URL == "" {
		return n.Text
	}
	return n.Text + "\n" + n.URL
}

// rosterJIDs lists roster contacts for filters' :addrbook:default.
type rosterJIDs struct{ st *xstorage.Store }

func (r rosterJIDs) RosterJIDs(ctx context.Context, userID int64) ([]string, error) {
	items, _, err := r.st.Roster(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, strings.ToLower(it.JID))
	}
	return out, nil
}

// startManageSieve serves listen.managesieve over the filter's script
// store, so clients edit exactly the scripts delivery runs.
func (s *server) startManageSieve(context.Context) error {
	srv := &managesieve.Server{Config: s.cfg.ManageSieve, Scripts: s.filter.Scripts(), Accounts: s.accounts,
		TLS: s.tls, Hostname: s.cfg.Hostname, Log: s.log, Limits: s.cfg.Filters, Extensions: s.filter.Extensions()}
	s.sieve = srv
	if err := s.serveOn("managesieve", s.cfg.Listen.ManageSieve, srv.Serve, managesieve.ErrServerClosed); err != nil {
		srv.Close()
		return err
	}
	return nil
}
