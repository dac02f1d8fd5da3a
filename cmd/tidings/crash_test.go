package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/tidings/tidings/internal/testdns"
)

// crashMsg is one message of TestCrashNoLoss's load and what became of it.
type crashMsg struct {
	token  string   // unique; in the Subject, the Message-ID and the remote recipient
	local  []string // local recipients
	remote string   // remote recipient ("" for none), routed to nowhere: it stays queued
	state  crashState
	err    error // the error the client saw, if any
}

type crashState int

const (
	crashUnsent    crashState = iota // never handed to the server
	crashRefused                     // the server said no, or the connection broke, before DATA was done: not stored
	crashUncertain                   // DATA sent, but no reply: may or may not be stored
	crashAccepted                    // 250 after DATA: must be stored, exactly once
)

// crashTokenRE finds a message's token in a Subject or a recipient address.
var crashTokenRE = regexp.MustCompile(`crash-\d{4}`)

// TestCrashNoLoss kills the real binary with SIGKILL in the middle of a load
// of submissions over several connections and restarts it on the same data
// directory: every message that got 250 is in each local recipient's INBOX
// and (for a remote recipient) in the outbound queue, exactly once; those
// whose reply was lost are there at most once, and all or nothing of
// each.
func TestCrashNoLoss(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills and restarts the binary under load; skipped with -short")
	}
	bin := binary(t)
	const (
		total  = 300 // messages
		conns  = 8   // concurrent SMTP connections
		killAt = 150 // accepted messages before the kill
	)

	// Mail for nowhere.example goes to an address and port where nothing
	// listens: refused connections, so it waits in the queue (a temporary
	// failure), neither delivered nor bounced.
	nowhere := testdns.Start(t,
		"nowhere.example. 60 IN MX 10 mx.nowhere.example.",
		"mx.nowhere.example. 60 IN A 127.0.0.9",
	)
	ln, err := net.Listen("tcp", "127.0.0.9:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	listen := interopListenAddrs(t)
	s := &interopServer{bin: bin, environ: testEnv(t,
		"TIDINGS_LISTEN_SMTP="+listen[0],
		"TIDINGS_LISTEN_SUBMISSION="+listen[1],
		"TIDINGS_LISTEN_SUBMISSIONS="+listen[2],
		"TIDINGS_RESOLVER="+nowhere.Addr,
		"TIDINGS_QUEUE_PORT="+strconv.Itoa(closedPort),
	)}
	first := startServeProc(t, bin, s.environ)
	for _, u := range []string{interopJuliet, interopRomeo} {
		s.cli(t, interopPassword+"\n", "user", "add", u, "--password-stdin")
	}

	msgs := make([]*crashMsg, total)
	for i := range msgs {
		m := &crashMsg{token: fmt.Sprintf("crash-%04d", i), local: []string{interopRomeo}}
		if i%4 == 1 {
			m.local = append(m.local, interopJuliet)
		}
		if i%3 == 0 {
			m.remote = m.token + "@nowhere.example"
		}
		msgs[i] = m
	}

	// The load: conns connections take messages from jobs; the first
	// connection to see the killAt-th 250 closes kill.
	jobs := make(chan *crashMsg, total)
	for _, m := range msgs {
		jobs <- m
	}
	close(jobs)
	var accepted atomic.Int64
	kill := make(chan struct{})
	var killOnce sync.Once
	var wg sync.WaitGroup
	addr := first.addr["submission"]
	for range conns {
		wg.Go(func() {
			c, err := crashDial(addr)
			if err != nil {
				select {
				case <-kill: // too late: the server is being killed
				default:
					t.Errorf("connecting before the kill: %v", err)
				}
				return
			}
			defer c.Close()
			for m := range jobs {
				crashSend(c, m)
				if m.state != crashAccepted {
					return // the server is gone: leave the rest unsent
				}
				if accepted.Add(1) == killAt {
					killOnce.Do(func() { close(kill) })
				}
			}
		})
	}
	loadDone := make(chan struct{})
	go func() { wg.Wait(); close(loadDone) }()
	select {
	case <-kill:
	case <-loadDone:
		t.Fatalf("the load ended before %d messages were accepted", killAt)
	case <-time.After(60 * time.Second):
		t.Fatalf("fewer than %d messages accepted in 60 s", killAt)
	}
	first.kill(t) // SIGKILL: no shutdown, no flush
	select {
	case <-loadDone:
	case <-time.After(30 * time.Second):
		t.Fatal("SMTP clients still running 30 s after the kill")
	}
	counts := map[crashState]int{}
	for _, m := range msgs {
		counts[m.state]++
	}
	t.Logf("killed the server: %d accepted, %d without a reply, %d refused or cut off, %d unsent",
		counts[crashAccepted], counts[crashUncertain], counts[crashRefused], counts[crashUnsent])

	// Restart on the same data directory, then read what survived.
	second := startServeProc(t, bin, s.environ)
	s.addr = second.addr
	db := openInteropStores(t, s)
	var check string
	if err := db.QueryRowContext(context.Background(), "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("database after the crash: integrity_check %q, %v", check, err)
	}

	// Copies by token: in each local INBOX, and in the queue.
	inbox := map[string]map[string]int{} // address → token → copies
	for _, u := range []string{interopRomeo, interopJuliet} {
		inbox[u] = map[string]int{}
		for _, m := range s.inbox(t, u) {
			tok := crashTokenRE.FindString(m.Subject)
			if tok == "" || !strings.Contains(m.raw, "\r\nMessage-ID: <"+tok+"@capulet.example>\r\n") {
				t.Errorf("unexpected message in the INBOX of %s: %q", u, m.Subject)
				continue
			}
			inbox[u][tok]++
		}
	}
	queued := map[string]int{}
	for _, e := range s.queueList(t) {
		tok := crashTokenRE.FindString(e.Recipient)
		if tok == "" || e.Sender != interopJuliet {
			t.Errorf("unexpected queue entry: %+v", e)
			continue
		}
		queued[tok]++
	}

	var lost, duplicated, partial []string
	uncertainStored := 0
	for _, m := range msgs {
		var copies []int // per recipient
		for _, u := range m.local {
			copies = append(copies, inbox[u][m.token])
		}
		if m.remote != "" {
			copies = append(copies, queued[m.token])
		}
		for _, n := range copies {
			switch {
			case n > 1:
				duplicated = append(duplicated, fmt.Sprintf("%s (state %d): %v", m.token, m.state, copies))
			case n == 0 && m.state == crashAccepted:
				lost = append(lost, fmt.Sprintf("%s: copies %v", m.token, copies))
			case n == 1 && (m.state == crashUnsent || m.state == crashRefused):
				t.Errorf("%s is stored but was never accepted (state %d, %v): copies %v", m.token, m.state, m.err, copies)
			}
		}
		if m.state == crashUncertain && copies[0] > 0 {
			uncertainStored++
		}
		// All recipients or none: one transaction stores the local copies
		// and queues the remote recipient.
		for _, n := range copies[1:] {
			if (n == 0) != (copies[0] == 0) {
				partial = append(partial, fmt.Sprintf("%s (state %d): copies %v", m.token, m.state, copies))
				break
			}
		}
	}
	t.Logf("after the restart: %d of the %d messages without a reply were stored, %d recipients queued",
		uncertainStored, counts[crashUncertain], len(queued))
	if len(lost) > 0 {
		t.Errorf("%d accepted messages lost in the crash: %q", len(lost), lost)
	}
	if len(duplicated) > 0 {
		t.Errorf("%d messages stored more than once: %q", len(duplicated), duplicated)
	}
	if len(partial) > 0 {
		t.Errorf("%d messages stored for only some recipients: %q", len(partial), partial)
	}
	for tok := range queued {
		if n, _ := strconv.Atoi(strings.TrimPrefix(tok, "crash-")); n%3 != 0 {
			t.Errorf("queued %s, which had no remote recipient", tok)
		}
	}

	// The restarted server takes mail again.
	c, err := crashDial(s.addr["submission"])
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	defer c.Close()
	after := &crashMsg{token: "crash-9999", local: []string{interopJuliet}}
	if crashSend(c, after); after.state != crashAccepted {
		t.Fatalf("after the restart: %v", after.err)
	}
	s.find(t, interopJuliet, "load crash-9999")
}

