package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/tidings/tidings/internal/testdns"
)

// The Sieve interop test is the filters issue's end-to-end scenario, on the
// real binary: per-user Sieve scripts, stored and activated with the CLI,
// run at delivery of mail that arrives on the MX listener (go-smtp's
// client); juliet is online in slixmpp (testdata/sieve/notify_client.py,
// which the test drives line by line over stdin and which prints every
// message stanza it receives as a JSON line) and gets a headline when a
// contact writes; what is stored is read back over IMAP (go-imap's client).
// A small DNS server inside the test answers the SPF and DMARC lookups of
// the MX, so that no verdict depends on the machine's resolver.
//
// The notification latency is measured from just before the final dot of
// DATA to the moment the test reads the client's line: an upper bound, as
// it includes the client's parsing and the pipe.

const (
	interopSieveTybalt   = "tybalt@capulet.example"   // juliet's contact
	interopSieveMercutio = "mercutio@capulet.example" // sends auto-generated mail; redirect target
	interopSieveNurse    = "nurse@capulet.example"    // sends mailing-list mail
	interopSieveParis    = "paris@verona.example"     // a stranger on another domain
	interopSieveHELO     = "verona.example"

	// interopSieveNotifyWithin is the bound on a notification's
	// latency, from the end of DATA to the stanza at the client.
	interopSieveNotifyWithin = time.Second
	// interopSieveQuiet is how long the test watches for a notification
	// that must not come.
	interopSieveQuiet = 2 * time.Second
)

var interopSieveListensRE = regexp.MustCompile(`msg=listening service=(smtp|xmpp_client|imaps) addr=(\S+)`)

// interopSieveEvent is one line of notify_client.py.
type interopSieveEvent struct {
	Event   string  `json:"event"` // online, offline, message, error, bye
	Type    string  `json:"type"`
	From    string  `json:"from"`
	To      string  `json:"to"`
	Subject string  `json:"subject"`
	Body    string  `json:"body"`
	OOB     *string `json:"oob"`
	NoStore bool    `json:"no_store"`
	Delay   bool    `json:"delay"`
	JID     string  `json:"jid"`
	Command string  `json:"command"`
	Error   string  `json:"error"`
	T       float64 `json:"t"` // the client's time.monotonic()

	at   time.Time // when the test read the line
	line string
}

// interopSieveClient is notify_client.py running, logged in or not.
type interopSieveClient struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan interopSieveEvent
	stderr syncBuffer
	done   chan struct{}
}

// startInteropSieveClient starts the client script for jid with
// interopPassword, not logged in yet. Clean-up ends it.
func startInteropSieveClient(t *testing.T, python, host string, port int, jid string) *interopSieveClient {
	t.Helper()
	return startInteropNotifyClient(t, python, host, port, jid, interopPassword, "balcony")
}

// startInteropNotifyClient starts notify_client.py for jid with password
// and resource, not logged in yet. Clean-up ends it.
func startInteropNotifyClient(t *testing.T, python, host string, port int, jid, password, resource string) *interopSieveClient {
	t.Helper()
	cfg, err := json.Marshal(map[string]any{"host": host, "port": port, "jid": jid,
		"password": password, "resource": resource})
	if err != nil {
		t.Fatal(err)
	}
	c := &interopSieveClient{events: make(chan interopSieveEvent, 64), done: make(chan struct{})}
	c.cmd = exec.Command(python, filepath.Join("testdata", "sieve", "notify_client.py"), string(cfg))
	c.cmd.Stderr = &c.stderr
	c.cmd.WaitDelay = 5 * time.Second
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go c.read(stdout)
	t.Cleanup(func() {
		c.stdin.Close() // end of input: the script logs out and exits
		timeout := time.NewTimer(15 * time.Second)
		defer timeout.Stop()
		killed := false
		for open := true; open; { // drain, so that read reaches Wait
			select {
			case _, open = <-c.events:
			case <-timeout.C:
				c.cmd.Process.Kill() // our child, by PID
				killed = true
			}
		}
		<-c.done
		if killed {
			t.Errorf("notify_client.py still running 15 s after its input ended")
		}
		if t.Failed() {
			t.Logf("notify_client.py (%s) stderr:\n%s", jid, c.stderr.String())
		}
	})
	return c
}

