package main

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/internal/testdns"
)

// The Postfix interop test loads the MX listener with Postfix's smtp-source
// (Debian package postfix, /usr/sbin/smtp-source; scripts/test.sh installs it
// with debconf preseeded to "No configuration", so no Postfix daemon is set
// up or started). smtp-source speaks plain HELO SMTP without pipelining and,
// without -d, opens one connection per message: a client nobody here wrote,
// over many short sessions in parallel.

const (
	postfixSender   = "sender@load.example"
	postfixHelo     = "load.example"
	postfixSubject  = "smtp-source load"
	postfixMessages = 500
	postfixSessions = 10
	postfixBodySize = 4096 // smtp-source -l: the body's bytes, CRLFs included (but a final one)
)

// interopSmtpSource returns smtp-source: on PATH, else in /usr/sbin, which is
// not on an ordinary user's PATH.
func interopSmtpSource(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("smtp-source")
	if err != nil {
		path, err = exec.LookPath("/usr/sbin/smtp-source")
	}
	if err != nil {
		interopRequireTool(t, "smtp-source not installed (Debian: apt-get install postfix, with debconf "+
			"postfix/main_mailer_type \"No configuration\"; scripts/test.sh does): %v", err)
	}
	return path
}

// postfixReceivedRE matches the trace field the MX adds to a message from
// smtp-source, capturing the protocol and the id.
var postfixReceivedRE = regexp.MustCompile(`^Received: from ` + regexp.QuoteMeta(postfixHelo) + ` \(\[127\.0\.0\.1\]\)\r\n` +
	`\tby ` + regexp.QuoteMeta(testHostname) + ` \(Tidings\) with (\S+) id ([0-9a-f]{16})\r\n` +
	`\tfor <` + regexp.QuoteMeta(interopJuliet) + `>;\r\n\t[^\r\n]+\r\n`)

// postfixCounterRE matches the last value of smtp-source's -c counter.
var postfixCounterRE = regexp.MustCompile(`(\d+)\s*$`)

// TestInteropPostfixSmtpSource sends 500 messages of 4 KiB over 10 parallel
// sessions with Postfix's smtp-source to the real binary's MX listener and
// checks that exactly those 500 arrived in juliet's INBOX, each once, intact
// and with our trace fields. The throughput is logged, never asserted
// (performance targets live in benchmarks: bench/smtpload).
//
// Not parallel: the messages/s it logs would otherwise measure whatever
// other tests run at the same time.
func TestInteropPostfixSmtpSource(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the binary with smtp-source; skipped with -short")
	}
	smtpSource := interopSmtpSource(t)
	bin := binary(t)

	// SPF is checked on every message from the MX: a DNS server of our own
	// answers, so the result is pass and nothing depends on the machine's
	// resolver.
	resolver := testdns.Start(t, `load.example. 60 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`)
	s := &interopServer{bin: bin, environ: testEnv(t,
		"TIDINGS_LISTEN_SMTP=127.0.0.1:0",
		"TIDINGS_RESOLVER="+resolver.Addr,
	)}
	s.addr = startServeProc(t, bin, s.environ).addr
	host, port := s.hostPort("smtp")
	if host != "127.0.0.1" || port == "" || port == "0" {
		t.Fatalf("listen.smtp: logged address %q", s.addr["smtp"])
	}
	s.cli(t, interopPassword+"\n", "user", "add", interopJuliet, "--password-stdin")
	openInteropStores(t, s)

	// Without -d every message has its own connection: connect, HELO, MAIL,
	// RCPT, DATA, QUIT; -s sessions of that run at once. -M is the HELO name
	// (and the Message-Id's domain); -c prints a running count of DATA
	// commands completed.
	args := []string{"-c",
		"-l", strconv.Itoa(postfixBodySize),
		"-m", strconv.Itoa(postfixMessages),
		"-s", strconv.Itoa(postfixSessions),
		"-M", postfixHelo,
		"-f", postfixSender,
		"-t", interopJuliet,
		"-S", postfixSubject,
		net.JoinHostPort(host, port),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, smtpSource, args...)
	cmd.Stdin = strings.NewReader("")
	cmd.WaitDelay = 5 * time.Second
	t.Logf("running %s %s", smtpSource, strings.Join(args, " "))
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("smtp-source exited %d after %v, want 0:\n%s", ee.ExitCode(), elapsed.Round(time.Millisecond), out)
		}
		t.Fatalf("smtp-source: %v\n%s", err, out)
	}
	build := "binary without -race"
	if raceEnabled() {
		build = "binary built with -race"
	}
	t.Logf("smtp-source: %d messages of %d bytes over %d parallel sessions (one connection each) in %v: %.0f messages/s (%s, SQLite)",
		postfixMessages, postfixBodySize, postfixSessions, elapsed.Round(time.Millisecond),
		float64(postfixMessages)/elapsed.Seconds(), build)
	if m := postfixCounterRE.FindStringSubmatch(string(out)); m == nil || m[1] != strconv.Itoa(postfixMessages) {
		t.Errorf("smtp-source's counter does not end at %d:\n%s", postfixMessages, out)
	}

	msgs := s.inbox(t, interopJuliet)
	if len(msgs) != postfixMessages {
		t.Errorf("juliet's INBOX holds %d messages, want exactly %d", len(msgs), postfixMessages)
	}
	var (
		body       string // the first message's, which all must equal
		ids        = map[string]uint32{}
		messageIDs = map[string]uint32{}
		protocols  = map[string]int{}
		bad        int
	)
	for _, m := range msgs {
		if bad >= 5 {
			t.Errorf("not checking the other messages after 5 bad ones")
			break
		}
		if problem := postfixCheck(m, ids, messageIDs, protocols, &body); problem != "" {
			bad++
			t.Errorf("message UID %d: %s:\n%.1500s", m.UID, problem, m.raw)
		}
	}
	// RFC 3848 (and RFC 5321 §4.4) name the protocol of a session opened
	// with HELO "SMTP", with EHLO "ESMTP"; smtp-source sends HELO.
	for proto, n := range protocols {
		if proto != "SMTP" {
			t.Errorf("%d messages carry \"with %s\" in Received, want SMTP (HELO, no TLS, no AUTH)", n, proto)
		}
	}
}

