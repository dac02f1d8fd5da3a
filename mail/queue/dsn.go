package queue

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// report is one recipient's line in a DSN.
type report struct {
	rcpt string
	o    outcome
}

// backoff is the delay after the n-th failed attempt: retry_base doubling,
// capped at retry_max.
func (q *Queue) backoff(n int) time.Duration {
	d := q.cfg.RetryBase
	for i := 1; i < n && d < q.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, q.cfg.RetryMax)
}

// settle records an attempt's outcomes and sends the DSNs they call for.
func (q *Queue) settle(ctx context.Context, m message, rs []recipient, outs []outcome) error {
	now := q.d.Now()
	age := now.Sub(m.created)
	var failed, delayed []report
	err := q.d.DB.Tx(ctx, func(tx *sql.Tx) error {
		failed, delayed = nil, nil
		for i, r := range rs {
			o := outs[i]
			switch {
			case o.delivered():
				q.d.Log.Info("delivered", "message", m.id, "to", r.rcpt, "host", o.host, "reply", o.text)
			case o.permanent() || age >= q.cfg.Lifetime:
				if !o.permanent() {
					o.text = fmt.Sprintf("gave up after %s: %s", age.Round(time.Minute), o.text)
				}
				q.d.Log.Warn("delivery failed", "message", m.id, "to", r.rcpt, "reason", o.text)
				failed = append(failed, report{r.rcpt, o})
			default:
				notify := q.cfg.DelayWarning > 0 && !r.delayNotified && age >= q.cfg.DelayWarning
				if notify {
					delayed = append(delayed, report{r.rcpt, o})
				}
				next := now.Add(q.backoff(r.attempts + 1))
				q.d.Log.Info("delivery deferred", "message", m.id, "to", r.rcpt, "reason", o.text, "next", next.Format(time.RFC3339))
				_, err := tx.ExecContext(ctx, `UPDATE queue_recipients SET attempts = attempts + 1, next_attempt = $1, last_error = $2,
					leased_until = 0, delay_notified = (delay_notified OR $3) WHERE id = $4`, next.Unix(), o.text, notify, r.id)
				if err != nil {
					return err
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM queue_recipients WHERE id = $1", r.id); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM queue_messages WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM queue_recipients WHERE message_id = $1)", m.id)
		return err
	})
	if err != nil {
		return err
	}
	q.notify(ctx, m, failed, "failed")
	q.notify(ctx, m, delayed, "delayed")
	return nil
}

// notify sends the sender a DSN about reports, never for the null sender
// (RFC 5321 §4.5.5: no bounces of bounces).
func (q *Queue) notify(ctx context.Context, m message, reports []report, action string) {
	if len(reports) == 0 || m.sender == "" {
		return
	}
	dsn := q.buildDSN(m, reports, action)
	at := strings.LastIndexByte(m.sender, '@')
	var err error
	if at > 0 && q.d.IsLocal(ctx, m.sender[at+1:]) {
		err = q.d.Local.DeliverLocal(ctx, "", m.sender, dsn)
	} else {
		err = q.d.DB.Tx(ctx, func(tx *sql.Tx) error { return q.Enqueue(ctx, tx, "", []string{m.sender}, dsn) })
		q.Poke()
	}
	if err != nil {
		q.d.Log.Error("could not send a delivery status notification", "to", m.sender, "action", action, "err", err)
	}
}

var enhanced = regexp.MustCompile(`^\d{3} ([245]\.\d{1,3}\.\d{1,3})\b`)

// status is the RFC 3463 code of an outcome.
func status(o outcome, action string) string {
	if m := enhanced.FindStringSubmatch(o.text); m != nil {
		return m[1]
	}
	switch {
	case action == "delayed" || !o.permanent() && o.code < 500:
		if action == "failed" {
			return "4.4.7" // delivery time expired
		}
		return "4.0.0"
	default:
		return "5.0.0"
	}
}

// buildDSN renders a delivery status notification (RFC 3464, RFC 6522).
func (q *Queue) buildDSN(m message, reports []report, action string) []byte {
	var id [12]byte
	rand.Read(id[:])
	boundary := hex.EncodeToString(id[:])
	now := q.d.Now()
	var b bytes.Buffer
	subject := "Undelivered Mail Returned to Sender"
	if action == "delayed" {
		subject = "Delayed Mail (still being retried)"
	}
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\n", q.d.Hostname, m.sender, subject, now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n", boundary, q.d.Hostname)
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status; boundary=\"%s\"\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", boundary)
	if action == "delayed" {
		fmt.Fprintf(&b, "This is the mail system at %s.\r\n\r\nYour message could not be delivered yet. It will be retried until %s;\r\nyou do not need to send it again.\r\n\r\n",
			q.d.Hostname, m.created.Add(q.cfg.Lifetime).UTC().Format(time.RFC1123Z))
	} else {
		fmt.Fprintf(&b, "This is the mail system at %s.\r\n\r\nYour message could not be delivered to the recipients below.\r\n\r\n", q.d.Hostname)
	}
	for _, r := range reports {
		fmt.Fprintf(&b, "<%s>: %s\r\n", r.rcpt, r.o.text)
	}
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\nArrival-Date: %s\r\n", q.d.Hostname, m.created.UTC().Format(time.RFC1123Z))
	for _, r := range reports {
		fmt.Fprintf(&b, "\r\nFinal-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n", r.rcpt, action, status(r.o, action))
		if r.o.host != "" {
			fmt.Fprintf(&b, "Remote-MTA: dns; %s\r\n", r.o.host)
		}
		if r.o.code != 0 {
			fmt.Fprintf(&b, "Diagnostic-Code: smtp; %s\r\n", oneLine(r.o.text))
		}
		fmt.Fprintf(&b, "Last-Attempt-Date: %s\r\n", now.UTC().Format(time.RFC1123Z))
		if action == "delayed" {
			fmt.Fprintf(&b, "Will-Retry-Until: %s\r\n", m.created.Add(q.cfg.Lifetime).UTC().Format(time.RFC1123Z))
		}
	}
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
	b.Write(headerOf(m.body))
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// headerOf returns the header of a message (up to and without the blank
// line), with CRLF line ends.
func headerOf(body []byte) []byte {
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			break
		}
		out.WriteString(line + "\r\n")
	}
	return out.Bytes()
}