// read turns the script's lines into events, stamped when read.
func (c *interopSieveClient) read(stdout io.Reader) {
	defer close(c.done)
	defer close(c.events)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		ev := interopSieveEvent{at: time.Now(), line: sc.Text()}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			ev = interopSieveEvent{Event: "error", Error: "not JSON: " + err.Error(), at: ev.at, line: ev.line}
		}
		c.events <- ev
	}
	c.cmd.Wait()
}

// send gives the script one command.
func (c *interopSieveClient) send(t *testing.T, command string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, command+"\n"); err != nil {
		t.Fatalf("notify_client.py %s: %v; stderr:\n%s", command, err, c.stderr.String())
	}
}

// await waits up to timeout for an event of kind and returns it with the
// messages that came before it. An error event, or the script's end,
// fails t.
func (c *interopSieveClient) await(t *testing.T, kind string, timeout time.Duration) (interopSieveEvent, []interopSieveEvent) {
	t.Helper()
	var before []interopSieveEvent
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-c.events:
			switch {
			case !ok:
				t.Fatalf("notify_client.py ended while the test waited for %q; stderr:\n%s", kind, c.stderr.String())
			case ev.Event == kind:
				return ev, before
			case ev.Event == "offline" && kind == "bye": // quit logs out first
			case ev.Event == "message":
				before = append(before, ev)
			default:
				t.Fatalf("notify_client.py: %s while the test waited for %q; stderr:\n%s", ev.line, kind, c.stderr.String())
			}
		case <-deadline:
			t.Fatalf("notify_client.py: no %q within %v (messages meanwhile: %d); stderr:\n%s", kind, timeout, len(before), c.stderr.String())
		}
	}
}

// quiet collects every event until the time until.
func (c *interopSieveClient) quiet(until time.Time) []interopSieveEvent {
	var got []interopSieveEvent
	timer := time.NewTimer(time.Until(until))
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				return got
			}
			got = append(got, ev)
		case <-timer.C:
			return got
		}
	}
}

// interopSieveLines renders events for a failure message.
func interopSieveLines(evs []interopSieveEvent) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString("\n  " + ev.line)
	}
	return b.String()
}

// interopSieveMail is one message for the MX.
type interopSieveMail struct {
	from, to string // envelope
	header   string // From and other fields, CRLF-terminated; To, Subject, Date and Message-ID are added
	subject  string
	body     string
}

