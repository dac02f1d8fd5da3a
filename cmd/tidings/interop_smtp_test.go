package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-message"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/mail/store"
)

// The interop tests prove the SMTP server with clients nobody here wrote:
// swaks (Perl, Debian package swaks, with libnet-ssleay-perl for TLS) and
// Python's smtplib (standard library only; the client script is
// testdata/interop/smtp_client.py). Each test starts the real binary with
// `serve` on a fresh SQLite data directory and every SMTP listener on a free
// loopback port, creates users with the CLI, lets the client talk, and then
// reads what arrived with the store API from the same database.
//
// A missing tool skips the test, except in CI mode
// (TIDINGS_TEST_POSTGRES=require, as scripts/test.sh sets it), where it
// fails: CI must not go green without having run them.

const (
	interopPassword = "wherefore-art-thou-1"
	interopJuliet   = "juliet@capulet.example"
	interopRomeo    = "romeo@capulet.example"
)

// interopBody has lines that dot-stuffing must carry through: a leading
// dot, a line of only a dot (which ends DATA unless stuffed), two dots.
const interopBody = "Good night, good night! Parting is such sweet sorrow\n" +
	".that I shall say good night till it be morrow.\n" +
	".\n" +
	"..two dots\n" +
	"Sleep dwell upon thine eyes.\n"

// interopRequireTool reports a missing interop tool: a failure in CI mode
// (CI=true, or TIDINGS_TEST_POSTGRES=require as scripts/test.sh sets it),
// else a skip with the reason.
func interopRequireTool(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" || os.Getenv("TIDINGS_TEST_POSTGRES") == "require" {
		t.Fatalf("CI mode: "+format, args...)
	}
	t.Skipf(format, args...)
}

// interopSwaks returns swaks, checking that it can do TLS.
func interopSwaks(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("swaks")
	if err != nil {
		interopRequireTool(t, "swaks not installed (Debian: apt-get install swaks libnet-ssleay-perl; scripts/test.sh does): %v", err)
	}
	out, _ := exec.Command(path, "--support").CombinedOutput()
	if !strings.Contains(string(out), "TLS supported") {
		interopRequireTool(t, "swaks cannot do TLS (Debian: apt-get install libnet-ssleay-perl):\n%s", out)
	}
	return path
}

// interopPython returns python3, checking for the modules the script uses.
func interopPython(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("python3")
	if err != nil {
		interopRequireTool(t, "python3 not installed: %v", err)
	}
	if out, err := exec.Command(path, "-c", "import json, smtplib, ssl, email.message").CombinedOutput(); err != nil {
		interopRequireTool(t, "python3 lacks smtplib or ssl: %v\n%s", err, out)
	}
	return path
}

// interopServer is `tidings serve` running as a process.
type interopServer struct {
	bin     string
	environ []string
	addr    map[string]string // by listen key: smtp, submission, submissions
	stderr  syncBuffer
	st      *store.Store
	acc     *accounts.Store
}

var (
	interopRunningRE = regexp.MustCompile(`msg="tidings is running"`)
	interopListensRE = regexp.MustCompile(`msg=listening service=(smtp|submission|submissions) addr=(\S+)`)
)

// interopListenAddrs returns three listen addresses for the SMTP
// listeners. The configuration refuses the same address twice, even
// "127.0.0.1:0", so each gets port 0 on its own loopback address where the
// system routes all of 127.0.0.0/8 to the loopback interface (Linux): the
// kernel picks free ports and nothing can take them first. Elsewhere it
// falls back to ports found free on 127.0.0.1 and released again.
func interopListenAddrs(t *testing.T) [3]string {
	t.Helper()
	return [3]string(interopListenAddrsN(t, 3))
}

