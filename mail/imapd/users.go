package imapd

import (
	"context"
	"errors"
	"runtime/debug"
	"slices"
	"sync"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/mail/store"
)

// userState is what the sessions of one logged-in user share: their
// subscription to the store's changes and the mailboxes they have selected.
type userState struct {
	s       *Server
	id      int64
	address string
	domain  string
	sub     *store.Subscription

	sessions map[*session]struct{} // guarded by Server.mu

	mu    sync.Mutex
	boxes map[int64]*box // selected by at least one session, or in idle
	idle  []*box         // released by every session, least recently first
}

// keepIdle is how many mailboxes that no session has selected any more stay
// loaded (and fed with changes) while their user is logged in, so that
// selecting one again needs no reload: a client that visits its folders in
// turn, or reconnects while another connection stays, finds them ready.
// Each costs 16 bytes per message (1.6 MB for 100,000 messages).
const keepIdle = 4

// login registers a session of u, refusing more than MaxConnsPerUser.
func (s *Server) login(x *session, u accounts.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errShuttingDown
	}
	us := s.users[u.ID]
	if us == nil {
		us = &userState{s: s, id: u.ID, address: u.Address, domain: u.Domain,
			sessions: map[*session]struct{}{}, boxes: map[int64]*box{}}
		us.sub = s.store.Bus().Subscribe(u.ID, changeBuffer)
		s.users[u.ID] = us
		s.workers.Add(1)
		go us.feed()
	}
	if len(us.sessions) >= s.cfg.MaxConnsPerUser {
		x.log.Warn("too many sessions for one user", "user", u.Address, "sessions", len(us.sessions))
		return errTooMany
	}
	us.sessions[x] = struct{}{}
	x.user = us
	return nil
}

// logout unregisters a session; the user's last session ends the feed.
func (s *Server) logout(x *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	us := x.user
	delete(us.sessions, x)
	if len(us.sessions) == 0 && s.users[us.id] == us {
		delete(s.users, us.id)
		us.sub.Close()
	}
}