// interopSieveSend delivers m over the MX listener at addr and returns the
// time just before the final dot of DATA went out.
func interopSieveSend(t *testing.T, addr string, m interopSieveMail) time.Time {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello(interopSieveHELO); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(m.from, nil); err != nil {
		t.Fatalf("MAIL FROM:<%s>: %v", m.from, err)
	}
	if err := c.Rcpt(m.to, nil); err != nil {
		t.Fatalf("RCPT TO:<%s>: %v", m.to, err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	msg := m.header + "To: <" + m.to + ">\r\nSubject: " + m.subject + "\r\nDate: " + time.Now().Format(time.RFC1123Z) +
		"\r\nMessage-ID: <" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@" + interopSieveHELO + ">\r\n\r\n" + m.body
	if _, err := io.WriteString(w, msg); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if err := w.Close(); err != nil {
		t.Fatalf("DATA of %q: %v", m.subject, err)
	}
	if err := c.Quit(); err != nil {
		t.Errorf("QUIT: %v", err)
	}
	return sent
}

// interopSieveStored is one message in an INBOX, as IMAP shows it.
type interopSieveStored struct {
	subject string
	header  mail.Header
	body    string
	raw     string
}

// interopSieveINBOX reads the INBOX of user over IMAPS at addr.
func interopSieveINBOX(t *testing.T, addr, user string) []interopSieveStored {
	t.Helper()
	return interopIMAPMailbox(t, addr, user, interopPassword, "INBOX")
}

// interopIMAPMailbox reads mailbox of user over IMAPS at addr, logging in
// with password.
func interopIMAPMailbox(t *testing.T, addr, user, password, mailbox string) []interopSieveStored {
	t.Helper()
	c, err := imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN %s: %v", user, err)
	}
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("IMAP EXAMINE %s of %s: %v", mailbox, user, err)
	}
	var out []interopSieveStored
	if sel.NumMessages > 0 {
		var all imap.SeqSet
		all.AddRange(1, sel.NumMessages)
		whole := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(all, &imap.FetchOptions{Envelope: true, BodySection: []*imap.FetchItemBodySection{whole}}).Collect()
		if err != nil {
			t.Fatalf("IMAP FETCH %s of %s: %v", mailbox, user, err)
		}
		for _, m := range msgs {
			raw := string(m.FindBodySection(whole))
			s := interopSieveStored{raw: raw}
			if m.Envelope != nil {
				s.subject = m.Envelope.Subject
			}
			if pm, err := mail.ReadMessage(strings.NewReader(raw)); err == nil {
				s.header = pm.Header
				b, _ := io.ReadAll(pm.Body)
				s.body = string(b)
			}
			out = append(out, s)
		}
	}
	if err := c.Logout().Wait(); err != nil {
		t.Errorf("IMAP LOGOUT: %v", err)
	}
	return out
}

// interopSieveWithSubject returns the stored messages whose subject is subject.
func interopSieveWithSubject(msgs []interopSieveStored, subject string) []interopSieveStored {
	var out []interopSieveStored
	for _, m := range msgs {
		if m.subject == subject {
			out = append(out, m)
		}
	}
	return out
}

// interopSieveSubjects lists the subjects, for failure messages.
func interopSieveSubjects(msgs []interopSieveStored) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.subject
	}
	return out
}

// interopSieveCLI runs the binary with args against the server's configuration,
// fails t unless it exits 0, and returns what it printed.
func interopSieveCLI(t *testing.T, s *interopServer, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = processEnv(s.environ)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tidings %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// interopSieveActivate stores testdata/sieve/file as user's script name with
// the CLI and activates it; it returns the source.
func interopSieveActivate(t *testing.T, s *interopServer, user, name, file string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("testdata", "sieve", file))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	interopSieveCLI(t, s, "", "sieve", "put", user, name, path)
	interopSieveCLI(t, s, "", "sieve", "activate", user, name)
	return string(src)
}

// interopSieveLogLines returns the server log's lines from offset on that match re.
func interopSieveLogLines(log string, offset int, re *regexp.Regexp) []string {
	var out []string
	for _, line := range strings.Split(log[offset:], "\n") {
		if re.MatchString(line) {
			out = append(out, line)
		}
	}
	return out
}

var (
	interopSieveNotifyTroubleRE = regexp.MustCompile(`level=(WARN|ERROR).*(?i:notif)`)
	interopSieveCheckedRE       = regexp.MustCompile(`msg=checked .*\bspf=`)
	interopSieveFilterFailedRE  = regexp.MustCompile(`level=WARN msg="filter failed; keeping the message in INBOX".* to=` + regexp.QuoteMeta(interopRomeo))
)

