package accounts

import (
	"context"
	"database/sql"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"
	"time"
)

// EventKind says what changed about an account or a domain.
type EventKind string

// The kinds of account events.
const (
	// EventPasswordChanged: the credentials were replaced; sessions that
	// logged in with the old password must end.
	EventPasswordChanged EventKind = "password"
	// EventUserDisabled: the account may no longer log in anywhere.
	EventUserDisabled EventKind = "disabled"
	// EventUserDeleted: the account is gone.
	EventUserDeleted EventKind = "deleted"
	// EventUserChanged: some setting changed (for example the XMPP switch);
	// servers re-read the user and end sessions it may no longer hold.
	EventUserChanged EventKind = "changed"
	// EventDomainChanged: a domain was added or deleted or its switches
	// changed; Address is empty.
	EventDomainChanged EventKind = "domain"
)

// Event is one account change, in commit order per node.
type Event struct {
	Seq     int64
	Kind    EventKind
	Address string // the user's address; empty for domain events
	Domain  string
	At      time.Time
}

// Watch timing: how often the feed is read when nothing pokes it, how far
// back it looks for rows that committed late (PostgreSQL sequence numbers
// are handed out before commit, so a lower number can appear after a
// higher one), and how long rows are kept.
const (
	watchPoll     = time.Second
	watchLookback = 2 * time.Minute
	eventsKept    = 24 * time.Hour
	pruneEvery    = time.Hour
)

type hub struct {
	wake chan struct{}

	mu   sync.Mutex
	subs map[int]func(Event)
	next int
}

func newHub() *hub { return &hub{wake: make(chan struct{}, 1), subs: map[int]func(Event){}} }

func (h *hub) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Subscribe registers fn for every account event that [Store.Watch]
// dispatches, until cancel is called. fn runs on the watcher goroutine and
// must not block: a protocol server looks up the sessions of ev.Address and
// tells them to close.
func (s *Store) Subscribe(fn func(Event)) (cancel func()) {
	h := s.hub
	h.mu.Lock()
	id := h.next
	h.next++
	h.subs[id] = fn
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.subs, id)
		h.mu.Unlock()
	}
}

// Watch starts tailing the account change feed, calling subscribers for
// every change committed after Watch returns: by this process at once, by the
// CLI or another node within a second. stop ends the watcher and waits for
// it. The serve command runs one watcher per process.
func (s *Store) Watch(ctx context.Context) (stop func(), err error) {
	w := &watcher{s: s, seen: map[int64]time.Time{}}
	if err := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM account_events").Scan(&w.floor); err != nil {
		return nil, fmt.Errorf("account events: %w", err)
	}
	w.top = w.floor
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx)
	}()
	return func() { cancel(); <-done }, nil
}

func (w *watcher) run(ctx context.Context) {
	s := w.s
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("account event watcher panicked", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	tick := time.NewTicker(watchPoll)
	defer tick.Stop()
	var lastPrune time.Time
	for {
		if err := w.poll(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("reading account events", "err", err)
		}
		if time.Since(lastPrune) > pruneEvery {
			lastPrune = time.Now()
			s.pruneEvents(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.hub.wake:
		}
	}
}

type watcher struct {
	s     *Store
	floor int64               // the highest seq when Watch started
	top   int64               // the highest seq dispatched
	seen  map[int64]time.Time // seqs above floor dispatched within the lookback
}

func (w *watcher) poll(ctx context.Context) error {
	now := time.Now()
	rows, err := w.s.db.QueryContext(ctx, `SELECT seq, kind, address, domain, created_at FROM account_events
		WHERE seq > $1 AND (seq > $2 OR created_at >= $3) ORDER BY seq`, w.floor, w.top, now.Add(-watchLookback).Unix())
	if err != nil {
		return err
	}
	var evs []Event
	for rows.Next() {
		var ev Event
		var at int64
		if err := rows.Scan(&ev.Seq, &ev.Kind, &ev.Address, &ev.Domain, &at); err != nil {
			rows.Close()
			return err
		}
		ev.At = unix(at)
		if _, dup := w.seen[ev.Seq]; !dup {
			evs = append(evs, ev)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].Seq < evs[j].Seq })
	for _, ev := range evs {
		w.seen[ev.Seq] = now
		w.top = max(w.top, ev.Seq)
		w.s.dispatch(ev)
	}
	for seq, t := range w.seen {
		if now.Sub(t) > 2*watchLookback {
			delete(w.seen, seq)
		}
	}
	return nil
}

func (s *Store) dispatch(ev Event) {
	s.hub.mu.Lock()
	subs := make([]func(Event), 0, len(s.hub.subs))
	for _, fn := range s.hub.subs {
		subs = append(subs, fn)
	}
	s.hub.mu.Unlock()
	s.metrics.events.Inc()
	s.log.Debug("account event", "kind", ev.Kind, "user", ev.Address, "domain", ev.Domain, "seq", ev.Seq)
	for _, fn := range subs {
		s.callSubscriber(fn, ev)
	}
}

func (s *Store) callSubscriber(fn func(Event), ev Event) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("account event subscriber panicked", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	fn(ev)
}

func (s *Store) pruneEvents(ctx context.Context) {
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM account_events WHERE created_at < $1", time.Now().Add(-eventsKept).Unix())
		return err
	})
	if err != nil && ctx.Err() == nil {
		s.log.Error("pruning account events", "err", err)
	}
}