// feed applies the store's changes to the selected mailboxes until the
// subscription is closed.
func (us *userState) feed() {
	defer us.s.workers.Done()
	defer func() {
		if p := recover(); p != nil {
			us.s.log.Error("panic in change feed", "user", us.address, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	for c := range us.sub.C() {
		if us.sub.Overflowed() {
			us.s.log.Warn("change feed overflowed; resynchronising", "user", us.address)
			us.resync()
		}
		us.apply(c)
	}
}

func (us *userState) apply(c store.Change) {
	b := us.box(c.MailboxID)
	if b == nil {
		return
	}
	ctx, st := us.s.ctx, us.s.store
	var err error
	switch c.Kind {
	case store.MessagesAdded:
		err = b.refreshAdded(ctx, st)
	case store.FlagsChanged:
		err = b.refreshFlags(ctx, st, c.UIDs)
	case store.MessagesExpunged:
		b.expunged(c.UIDs)
	case store.MailboxDeleted:
		b.markGone()
		us.forgetIdle(b)
	}
	if err != nil && ctx.Err() == nil {
		us.s.log.Error("applying a mailbox change", "user", us.address, "mailbox", c.Mailbox, "err", err)
	}
}

// resync re-reads every selected mailbox after the feed lost changes.
func (us *userState) resync() {
	ctx, st := us.s.ctx, us.s.store
	exists := map[int64]bool{}
	all, err := st.Mailboxes(ctx, us.id)
	if err != nil {
		us.s.log.Error("resynchronising mailboxes", "user", us.address, "err", err)
		return
	}
	for _, m := range all {
		exists[m.ID] = true
	}
	us.mu.Lock()
	boxes := make([]*box, 0, len(us.boxes))
	for _, b := range us.boxes {
		boxes = append(boxes, b)
	}
	us.mu.Unlock()
	for _, b := range boxes {
		if !exists[b.id] {
			b.markGone()
			us.forgetIdle(b)
			continue
		}
		if err := b.resync(ctx, st); err != nil {
			us.s.log.Error("resynchronising a mailbox", "user", us.address, "err", err)
		}
	}
}

// box returns the shared state of a selected mailbox, or nil.
func (us *userState) box(id int64) *box {
	us.mu.Lock()
	defer us.mu.Unlock()
	return us.boxes[id]
}

// openBox returns the shared state of mailbox id, loading it for the first
// session that selects it. Release it with releaseBox.
func (us *userState) openBox(ctx context.Context, id int64) (*box, error) {
	us.mu.Lock()
	if b := us.boxes[id]; b != nil {
		if b.refs == 0 {
			us.idle = slices.DeleteFunc(us.idle, func(i *box) bool { return i == b })
		}
		b.refs++
		us.mu.Unlock()
		b.mu.Lock() // waits for a load in progress
		err := b.loadErr
		b.mu.Unlock()
		if err != nil {
			us.releaseBox(b)
			return nil, err
		}
		return b, nil
	}
	b := &box{id: id, refs: 1}
	b.settled = sync.NewCond(&b.mu)
	b.mu.Lock()
	us.boxes[id] = b // registered before loading: no change can fall in between
	us.mu.Unlock()
	b.loadErr = b.loadLocked(ctx, us.s.store)
	err := b.loadErr
	b.mu.Unlock()
	if err != nil {
		us.releaseBox(b)
		return nil, err
	}
	return b, nil
}

// releaseBox ends a session's use of a box. The last session's release
// keeps a loaded box among the idle ones, dropping the least recently
// released beyond keepIdle.
func (us *userState) releaseBox(b *box) {
	us.mu.Lock()
	defer us.mu.Unlock()
	if b.refs--; b.refs > 0 || us.boxes[b.id] != b {
		return
	}
	b.mu.Lock()
	keep := b.loadErr == nil && !b.gone
	b.mu.Unlock()
	if !keep {
		delete(us.boxes, b.id)
		return
	}
	us.idle = append(us.idle, b)
	if len(us.idle) > keepIdle {
		delete(us.boxes, us.idle[0].id)
		us.idle = slices.Delete(us.idle, 0, 1)
	}
}

// forgetIdle drops b if no session has it selected (its mailbox is gone).
func (us *userState) forgetIdle(b *box) {
	us.mu.Lock()
	defer us.mu.Unlock()
	if b.refs == 0 && us.boxes[b.id] == b {
		delete(us.boxes, b.id)
		us.idle = slices.DeleteFunc(us.idle, func(i *box) bool { return i == b })
	}
}

// accountEvent ends the sessions an account change invalidates. It runs on
// the accounts watcher's goroutine and must not block.
func (s *Server) accountEvent(ev accounts.Event) {
	switch ev.Kind {
	case accounts.EventPasswordChanged, accounts.EventUserDisabled, accounts.EventUserDeleted:
		s.endSessions(func(us *userState) bool { return us.address == ev.Address }, "Account changed; please log in again")
	case accounts.EventUserChanged:
		s.recheck(func(us *userState) bool { return us.address == ev.Address })
	case accounts.EventDomainChanged:
		s.recheck(func(us *userState) bool { return us.domain == ev.Domain })
	}
}

// endSessions says BYE to the sessions of the users that match.
func (s *Server) endSessions(match func(*userState) bool, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, us := range s.users {
		if match(us) {
			for x := range us.sessions {
				s.sayBye(x, reason)
			}
		}
	}
}

// recheck re-reads the matching users and ends the sessions of those who
// may no longer use IMAP.
func (s *Server) recheck(match func(*userState) bool) {
	s.mu.Lock()
	var addrs []string
	for _, us := range s.users {
		if match(us) {
			addrs = append(addrs, us.address)
		}
	}
	if len(addrs) == 0 || s.closed {
		s.mu.Unlock()
		return
	}
	s.workers.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.workers.Done()
		for _, a := range addrs {
			u, err := s.accounts.User(s.ctx, a)
			switch {
			case err == nil && u.CanUse(accounts.ServiceIMAP):
				continue
			case err != nil && !errors.Is(err, accounts.ErrNotFound):
				if s.ctx.Err() == nil {
					s.log.Error("re-reading an account after a change", "user", a, "err", err)
				}
				continue
			}
			s.endSessions(func(us *userState) bool { return us.address == a }, "Account changed; please log in again")
		}
	}()
}
