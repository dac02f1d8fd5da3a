package imapd

import (
	"slices"

	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/mail/imapd/imapserver"
)

// selected is a session's selected mailbox.
type selected struct {
	box      *box
	tracker  *imapserver.SessionTracker
	readOnly bool // EXAMINE
	name     string
}

// Select is SELECT and EXAMINE (RFC 9051 §6.3.2, §6.3.3).
func (x *session) Select(name string, opt *imap.SelectOptions) (_ *imap.SelectData, err error) {
	x.enter()
	defer x.leave(&err)
	x.unselect()
	mb, err := x.s.store.Mailbox(x.ctx, x.acct.ID, name)
	if err != nil {
		return nil, x.fail(err, "select")
	}
	b, err := x.user.openBox(x.ctx, mb.ID)
	if err != nil {
		return nil, x.fail(err, "loading mailbox")
	}
	b.mu.Lock()
	st := b.tracker.NewSession() // from here on, every change is queued for us
	n, last, flags := len(b.msgs), b.lastUID(), b.mailboxFlags()
	b.mu.Unlock()
	x.selMu.Lock()
	x.sel = &selected{box: b, tracker: st, readOnly: opt.ReadOnly, name: mb.Name}
	x.selMu.Unlock()
	permanent := []imap.Flag{}
	if !opt.ReadOnly {
		permanent = append(slices.Clone(flags), imap.FlagWildcard) // any keyword may be created
	}
	return &imap.SelectData{
		Flags:          flags,
		PermanentFlags: permanent,
		NumMessages:    uint32(n),
		UIDNext:        imap.UID(max(mb.UIDNext, last+1)),
		UIDValidity:    mb.UIDValidity,
		// Read before the mailbox state: a lower value than what the
		// session sees is safe (the client asks again), a higher one not.
		HighestModSeq: mb.HighestModSeq,
	}, nil
}

// Unselect is UNSELECT and the end of CLOSE (RFC 3691, RFC 9051 §6.4.2).
func (x *session) Unselect() (err error) {
	x.enter()
	defer x.leave(&err)
	x.unselect()
	return nil
}

func (x *session) unselect() {
	if x.sel == nil {
		return
	}
	x.sel.tracker.Close()
	x.user.releaseBox(x.sel.box)
	x.selMu.Lock()
	x.sel, x.searchRes = nil, nil
	x.selMu.Unlock()
}

// Poll writes the updates queued for this session; imapserver calls it
// after every command (without EXPUNGE after FETCH, STORE and SEARCH:
// RFC 9051 §7.5.1).
func (x *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) (err error) {
	x.enter()
	defer x.leave(&err)
	if x.sel == nil {
		return nil
	}
	return x.sel.tracker.Poll(w, allowExpunge)
}

// Idle writes updates as they come until the client says DONE (RFC 2177).
// The session does not count as busy while idling, so that Shutdown can say
// BYE at once.
func (x *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	// imapserver runs Idle on its own goroutine and does not wait for it
	// when the connection breaks, so Close may run meanwhile: selMu.
	x.selMu.Lock()
	sel := x.sel
	x.selMu.Unlock()
	if sel == nil {
		<-stop
		return nil
	}
	return sel.tracker.Idle(w, stop)
}

// selectedBox returns the selected mailbox, or an error if it was deleted.
func (x *session) selectedBox() (*selected, error) {
	if x.sel == nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "No mailbox selected"}
	}
	x.sel.box.mu.Lock()
	gone := x.sel.box.gone
	x.sel.box.mu.Unlock()
	if gone {
		return nil, errBoxGone
	}
	return x.sel, nil
}

// writable returns the selected mailbox if it was opened with SELECT.
func (x *session) writable() (*selected, error) {
	sel, err := x.selectedBox()
	if err == nil && sel.readOnly {
		return nil, errReadOnly
	}
	return sel, err
}
