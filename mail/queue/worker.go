package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
)

// Poll bounds: the loop sleeps until the next due attempt, at least
// minPoll (so a burst of failures cannot spin) and at most maxPoll (so
// `tidings queue retry` from another process is noticed).
const (
	minPoll = 200 * time.Millisecond
	maxPoll = 5 * time.Second
)

// Start clears leases left by a previous run and runs deliveries until
// stop is called; stop waits for attempts in progress.
func (q *Queue) Start(ctx context.Context) (stop func(), err error) {
	err = q.d.DB.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE queue_recipients SET leased_until = 0 WHERE leased_until <> 0")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &workers{q: q, slots: make(chan struct{}, q.cfg.Concurrency), busy: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.loop(ctx)
		w.wg.Wait()
	}()
	return func() { cancel(); <-done }, nil
}

type workers struct {
	q     *Queue
	slots chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	busy  map[string]int // attempts in progress per domain
}

func (w *workers) loop(ctx context.Context) {
	for {
		if err := w.dispatch(ctx); err != nil && ctx.Err() == nil {
			w.q.d.Log.Error("queue dispatch", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-w.q.wake:
		case <-time.After(w.nextWait(ctx)):
		}
	}
}

func (w *workers) nextWait(ctx context.Context) time.Duration {
	var next sql.NullInt64
	w.q.d.DB.QueryRowContext(ctx, "SELECT MIN(next_attempt) FROM queue_recipients WHERE leased_until = 0").Scan(&next)
	if !next.Valid {
		return maxPoll
	}
	return min(max(time.Until(time.Unix(next.Int64, 0)), minPoll), maxPoll)
}

// task is the due recipients of one message at one domain.
type task struct {
	messageID int64
	domain    string
	ids       []int64
}

// dispatch starts attempts for due recipients while slots are free.
func (w *workers) dispatch(ctx context.Context) error {
	tasks, err := w.due(ctx)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		w.mu.Lock()
		full := w.busy[t.domain] >= w.q.cfg.PerDomain
		w.mu.Unlock()
		if full {
			continue
		}
		select {
		case w.slots <- struct{}{}:
		default:
			return nil // all slots busy; a finishing attempt pokes the loop
		}
		if err := w.lease(ctx, t); err != nil {
			<-w.slots
			return err
		}
		w.mu.Lock()
		w.busy[t.domain]++
		w.mu.Unlock()
		w.wg.Add(1)
		go w.run(ctx, t)
	}
	return nil
}

func (w *workers) run(ctx context.Context, t task) {
	defer func() {
		if p := recover(); p != nil {
			w.q.d.Log.Error("queue attempt panicked", "panic", p, "stack", string(debug.Stack()))
		}
		w.mu.Lock()
		w.busy[t.domain]--
		w.mu.Unlock()
		<-w.slots
		w.q.Poke()
		w.wg.Done()
	}()
	if err := w.q.attempt(ctx, t); err != nil && ctx.Err() == nil {
		w.q.d.Log.Error("queue attempt", "message", t.messageID, "domain", t.domain, "err", err)
	}
}