// interopListenAddrsN is interopListenAddrs for n listeners: port 0 on
// 127.0.0.1 … 127.0.0.n when those loopback addresses work, else n free
// ports on 127.0.0.1.
func interopListenAddrsN(t *testing.T, n int) []string {
	t.Helper()
	if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", n)); err == nil {
		ln.Close()
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("127.0.0.%d:0", i+1)
		}
		return out
	}
	out := make([]string, n)
	var lns []net.Listener
	for i := range out {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out[i] = ln.Addr().String()
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// startInteropServer starts the binary on a fresh data directory with the
// domain capulet.example, the SMTP listeners on free loopback ports, and the
// users juliet and romeo created with the CLI. Clean-up stops it with
// SIGTERM and checks that it exits 0.
func startInteropServer(t *testing.T) *interopServer {
	t.Helper()
	s := &interopServer{bin: binary(t), addr: map[string]string{}}
	listen := interopListenAddrs(t)
	s.environ = testEnv(t,
		"TIDINGS_LISTEN_SMTP="+listen[0],
		"TIDINGS_LISTEN_SUBMISSION="+listen[1],
		"TIDINGS_LISTEN_SUBMISSIONS="+listen[2],
	)
	var stdout syncBuffer
	cmd := exec.Command(s.bin, "serve", "--domain", "capulet.example")
	cmd.Dir = t.TempDir()
	cmd.Env = processEnv(s.environ)
	cmd.Stdout, cmd.Stderr = &stdout, &s.stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) // our child, by PID
		select {
		case <-done:
			if waitErr != nil {
				t.Errorf("serve after SIGTERM: %v (want exit 0); stderr:\n%s", waitErr, s.stderr.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("serve still running 10 s after SIGTERM; stderr:\n%s", s.stderr.String())
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.stderr.String())
		}
	})

	waitFor(t, &s.stderr, interopRunningRE, done, 30*time.Second)
	for _, m := range interopListensRE.FindAllStringSubmatch(s.stderr.String(), -1) {
		s.addr[m[1]] = m[2]
	}
	for _, key := range []string{"smtp", "submission", "submissions"} {
		host, port, err := net.SplitHostPort(s.addr[key])
		if err != nil || !strings.HasPrefix(host, "127.") || port == "0" {
			t.Fatalf("listen.%s: logged address %q; log:\n%s", key, s.addr[key], s.stderr.String())
		}
	}

	for _, u := range []string{interopJuliet, interopRomeo} {
		s.cli(t, interopPassword+"\n", "user", "add", u, "--password-stdin")
	}

	openInteropStores(t, s)
	return s
}

