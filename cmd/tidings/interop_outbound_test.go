package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-message"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/internal/testdns"
	"github.com/tidings/tidings/mail/queue"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations"
)

// The outbound interop test proves the queue against an SMTP server nobody
// here wrote: aiosmtpd (Python, Debian package python3-aiosmtpd), run by
// testdata/interop/smtp_peer.py with STARTTLS on a loopback address. The
// real binary finds it through MX and A records served by a small DNS
// server inside the test (miekg/dns), named by the top-level `resolver`
// key; `[queue] port` points the queue at the peer's port. Mail is submitted
// with swaks.

// Test domains: montague.example has a running peer (which refuses
// nobody@), mantua.example's peer is started only later, nowhere.example
// (crash_test.go) never has one.
const (
	outboundRomeo   = "romeo@montague.example"
	outboundNobody  = "nobody@montague.example"
	outboundBanned  = "romeo@mantua.example"
	outboundMontMX  = "mx.montague.example"
	outboundMantMX  = "mx.mantua.example"
	outboundMontIP  = "127.0.0.2"
	outboundMantIP  = "127.0.0.5"
	outboundWaitFor = 15 * time.Second
)

// serveProc is one run of `tidings serve` as a child process.
type serveProc struct {
	cmd    *exec.Cmd
	stderr syncBuffer
	done   chan struct{}
	err    error // Wait's, once done is closed
	addr   map[string]string
}

// startServeProc starts `tidings serve --domain capulet.example` with environ
// and waits until it runs, with its SMTP listeners' addresses in addr.
// Clean-up stops it with SIGTERM (unless it was killed) and checks that it
// exits 0.
func startServeProc(t *testing.T, bin string, environ []string) *serveProc {
	t.Helper()
	p := &serveProc{done: make(chan struct{}), addr: map[string]string{}}
	var stdout syncBuffer
	p.cmd = exec.Command(bin, "serve", "--domain", "capulet.example")
	p.cmd.Dir = t.TempDir()
	p.cmd.Env = processEnv(environ)
	p.cmd.Stdout, p.cmd.Stderr = &stdout, &p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("server (pid %d) log:\n%s", p.cmd.Process.Pid, p.stderr.String())
		}
	})
	waitFor(t, &p.stderr, interopRunningRE, p.done, 30*time.Second)
	for _, m := range interopListensRE.FindAllStringSubmatch(p.stderr.String(), -1) {
		p.addr[m[1]] = m[2]
	}
	return p
}

// stop ends a running server with SIGTERM and fails t unless it exits 0
// within 10 s.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return // exited or killed
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM) // our child, by PID
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("serve after SIGTERM: %v (want exit 0)", p.err)
		}
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("serve still running 10 s after SIGTERM")
	}
}

// kill ends the server with SIGKILL: no shutdown, no flushing.
func (p *serveProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil { // our child, by PID
		t.Fatal(err)
	}
	<-p.done
}

// openInteropStores opens the server's database for the test's reads and
// returns it.
func openInteropStores(t *testing.T, s *interopServer) *migrations.DB {
	t.Helper()
	cfg, _, err := loadConfig("", s.environ)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDatabase(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if s.acc, err = accounts.New(db, cfg.Accounts, slog.New(slog.DiscardHandler), nil); err != nil {
		t.Fatal(err)
	}
	if s.st, err = store.New(db, cfg.DataDir, nil); err != nil {
		t.Fatal(err)
	}
	return db
}

// cliOut runs the binary with args against the server's configuration,
// fails t unless it exits 0, and returns its standard output.
func (s *interopServer) cliOut(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = processEnv(s.environ)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tidings %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

// queueList returns `tidings queue list --json`.
func (s *interopServer) queueList(t *testing.T) []queue.Entry {
	t.Helper()
	out := s.cliOut(t, "queue", "list", "--json")
	var es []queue.Entry
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		t.Fatalf("queue list --json: %v\n%s", err, out)
	}
	return es
}

// eventually polls cond every 100 ms until it holds or timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// interopAiosmtpd returns a python3 that can import aiosmtpd: the one on
// PATH, else Debian's (python3-aiosmtpd installs for /usr/bin/python3, which
// a pyenv or venv python3 on PATH does not see).
func interopAiosmtpd(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		out, err := exec.Command(path, "-c", "import aiosmtpd.smtp, ssl, asyncio").CombinedOutput()
		if err == nil {
			return path
		}
		tried = append(tried, path+": "+strings.TrimSpace(string(out)))
	}
	interopRequireTool(t, "no python3 with aiosmtpd (Debian: apt-get install python3-aiosmtpd; scripts/test.sh does); tried: %q", tried)
	return ""
}