func (w *workers) due(ctx context.Context) ([]task, error) {
	now := w.q.d.Now().Unix()
	rows, err := w.q.d.DB.QueryContext(ctx, `SELECT id, message_id, domain FROM queue_recipients
		WHERE next_attempt <= $1 AND leased_until < $1 ORDER BY next_attempt, id LIMIT 500`, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tasks []task
	index := map[string]int{}
	for rows.Next() {
		var id, msg int64
		var domain string
		if err := rows.Scan(&id, &msg, &domain); err != nil {
			return nil, err
		}
		key := fmt.Sprint(msg, " ", domain)
		i, ok := index[key]
		if !ok {
			i = len(tasks)
			index[key] = i
			tasks = append(tasks, task{messageID: msg, domain: domain})
		}
		tasks[i].ids = append(tasks[i].ids, id)
	}
	return tasks, rows.Err()
}

func (w *workers) lease(ctx context.Context, t task) error {
	until := w.q.d.Now().Add(leaseTime).Unix()
	return w.q.d.DB.Tx(ctx, func(tx *sql.Tx) error {
		for _, id := range t.ids {
			if _, err := tx.ExecContext(ctx, "UPDATE queue_recipients SET leased_until = $1 WHERE id = $2", until, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// recipient is a queued recipient being attempted.
type recipient struct {
	id            int64
	rcpt          string
	attempts      int
	delayNotified bool
}

// message is a queued message being attempted.
type message struct {
	id      int64
	sender  string
	body    []byte
	created time.Time
}

func (q *Queue) load(ctx context.Context, t task) (message, []recipient, error) {
	m := message{id: t.messageID}
	var created int64
	err := q.d.DB.QueryRowContext(ctx, "SELECT sender, body, created_at FROM queue_messages WHERE id = $1", t.messageID).
		Scan(&m.sender, &m.body, &created)
	if err != nil {
		return m, nil, err
	}
	m.created = time.Unix(created, 0)
	var rs []recipient
	for _, id := range t.ids {
		r := recipient{id: id}
		err := q.d.DB.QueryRowContext(ctx, "SELECT rcpt, attempts, delay_notified FROM queue_recipients WHERE id = $1", id).
			Scan(&r.rcpt, &r.attempts, &r.delayNotified)
		if errors.Is(err, sql.ErrNoRows) {
			continue // dropped meanwhile
		}
		if err != nil {
			return m, nil, err
		}
		rs = append(rs, r)
	}
	return m, rs, nil
}

// attempt tries one task and records the outcome.
func (q *Queue) attempt(ctx context.Context, t task) error {
	m, rs, err := q.load(ctx, t)
	if errors.Is(err, sql.ErrNoRows) || len(rs) == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	rcpts := make([]string, len(rs))
	for i, r := range rs {
		rcpts[i] = r.rcpt
	}
	outs := q.send(ctx, t.domain, m.sender, rcpts, m.body)
	if ctx.Err() != nil {
		return nil // shutting down: the lease is cleared at the next start
	}
	return q.settle(ctx, m, rs, outs)
}

// send delivers to the domain's mail hosts in order (RFC 5321 §5.1), or
// hands the message to local delivery when the domain is ours.
func (q *Queue) send(ctx context.Context, domain, sender string, rcpts []string, body []byte) []outcome {
	if q.d.IsLocal(ctx, domain) {
		return q.sendLocal(ctx, sender, rcpts, body)
	}
	hosts, o := q.route(ctx, domain)
	last := o
	for _, host := range hosts {
		addrs, err := q.d.Resolver.LookupHost(ctx, host)
		if err != nil {
			last = outcome{text: fmt.Sprintf("looking up %s: %v", host, err)}
			continue
		}
		for _, addr := range addrs {
			c, err := dial(ctx, host, addr, q.cfg.Port, q.cfg.ConnectTimeout, q.cfg.CommandTimeout)
			if err != nil {
				last = outcome{text: fmt.Sprintf("connecting to %s [%s]: %v", host, addr, err)}
				continue
			}
			err = c.open(q.d.Hostname, q.requireTLS[domain], q.d.VerifyTLS)
			var next errNext
			if errors.As(err, &next) {
				c.conn.Close()
				last = next.o
				continue
			}
			outs := c.deliver(sender, rcpts, body)
			c.quit()
			return outs
		}
	}
	return repeat(last, len(rcpts))
}

// sendLocal delivers to local recipients one by one.
func (q *Queue) sendLocal(ctx context.Context, sender string, rcpts []string, body []byte) []outcome {
	outs := make([]outcome, len(rcpts))
	for i, rcpt := range rcpts {
		err := q.d.Local.DeliverLocal(ctx, sender, rcpt, body)
		switch {
		case err == nil:
			outs[i] = outcome{code: 250, text: "250 2.0.0 delivered locally"}
		case errors.Is(err, ErrPermanent):
			outs[i] = outcome{code: 550, text: "550 5.1.1 local delivery to " + rcpt + " failed: " + err.Error()}
		default:
			outs[i] = outcome{text: "local delivery to " + rcpt + " failed: " + err.Error()}
		}
	}
	return outs
}

func repeat(o outcome, n int) []outcome {
	out := make([]outcome, n)
	for i := range out {
		out[i] = o
	}
	return out
}

// route returns the hosts to try, or an outcome for every recipient when
// there is none.
func (q *Queue) route(ctx context.Context, domain string) ([]string, outcome) {
	mxs, err := q.d.Resolver.LookupMX(ctx, domain)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound && len(mxs) == 0 {
		// No MX: the domain itself is the implicit MX (RFC 5321 §5.1), if
		// it has an address at all.
		if _, err := q.d.Resolver.LookupHost(ctx, domain); err != nil {
			if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
				return nil, outcome{code: 550, text: "550 5.1.2 domain " + domain + " does not exist"}
			}
			return nil, outcome{text: "looking up " + domain + ": " + err.Error()}
		}
		return []string{domain}, outcome{}
	}
	if err != nil && len(mxs) == 0 {
		return nil, outcome{text: "looking up the MX of " + domain + ": " + err.Error()}
	}
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	var hosts []string
	for _, mx := range mxs {
		h := strings.TrimSuffix(mx.Host, ".")
		if h == "" { // RFC 7505 null MX: the domain accepts no mail
			return nil, outcome{code: 556, text: "556 5.1.10 " + domain + " does not accept mail (null MX)"}
		}
		hosts = append(hosts, h)
	}
	return hosts, outcome{}
}