// crashDial opens a submission connection with STARTTLS, authenticated as
// juliet.
func crashDial(addr string) (*smtp.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	c, err := smtp.NewClientStartTLS(conn, &tls.Config{InsecureSkipVerify: true}) // the server's self-signed certificate
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := c.Auth(sasl.NewPlainClient("", interopJuliet, interopPassword)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// crashSend sends m on c and records its state.
func crashSend(c *smtp.Client, m *crashMsg) {
	m.state = crashRefused
	fail := func(err error) { m.err = err }
	if err := c.Mail(interopJuliet, nil); err != nil {
		fail(err)
		return
	}
	for _, r := range append(append([]string{}, m.local...), m.remote) {
		if r == "" {
			continue
		}
		if err := c.Rcpt(r, nil); err != nil {
			fail(err)
			return
		}
	}
	w, err := c.Data()
	if err != nil {
		fail(err)
		return
	}
	msg := "From: Juliet <" + interopJuliet + ">\r\nTo: " + strings.Join(m.local, ", ") + "\r\n" +
		"Subject: load " + m.token + "\r\nMessage-ID: <" + m.token + "@capulet.example>\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\n" +
		strings.Repeat("O Romeo, Romeo, wherefore art thou Romeo? "+m.token+"\r\n", 20)
	if _, err := w.Write([]byte(msg)); err != nil {
		fail(err)
		return
	}
	// From here the server may have committed: only a reply tells.
	m.state = crashUncertain
	if err := w.Close(); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			m.state = crashRefused // a reply, and not 250: nothing stored
		}
		fail(err)
		return
	}
	m.state = crashAccepted
}