// smtpPeer is testdata/interop/smtp_peer.py running.
type smtpPeer struct {
	port   int
	outdir string
	stderr syncBuffer
}

var peerPortRE = regexp.MustCompile(`\{"port": (\d+)\}`)

// startPeer starts the aiosmtpd peer named name on host:port (0: a free
// port) with the certificate in certDir, refusing refuse at RCPT. Clean-up
// kills it.
func startPeer(t *testing.T, python, name, host string, port int, certDir string, refuse ...string) *smtpPeer {
	t.Helper()
	p := &smtpPeer{outdir: t.TempDir()}
	cfg, _ := json.Marshal(map[string]any{
		"host": host, "port": port, "hostname": name,
		"cert": filepath.Join(certDir, "cert.pem"), "key": filepath.Join(certDir, "key.pem"),
		"outdir": p.outdir, "refuse": append([]string{}, refuse...),
	})
	var stdout syncBuffer
	cmd := exec.Command(python, filepath.Join("testdata", "interop", "smtp_peer.py"), string(cfg))
	cmd.Stdout, cmd.Stderr = &stdout, &p.stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill() // our child, by PID
		<-done
		if t.Failed() {
			t.Logf("peer %s:%d log:\n%s", host, p.port, p.stderr.String())
		}
	})
	p.port, _ = strconv.Atoi(waitFor(t, &stdout, peerPortRE, done, 15*time.Second))
	return p
}

// peerMessage is one message the peer accepted.
type peerMessage struct {
	MailFrom    string   `json:"mail_from"`
	MailOptions []string `json:"mail_options"`
	RcptTos     []string `json:"rcpt_tos"`
	Helo        string   `json:"helo"`
	TLS         bool     `json:"tls"`
	TLSVersion  string   `json:"tls_version"`
	Content     []byte   `json:"content"` // base64 in the file
}

// messages returns what the peer accepted, oldest first.
func (p *smtpPeer) messages(t *testing.T) []peerMessage {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(p.outdir, "msg-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(files, func(a, b string) int {
		na, _ := strconv.Atoi(strings.TrimSuffix(a[strings.LastIndexByte(a, '-')+1:], ".json"))
		nb, _ := strconv.Atoi(strings.TrimSuffix(b[strings.LastIndexByte(b, '-')+1:], ".json"))
		return na - nb
	})
	var out []peerMessage
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m peerMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, m)
	}
	return out
}

// withSubject returns the peer's messages whose Subject is subject.
func (p *smtpPeer) withSubject(t *testing.T, subject string) []peerMessage {
	t.Helper()
	var out []peerMessage
	for _, m := range p.messages(t) {
		if strings.Contains(string(m.Content), "\r\nSubject: "+subject+"\r\n") {
			out = append(out, m)
		}
	}
	return out
}

