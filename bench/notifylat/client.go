package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

const wait = 10 * time.Second // longest a step of the setup may take

// listener is juliet's XMPP session (mellium.im/xmpp: STARTTLS, SCRAM,
// bind, initial presence). It timestamps every headline as soon as its
// start tag is decoded and files it by the mail's number in the subject.
type listener struct {
	s      *xmpp.Session
	online chan struct{} // closed when the server echoes the initial presence
	served chan struct{} // closed when Serve has returned
	err    error         // Serve's error, once served is closed

	mu      sync.Mutex
	arrived map[int]time.Time
	strays  int           // headlines without a number we sent
	notify  chan struct{} // signalled on each arrival
}

// subjectRE finds the mail's number in the headline's text ("New mail
// from Tybalt: notifylat #17").
var subjectRE = regexp.MustCompile(`notifylat #(\d+)`)

// login connects juliet to the c2s listener at addr.
func login(addr string) (*listener, error) {
	nc, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return nil, err
	}
	// mellium watches ctx until each call returns and sets a deadline in
	// the past if ctx ends first; cancelling ctx right after a call races
	// with that watcher and can break the live session's next write. So ctx
	// is left to expire well after the calls below.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	time.AfterFunc(2*wait, cancel)
	tcfg := &tls.Config{ServerName: domain, InsecureSkipVerify: true} // the server's self-signed certificate
	s, err := xmpp.NewClientSession(ctx, jid.MustParse(juliet), nc, xmpp.StartTLS(tcfg),
		xmpp.SASL("", password, sasl.ScramSha256Plus, sasl.ScramSha256, sasl.ScramSha1Plus, sasl.ScramSha1),
		xmpp.BindResource())
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("xmpp login as %s: %w", juliet, err)
	}
	l := &listener{s: s, online: make(chan struct{}), served: make(chan struct{}),
		arrived: map[int]time.Time{}, notify: make(chan struct{}, 1)}
	if err := s.Send(context.Background(), stanza.Presence{}.Wrap(nil)); err != nil {
		s.Conn().Close()
		return nil, err
	}
	go func() { l.err = s.Serve(xmpp.HandlerFunc(l.handle)); close(l.served) }()
	select {
	case <-l.online:
		return l, nil
	case <-l.served:
		return nil, fmt.Errorf("xmpp session ended before the initial presence came back: %v", l.err)
	case <-time.After(wait):
		l.close()
		return nil, errors.New("xmpp: the server did not echo the initial presence")
	}
}

// headline is what the tool reads of a notification.
type headline struct {
	Body string `xml:"body"`
}

func (l *listener) handle(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	at := time.Now()
	typ := ""
	for _, a := range start.Attr {
		if a.Name.Local == "type" {
			typ = a.Value
		}
	}
	switch {
	case start.Name.Local == "presence" && typ == "":
		select {
		case <-l.online:
		default:
			close(l.online)
		}
	case start.Name.Local == "message" && typ == "headline":
		var h headline
		if err := xml.NewTokenDecoder(xmlstream.Wrap(r, *start)).Decode(&h); err != nil {
			return err
		}
		l.record(h.Body, at)
	}
	return nil // mellium answers IQ requests with service-unavailable
}

func (l *listener) record(body string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := subjectRE.FindStringSubmatch(body)
	n := -1
	if m != nil {
		n, _ = strconv.Atoi(m[1])
	}
	if _, dup := l.arrived[n]; n < 0 || dup {
		l.strays++
	} else {
		l.arrived[n] = at
	}
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

// await waits until headlines for mails first..first+n-1 have all arrived,
// or until nothing has arrived for quiet. It fails if the session has
// ended.
func (l *listener) await(first, n int, quiet time.Duration) error {
	for {
		l.mu.Lock()
		have := 0
		for i := first; i < first+n; i++ {
			if _, ok := l.arrived[i]; ok {
				have++
			}
		}
		l.mu.Unlock()
		if have == n {
			return nil
		}
		select {
		case <-l.notify:
		case <-l.served:
			return fmt.Errorf("xmpp session ended: %v", l.err)
		case <-time.After(quiet):
			return nil
		}
	}
}

func (l *listener) at(n int) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.arrived[n]
	return t, ok
}

func (l *listener) stray() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.strays
}

func (l *listener) close() {
	l.s.Close()
	select {
	case <-l.served:
	case <-time.After(time.Second):
	}
	l.s.Conn().Close()
}

// mta is one SMTP connection to the MX listener, as another server opens
// it: EHLO, then MAIL, RCPT, DATA and RSET for each message. It is written
// on net/textproto rather than an SMTP library so that the clock starts
// exactly before the final "\r\n.\r\n".
type mta struct {
	nc net.Conn
	tp *textproto.Conn
}

func dialMTA(addr string) (*mta, error) {
	nc, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return nil, err
	}
	m := &mta{nc: nc, tp: textproto.NewConn(nc)}
	if _, _, err := m.tp.ReadResponse(220); err != nil {
		nc.Close()
		return nil, fmt.Errorf("smtp greeting: %w", err)
	}
	if err := m.cmd(250, "EHLO relay.%s", senderDomain); err != nil {
		nc.Close()
		return nil, err
	}
	return m, nil
}

func (m *mta) cmd(code int, format string, args ...any) error {
	id, err := m.tp.Cmd(format, args...)
	if err != nil {
		return err
	}
	m.tp.StartResponse(id)
	defer m.tp.EndResponse(id)
	if _, msg, err := m.tp.ReadResponse(code); err != nil {
		return fmt.Errorf("smtp %s: %w (%s)", strings.Fields(format)[0], err, msg)
	}
	return nil
}

// send sends one message (whose lines never start with a dot and whose
// last line has no line break) and returns the time just before the
// final "\r\n.\r\n" was written and the time the 250 came back.
func (m *mta) send(msg string) (end, accepted time.Time, err error) {
	if err = m.cmd(250, "MAIL FROM:<%s>", sender); err != nil {
		return
	}
	if err = m.cmd(250, "RCPT TO:<%s>", juliet); err != nil {
		return
	}
	if err = m.cmd(354, "DATA"); err != nil {
		return
	}
	m.nc.SetWriteDeadline(time.Now().Add(wait))
	if err = writeFlush(m.tp.W, msg); err != nil {
		return
	}
	end = time.Now()
	if err = writeFlush(m.tp.W, "\r\n.\r\n"); err != nil {
		return
	}
	if _, text, rerr := m.tp.ReadResponse(250); rerr != nil {
		return end, accepted, fmt.Errorf("smtp end of DATA: %w (%s)", rerr, text)
	}
	accepted = time.Now()
	return end, accepted, m.cmd(250, "RSET")
}

func writeFlush(w *bufio.Writer, s string) error {
	if _, err := io.WriteString(w, s); err != nil {
		return err
	}
	return w.Flush()
}

func (m *mta) close() {
	m.nc.SetDeadline(time.Now().Add(time.Second))
	m.cmd(221, "QUIT")
	m.nc.Close()
}

// message is a plain-text mail from the contact of about size bytes,
// numbered n in its subject, without a line break after its last line.
func message(n, size int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s <%s>\r\nTo: Juliet <%s>\r\nSubject: notifylat #%d\r\n"+
		"Date: %s\r\nMessage-ID: <notifylat.%d.%d@%s>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n",
		senderName, sender, juliet, n, time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), n, senderDomain)
	const line = "Romeo, the love I bear thee can afford no better term than this: thou art a villain."
	for b.Len() < size-len(line)-2 {
		b.WriteString(line + "\r\n")
	}
	b.WriteString(line)
	return b.String()
}