// cli runs the binary with args against the server's configuration and
// fails t unless it exits 0.
func (s *interopServer) cli(t *testing.T, stdin string, args ...string) {
	t.Helper()
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = processEnv(s.environ)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tidings %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// hostPort returns the host and the port of listener key.
func (s *interopServer) hostPort(key string) (string, string) {
	host, port, _ := net.SplitHostPort(s.addr[key])
	return host, port
}

// interopMessage is one stored message: its metadata and its raw bytes.
type interopMessage struct {
	store.Message
	raw string
}

// inbox returns the messages in the INBOX of address (none if it has no
// INBOX yet: delivery creates it).
func (s *interopServer) inbox(t *testing.T, address string) []interopMessage {
	t.Helper()
	ctx := context.Background()
	u, err := s.acc.User(ctx, address)
	if err != nil {
		t.Fatal(err)
	}
	box, err := s.st.Mailbox(ctx, u.ID, "INBOX")
	if errors.Is(err, store.ErrNoMailbox) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.st.List(ctx, box.ID, store.AllUIDs, false)
	if err != nil {
		t.Fatal(err)
	}
	var out []interopMessage
	for _, m := range msgs {
		m, body, err := s.st.Open(ctx, box.ID, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(body)
		body.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, interopMessage{Message: m, raw: string(b)})
	}
	return out
}

// find returns the one message with subject in the INBOX of address.
func (s *interopServer) find(t *testing.T, address, subject string) interopMessage {
	t.Helper()
	var found []interopMessage
	var subjects []string
	for _, m := range s.inbox(t, address) {
		subjects = append(subjects, m.Subject)
		if m.Subject == subject {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d messages with subject %q in the INBOX of %s, want 1; subjects there: %q", len(found), subject, address, subjects)
	}
	return found[0]
}

// countSubject counts the messages whose subject contains sub in the INBOX
// of address.
func (s *interopServer) countSubject(t *testing.T, address, sub string) int {
	t.Helper()
	n := 0
	for _, m := range s.inbox(t, address) {
		if strings.Contains(m.Subject, sub) {
			n++
		}
	}
	return n
}

// interopCRLF turns the LF line ends of s into CRLF.
func cutLine(s string) (rest, line string) {
	line, rest, _ = strings.Cut(s, "\r\n")
	return rest, line
}

func interopCRLF(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// interopCheckTrace checks what delivery put in front of the message:
// Return-Path with the envelope sender, then our Received field naming the
// client, its loopback address, the protocol (RFC 3848) and the one
// recipient (rcpt; "" for a message with several, where Received names
// none).
func interopCheckTrace(t *testing.T, m interopMessage, from, helo, with, rcpt string) {
	t.Helper()
	// Mail from other servers (not ESMTPSA) carries our SPF/DKIM/DMARC
	// results between Return-Path and Received.
	rp := "Return-Path: <" + from + ">\r\n"
	if rest, ok := strings.CutPrefix(m.raw, rp+"Authentication-Results: "+testHostname+"; spf="); ok != !strings.HasSuffix(with, "A") {
		t.Errorf("Authentication-Results present: %v, want it only for unauthenticated mail:\n%s", ok, m.raw)
	} else if ok {
		for rest, _ = cutLine(rest); strings.HasPrefix(rest, "\t") || strings.HasPrefix(rest, " "); rest, _ = cutLine(rest) {
		}
		m.raw = rp + rest
	}
	want := "Return-Path: <" + from + ">\r\nReceived: from " + helo + " ([127."
	wantBy := "])\r\n\tby " + testHostname + " (Tidings) with " + with + " id "
	if !strings.HasPrefix(m.raw, want) || !strings.Contains(m.raw[:min(len(m.raw), len(want)+20+len(wantBy))], wantBy) {
		t.Errorf("message does not start with %q, a loopback address and %q:\n%s", want, wantBy, m.raw)
	}
	if forRcpt := "\r\n\tfor <" + rcpt + ">;\r\n"; rcpt != "" && !strings.Contains(m.raw, forRcpt) {
		t.Errorf("Received lacks %q:\n%s", forRcpt, m.raw)
	}
	if rcpt == "" && strings.Contains(m.raw, "\r\n\tfor <") {
		t.Errorf("Received names one recipient of several:\n%s", m.raw)
	}
	if strings.Count(m.raw, "\r\nReceived: ") != 1 || strings.Count(m.raw, "Return-Path:") != 1 {
		t.Errorf("want exactly one Return-Path and one Received field, at the top:\n%s", m.raw)
	}
}

// interopNoBareNewline fails t on a bare CR or LF in a stored message.
func interopNoBareNewline(t *testing.T, raw string) {
	t.Helper()
	if strings.Count(raw, "\n") != strings.Count(raw, "\r\n") || strings.Count(raw, "\r") != strings.Count(raw, "\r\n") {
		t.Errorf("stored message has a bare CR or LF: %q", raw)
	}
}

// TestInteropSMTPSwaks drives submission (STARTTLS and implicit TLS, AUTH
// PLAIN and LOGIN) and MX with swaks.
func TestInteropSMTPSwaks(t *testing.T) {
	t.Parallel()
	swaks := interopSwaks(t)
	s := startInteropServer(t)
	bodyFile := filepath.Join(t.TempDir(), "body.txt")
	if err := os.WriteFile(bodyFile, []byte(interopBody), 0o600); err != nil {
		t.Fatal(err)
	}

	// run runs swaks against listener key and returns its output and exit
	// code. The HELO name is fixed so that Received can be checked.
	run := func(t *testing.T, key string, args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		host, port := s.hostPort(key)
		args = append([]string{"--server", host, "--port", port, "--helo", "swaks.example",
			"--timeout", "10", "--body", "@" + bodyFile}, args...)
		cmd := exec.CommandContext(ctx, swaks, args...)
		cmd.Stdin = strings.NewReader("") // swaks prompts for what is missing: never wait
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return string(out), ee.ExitCode()
		case err != nil:
			t.Fatalf("swaks: %v\n%s", err, out)
		}
		return string(out), 0
	}
	// send runs swaks and fails t unless it exits 0.
	send := func(t *testing.T, key string, args ...string) {
		t.Helper()
		if out, code := run(t, key, args...); code != 0 {
			t.Fatalf("swaks exited %d, want 0:\n%s", code, out)
		}
	}
	// refused runs swaks and fails t unless it exits non-zero with reply
	// (code and enhanced code) in its output.
	refused := func(t *testing.T, reply, key string, args ...string) {
		t.Helper()
		out, code := run(t, key, args...)
		if code == 0 || !strings.Contains(out, reply) {
			t.Errorf("swaks exited %d, want non-zero with %q:\n%s", code, reply, out)
		}
	}
	// submit returns the swaks arguments for AUTH mech as user with
	// password, envelope and From header from, and subject.
	submit := func(mech, user, password, from, subject string) []string {
		return []string{"--auth", mech, "--auth-user", user, "--auth-password", password,
			"--from", from, "--header", "Subject: " + subject}
	}
	// checkSubmitted checks a message sent by swaks through submission.
	checkSubmitted := func(t *testing.T, to, from, subject, with string) {
		t.Helper()
		m := s.find(t, to, subject)
		interopCheckTrace(t, m, from, "swaks.example", with, to)
		if m.From != from {
			t.Errorf("From %q, want %q", m.From, from)
		}
		// swaks stuffs the dots, the server must unstuff them: the body
		// arrives as written, with CRLF line ends.
		if !strings.Contains(m.raw, "\r\n\r\n"+interopCRLF(interopBody)) {
			t.Errorf("body did not arrive intact; want\n%q\nin\n%q", interopCRLF(interopBody), m.raw)
		}
		interopNoBareNewline(t, m.raw)
	}

	t.Run("submission STARTTLS AUTH PLAIN", func(t *testing.T) {
		send(t, "submission", append(submit("PLAIN", interopJuliet, interopPassword, interopJuliet, "swaks 587 PLAIN"),
			"--tls", "--to", interopRomeo)...)
		checkSubmitted(t, interopRomeo, interopJuliet, "swaks 587 PLAIN", "ESMTPSA")
	})
	t.Run("submission STARTTLS AUTH LOGIN", func(t *testing.T) {
		send(t, "submission", append(submit("LOGIN", interopJuliet, interopPassword, interopJuliet, "swaks 587 LOGIN"),
			"--tls", "--to", interopRomeo)...)
		checkSubmitted(t, interopRomeo, interopJuliet, "swaks 587 LOGIN", "ESMTPSA")
	})
	t.Run("submissions implicit TLS AUTH PLAIN", func(t *testing.T) {
		send(t, "submissions", append(submit("PLAIN", interopRomeo, interopPassword, interopRomeo, "swaks 465 PLAIN"),
			"--tls-on-connect", "--to", interopJuliet)...)
		checkSubmitted(t, interopJuliet, interopRomeo, "swaks 465 PLAIN", "ESMTPSA")
	})
	t.Run("submissions implicit TLS AUTH LOGIN", func(t *testing.T) {
		send(t, "submissions", append(submit("LOGIN", interopRomeo, interopPassword, interopRomeo, "swaks 465 LOGIN"),
			"--tls-on-connect", "--to", interopJuliet)...)
		checkSubmitted(t, interopJuliet, interopRomeo, "swaks 465 LOGIN", "ESMTPSA")
	})
	t.Run("submission refusals", func(t *testing.T) {
		// No AUTH in plain text: swaks finds none advertised.
		out, code := run(t, "submission", append(submit("PLAIN", interopJuliet, interopPassword, interopJuliet, "swaks refused"),
			"--to", interopRomeo)...)
		if code == 0 || strings.Contains(out, "AUTH PLAIN") || strings.Contains(out, "235 ") {
			t.Errorf("AUTH without STARTTLS: swaks exited %d (want non-zero, AUTH not offered):\n%s", code, out)
		}
		refused(t, "535 ", "submission", append(submit("PLAIN", interopJuliet, "not-the-password", interopJuliet, "swaks refused"),
			"--tls", "--to", interopRomeo)...)
		// Another user's envelope sender.
		refused(t, "553 5.7.1", "submission", append(submit("PLAIN", interopJuliet, interopPassword, interopRomeo, "swaks refused"),
			"--tls", "--to", interopRomeo)...)
		// Own envelope, another user's From header: refused after DATA.
		refused(t, "553 5.7.1", "submission", append(submit("LOGIN", interopJuliet, interopPassword, interopJuliet, "swaks refused"),
			"--tls", "--to", interopRomeo, "--header", "From: Romeo <"+interopRomeo+">")...)
	})

	t.Run("MX local", func(t *testing.T) {
		const from = "tybalt@montague.example"
		send(t, "smtp", "--from", from, "--to", interopRomeo, "--header", "Subject: swaks MX")
		m := s.find(t, interopRomeo, "swaks MX")
		interopCheckTrace(t, m, from, "swaks.example", "ESMTP", interopRomeo)
		if !strings.Contains(m.raw, "\r\n\r\n"+interopCRLF(interopBody)) {
			t.Errorf("body did not arrive intact:\n%q", m.raw)
		}
		interopNoBareNewline(t, m.raw)
	})
	t.Run("MX local STARTTLS", func(t *testing.T) {
		const from = "benvolio@montague.example"
		send(t, "smtp", "--tls", "--from", from, "--to", interopJuliet, "--header", "Subject: swaks MX TLS")
		interopCheckTrace(t, s.find(t, interopJuliet, "swaks MX TLS"), from, "swaks.example", "ESMTPS", interopJuliet)
	})
	t.Run("MX pipelined two recipients", func(t *testing.T) {
		const from = "nurse@capulet.example"
		send(t, "smtp", "--pipeline", "--from", from, "--to", interopRomeo+","+interopJuliet, "--header", "Subject: swaks pipelined")
		for _, to := range []string{interopRomeo, interopJuliet} {
			m := s.find(t, to, "swaks pipelined")
			interopCheckTrace(t, m, from, "swaks.example", "ESMTP", "")
			if !strings.Contains(m.raw, "\r\n\r\n"+interopCRLF(interopBody)) {
				t.Errorf("body did not arrive intact:\n%q", m.raw)
			}
		}
	})
	t.Run("MX null sender", func(t *testing.T) {
		send(t, "smtp", "--from", "<>", "--to", interopJuliet, "--header", "Subject: swaks bounce")
		interopCheckTrace(t, s.find(t, interopJuliet, "swaks bounce"), "", "swaks.example", "ESMTP", interopJuliet)
	})
	t.Run("MX relay refused", func(t *testing.T) {
		refused(t, "554 5.7.1", "smtp", "--from", "tybalt@montague.example", "--to", "juliet@montague.example",
			"--header", "Subject: swaks relay")
	})
	t.Run("MX unknown user", func(t *testing.T) {
		refused(t, "550 5.1.1", "smtp", "--from", "tybalt@montague.example", "--to", "nobody@capulet.example",
			"--header", "Subject: swaks unknown")
	})

	// Exactly what was accepted was interopMessage: nothing from the refusals.
	if n := s.countSubject(t, interopRomeo, "swaks"); n != 4 {
		t.Errorf("romeo has %d swaks messages, want 4", n)
	}
	if n := s.countSubject(t, interopJuliet, "swaks"); n != 5 {
		t.Errorf("juliet has %d swaks messages, want 5", n)
	}
}

// interopPythonResult is what testdata/interop/smtp_client.py prints.
type interopPythonResult struct {
	Failures        []string       `json:"failures"`
	StartTLSOffered bool           `json:"starttls_offered"`
	AuthBeforeTLS   bool           `json:"auth_before_tls"`
	AuthMechanisms  string         `json:"auth_mechanisms"`
	LoginCode       int            `json:"login_code"`
	SSLLoginCode    int            `json:"ssl_login_code"`
	ForgedFrom      interopRefusal `json:"forged_from"`
	ForgedEnvelope  interopRefusal `json:"forged_envelope"`
}

// interopRefusal is how smtplib reported a refused send.
type interopRefusal struct {
	Exception *string `json:"exception"`
	Code      int     `json:"code"`
	Message   string  `json:"message"`
}

// TestInteropSMTPPython drives submission with Python's smtplib: STARTTLS,
// login(), send_message with a UTF-8 subject, the sender checks, and
// SMTP_SSL with AUTH LOGIN on the implicit-TLS port.
func TestInteropSMTPPython(t *testing.T) {
	t.Parallel()
	python := interopPython(t)
	s := startInteropServer(t)
	// Non-ASCII in several scripts and an emoji, long enough that Python
	// folds it over several RFC 2047 encoded-words.
	const utf8Subject = "Grüße aus Verona — ロミオ, wherefore art thou? 💌 A subject long enough to be folded"
	const body = "Gute Nacht! Schlaf süß.\n" + interopBody
	subHost, subPort := s.hostPort("submission")
	subsHost, subsPort := s.hostPort("submissions")
	cfg, _ := json.Marshal(map[string]any{
		"submission_host": subHost, "submission": subPort, "submissions_host": subsHost, "submissions": subsPort,
		"juliet": interopJuliet, "romeo": interopRomeo, "password": interopPassword,
		"utf8_subject": utf8Subject, "body": body, "ssl_subject": "smtplib SMTP_SSL",
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "interop", "smtp_client.py"), string(cfg))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res interopPythonResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("script: %v; output not JSON (%v):\n%s\n%s", runErr, err, stdout.String(), stderr.String())
	}
	for _, f := range res.Failures {
		t.Errorf("smtplib: %s", f)
	}
	if runErr != nil && len(res.Failures) == 0 {
		t.Errorf("script: %v\n%s", runErr, stderr.String())
	}
	t.Logf("smtplib: %s", bytes.TrimSpace(stdout.Bytes()))
	if !strings.Contains(res.AuthMechanisms, "PLAIN") || !strings.Contains(res.AuthMechanisms, "LOGIN") {
		t.Errorf("AUTH after STARTTLS offers %q, want PLAIN and LOGIN", res.AuthMechanisms)
	}
	if res.LoginCode != 235 || res.SSLLoginCode != 235 {
		t.Errorf("login() over STARTTLS answered %d, AUTH LOGIN over implicit TLS %d; want 235", res.LoginCode, res.SSLLoginCode)
	}
	if res.AuthBeforeTLS || !res.StartTLSOffered {
		t.Errorf("before STARTTLS: AUTH offered %v, STARTTLS offered %v", res.AuthBeforeTLS, res.StartTLSOffered)
	}
	for name, r := range map[string]interopRefusal{"From header": res.ForgedFrom, "envelope": res.ForgedEnvelope} {
		if r.Code != 553 || !strings.HasPrefix(r.Message, "5.7.1 ") {
			t.Errorf("another user's address in the %s: %d %q, want 553 5.7.1", name, r.Code, r.Message)
		}
	}

	// The UTF-8 subject decodes to what Python encoded; the 8bit body
	// (sent without BODY=8BITMIME, as smtplib does) arrives byte for byte,
	// dot-stuffed lines included.
	m := s.find(t, interopRomeo, utf8Subject)
	interopCheckTrace(t, m, interopJuliet, "python.example", "ESMTPSA", interopRomeo)
	if m.From != interopJuliet {
		t.Errorf("From %q, want %s", m.From, interopJuliet)
	}
	interopNoBareNewline(t, m.raw)
	e, err := message.Read(strings.NewReader(m.raw))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(e.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != interopCRLF(body) {
		t.Errorf("body:\n%q\nwant\n%q", got, interopCRLF(body))
	}

	interopCheckTrace(t, s.find(t, interopJuliet, "smtplib SMTP_SSL"), interopRomeo, "python.example", "ESMTPSA", interopJuliet)
	if n := s.countSubject(t, interopRomeo, "forged"); n != 0 {
		t.Errorf("%d forged messages interopMessage", n)
	}
}