// checkPeerCopy checks a message as the peer received it from the queue:
// envelope, STARTTLS, our EHLO name, SIZE, the body with its dot lines, and
// the trace: our Received field, and no Return-Path (final delivery only).
func checkPeerCopy(t *testing.T, m peerMessage, rcpts []string) {
	t.Helper()
	if m.MailFrom != interopJuliet || !slices.Equal(m.RcptTos, rcpts) {
		t.Errorf("envelope MAIL FROM %q RCPT %q, want %q %q", m.MailFrom, m.RcptTos, interopJuliet, rcpts)
	}
	if !m.TLS || m.TLSVersion == "" {
		t.Errorf("delivered without STARTTLS (tls %v, version %q)", m.TLS, m.TLSVersion)
	}
	if m.Helo != testHostname {
		t.Errorf("EHLO %q, want %q", m.Helo, testHostname)
	}
	if size := "SIZE=" + strconv.Itoa(len(m.Content)); !slices.Contains(m.MailOptions, size) {
		t.Errorf("MAIL FROM parameters %q, want %s", m.MailOptions, size)
	}
	raw := string(m.Content)
	// Our Received field comes first, after only the DKIM signatures that
	// the queue's signer puts on top (mail/dkim).
	i := strings.Index(raw, "Received: from swaks.example ([127.")
	if i < 0 || !strings.Contains(raw[i:], "])\r\n\tby "+testHostname+" (Tidings) with ESMTPSA id ") {
		t.Errorf("peer copy lacks our Received field:\n%s", raw)
	} else {
		for _, line := range strings.Split(strings.TrimSuffix(raw[:i], "\r\n"), "\r\n") {
			if line != "" && !strings.HasPrefix(line, "DKIM-Signature: ") && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
				t.Errorf("header field %q above our Received field:\n%s", line, raw)
			}
		}
	}
	if strings.Count(raw, "Received: ") != 1 || strings.Contains(raw, "Return-Path:") {
		t.Errorf("want exactly one Received field and no Return-Path:\n%s", raw)
	}
	if !strings.Contains(raw, "\r\n\r\n"+interopCRLF(interopBody)) {
		t.Errorf("body did not arrive intact; want\n%q\nin\n%q", interopCRLF(interopBody), raw)
	}
	interopNoBareNewline(t, raw)
}

