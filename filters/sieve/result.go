package sieve

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Env is what one run knows about the message and its recipient.
type Env struct {
	From string // envelope MAIL FROM, "" for the null sender
	To   string // envelope RCPT TO as given, may carry +detail
	User string // the recipient account's address (vacation's own address)
	Msg  Message
	Now  time.Time // zero: time.Now()

	// Hooks; nil means "not available" (the test answers false or unknown).

	// ListContains tells whether value is in the list (extlists); list is
	// the canonical list URI.
	ListContains func(ctx context.Context, list, value string) (bool, error)
	// ValidList tells whether a canonical list URI names a known list.
	ValidList func(list string) bool
	// NotifyCapability answers notify_method_capability: "yes", "no" or
	// "maybe" (RFC 5435 §5).
	NotifyCapability func(ctx context.Context, uri, capability string) string
	// MailboxExists answers mailboxexists (RFC 5490 §3.1).
	MailboxExists func(ctx context.Context, name string) bool
}

// Message is the message being filtered.
type Message interface {
	// Header returns all values of the field, unfolded, RFC 2047-decoded to
	// UTF-8, in order.
	Header(name string) []string
	// RawHeader returns all values of the field, unfolded but not decoded:
	// what address parsing must read, so that an encoded display name can
	// never pose as an address (=?utf-8?q?=3Cboss=40example=3E?=).
	RawHeader(name string) []string
	Size() int64
	// Body returns the texts the body test matches (RFC 5173 §5):
	// transform is "raw", "content" or "text"; contentTypes is used with
	// "content".
	Body(ctx context.Context, transform string, contentTypes []string) ([]string, error)
}

// Result is what a run decided.
type Result struct {
	// Keep lists the copies to store; keep is {Mailbox: "INBOX"}. It
	// includes the implicit keep when it applies (RFC 5228 §2.10.2).
	Keep []FileInto `json:",omitempty"`
	// Discard is set when discard ran; with an empty Keep the message is
	// dropped.
	Discard   bool       `json:",omitempty"`
	Redirects []Redirect `json:",omitempty"`
	Reject    *Reject    `json:",omitempty"`
	// Vacation is set when a reply is due by RFC 5230 §4.5 and §4.6, except
	// the "already replied within Period" check the caller does with
	// (Handle, Sender).
	Vacation *Vacation `json:",omitempty"`
	Notifies []Notify  `json:",omitempty"`
}

// FileInto is one copy to store.
type FileInto struct {
	Mailbox string   `json:",omitempty"`
	Create  bool     `json:",omitempty"` // RFC 5490 §3.2 :create
	Flags   []string `json:",omitempty"` // RFC 5232: :flags or the internal variable
}

// Redirect is one forward.
type Redirect struct {
	Address string `json:",omitempty"`
	Copy    bool   `json:",omitempty"` // RFC 3894 :copy
}

// Reject refuses the message (RFC 5429).
type Reject struct {
	Reason   string `json:",omitempty"`
	Extended bool   `json:",omitempty"` // ereject: refuse in the SMTP transaction when possible
}

// Vacation is an auto-reply to send (RFC 5230).
type Vacation struct {
	Handle    string        `json:",omitempty"`
	Subject   string        `json:",omitempty"` // :subject as given; "" means "Auto: " + original subject
	From      string        `json:",omitempty"` // :from; "" means the user
	Reason    string        `json:",omitempty"`
	Addresses []string      `json:",omitempty"`
	Mime      bool          `json:",omitempty"`
	Period    time.Duration `json:",omitempty"` // :days or :seconds
	Sender    string        `json:",omitempty"` // whom to reply to: the envelope From
}

// Notify is one notification to send (RFC 5435).
type Notify struct {
	Method     string   `json:",omitempty"` // the method URI
	From       string   `json:",omitempty"`
	Importance int      `json:",omitempty"` // 1..3, default 2
	Options    []string `json:",omitempty"`
	Message    string   `json:",omitempty"` // expanded :message, "" if none given
}

// fileinto records a copy, merging duplicates of one mailbox
// (RFC 5228 §2.10.3).
func (r *run) fileinto(f FileInto) {
	for i := range r.res.Keep {
		k := &r.res.Keep[i]
		if sameMailbox(k.Mailbox, f.Mailbox) {
			k.Create = k.Create || f.Create
			k.Flags = mergeFlags(k.Flags, f.Flags)
			return
		}
	}
	r.res.Keep = append(r.res.Keep, f)
}

func sameMailbox(a, b string) bool {
	if strings.EqualFold(a, "INBOX") && strings.EqualFold(b, "INBOX") {
		return true
	}
	return a == b
}

// finish applies the implicit keep (RFC 5228 §2.10.2) and returns the
// result.
func (r *run) finish() (*Result, error) {
	if !r.cancelKeep && !r.explicitKeep {
		r.fileinto(FileInto{Mailbox: "INBOX", Flags: r.implicitFlags()})
	}
	if r.rejected && r.delivering {
		return nil, fmt.Errorf("%w: reject cannot be combined with keep, fileinto or redirect (RFC 5429 §2.1)", ErrConflict)
	}
	res := r.res
	return &res, nil
}

func (r *run) implicitFlags() []string {
	if !r.s.caps["imap4flags"] {
		return nil
	}
	return append([]string(nil), r.flags...)
}