// TestInteropSieveNotify: juliet's Sieve script notifies her over XMPP of
// mail from her contacts, and only while she is online; romeo's vacation
// script answers once per sender and never automatic or list mail; scripts
// that break the engine's limits lose no mail.
func TestInteropSieveNotify(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and runs slixmpp")
	}
	t.Parallel()
	python, version := interopSlixmpp(t)
	t.Logf("slixmpp %s (%s)", version, python)
	start := time.Now()

	bin := binary(t)
	dns := testdns.Start(t,
		`capulet.example. 60 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		`verona.example. 60 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
	)
	listen := interopListenAddrs(t)
	environ := testEnv(t,
		"TIDINGS_LISTEN_SMTP="+listen[0],
		"TIDINGS_LISTEN_XMPP_CLIENT="+listen[1],
		"TIDINGS_LISTEN_IMAPS="+listen[2],
		"TIDINGS_RESOLVER="+dns.Addr,
		"TIDINGS_XMPP_C2S_POST_AUTH_BYTES_PER_SECOND=0",
	)
	proc := startServeProc(t, bin, environ)
	addr := map[string]string{}
	for _, m := range interopSieveListensRE.FindAllStringSubmatch(proc.stderr.String(), -1) {
		addr[m[1]] = m[2]
	}
	for _, key := range []string{"smtp", "xmpp_client", "imaps"} {
		if host, port, err := net.SplitHostPort(addr[key]); err != nil || !strings.HasPrefix(host, "127.") || port == "0" {
			t.Fatalf("listen.%s: logged address %q; log:\n%s", key, addr[key], proc.stderr.String())
		}
	}
	xmppHost, xmppPortText, _ := net.SplitHostPort(addr["xmpp_client"])
	xmppPort, _ := strconv.Atoi(xmppPortText)
	mx, imaps := addr["smtp"], addr["imaps"]

	srv := &interopServer{bin: bin, environ: environ}
	for _, u := range []string{interopJuliet, interopRomeo, interopSieveTybalt, interopSieveMercutio, interopSieveNurse} {
		srv.cli(t, interopPassword+"\n", "user", "add", u, "--password-stdin")
	}
	juliet := startInteropSieveClient(t, python, xmppHost, xmppPort, interopJuliet)

	// fromTybalt is a mail from juliet's contact.
	fromTybalt := func(subject string) interopSieveMail {
		return interopSieveMail{from: interopSieveTybalt, to: interopJuliet, subject: subject,
			header: "From: Tybalt <" + interopSieveTybalt + ">\r\n", body: "Thou wretched boy.\r\n"}
	}
	// checkInbox fails t unless exactly one message with subject is in the
	// INBOX of user.
	checkInbox := func(t *testing.T, user, subject string) {
		t.Helper()
		msgs := interopSieveINBOX(t, imaps, user)
		if n := len(interopSieveWithSubject(msgs, subject)); n != 1 {
			t.Errorf("%d messages %q in the INBOX of %s, want 1; there: %q", n, subject, user, interopSieveSubjects(msgs))
		}
	}

	var latency time.Duration
	ok := t.Run("1 contact and notify script", func(t *testing.T) {
		interopSieveCLI(t, srv, "", "contact", "add", interopJuliet, "--name", "Tybalt", "--email", interopSieveTybalt)
		if list := interopSieveCLI(t, srv, "", "contact", "list", interopJuliet); !strings.Contains(list, interopSieveTybalt) {
			t.Errorf("contact list %s lacks tybalt:\n%s", interopJuliet, list)
		}
		src := interopSieveActivate(t, srv, interopJuliet, "notify", "notify.sieve")
		if got := interopSieveCLI(t, srv, "", "sieve", "get", interopJuliet, "notify"); got != src {
			t.Errorf("sieve get: %q, want what was put: %q", got, src)
		}
		list := interopSieveCLI(t, srv, "", "sieve", "list", interopJuliet)
		if !regexp.MustCompile(`(?m)^notify\s+active\s`).MatchString(list) {
			t.Errorf("sieve list does not show \"notify\" active:\n%s", list)
		}
	})
	if !ok {
		t.Fatal("without juliet's script the other scenarios mean nothing")
	}

	online := false
	t.Run("2 online, mail from a contact", func(t *testing.T) {
		juliet.send(t, "login")
		ev, early := juliet.await(t, "online", 15*time.Second)
		online = true
		if !strings.HasPrefix(ev.JID, interopJuliet+"/") || len(early) > 0 {
			t.Errorf("logged in as %q with %d messages before: %s", ev.JID, len(early), interopSieveLines(early))
		}
		const subject = "A word with one of us"
		sent := interopSieveSend(t, mx, fromTybalt(subject))
		ev, _ = juliet.await(t, "message", 5*time.Second)
		latency = ev.at.Sub(sent)
		t.Logf("notification %v after the end of DATA: %s", latency.Round(time.Microsecond), ev.line)
		if latency > interopSieveNotifyWithin {
			t.Errorf("the headline came %v after the end of DATA, want within %v", latency, interopSieveNotifyWithin)
		}
		if ev.Type != "headline" || ev.From != "capulet.example" || ev.Subject != "New mail" {
			t.Errorf("type %q from %q subject %q, want a headline from capulet.example with subject \"New mail\"", ev.Type, ev.From, ev.Subject)
		}
		if bare, _, _ := strings.Cut(ev.To, "/"); bare != interopJuliet {
			t.Errorf("to %q, want juliet", ev.To)
		}
		urlPrefix := "https://" + testHostname + "/mail/INBOX/"
		switch {
		case ev.OOB == nil:
			t.Errorf("no XEP-0066 URL")
		case !strings.HasPrefix(*ev.OOB, urlPrefix):
			t.Errorf("XEP-0066 URL %q, want %s<uid>", *ev.OOB, urlPrefix)
		case ev.Body != "New mail from Tybalt: "+subject+"\n"+*ev.OOB:
			t.Errorf("body %q, want the sender's name, the subject and the URL", ev.Body)
		}
		if !ev.NoStore || ev.Delay {
			t.Errorf("no-store hint %v (want true), delayed %v (want false)", ev.NoStore, ev.Delay)
		}
		if more := juliet.quiet(time.Now().Add(300 * time.Millisecond)); len(more) > 0 {
			t.Errorf("more than one stanza for one mail: %s", interopSieveLines(more))
		}
		checkInbox(t, interopJuliet, subject)
	})
	if !online {
		t.Fatal("juliet could not log in: the scenarios that need her online mean nothing")
	}

	// Mail clients encode display names with non-ASCII letters or specials
	// (RFC 2047 §5): "Capulet, Tÿbalt" with its comma, as Python's
	// email.utils.formataddr writes it. The script must still find the
	// address, and the notice must show the decoded name and subject.
	t.Run("2b online, contact with an encoded name", func(t *testing.T) {
		const subject = "Grüße aus Verona"
		m := fromTybalt("=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_Verona?=")
		m.header = "From: =?utf-8?q?Capulet=2C_T=C3=BFbalt?= <" + interopSieveTybalt + ">\r\n"
		interopSieveSend(t, mx, m)
		ev, _ := juliet.await(t, "message", interopSieveQuiet)
		want := "New mail from Capulet, Tÿbalt: " + subject + "\n"
		if ev.Type != "headline" || !strings.HasPrefix(ev.Body, want) {
			t.Errorf("want a headline whose body starts %q, got: %s", want, ev.line)
		}
		if more := juliet.quiet(time.Now().Add(300 * time.Millisecond)); len(more) > 0 {
			t.Errorf("more than one stanza for one mail: %s", interopSieveLines(more))
		}
	})

	t.Run("3 online, mail from a stranger", func(t *testing.T) {
		const subject = "County Paris asks"
		sent := interopSieveSend(t, mx, interopSieveMail{from: interopSieveParis, to: interopJuliet, subject: subject,
			header: "From: Paris <" + interopSieveParis + ">\r\n", body: "Thursday, at Saint Peter's Church.\r\n"})
		if got := juliet.quiet(sent.Add(interopSieveQuiet)); len(got) > 0 {
			t.Errorf("want nothing for a stranger's mail, got: %s", interopSieveLines(got))
		}
		checkInbox(t, interopJuliet, subject)
	})

	// An encoded-word is text, never syntax (RFC 2047 §5): a stranger whose
	// display name decodes to a contact's <address> is still a stranger.
	t.Run("3b online, stranger named like a contact", func(t *testing.T) {
		const subject = "Not Tybalt at all"
		sent := interopSieveSend(t, mx, interopSieveMail{from: interopSieveParis, to: interopJuliet, subject: subject,
			header: "From: =?utf-8?q?=3C" + strings.ReplaceAll(interopSieveTybalt, "@", "=40") + "=3E?= <" + interopSieveParis + ">\r\n",
			body:   "Thursday, at Saint Peter's Church.\r\n"})
		if got := juliet.quiet(sent.Add(interopSieveQuiet)); len(got) > 0 {
			t.Errorf("want nothing for a stranger's mail, got: %s", interopSieveLines(got))
		}
		checkInbox(t, interopJuliet, subject)
	})

	t.Run("4 offline, then online again", func(t *testing.T) {
		juliet.send(t, "logout")
		if _, early := juliet.await(t, "offline", 15*time.Second); len(early) > 0 {
			t.Errorf("stanzas while logging out: %s", interopSieveLines(early))
		}
		logFrom := len(proc.stderr.String())
		const subject = "Thou art a villain"
		interopSieveSend(t, mx, fromTybalt(subject))
		checkInbox(t, interopJuliet, subject)
		time.Sleep(200 * time.Millisecond) // the notifier's goroutine had its chance
		if lines := interopSieveLogLines(proc.stderr.String(), logFrom, interopSieveNotifyTroubleRE); len(lines) > 0 {
			t.Errorf("the server complained about a notification to an offline user:\n%s", strings.Join(lines, "\n"))
		}

		juliet.send(t, "login")
		_, early := juliet.await(t, "online", 15*time.Second)
		late := juliet.quiet(time.Now().Add(1500 * time.Millisecond))
		if got := append(early, late...); len(got) > 0 {
			t.Errorf("stanzas after logging in again, want none (headlines are not stored offline): %s", interopSieveLines(got))
		}
	})

	t.Run("5 vacation", func(t *testing.T) {
		interopSieveActivate(t, srv, interopRomeo, "vacation", "vacation.sieve")
		toRomeo := func(from, name, header, subject string) interopSieveMail {
			return interopSieveMail{from: from, to: interopRomeo, subject: subject,
				header: "From: " + name + " <" + from + ">\r\n" + header, body: "Where is Romeo?\r\n"}
		}
		// Automatic and list mail first: once tybalt's reply is in, theirs
		// would be too.
		interopSieveSend(t, mx, toRomeo(interopSieveMercutio, "Mercutio", "Auto-Submitted: auto-generated\r\n", "A plague o' both your houses"))
		interopSieveSend(t, mx, toRomeo(interopSieveNurse, "Nurse", "List-Id: Capulet household <household.capulet.example>\r\n", "Household news"))
		interopSieveSend(t, mx, toRomeo(interopSieveTybalt, "Tybalt", "", "Turn and draw"))
		interopSieveSend(t, mx, toRomeo(interopSieveTybalt, "Tybalt", "", "Turn and draw, again"))
		for _, s := range []string{"A plague o' both your houses", "Household news", "Turn and draw", "Turn and draw, again"} {
			checkInbox(t, interopRomeo, s)
		}

		var replies []interopSieveStored
		deadline := time.Now().Add(10 * time.Second)
		for len(replies) == 0 && time.Now().Before(deadline) {
			time.Sleep(250 * time.Millisecond)
			replies = interopSieveWithSubject(interopSieveINBOX(t, imaps, interopSieveTybalt), "Away")
		}
		if len(replies) == 0 {
			t.Fatalf("no vacation reply in tybalt's INBOX within 10 s; there: %q", interopSieveSubjects(interopSieveINBOX(t, imaps, interopSieveTybalt)))
		}
		t.Logf("vacation reply after %v", time.Since(deadline.Add(-10*time.Second)).Round(time.Millisecond))
		time.Sleep(1500 * time.Millisecond) // a second reply, if any, has arrived too
		all := interopSieveINBOX(t, imaps, interopSieveTybalt)
		if replies = interopSieveWithSubject(all, "Away"); len(all) != 1 || len(replies) != 1 {
			t.Fatalf("tybalt's INBOX holds %q, want exactly one reply \"Away\"", interopSieveSubjects(all))
		}
		r := replies[0]
		if got := r.header.Get("Auto-Submitted"); !strings.HasPrefix(strings.ToLower(got), "auto-replied") {
			t.Errorf("reply has Auto-Submitted %q, want auto-replied (RFC 3834)", got)
		}
		if from, err := mail.ParseAddress(r.header.Get("From")); err != nil || from.Address != interopRomeo {
			t.Errorf("reply From %q, want romeo", r.header.Get("From"))
		}
		if !strings.Contains(r.body, "I am in Mantua.") {
			t.Errorf("reply body %q lacks the script's reason", r.body)
		}
		if rp := r.header.Get("Return-Path"); rp != "<>" {
			t.Errorf("reply Return-Path %q, want <> (RFC 5230 §5.1: the null sender)", rp)
		}
		for _, u := range []string{interopSieveMercutio, interopSieveNurse} {
			if msgs := interopSieveINBOX(t, imaps, u); len(msgs) > 0 {
				t.Errorf("%s got %q, want no reply to automatic or list mail (RFC 5230 §4.5)", u, interopSieveSubjects(msgs))
			}
		}
	})

	t.Run("6 limits", func(t *testing.T) {
		big := strings.Repeat(strings.Repeat("a", 78)+"\r\n", 2600) // 208 KB without a "b"
		for _, c := range []struct{ name, file, subject, body string }{
			{"redirects", "redirects.sieve", "Six redirects", "Where is Romeo?\r\n"},
			{"matches", "matches.sieve", "A long matches", big},
		} {
			t.Run(c.name, func(t *testing.T) {
				interopSieveActivate(t, srv, interopRomeo, c.name, c.file)
				logFrom := len(proc.stderr.String())
				began := time.Now()
				interopSieveSend(t, mx, interopSieveMail{from: interopSieveTybalt, to: interopRomeo, subject: c.subject,
					header: "From: Tybalt <" + interopSieveTybalt + ">\r\n", body: c.body})
				t.Logf("SMTP transaction took %v", time.Since(began).Round(time.Millisecond))
				checkInbox(t, interopRomeo, c.subject)
				warned := interopSieveLogLines(proc.stderr.String(), logFrom, interopSieveFilterFailedRE)
				if len(warned) == 0 {
					t.Errorf("no %q in the server log: the script ran within its limits", interopSieveFilterFailedRE)
				} else {
					t.Logf("server: %s", warned[0])
				}
			})
		}
		// The redirects did not go out: the run failed as a whole.
		time.Sleep(time.Second)
		if n := len(interopSieveWithSubject(interopSieveINBOX(t, imaps, interopSieveMercutio), "Six redirects")); n > 0 {
			t.Errorf("mercutio got %d redirected copies, want none from a script over its redirect limit", n)
		}
	})

	juliet.send(t, "quit")
	juliet.await(t, "bye", 15*time.Second)
	log := proc.stderr.String()
	if strings.Contains(log, "level=ERROR") || strings.Contains(log, "panic") {
		t.Errorf("errors in the server log:\n%s", log)
	}
	// The MX asked the test's DNS server, not the machine's resolver.
	if checked := interopSieveLogLines(log, 0, interopSieveCheckedRE); len(checked) == 0 || strings.Contains(strings.Join(checked, "\n"), "temperror") {
		t.Errorf("want SPF/DMARC checks without DNS errors, got:\n%s", strings.Join(checked, "\n"))
	}
	t.Logf("done in %v; notification latency %v", time.Since(start).Round(time.Millisecond), latency.Round(time.Microsecond))
}