// TestInteropOutbound sends mail through the real binary's outbound queue to
// aiosmtpd: delivery over STARTTLS next to a local copy, a 550 at RCPT that
// bounces to the local sender, and a peer that is down until `tidings queue
// retry`.
func TestInteropOutbound(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the binary against a peer MTA; skipped with -short")
	}
	swaks := interopSwaks(t)
	python := interopAiosmtpd(t)
	bin := binary(t)

	certDir := t.TempDir()
	if _, err := ensureSelfSigned(filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem"),
		[]string{outboundMontMX, outboundMantMX}, time.Now()); err != nil {
		t.Fatal(err)
	}
	resolver := testdns.Start(t,
		"montague.example. 60 IN MX 10 "+outboundMontMX+".",
		outboundMontMX+". 60 IN A "+outboundMontIP,
		"mantua.example. 60 IN MX 10 "+outboundMantMX+".",
		outboundMantMX+". 60 IN A "+outboundMantIP,
	)
	// The montague peer picks a free port; the queue sends every domain to
	// that port, so mantua's peer later takes the same port on its own
	// address, where nothing listens until then.
	montague := startPeer(t, python, outboundMontMX, outboundMontIP, 0, certDir, outboundNobody)

	listen := interopListenAddrs(t)
	s := &interopServer{bin: bin, environ: testEnv(t,
		"TIDINGS_LISTEN_SMTP="+listen[0],
		"TIDINGS_LISTEN_SUBMISSION="+listen[1],
		"TIDINGS_LISTEN_SUBMISSIONS="+listen[2],
		"TIDINGS_RESOLVER="+resolver.Addr,
		"TIDINGS_QUEUE_PORT="+strconv.Itoa(montague.port),
	)}
	s.addr = startServeProc(t, bin, s.environ).addr
	for _, u := range []string{interopJuliet, interopRomeo} {
		s.cli(t, interopPassword+"\n", "user", "add", u, "--password-stdin")
	}
	db := openInteropStores(t, s)

	bodyFile := filepath.Join(t.TempDir(), "body.txt")
	if err := os.WriteFile(bodyFile, []byte(interopBody), 0o600); err != nil {
		t.Fatal(err)
	}
	// submit sends from juliet through submission with STARTTLS and AUTH.
	submit := func(t *testing.T, subject string, to ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		host, port := s.hostPort("submission")
		cmd := exec.CommandContext(ctx, swaks, "--server", host, "--port", port, "--helo", "swaks.example",
			"--timeout", "10", "--body", "@"+bodyFile, "--tls", "--auth", "PLAIN",
			"--auth-user", interopJuliet, "--auth-password", interopPassword,
			"--from", interopJuliet, "--to", strings.Join(to, ","), "--header", "Subject: "+subject)
		cmd.Stdin = strings.NewReader("")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("swaks: %v\n%s", err, out)
		}
	}
	// queueEmpty waits until the queue is empty (polling the table, which
	// is quicker than the CLI), then checks that `tidings queue list` says so.
	queueEmpty := func(t *testing.T) {
		t.Helper()
		var es []queue.Entry
		var err error
		if !eventually(outboundWaitFor, func() bool { es, err = queue.List(context.Background(), db); return err == nil && len(es) == 0 }) {
			t.Fatalf("queue not empty after %v: %+v %v", outboundWaitFor, es, err)
		}
		if es := s.queueList(t); len(es) != 0 {
			t.Fatalf("queue list --json: %+v, want []", es)
		}
	}

	t.Run("remote and local", func(t *testing.T) {
		const subject = "outbound to Montague"
		submit(t, subject, outboundRomeo, interopRomeo)
		queueEmpty(t)
		got := montague.withSubject(t, subject)
		if len(got) != 1 {
			t.Fatalf("peer received %d copies, want 1", len(got))
		}
		checkPeerCopy(t, got[0], []string{outboundRomeo})
		// The local copy was stored in the same transaction.
		m := s.find(t, interopRomeo, subject)
		interopCheckTrace(t, m, interopJuliet, "swaks.example", "ESMTPSA", "")
		if !strings.Contains(m.raw, "\r\n\r\n"+interopCRLF(interopBody)) {
			t.Errorf("local copy's body did not arrive intact:\n%q", m.raw)
		}
		if !resolver.Asked("MX montague.example.") || !resolver.Asked("A "+outboundMontMX+".") {
			t.Errorf("the test's DNS server was not asked for the route; asked: %q", resolver.Questions())
		}
	})

	t.Run("refused recipient bounces", func(t *testing.T) {
		const subject = "outbound with one unknown"
		submit(t, subject, outboundRomeo, outboundNobody)
		queueEmpty(t)
		// The accepted recipient got it, alone in the envelope.
		got := montague.withSubject(t, subject)
		if len(got) != 1 {
			t.Fatalf("peer received %d copies, want 1", len(got))
		}
		checkPeerCopy(t, got[0], []string{outboundRomeo})

		const bounceSubject = "Undelivered Mail Returned to Sender"
		if !eventually(outboundWaitFor, func() bool { return s.countSubject(t, interopJuliet, bounceSubject) > 0 }) {
			t.Fatalf("no bounce in juliet's INBOX after %v", outboundWaitFor)
		}
		bounce := s.find(t, interopJuliet, bounceSubject)
		checkBounce(t, bounce, subject)
	})

	t.Run("peer down then retry", func(t *testing.T) {
		const subject = "outbound to Mantua"
		submit(t, subject, outboundBanned)
		var e queue.Entry
		attempted := eventually(outboundWaitFor, func() bool {
			es, _ := queue.List(context.Background(), db)
			if len(es) == 1 {
				e = es[0]
			}
			return len(es) == 1 && e.Attempts >= 1
		})
		if !attempted {
			t.Fatalf("no failed attempt recorded after %v: %+v", outboundWaitFor, e)
		}
		if es := s.queueList(t); len(es) != 1 || es[0].ID != e.ID || es[0].Attempts != e.Attempts ||
			es[0].LastError != e.LastError || !es[0].NextAttempt.Equal(e.NextAttempt) {
			t.Errorf("queue list --json: %+v, want [%+v]", es, e)
		}
		if e.Recipient != outboundBanned || e.Sender != interopJuliet || !strings.Contains(e.LastError, outboundMantMX) ||
			!strings.Contains(e.LastError, "refused") || !e.NextAttempt.After(time.Now()) {
			t.Errorf("queue entry %+v: want recipient %s, sender %s, last_error naming %s and the refused connection, next attempt later",
				e, outboundBanned, interopJuliet, outboundMantMX)
		}

		mantua := startPeer(t, python, outboundMantMX, outboundMantIP, montague.port, certDir)
		if out := s.cliOut(t, "queue", "retry", "all"); !strings.HasPrefix(out, "1 recipients due now") {
			t.Errorf("queue retry all: %q", out)
		}
		retried := time.Now()
		queueEmpty(t)
		// The server polls the queue every 5 s at most.
		if d := time.Since(retried); d > 10*time.Second {
			t.Errorf("delivered %v after the retry, want within a few seconds", d.Round(time.Millisecond))
		}
		got := mantua.withSubject(t, subject)
		if len(got) != 1 {
			t.Fatalf("peer received %d copies, want 1", len(got))
		}
		checkPeerCopy(t, got[0], []string{outboundBanned})
		if n := len(montague.withSubject(t, subject)); n != 0 {
			t.Errorf("montague's peer got %d copies of mail for mantua", n)
		}
	})

	// Juliet got exactly the one bounce: no delay notices, nothing else.
	if msgs := s.inbox(t, interopJuliet); len(msgs) != 1 {
		var subjects []string
		for _, m := range msgs {
			subjects = append(subjects, m.Subject)
		}
		t.Errorf("juliet has %d messages, want the one bounce: %q", len(msgs), subjects)
	}
	if n := len(montague.messages(t)); n != 2 {
		t.Errorf("montague's peer accepted %d messages, want 2", n)
	}
}

