// Package delivery puts accepted mail into local mailboxes: it adds the
// Return-Path, asks the filter hook where each recipient's copy goes, and
// stores all copies in one transaction of the message store.
//
// Implementation notes:
//   - The message is spooled once; the filter hook reads the spooled copy,
//     then the store commits every recipient's copy together
//     (store.DeliverOptions.AllOrNothing): SMTP has one DATA reply for all
//     recipients and must neither lose nor half-accept a message.
//   - The [Filter] hook (Sieve, package filters) decides each recipient's
//     mailboxes, flags and actions before the transaction. A filter error
//     never loses mail: the message goes to INBOX (implicit keep, RFC 5228
//     §2.10.2) and the error is logged.
//   - Actions that create traffic are written to the outbound queue in the
//     delivery's own transaction (redirects, vacation replies, mailto
//     notices, rejection notices) and sent by its workers after commit,
//     local recipients included; XMPP notifications are handed to the
//     filter after commit and never waited for. The SMTP reply waits on
//     none of them.
//   - Redirected copies carry a Delivered-To field naming the user who
//     redirected; a user who finds their own name there does not redirect
//     again (loop protection, RFC 5228 §4.2).
package delivery

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/mail/dkim"
	"github.com/tidings/tidings/mail/queue"
	"github.com/tidings/tidings/mail/store"
)

// Envelope is the SMTP envelope of a message being delivered.
type Envelope struct {
	From       string          // the reverse path; "" for the null sender <>
	Recipients []accounts.User // local recipients, resolved (aliases to users)
	RcptTo     []string        // the addresses as given in RCPT TO, parallel to Recipients (optional)
	Remote     []string        // remote recipients, for the outbound queue
	// Check, if set, judges where the message comes from (SPF, DKIM,
	// DMARC for mail from other servers) before anything is stored.
	Check func(ctx context.Context, msg io.ReaderAt, size int64) Verdict
}

// Verdict is the outcome of Envelope.Check.
type Verdict struct {
	Header string // header fields to add (Authentication-Results), CRLF-terminated
	Junk   bool   // deliver to Junk (DMARC quarantine)
	Reject error  // refuse the message with this error
}

// Filter is the per-recipient Sieve hook; filters.Filter implements it.
type Filter interface {
	// Evaluate decides one recipient's copies and actions. msg reads the
	// whole message as it will be stored (with Return-Path and Received).
	Evaluate(ctx context.Context, u accounts.User, env filters.Envelope, msg io.ReaderAt, size int64) (filters.Outcome, error)
	// Notify hands the outcome's notifications over after commit; it must
	// not block.
	Notify(u accounts.User, url string, notes []filters.Notification)
}

// Signer signs outgoing mail for a hosted domain (mail/dkim); it returns
// an error wrapping dkim.ErrNoKeys for other domains.
type Signer interface {
	Sign(ctx context.Context, domain string, msg []byte) ([]byte, error)
}

// Deliverer delivers into the store, and hands remote recipients to the
// outbound queue in the same transaction.
type Deliverer struct {
	Store   *store.Store
	Queue   *queue.Queue // nil: remote recipients are refused
	Signer  Signer       // nil: outgoing mail is not signed
	Filter  Filter       // nil: everything to INBOX
	MaxSize int64        // refuse bodies larger than this (0: no limit)
	// MessageURL links to a stored message in webmail, for notifications
	// (nil: no link).
	MessageURL func(u accounts.User, mailbox string, uid uint32) string
	Log        *slog.Logger
}

// ErrNoQueue is returned for remote recipients when there is no queue.
var ErrNoQueue = errors.New("delivery: no outbound queue for remote recipients")

// Deliver stores msg for every recipient and returns when it is durably
// committed. The error wraps store.ErrTooBig or store.ErrOverQuota when
// those are the cause.
func (d *Deliverer) Deliver(ctx context.Context, env Envelope, msg io.Reader) error {
	if len(env.Recipients)+len(env.Remote) == 0 {
		return errors.New("delivery: no recipients")
	}
	if len(env.Remote) > 0 && d.Queue == nil {
		return ErrNoQueue
	}
	sp, err := d.Store.Spool(msg, d.MaxSize)
	if err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	defer sp.Close()
	var verdict Verdict
	if env.Check != nil {
		if verdict = env.Check(ctx, sp, sp.Size()); verdict.Reject != nil {
			return verdict.Reject
		}
	}
	// RFC 5321 §4.4: the delivering server records the reverse path. Relayed
	// copies leave without these fields (NewReceivedReader).
	sp.Prepend("Return-Path: <" + env.From + ">\r\n" + verdict.Header)
	p, err := d.plan(ctx, env, sp, verdict.Junk)
	if err != nil {
		return err
	}
	if len(p.targets) == 0 && len(p.relays) == 0 && len(env.Remote) == 0 {
		d.log().Info("discarded by filters", "from", env.From, "to", addresses(env.Recipients))
		return nil
	}
	opt := store.DeliverOptions{AllOrNothing: true}
	if len(env.Remote) > 0 || len(p.relays) > 0 || len(p.remember) > 0 {
		opt.InTx = d.inTx(env, sp, p)
	}
	res, err := d.Store.DeliverSpooled(ctx, sp, opt, p.targets)
	if err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	if len(env.Remote) > 0 || len(p.relays) > 0 {
		d.Queue.Poke()
	}
	if len(env.Remote) > 0 {
		d.log().Info("queued", "from", env.From, "to", env.Remote, "size", sp.Size())
	}
	for _, r := range res {
		d.log().Info("delivered", "from", env.From, "to", r.Target.User.Address, "mailbox", r.Mailbox, "uid", r.UID, "size", sp.Size())
	}
	d.notify(p, res)
	return nil
}

func (d *Deliverer) inTx(env Envelope, sp *store.Spooled, p *plan) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		if len(env.Remote) > 0 {
			if err := d.enqueue(env, sp)(ctx, tx); err != nil {
				return err
			}
		}
		return p.record(ctx, tx, d.Queue, sp)
	}
}

// enqueue records the remote recipients in the delivery's transaction. The
// message leaves without the Return-Path, which is for final delivery only.
func (d *Deliverer) enqueue(env Envelope, sp *store.Spooled) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		body, err := io.ReadAll(sp.NewReceivedReader())
		if err != nil {
			return err
		}
		if body, err = d.sign(ctx, body); err != nil {
			return err
		}
		return d.Queue.Enqueue(ctx, tx, env.From, env.Remote, body)
	}
}

// sign adds DKIM signatures for the domain of the From header, when it is
// one of ours (RFC 7489 §3.1: the signature aligns with From for DMARC).
func (d *Deliverer) sign(ctx context.Context, body []byte) ([]byte, error) {
	if d.Signer == nil {
		return body, nil
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(body)))
	if err != nil {
		return body, nil // unparsable header: sent as is
	}
	list, err := mail.ParseAddressList(h.Get("From"))
	if err != nil || len(list) == 0 {
		return body, nil
	}
	domain := list[0].Address[strings.LastIndexByte(list[0].Address, '@')+1:]
	signed, err := d.Signer.Sign(ctx, domain, body)
	if errors.Is(err, dkim.ErrNoKeys) {
		return body, nil
	}
	return signed, err
}

func (d *Deliverer) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}
