package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tidings/tidings/mail/queue"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/webmail/web"
)

// The admin console (webmail/admin) sees the running server through
// web.Queue, web.Stats and web.DNS; these adapters implement them over
// the same functions the CLI uses (`tidings queue …`, `tidings dns …`).

var (
	_ web.Queue = webQueue{}
	_ web.Stats = webStats{}
	_ web.DNS   = webDNS{}
)

// webQueue is the outbound queue: one console entry per queued recipient,
// as `tidings queue list` shows it.
type webQueue struct{ s *server }

func (q webQueue) QueueList(ctx context.Context) ([]web.QueueEntry, error) {
	es, err := queue.List(ctx, q.s.db)
	if err != nil {
		return nil, err
	}
	out := make([]web.QueueEntry, len(es))
	for i, e := range es {
		out[i] = web.QueueEntry{ID: e.ID, Sender: e.Sender, Recipients: []string{e.Recipient}, Size: e.Size,
			Attempts: e.Attempts, NextTry: e.NextAttempt, LastError: e.LastError, Created: e.Queued}
	}
	return out, nil
}

// QueueRetry makes one recipient due now and wakes the queue's workers.
func (q webQueue) QueueRetry(ctx context.Context, id int64) error {
	if id <= 0 { // queue.Retry's 0 means all: never by accident
		return web.NotFound
	}
	if _, err := queue.Retry(ctx, q.s.db, id); err != nil {
		return queueError(err)
	}
	if q.s.queue != nil {
		q.s.queue.Poke()
	}
	return nil
}

// QueueDrop removes one recipient without a bounce.
func (q webQueue) QueueDrop(ctx context.Context, id int64) error {
	if id <= 0 {
		return web.NotFound
	}
	_, err := queue.Drop(ctx, q.s.db, id)
	return queueError(err)
}

// queueError makes an unknown entry match web.NotFound, as the console
// expects.
func queueError(err error) error {
	if errors.Is(err, queue.ErrNoEntry) {
		return fmt.Errorf("%w: %w", web.NotFound, err)
	}
	return err
}

// webStats gives the console's live counts: the XMPP router's and the IMAP
// server's sessions, and the messages stored today.
type webStats struct{ s *server }

func (st webStats) Counts(ctx context.Context) web.Counts {
	var c web.Counts
	if r := st.s.liveRouter.Load(); r != nil {
		rs := r.Stats()
		c.XMPPOnline, c.XMPPSess = rs.Users, rs.Sessions
	}
	if st.s.imap != nil {
		c.IMAPOnline, c.IMAPSess = st.s.imap.Counts()
	}
	n, err := mailSince(ctx, st.s.db, localMidnight(time.Now()))
	if err != nil && ctx.Err() == nil {
		st.s.log.Warn("counting today's mail failed", "err", err)
	}
	c.MailToday = n
	return c
}

func localMidnight(now time.Time) time.Time {
	y, m, d := now.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, now.Location())
}

// mailSince counts the messages stored in mailboxes since t (deliveries,
// and APPENDs such as saved drafts and sent copies). It reads the
// messages table of mail/store; internal_date is in Unix seconds.
func mailSince(ctx context.Context, db *migrations.DB, t time.Time) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM messages WHERE internal_date >= $1", t.Unix()).Scan(&n)
	return n, err
}

// webDNS lists a domain's records as `tidings dns records` does and, when
// asked, checks them as `tidings dns check` does.
type webDNS struct{ s *server }

func (d webDNS) Records(ctx context.Context, domain string, check bool) ([]web.DNSRecord, error) {
	rs, err := records(ctx, &cliStore{Store: d.s.accounts, db: d.s.db, cfg: d.s.cfg}, domain)
	if err != nil {
		return nil, err
	}
	out := make([]web.DNSRecord, len(rs))
	for i, r := range rs {
		out[i] = web.DNSRecord{Name: r.Name, Type: r.Type, Value: r.Value, Why: r.Why}
	}
	if !check {
		return out, nil
	}
	res := d.s.cfg.resolver()
	var wg sync.WaitGroup
	for i := range rs { // independent lookups: at once, not one timeout after another
		wg.Go(func() { out[i].Status, out[i].Found = verdict(checkRecord(ctx, res, rs[i])) })
	}
	wg.Wait()
	return out, nil
}

// verdict turns checkRecord's problem into the console's status: "ok",
// "missing" (not published, or the lookup failed) or "differs", with the
// problem in words.
func verdict(problem string) (status, found string) {
	switch {
	case problem == "":
		return "ok", ""
	case problem == "not published":
		return "missing", ""
	case strings.HasPrefix(problem, "lookup failed"):
		return "missing", problem
	}
	return "differs", problem
}