// postfixCheck checks one stored message from smtp-source and records its
// Received id, its Message-Id and its Received protocol; it returns what is
// wrong, or "".
func postfixCheck(m interopMessage, ids, messageIDs map[string]uint32, protocols map[string]int, body *string) string {
	raw := m.raw
	if int64(len(raw)) != m.Size {
		return "stored size " + strconv.FormatInt(m.Size, 10) + ", raw message " + strconv.Itoa(len(raw)) + " bytes"
	}
	if strings.Count(raw, "\n") != strings.Count(raw, "\r\n") || strings.Count(raw, "\r") != strings.Count(raw, "\r\n") {
		return "bare CR or LF"
	}
	// Return-Path, then the SPF/DKIM/DMARC results of mail from other
	// servers, then our Received field; smtp-source sends none of its own.
	raw, ok := strings.CutPrefix(raw, "Return-Path: <"+postfixSender+">\r\n")
	if !ok {
		return "does not start with Return-Path: <" + postfixSender + ">"
	}
	authResults, raw, ok := strings.Cut(raw, "\r\nReceived: ")
	raw = "Received: " + raw
	if !ok || !strings.HasPrefix(authResults, "Authentication-Results: "+testHostname+"; spf=pass ") ||
		!strings.Contains(authResults, "smtp.mailfrom="+postfixSender) {
		return "want Authentication-Results with spf=pass for " + postfixSender + " between Return-Path and Received"
	}
	rm := postfixReceivedRE.FindStringSubmatch(raw)
	if rm == nil {
		return "Received field does not match " + postfixReceivedRE.String()
	}
	protocols[rm[1]]++
	if uid, dup := ids[rm[2]]; dup {
		return "Received id " + rm[2] + " also on UID " + strconv.FormatUint(uint64(uid), 10)
	}
	ids[rm[2]] = m.UID
	if strings.Count(m.raw, "Received: ") != 1 || strings.Count(m.raw, "Return-Path: ") != 1 ||
		strings.Count(m.raw, "Authentication-Results: ") != 1 {
		return "want exactly one Return-Path, Authentication-Results and Received field"
	}

	// smtp-source's own header, and a body of exactly -l bytes.
	if m.Subject != postfixSubject || m.From != postfixSender || m.To != interopJuliet {
		return "Subject " + strconv.Quote(m.Subject) + ", From " + strconv.Quote(m.From) + ", To " + strconv.Quote(m.To) +
			"; want " + strconv.Quote(postfixSubject) + ", " + postfixSender + ", " + interopJuliet
	}
	if m.MessageID == "" {
		return "no Message-Id"
	}
	if uid, dup := messageIDs[m.MessageID]; dup {
		return "Message-Id " + m.MessageID + " also on UID " + strconv.FormatUint(uint64(uid), 10) + ": stored twice"
	}
	messageIDs[m.MessageID] = m.UID
	// smtp-source ends a payload that does not end in CRLF with one
	// before the final dot (4096 bytes: 51 lines of 80 and 16 bytes more).
	_, b, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok || !strings.HasSuffix(b, "\r\n") || (len(b) != postfixBodySize && len(b) != postfixBodySize+2) {
		return "body of " + strconv.Itoa(len(b)) + " bytes, want the " + strconv.Itoa(postfixBodySize) + " sent and a final CRLF"
	}
	if *body == "" {
		*body = b
	} else if b != *body {
		return "body differs from the first message's"
	}
	return ""
}
