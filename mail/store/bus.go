package store

import (
	"sync"
	"sync/atomic"
)

// ChangeKind says what a [Change] is about.
type ChangeKind int

// The kinds of changes.
const (
	MessagesAdded ChangeKind = iota + 1
	FlagsChanged
	MessagesExpunged
	MailboxCreated
	MailboxDeleted
	MailboxRenamed
)

// Change is one committed change to a user's mail.
type Change struct {
	Kind      ChangeKind
	UserID    int64
	MailboxID int64
	Mailbox   string   // the mailbox name (after a rename: the new name)
	UIDs      []uint32 // the messages concerned, ascending
	ModSeq    uint64   // the mailbox's highest MODSEQ after the change
}

// Bus fans out changes to subscribers after commit. Publishing never blocks:
// a subscriber whose buffer is full misses the change and is marked
// overflowed, and must resynchronise from the store (an IMAP session
// re-reads the mailbox; RFC 7162 clients resync by MODSEQ anyway).
type Bus struct {
	mu   sync.RWMutex
	subs map[*Subscription]struct{}
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[*Subscription]struct{}{}} }

// Subscription receives the changes of one user (or all, for user 0).
type Subscription struct {
	bus      *Bus
	userID   int64
	c        chan Change
	overflow atomic.Bool
}

// Subscribe returns a subscription for userID's changes (0: everyone's)
// buffering up to capacity changes.
func (b *Bus) Subscribe(userID int64, capacity int) *Subscription {
	s := &Subscription{bus: b, userID: userID, c: make(chan Change, max(capacity, 1))}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// C delivers the changes; it is closed by Close.
func (s *Subscription) C() <-chan Change { return s.c }

// Overflowed reports whether changes were dropped since the last call, and
// clears the mark.
func (s *Subscription) Overflowed() bool { return s.overflow.Swap(false) }

// Close ends the subscription and closes C.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	if _, ok := s.bus.subs[s]; ok {
		delete(s.bus.subs, s)
		close(s.c)
	}
}

func (b *Bus) publish(c Change) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		if s.userID != 0 && s.userID != c.UserID {
			continue
		}
		select {
		case s.c <- c:
		default:
			s.overflow.Store(true)
		}
	}
}
