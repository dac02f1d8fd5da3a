package imapd

import (
	"errors"

	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/mail/imapd/imapserver"
	"github.com/tidings/tidings/mail/store"
)

// Copy is COPY and UID COPY (RFC 9051 §6.4.7) with COPYUID (RFC 4315 §3).
func (x *session) Copy(set imap.NumSet, dest string) (_ *imap.CopyData, err error) {
	x.enter()
	defer x.leave(&err)
	sel, err := x.selectedBox()
	if err != nil {
		return nil, err
	}
	dst, err := x.destination(dest)
	if err != nil {
		return nil, err
	}
	items := x.items(sel, set)
	if len(items) == 0 {
		return nil, nil
	}
	pairs, err := x.s.store.Copy(x.ctx, x.currentUser(), sel.box.id, uidRanges(uidsOf(items)), dst.ID)
	if err != nil {
		return nil, x.fail(err, "copy")
	}
	if dst.ID == sel.box.id {
		if err := sel.box.refreshAdded(x.ctx, x.s.store); err != nil {
			x.log.Error("announcing copied messages", "err", err)
		}
	}
	return copyData(dst.UIDValidity, pairs), nil
}

// Move is MOVE and UID MOVE (RFC 6851): one store transaction, then the
// COPYUID response, then the EXPUNGEs (queued, written before the tagged
// OK by imapserver's poll).
func (x *session) Move(w *imapserver.MoveWriter, set imap.NumSet, dest string) (err error) {
	x.enter()
	defer x.leave(&err)
	sel, err := x.writable()
	if err != nil {
		return err
	}
	dst, err := x.destination(dest)
	if err != nil {
		return err
	}
	if dst.ID == sel.box.id {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Source and destination are the same mailbox"}
	}
	items := x.items(sel, set)
	if len(items) == 0 {
		return nil
	}
	pairs, err := x.s.store.Move(x.ctx, x.currentUser(), sel.box.id, uidRanges(uidsOf(items)), dst.ID)
	if err != nil {
		return x.fail(err, "move")
	}
	if len(pairs) == 0 {
		return nil
	}
	moved := make([]uint32, len(pairs))
	for i, p := range pairs {
		moved[i] = p.Src
	}
	sel.box.expunged(moved)
	return w.WriteCopyData(copyData(dst.UIDValidity, pairs))
}

// destination looks up a COPY or MOVE target: NO [TRYCREATE] if missing
// (RFC 9051 §6.4.7).
func (x *session) destination(name string) (store.Mailbox, error) {
	dst, err := x.s.store.Mailbox(x.ctx, x.acct.ID, name)
	if errors.Is(err, store.ErrNoMailbox) {
		return dst, errTryCreate
	}
	if err != nil {
		return dst, x.fail(err, "looking up the destination")
	}
	return dst, nil
}

// currentUser re-reads the account for its quota, falling back to the
// account as at login.
func (x *session) currentUser() accounts.User {
	if u, err := x.s.accounts.User(x.ctx, x.acct.Address); err == nil {
		return u
	}
	return x.acct
}

func copyData(uidValidity uint32, pairs []store.UIDPair) *imap.CopyData {
	if len(pairs) == 0 {
		return nil
	}
	d := &imap.CopyData{UIDValidity: uidValidity}
	for _, p := range pairs {
		d.SourceUIDs.AddNum(imap.UID(p.Src))
		d.DestUIDs.AddNum(imap.UID(p.Dst))
	}
	return d
}

// Expunge is EXPUNGE, UID EXPUNGE (RFC 4315 §2.1) and the expunge of CLOSE.
// The EXPUNGE responses are queued for every session of the mailbox, this
// one included, and written by imapserver's poll before the tagged OK. In a
// mailbox opened with EXAMINE nothing is expunged (RFC 9051 §6.4.2).
func (x *session) Expunge(_ *imapserver.ExpungeWriter, uids *imap.UIDSet) (err error) {
	x.enter()
	defer x.leave(&err)
	sel, err := x.selectedBox()
	if err != nil || sel.readOnly {
		return err
	}
	set := store.AllUIDs // every \Deleted message
	if uids != nil {
		items := x.items(sel, *uids)
		if len(items) == 0 {
			return nil
		}
		set = uidRanges(uidsOf(items))
	}
	gone, err := x.s.store.Expunge(x.ctx, sel.box.id, set)
	if err != nil {
		return x.fail(err, "expunge")
	}
	sel.box.expunged(gone)
	return nil
}
