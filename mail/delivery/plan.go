package delivery

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/mail/store"
)

// plan is what the filters decided for one delivery: the copies to store
// and the traffic to queue in the same transaction.
type plan struct {
	targets  []store.Target
	relays   []relay
	remember []*filters.Reply // vacation memory, written with the delivery
	notes    []userNotes
}

// relay is one queued message: the delivered message itself (body nil,
// with a Delivered-To field for redirectedBy) or a generated one.
type relay struct {
	sender       string
	rcpts        []string
	body         []byte
	redirectedBy string
}

type userNotes struct {
	user  accounts.User
	notes []filters.Notification
}

// plan runs every recipient's filter. When every recipient rejected the
// message and nothing else is to be done, the error is the SMTP refusal
// (RFC 5429 §2.1: refuse in the protocol when possible).
func (d *Deliverer) plan(ctx context.Context, env Envelope, sp *store.Spooled, junk bool) (*plan, error) {
	p := &plan{}
	var rejects []string
	for i, u := range env.Recipients {
		fenv := filters.Envelope{From: env.From}
		if i < len(env.RcptTo) {
			fenv.To = env.RcptTo[i]
		}
		out := d.evaluate(ctx, u, fenv, sp)
		for _, c := range out.Copies {
			if junk && c.Mailbox == "" {
				c.Mailbox, c.Create = "Junk", true
			}
			p.targets = append(p.targets, store.Target{User: u, Mailbox: c.Mailbox, Create: c.Create, Flags: c.Flags})
		}
		if out.Reject != "" {
			rejects = append(rejects, out.Reject)
			if env.From != "" {
				p.relays = append(p.relays, relay{rcpts: []string{env.From}, body: rejection(u, env, out.Reject)})
			}
		}
		if len(out.Redirects) > 0 {
			p.relays = append(p.relays, relay{sender: env.From, rcpts: out.Redirects, redirectedBy: u.Address})
		}
		if v := out.Vacation; v != nil {
			p.relays = append(p.relays, relay{rcpts: []string{v.To}, body: v.Body})
			p.remember = append(p.remember, v)
		}
		for _, m := range out.Mailto {
			p.relays = append(p.relays, relay{rcpts: []string{m.To}, body: m.Body})
		}
		if len(out.Notifies) > 0 {
			p.notes = append(p.notes, userNotes{user: u, notes: out.Notifies})
		}
	}
	if len(rejects) == len(env.Recipients) && len(rejects) > 0 && len(env.Remote) == 0 &&
		len(p.targets) == 0 && len(p.notes) == 0 && onlyRejections(p, env.From) {
		return nil, &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: oneLine(rejects[0])}
	}
	if len(p.relays) > 0 && d.Queue == nil {
		d.log().Warn("filters asked to send mail but there is no outbound queue; dropped", "relays", len(p.relays))
		p.relays = nil
	}
	return p, nil
}

// onlyRejections reports whether every relay is a rejection notice (which
// the SMTP refusal replaces).
func onlyRejections(p *plan, from string) bool {
	for _, r := range p.relays {
		if r.sender != "" || len(r.rcpts) != 1 || r.rcpts[0] != from || r.redirectedBy != "" {
			return false
		}
	}
	return len(p.remember) == 0
}

// evaluate runs one recipient's filter; any error keeps the message in
// INBOX and is logged.
func (d *Deliverer) evaluate(ctx context.Context, u accounts.User, env filters.Envelope, sp *store.Spooled) filters.Outcome {
	if d.Filter == nil {
		return filters.Keep()
	}
	out, err := d.Filter.Evaluate(ctx, u, env, sp, sp.Size())
	if err != nil {
		d.log().Warn("filter failed; keeping the message in INBOX", "to", u.Address, "err", err)
		return filters.Keep()
	}
	return out
}

// record queues the plan's traffic and writes the vacation memory, in the
// delivery's transaction.
func (p *plan) record(ctx context.Context, tx *sql.Tx, q queuer, sp *store.Spooled) error {
	for _, r := range p.relays {
		body := r.body
		if body == nil {
			b, err := io.ReadAll(sp.NewReceivedReader())
			if err != nil {
				return err
			}
			body = append([]byte("Delivered-To: "+r.redirectedBy+"\r\n"), b...)
		}
		if err := q.Enqueue(ctx, tx, r.sender, r.rcpts, body); err != nil {
			return fmt.Errorf("queueing a filter's message: %w", err)
		}
	}
	for _, v := range p.remember {
		if err := filters.Remember(ctx, tx, v); err != nil {
			return fmt.Errorf("vacation memory: %w", err)
		}
	}
	return nil
}

type queuer interface {
	Enqueue(ctx context.Context, tx *sql.Tx, sender string, rcpts []string, body []byte) error
}

// notify hands the notifications over once the copies are committed, with
// a link to the user's first stored copy.
func (d *Deliverer) notify(p *plan, res []store.Result) {
	for _, un := range p.notes {
		url := ""
		for _, r := range res {
			if r.Target.User.ID == un.user.ID && r.Err == nil && d.MessageURL != nil {
				url = d.MessageURL(un.user, r.Mailbox, r.UID)
				break
			}
		}
		d.Filter.Notify(un.user, url, un.notes)
	}
}

// rejection is the notice a sender gets when a filter rejects a message
// that SMTP already accepted for another recipient (RFC 5429 §2.1.1).
func rejection(u accounts.User, env Envelope, reason string) []byte {
	return fmt.Appendf(nil, "From: Mail Delivery System <postmaster@%s>\r\nTo: <%s>\r\n"+
		"Subject: Rejected: your message to %s\r\nDate: %s\r\nAuto-Submitted: auto-replied\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"+
		"Your message to <%s> was rejected by the recipient's filter:\r\n\r\n%s\r\n",
		u.Domain, env.From, u.Address, time.Now().Format(time.RFC1123Z), u.Address, reason)
}

// oneLine makes a reason fit an SMTP reply line.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.TrimSpace(s)
}

func addresses(us []accounts.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Address
	}
	return out
}
