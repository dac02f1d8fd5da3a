package sieve

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// vacation (RFC 5230) and :seconds (RFC 6131).

const (
	defaultVacationDays = 7 // RFC 5230 §4.1
	minVacationDays     = 1
)

type vacationCmd struct {
	period    time.Duration
	subject   *str
	from      *str
	addresses strList
	mime      bool
	handle    *str
	reason    str
}

func (n *vacationCmd) exec(r *run) error {
	if err := r.action(); err != nil {
		return err
	}
	if r.vacationRan {
		// RFC 5230 §4.7: a script MUST fail on a second vacation.
		return fmt.Errorf("%w: vacation executed twice (RFC 5230 §4.7)", ErrConflict)
	}
	r.vacationRan = true
	if err := r.checkReject(); err != nil {
		return err
	}
	v := &Vacation{
		Subject:   r.expandOpt(n.subject),
		From:      r.expandOpt(n.from),
		Reason:    r.expand(n.reason),
		Addresses: slices.Clone(r.expandAll(n.addresses)),
		Mime:      n.mime,
		Period:    n.period,
		Sender:    envelopeAddress(r.env.From),
	}
	v.Handle = r.expandOpt(n.handle)
	if n.handle == nil {
		v.Handle = defaultHandle(v)
	}
	if r.vacationDue(v) {
		r.res.Vacation = v
	}
	return nil
}

func (r *run) expandOpt(s *str) string {
	if s == nil {
		return ""
	}
	return r.expand(*s)
}

// defaultHandle derives the handle from the arguments that shape the
// reply (RFC 5230 §4.2).
func defaultHandle(v *Vacation) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%t", v.Reason, v.Subject, v.From, v.Mime)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// vacationDue applies RFC 5230 §4.5 and §4.6 (and RFC 3834 §2).
func (r *run) vacationDue(v *Vacation) bool {
	sender := strings.ToLower(v.Sender)
	if sender == "" {
		return false // null reverse-path: never reply (RFC 3834 §2)
	}
	own := r.ownAddresses(v.Addresses)
	if own[sender] || own[stripDetail(sender)] {
		return false // never reply to ourselves
	}
	if isListOrDaemon(sender) || r.automated() {
		return false
	}
	return r.addressedToUser(own)
}

// ownAddresses are the user's addresses: env.User, the recipient without
// its detail, and :addresses (RFC 5230 §4.5).
func (r *run) ownAddresses(extra []string) map[string]bool {
	own := map[string]bool{}
	add := func(a string) {
		a = strings.ToLower(envelopeAddress(a))
		if p, err := mail.ParseAddress(a); err == nil {
			a = strings.ToLower(p.Address)
		}
		if a != "" {
			own[a] = true
			own[stripDetail(a)] = true
		}
	}
	add(r.env.User)
	add(r.env.To)
	for _, a := range extra {
		add(a)
	}
	return own
}

func stripDetail(a string) string {
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return a
	}
	user, _, _ := strings.Cut(a[:at], subaddressSep)
	return user + a[at:]
}

// isListOrDaemon: owner-*, *-request and MAILER-DAEMON (RFC 5230 §4.6).
func isListOrDaemon(sender string) bool {
	local := sender
	if at := strings.LastIndexByte(sender, '@'); at >= 0 {
		local = sender[:at]
	}
	return strings.HasPrefix(local, "owner-") || strings.HasSuffix(local, "-request") || local == "mailer-daemon"
}

var listHeaders = []string{"List-Id", "List-Post", "List-Help", "List-Subscribe",
	"List-Unsubscribe", "List-Owner", "List-Archive"}

// automated: Auto-Submitted other than "no" (RFC 3834 §5), mailing list
// fields (RFC 2369, RFC 2919) and bulk Precedence (RFC 5230 §4.6).
func (r *run) automated() bool {
	for _, v := range r.env.Msg.Header("Auto-Submitted") {
		kw, _, _ := strings.Cut(v, ";")
		if !strings.EqualFold(strings.TrimSpace(kw), "no") {
			return true
		}
	}
	for _, h := range listHeaders {
		if len(r.env.Msg.Header(h)) > 0 {
			return true
		}
	}
	for _, v := range r.env.Msg.Header("Precedence") {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "bulk", "list", "junk":
			return true
		}
	}
	return false
}

// addressedToUser: one of the user's addresses is in To, Cc, Bcc,
// Resent-To or Resent-Cc (RFC 5230 §4.5).
func (r *run) addressedToUser(own map[string]bool) bool {
	for _, h := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc"} {
		for _, v := range r.env.Msg.RawHeader(h) {
			addrs, _ := headerAddresses(v)
			for _, a := range addrs {
				a = strings.ToLower(a)
				if own[a] || own[stripDetail(a)] {
					return true
				}
			}
		}
	}
	return false
}

func buildVacation(c *checker, x *call) (any, error) {
	n := &vacationCmd{period: defaultVacationDays * 24 * time.Hour, mime: x.has("mime")}
	if a, ok := x.tags["days"]; ok {
		n.period = time.Duration(max(a.num, minVacationDays)) * 24 * time.Hour
	}
	if a, ok := x.tags["seconds"]; ok {
		n.period = time.Duration(a.num) * time.Second // RFC 6131 §2: 0 allowed
	}
	var err error
	if n.subject, err = c.optStr(x, "subject"); err != nil {
		return nil, err
	}
	if n.handle, err = c.optStr(x, "handle"); err != nil {
		return nil, err
	}
	if n.from, err = c.optStr(x, "from"); err != nil {
		return nil, err
	}
	if n.from != nil && n.from.constant() {
		if _, err := mail.ParseAddress(n.from.lit); err != nil {
			return nil, errAt(n.from.pos, "vacation :from: invalid address %s", quote(n.from.lit))
		}
	}
	if a, ok := x.tags["addresses"]; ok {
		if n.addresses, err = c.strs(a); err != nil {
			return nil, err
		}
	}
	n.reason, err = c.strArg(x.pos2[0])
	return n, err
}

func (c *checker) optStr(x *call, tag string) (*str, error) {
	a, ok := x.tags[tag]
	if !ok {
		return nil, nil
	}
	s, err := c.strArg(a)
	return &s, err
}

func init() {
	commandSpecs["vacation"] = &spec{ext: "vacation", tags: []tagDef{
		{name: "days", arg: aNumber, group: "period"},
		{name: "seconds", ext: "vacation-seconds", arg: aNumber, group: "period"},
		{name: "subject", arg: aString},
		{name: "from", arg: aString},
		{name: "addresses", arg: aStringList},
		{name: "mime", arg: aTag},
		{name: "handle", arg: aString},
	}, pos: []argKind{aString}, build: buildVacation}
}
