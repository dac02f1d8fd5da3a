package imapd

import (
	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/mail/imapd/imapserver"
)

// Vanished answers QRESYNC's VANISHED (EARLIER) (RFC 7162 §3.2.5.1,
// §3.2.6): the UIDs of the selected mailbox expunged after modSeq, within
// uids unless nil. The store keeps every expunged UID with its MODSEQ, so
// the answer is exact and the client's sequence match data is not needed.
// Left out are the messages whose expunge has not reached the session
// yet (still in the mailbox state, or queued for it): the client still
// counts them (SELECT's EXISTS), and their live VANISHED follows.
func (x *session) Vanished(uids *imap.UIDSet, modSeq uint64) (_ imap.UIDSet, err error) {
	x.enter()
	defer x.leave(&err)
	sel, err := x.selectedBox()
	if err != nil {
		return nil, err
	}
	gone, err := x.s.store.Vanished(x.ctx, sel.box.id, modSeq)
	if err != nil {
		return nil, x.fail(err, "vanished")
	}
	b := sel.box
	b.mu.Lock() // no expunge is queued meanwhile
	defer b.mu.Unlock()
	queued := sel.tracker.QueuedExpunges()
	var out imap.UIDSet
	for _, uid := range gone {
		if _, pending := b.indexOf(uid); pending || queued[imap.UID(uid)] {
			continue
		}
		if uids == nil || uids.Contains(imap.UID(uid)) {
			out.AddNum(imap.UID(uid))
		}
	}
	return out, nil
}

// ID answers the ID command (RFC 2971) with the server's name and version;
// what the client says is logged.
func (x *session) ID(client *imap.IDData) *imap.IDData {
	if client != nil {
		x.log.Info("client id", "name", client.Name, "version", client.Version, "os", client.OS, "vendor", client.Vendor)
	}
	return &imap.IDData{Name: "Tidings", Version: x.s.version}
}

// quotaRoot is the one quota root of an account: every mailbox of the
// user counts against it (RFC 9208 §3.2).
const quotaRoot = ""

// QuotaRoots is GETQUOTAROOT's list (RFC 9208 §4.3): the account's root,
// or none when the account has no quota.
func (x *session) QuotaRoots(mailbox string) (_ []string, err error) {
	x.enter()
	defer x.leave(&err)
	if _, err := x.s.store.Mailbox(x.ctx, x.acct.ID, mailbox); err != nil {
		return nil, x.fail(err, "getquotaroot")
	}
	if x.currentUser().Quota == 0 {
		return nil, nil
	}
	return []string{quotaRoot}, nil
}

// Quota is GETQUOTA (RFC 9208 §4.2): the account's storage, in units of
// 1024 octets (rounded up, so a nearly full account never shows room it
// does not have).
func (x *session) Quota(root string) (_ []imapserver.QuotaResource, err error) {
	x.enter()
	defer x.leave(&err)
	u := x.currentUser()
	if root != quotaRoot || u.Quota == 0 {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such quota root"}
	}
	used, _, err := x.s.store.Usage(x.ctx, u.ID)
	if err != nil {
		return nil, x.fail(err, "getquota")
	}
	return []imapserver.QuotaResource{{Type: imap.QuotaResourceStorage, Usage: (used + 1023) / 1024, Limit: int64(u.Quota) / 1024}}, nil
}

// changedSince keeps the items whose last announced MODSEQ is above
// modSeq, so that CHANGEDSINCE (and QRESYNC's SELECT) reads only those
// from the store. A message's MODSEQ in the store is never below the one
// announced, so the store needs no second check. A change the mailbox state
// has not applied yet is left out here, but it reaches the session as an
// unsolicited FETCH with its MODSEQ once applied.
func (b *box) changedSince(items []item, modSeq uint64) []item {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := items[:0:0]
	for _, it := range items {
		if i, ok := b.indexOf(it.uid); ok && b.msgs[i].modseq > modSeq {
			out = append(out, it)
		}
	}
	return out
}