// checkBounce checks a failure DSN (RFC 3464) in juliet's INBOX about
// nobody@montague.example for the message with subject.
func checkBounce(t *testing.T, bounce interopMessage, subject string) {
	t.Helper()
	interopNoBareNewline(t, bounce.raw)
	if !strings.HasPrefix(bounce.raw, "Return-Path: <>\r\n") {
		t.Errorf("bounce does not start with the null Return-Path:\n%s", bounce.raw)
	}
	e, err := message.Read(strings.NewReader(bounce.raw))
	if err != nil {
		t.Fatal(err)
	}
	if ct, params, _ := e.Header.ContentType(); ct != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Errorf("bounce Content-Type %q %v, want multipart/report; report-type=delivery-status", ct, params)
	}
	mr := e.MultipartReader()
	if mr == nil {
		t.Fatalf("bounce is not multipart:\n%s", bounce.raw)
	}
	parts := map[string]string{}
	var order []string
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		parts[ct] = string(b)
		order = append(order, ct)
	}
	if want := []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}; !slices.Equal(order, want) {
		t.Fatalf("bounce parts %q, want %q", order, want)
	}
	status := parts["message/delivery-status"]
	for _, want := range []string{
		"Reporting-MTA: dns; " + testHostname + "\r\n",
		"Final-Recipient: rfc822; " + outboundNobody + "\r\n",
		"Action: failed\r\n",
		"Status: 5.1.1\r\n", // aiosmtpd's enhanced code, passed through
		"Remote-MTA: dns; " + outboundMontMX + "\r\n",
		"Diagnostic-Code: smtp; 550 5.1.1 <" + outboundNobody + ">: Recipient address rejected: User unknown\r\n",
	} {
		if !strings.Contains(status, want) {
			t.Errorf("delivery-status part lacks %q:\n%s", want, status)
		}
	}
	if strings.Contains(status, outboundRomeo) || strings.Contains(parts["text/plain"], outboundRomeo) {
		t.Errorf("bounce names %s, who got the message:\n%s", outboundRomeo, bounce.raw)
	}
	if !strings.Contains(parts["text/plain"], outboundNobody) {
		t.Errorf("human-readable part does not name %s:\n%s", outboundNobody, parts["text/plain"])
	}
	headers := parts["text/rfc822-headers"]
	if !strings.Contains(headers, "\r\nSubject: "+subject+"\r\n") || !strings.Contains(headers, "From: "+interopJuliet) ||
		strings.Contains(headers, "Good night") {
		t.Errorf("headers part: want the original header with Subject %q and no body:\n%s", subject, headers)
	}
}
