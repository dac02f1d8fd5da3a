package imapd

import (
	"errors"

	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/mail/store"
)

// Append is APPEND (RFC 9051 §6.3.12) with APPENDUID (RFC 4315 §3). The
// message goes through store.Deliver, like mail from SMTP, so quota and
// the cached envelope are handled the same way. imapserver refuses a
// literal above AppendLimit before reading it.
func (x *session) Append(mailbox string, r imap.LiteralReader, opt *imap.AppendOptions) (_ *imap.AppendData, err error) {
	x.enter()
	defer x.leave(&err)
	mb, err := x.s.store.Mailbox(x.ctx, x.acct.ID, mailbox)
	if errors.Is(err, store.ErrNoMailbox) {
		return nil, errTryCreate // RFC 9051 §6.3.12
	}
	if err != nil {
		return nil, x.fail(err, "append")
	}
	u := x.acct
	if fresh, err := x.s.accounts.User(x.ctx, u.Address); err == nil {
		u = fresh // the quota may have changed since login
	}
	res, err := x.s.store.Deliver(x.ctx, r, store.DeliverOptions{MaxSize: int64(x.s.cfg.AppendLimit), InternalDate: opt.Time},
		[]store.Target{{User: u, Mailbox: mb.Name, Flags: storeFlags(opt.Flags)}})
	if err == nil && len(res) == 1 {
		err = res[0].Err
	}
	if errors.Is(err, store.ErrNoMailbox) {
		return nil, errTryCreate // deleted meanwhile
	}
	if err != nil {
		return nil, x.fail(err, "append")
	}
	if x.sel != nil && x.sel.box.id == res[0].MailboxID {
		// Announce it before the tagged OK (RFC 9051 §6.3.12: "the normal
		// new message actions SHOULD occur").
		if err := x.sel.box.refreshAdded(x.ctx, x.s.store); err != nil {
			x.log.Error("announcing an appended message", "err", err)
		}
	}
	x.log.Debug("appended", "mailbox", mb.Name, "uid", res[0].UID)
	return &imap.AppendData{UID: imap.UID(res[0].UID), UIDValidity: mb.UIDValidity}, nil
}
