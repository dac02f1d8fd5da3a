package imapd

import (
	"bufio"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"

	"github.com/tidings/tidings/mail/store"
)

// unfold removes header line folding (RFC 5322 §2.2.3).
var unfold = strings.NewReplacer("\r\n", "", "\n", "")

// envelope converts the store's cached envelope to FETCH ENVELOPE (RFC 9051
// §7.5.2). The subject is passed as written: imapserver encodes it only if
// it holds 8-bit text, so RFC 2047 words reach the client unchanged.
func envelope(e *store.Envelope, sent time.Time) *imap.Envelope {
	env := &imap.Envelope{
		Subject:   unfold.Replace(e.Subject),
		From:      addresses(e.From),
		Sender:    addresses(e.Sender),
		ReplyTo:   addresses(e.ReplyTo),
		To:        addresses(e.To),
		Cc:        addresses(e.Cc),
		Bcc:       addresses(e.Bcc),
		InReplyTo: messageIDs(e.InReplyTo),
		MessageID: strings.Trim(unfold.Replace(e.MessageID), "<> \t"),
		Date:      sent,
	}
	if t, err := mail.ParseDate(unfold.Replace(e.Date)); err == nil {
		env.Date = t // keeps the zone the sender wrote
	}
	return env
}

func addresses(list []store.Address) []imap.Address {
	if len(list) == 0 {
		return nil
	}
	out := make([]imap.Address, len(list))
	for i, a := range list {
		out[i] = imap.Address{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host}
	}
	return out
}

// messageIDs splits "<a@b> <c@d>" into its IDs without brackets.
func messageIDs(s string) []string {
	var out []string
	for _, f := range strings.Fields(unfold.Replace(s)) {
		if id := strings.Trim(f, "<>"); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// readHeader reads a message header as far as it is readable.
func readHeader(r io.Reader) textproto.Header {
	h, _ := textproto.ReadHeader(bufio.NewReader(r))
	return h
}
