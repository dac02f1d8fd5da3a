package storage

import (
	"context"
	"database/sql"
	"fmt"
)

// Event is a presence subscription stanza seen by the owner's server.
// Out* means the owner sent that presence type to the contact; In* means
// the contact sent it to the owner.
type Event int

// The events, named after the presence type (RFC 6121 §3).
const (
	OutSubscribe Event = iota + 1
	OutSubscribed
	OutUnsubscribe
	OutUnsubscribed
	InSubscribe
	InSubscribed
	InUnsubscribe
	InUnsubscribed
)

var eventNames = [...]string{"", "OutSubscribe", "OutSubscribed", "OutUnsubscribe", "OutUnsubscribed",
	"InSubscribe", "InSubscribed", "InUnsubscribe", "InUnsubscribed"}

func (e Event) String() string {
	if e > 0 && int(e) < len(eventNames) {
		return eventNames[e]
	}
	return fmt.Sprintf("Event(%d)", int(e))
}

// Result is what one step of the subscription state machine did.
type Result struct {
	Before, After Item // Before.JID == "" if there was no row; After.JID == "" if the row is gone
	// Push: the visible roster changed: push After (or a
	// subscription='remove' if gone/hidden) with Ver.
	Push bool
	Ver  string
	// Forward: for Out*, route the stanza on to the contact; for In*,
	// deliver the stanza to the owner's available resources.
	Forward bool
	// AutoSubscribed: an InSubscribe answered by the server (the contact
	// already has from/both, or the owner pre-approved): the caller replies
	// <presence type='subscribed'/> to the contact and does not deliver.
	AutoSubscribed bool
}

// transition is one step of RFC 6121 Appendix A, A.2 (the user's server,
// outbound) and A.3 (the contact's server, inbound), for the item it (a
// hidden SubNone item stands for "no row"). It returns the new state,
// whether to forward the stanza, and whether the server answers an inbound
// subscribe itself. It changes Hidden only to make an item visible; name
// and groups never.
func transition(it Item, ev Event) (after Item, forward, auto bool) {
	after = it
	switch ev {
	case OutSubscribe: // A.2.1; §3.1.2: route it whatever the state
		if !it.Subscription.hasTo() {
			after.PendingOut = true
		}
		after.Hidden = false
		return after, true, false
	case OutUnsubscribe: // A.2.2; §3.3.2: route it whatever the state
		return loseTo(it), true, false
	case OutSubscribed: // A.2.3; §3.1.5
		switch {
		case it.Subscription.hasFrom():
			return it, false, false
		case it.PendingIn:
			after = gainFrom(it)
			after.Hidden = false
			return after, true, false
		}
		// §3.4: pre-approval, not routed.
		after.Approved, after.Hidden = true, false
		return after, false, false
	case OutUnsubscribed: // A.2.4; §3.2.2: route it; also cancels a pre-approval (§3.4)
		return loseFrom(it), true, false
	case InSubscribe: // A.3.1; §3.1.3
		switch {
		case it.Subscription.hasFrom():
			return it, false, true
		case it.Approved: // §3.4
			return gainFrom(it), false, true
		}
		// A repeated request while one is pending is delivered again,
		// although A.3.1's table drops it: a client that missed or
		// dismissed the first prompt gets another chance.
		after.PendingIn = true
		return after, true, false
	case InSubscribed: // A.3.3; §3.1.6: deliver only on a change
		if it.PendingOut {
			after = gainTo(it)
		}
		return after, subChanged(it, after), false
	case InUnsubscribe: // A.3.2; §3.3.3: deliver only on a change
		after = loseFrom(it)
		return after, subChanged(it, after), false
	case InUnsubscribed: // A.3.4; §3.2.3: deliver only on a change
		after = loseTo(it)
		return after, subChanged(it, after), false
	}
	return it, false, false
}

// gainTo: the contact approved our request.
func gainTo(it Item) Item {
	it.Subscription = subscriptionOf(true, it.Subscription.hasFrom())
	it.PendingOut = false
	return it
}

// loseTo: our subscription to the contact (or our request) ends.
func loseTo(it Item) Item {
	it.Subscription = subscriptionOf(false, it.Subscription.hasFrom())
	it.PendingOut = false
	return it
}

// gainFrom: the contact may now see our presence; a request or
// pre-approval is used up.
func gainFrom(it Item) Item {
	it.Subscription = subscriptionOf(it.Subscription.hasTo(), true)
	it.PendingIn, it.Approved = false, false
	return it
}

// loseFrom: the contact's subscription to us (or their request, or our
// pre-approval) ends.
func loseFrom(it Item) Item {
	it.Subscription = subscriptionOf(it.Subscription.hasTo(), false)
	it.PendingIn, it.Approved = false, false
	return it
}

// subChanged reports a change of the subscription state proper (the nine
// states of Appendix A), ignoring pre-approval and visibility.
func subChanged(a, b Item) bool {
	return a.Subscription != b.Subscription || a.PendingOut != b.PendingOut || a.PendingIn != b.PendingIn
}

// useless reports whether a row holds nothing worth keeping: a hidden
// item whose request is gone.
func useless(it Item) bool {
	return it.Hidden && it.Subscription == SubNone && !it.PendingOut && !it.PendingIn && !it.Approved
}

// Apply runs one step of the subscription state machine for (owner,
// contact) atomically: one transaction, under the per-user lock (a row lock
// on PostgreSQL; SQLite's single writer serialises anyway). A missing row is
// treated as a hidden item with subscription none, so an inbound request
// from a stranger creates a hidden row and one the owner starts (or a
// pre-approval) a visible one. A hidden row left with nothing pending is
// deleted. Apply returns ErrRosterFull when it would create a visible item,
// or remember a request, beyond MaxRosterItems.
func (s *Store) Apply(ctx context.Context, owner int64, contact string, ev Event) (Result, error) {
	if contact == "" {
		return Result{}, errEmptyJID
	}
	if ev < OutSubscribe || ev > InUnsubscribed {
		return Result{}, fmt.Errorf("xmpp storage: unknown subscription event %v", ev)
	}
	var res Result
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.apply(ctx, tx, owner, contact, ev)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

func (s *Store) apply(ctx context.Context, tx *sql.Tx, owner int64, contact string, ev Event) (Result, error) {
	ver, err := s.lockUser(ctx, tx, owner)
	if err != nil {
		return Result{}, err
	}
	before, found, err := s.getItem(ctx, tx, owner, contact, true)
	if err != nil {
		return Result{}, err
	}
	cur := before
	if !found {
		cur = Item{JID: contact, Subscription: SubNone, Hidden: true}
	}
	after, forward, auto := transition(cur, ev)
	res := Result{Before: before, After: after, Forward: forward, AutoSubscribed: auto}
	switch gone := useless(after); {
	case gone && found:
		err = deleteItem(ctx, tx, owner, contact)
	case gone:
	case !found || (cur.Hidden && !after.Hidden):
		if err = s.checkRoom(ctx, tx, owner, after.Hidden); err == nil {
			err = saveItem(ctx, tx, owner, after, found)
		}
	case !sameRow(cur, after):
		err = saveItem(ctx, tx, owner, after, true)
	}
	if err != nil {
		return Result{}, err
	}
	if useless(after) {
		res.After = Item{}
	}
	if res.Push = !visibleEqual(cur, after); res.Push {
		if ver, err = bump(ctx, tx, owner); err != nil {
			return Result{}, err
		}
	}
	res.Ver = formatVersion(ver)
	return res, nil
}
