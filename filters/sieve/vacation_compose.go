package sieve

import (
	"bytes"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// ComposeVacation builds the reply (RFC 5230 §5): From (v.From or the
// user), To (v.Sender), Subject ("Auto: " and the original subject unless
// :subject was given, §4.3), In-Reply-To and References (RFC 5322
// §3.6.4), Auto-Submitted: auto-replied (RFC 3834 §5), Date, Message-ID
// and the body: text/plain UTF-8, or the :mime entity as given.
// Lines end in CRLF.
func ComposeVacation(v *Vacation, env *Env, date time.Time, msgID string) []byte {
	var b bytes.Buffer
	from := v.From
	if from == "" {
		from = env.User
	}
	header(&b, "From", formatAddress(from))
	header(&b, "To", formatAddress(v.Sender))
	header(&b, "Subject", mime.QEncoding.Encode("utf-8", oneLine(vacationSubject(v, env))))
	if id := firstHeader(env, "Message-ID"); id != "" {
		header(&b, "In-Reply-To", id)
		refs := strings.TrimSpace(firstHeader(env, "References") + " " + id)
		header(&b, "References", refs)
	}
	header(&b, "Auto-Submitted", "auto-replied")
	header(&b, "Date", date.Format(time.RFC1123Z))
	header(&b, "Message-ID", angle(msgID))
	header(&b, "MIME-Version", "1.0")
	if v.Mime {
		b.WriteString(crlf(v.Reason))
		return b.Bytes()
	}
	writeTextBody(&b, v.Reason)
	return b.Bytes()
}

func vacationSubject(v *Vacation, env *Env) string {
	if v.Subject != "" {
		return v.Subject
	}
	orig := firstHeader(env, "Subject")
	if orig == "" {
		return "Auto: (no subject)"
	}
	return "Auto: " + orig
}

func writeTextBody(b *bytes.Buffer, text string) {
	text = crlf(text)
	header(b, "Content-Type", "text/plain; charset=utf-8")
	if isPlainASCII(text) {
		header(b, "Content-Transfer-Encoding", "7bit")
		b.WriteString("\r\n" + text)
		return
	}
	header(b, "Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	w := quotedprintable.NewWriter(b)
	w.Write([]byte(text))
	w.Close()
}

func isPlainASCII(s string) bool {
	for _, line := range strings.Split(s, "\r\n") {
		if len(line) > 998 {
			return false
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// header writes one field; CR and LF in the value become spaces so a
// script cannot add fields.
func header(b *bytes.Buffer, name, value string) {
	b.WriteString(name + ": " + oneLine(value) + "\r\n")
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

func formatAddress(s string) string {
	if a, err := mail.ParseAddress(s); err == nil {
		return a.String()
	}
	return s
}

func firstHeader(env *Env, name string) string {
	if env.Msg == nil {
		return ""
	}
	if v := env.Msg.Header(name); len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

func angle(id string) string {
	id = strings.TrimSpace(id)
	if !strings.HasPrefix(id, "<") {
		id = "<" + id + ">"
	}
	return id
}

// crlf normalises line ends to CRLF and ends the text with one.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	if !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	return s
}
