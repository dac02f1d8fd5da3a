package store

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode every charset in RFC 2047 words
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// maxHeaderBytes bounds how much of a message is read to cache its header
// (maddy and Postfix use about 1 MiB too); a longer header is cached as far
// as it got.
const maxHeaderBytes = 1 << 20

// Address is one mailbox of an envelope address list, as IMAP's ENVELOPE
// splits it (RFC 9051 §7.5.2).
type Address struct {
	Name    string `json:"n,omitempty"` // decoded display name
	Mailbox string `json:"m,omitempty"` // local part
	Host    string `json:"h,omitempty"` // domain
}

// Envelope is the cached header summary that FETCH ENVELOPE, SEARCH and the
// webmail list use without re-reading the message.
type Envelope struct {
	Date      string    `json:"d,omitempty"` // the Date header as written
	Subject   string    `json:"s,omitempty"` // the Subject header as written (may hold RFC 2047 words)
	From      []Address `json:"f,omitempty"`
	Sender    []Address `json:"se,omitempty"`
	ReplyTo   []Address `json:"r,omitempty"`
	To        []Address `json:"t,omitempty"`
	Cc        []Address `json:"c,omitempty"`
	Bcc       []Address `json:"b,omitempty"`
	InReplyTo string    `json:"i,omitempty"`
	MessageID string    `json:"id,omitempty"`
}

// cachedHeader is what delivery stores next to a message.
type cachedHeader struct {
	sentDate                     time.Time
	subject, from, to, messageID string
	envelopeJSON                 string
	search                       searchForms
}

// parseHeader reads and summarises a message header. Broken headers give
// what could be read: a message is stored as it came (RFC 9051 asks servers
// to keep malformed messages fetchable).
func parseHeader(r io.Reader) cachedHeader {
	th, _ := textproto.ReadHeader(bufio.NewReader(io.LimitReader(r, maxHeaderBytes)))
	h := mail.Header{Header: message.Header{Header: th}}
	env := Envelope{
		Date:      h.Get("Date"),
		Subject:   h.Get("Subject"),
		From:      addresses(h, "From"),
		Sender:    addresses(h, "Sender"),
		ReplyTo:   addresses(h, "Reply-To"),
		To:        addresses(h, "To"),
		Cc:        addresses(h, "Cc"),
		Bcc:       addresses(h, "Bcc"),
		InReplyTo: h.Get("In-Reply-To"),
		MessageID: h.Get("Message-Id"),
	}
	// RFC 9051 §7.5.2: Sender and Reply-To default to From.
	if len(env.Sender) == 0 {
		env.Sender = env.From
	}
	if len(env.ReplyTo) == 0 {
		env.ReplyTo = env.From
	}
	c := cachedHeader{messageID: strings.Trim(env.MessageID, "<> ")}
	c.sentDate, _ = h.Date()
	if c.subject, _ = h.Subject(); c.subject == "" {
		c.subject = env.Subject
	}
	c.from, c.to = first(env.From), first(env.To)
	c.search = newSearchForms(&env, c.subject)
	b, _ := json.Marshal(env)
	c.envelopeJSON = string(b)
	return c
}

func addresses(h mail.Header, key string) []Address {
	list, err := h.AddressList(key)
	if err != nil {
		return nil
	}
	out := make([]Address, 0, len(list))
	for _, a := range list {
		local, host, _ := strings.Cut(a.Address, "@")
		out = append(out, Address{Name: a.Name, Mailbox: local, Host: host})
	}
	return out
}

// first renders the first address as "Name <local@host>" or "local@host".
func first(list []Address) string {
	if len(list) == 0 {
		return ""
	}
	a := list[0]
	addr := a.Mailbox
	if a.Host != "" {
		addr += "@" + a.Host
	}
	if a.Name == "" {
		return addr
	}
	return a.Name + " <" + addr + ">"
}
