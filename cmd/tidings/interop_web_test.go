package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidings/tidings/internal/testdns"
)

// The webmail interop test is the webmail issue's end-to-end scenario in a
// real browser: the binary serves listen.https (with its self-signed
// certificate), SMTP, IMAPS and XMPP on loopback ports; headless Debian
// Chromium, driven by playwright-core from testdata/web/webmail_e2e.js,
// signs in as a user made with the CLI, reads a mail delivered over SMTP,
// sends one to romeo, adds a contact and the rule "notify me over XMPP for
// mail from my contacts", is refused the admin console (403); as the
// administrator it visits every page of the console and creates a user,
// who signs in on a phone-sized window and sees juliet's next mail arrive
// live. The script prints one JSON line per step, saves a full-page
// screenshot of every page it visits, and fails a step on any console
// error or page exception (which is where Chromium reports
// Content-Security-Policy violations), on a page without one h1, with an
// unlabelled control or a nameless button, or wider than the window.
// This test then checks the aftermath with other clients: go-imap for the
// sent mail (romeo's INBOX, juliet's Sent) and for the new user's password,
// slixmpp (testdata/sieve/notify_client.py) for the notification and the
// new user's XMPP login.
//
// Screenshots go to $TIDINGS_WEB_ARTIFACTS when set (kept), else to a
// temporary folder. Without node, Chromium or playwright-core (installed by
// scripts/test.sh into testdata/web/node_modules) the test skips, in CI
// mode it fails.
//
//	TIDINGS_WEB_ARTIFACTS=/tmp/shots go test -run TestInteropWebmail -v ./cmd/tidings/

const (
	interopWebAdmin    = "prince@capulet.example"
	interopWebNewUser  = "benvolio@capulet.example"
	interopWebNewPass  = "keep-the-peace-7"
	interopWebTybalt   = "tybalt@capulet.example"
	interopWebLaurence = "laurence@verona.example"
	interopWebChromium = "/usr/bin/chromium"

	// interopWebScriptTimeout bounds the whole browser run.
	interopWebScriptTimeout = 2 * time.Minute
)

var interopWebListensRE = regexp.MustCompile(`msg=listening service=(smtp|xmpp_client|imaps|https) addr=(\S+)`)

// interopWebStep is one line of webmail_e2e.js.
type interopWebStep struct {
	Step        string   `json:"step"`
	OK          bool     `json:"ok"`
	Skipped     bool     `json:"skipped"`
	MS          int      `json:"ms"`
	Error       string   `json:"error"`
	Problems    []string `json:"problems"`
	Notes       []string `json:"notes"`
	Screenshots []string `json:"screenshots"`
	URL         string   `json:"url"`
	Version     string   `json:"version"`
}

// interopWebNode returns node (version 20 or later), after checking that
// Chromium and playwright-core are there.
func interopWebNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		interopRequireTool(t, "node not installed (the machine's Node.js 20+): %v", err)
	}
	out, err := exec.Command(node, "--version").Output()
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	if err != nil || major < 20 {
		interopRequireTool(t, "node %q: want version 20 or later (%v)", v, err)
	}
	if _, err := os.Stat(interopWebChromium); err != nil {
		interopRequireTool(t, "no Chromium (Debian: apt-get install chromium; scripts/test.sh does): %v", err)
	}
	pkg := filepath.Join("testdata", "web", "node_modules", "playwright-core", "package.json")
	if _, err := os.Stat(pkg); err != nil {
		interopRequireTool(t, "playwright-core not installed: run scripts/test.sh, or (cd cmd/tidings/testdata/web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci): %v", err)
	}
	return node
}

// interopWebAwaitMail polls mailbox until a message with subject is there
// (the webmail's submission is durable when the page says "sent", but
// local delivery of the queue's copy may take a moment).
func interopWebAwaitMail(t *testing.T, addr, user, password, mailbox, subject string) (interopSieveStored, bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs := interopIMAPMailbox(t, addr, user, password, mailbox)
		if got := interopSieveWithSubject(msgs, subject); len(got) > 0 {
			if len(got) > 1 {
				t.Errorf("%d messages %q in %s of %s, want 1", len(got), subject, mailbox, user)
			}
			return got[0], true
		}
		if time.Now().After(deadline) {
			t.Errorf("no message %q in %s of %s within 10 s; there: %q", subject, mailbox, user, interopSieveSubjects(msgs))
			return interopSieveStored{}, false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runInteropWebScript runs webmail_e2e.js with cfg and returns its steps
// by name, in order.
func runInteropWebScript(t *testing.T, node string, cfg map[string]any) (map[string]interopWebStep, []string) {
	t.Helper()
	arg, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), interopWebScriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "webmail_e2e.js", string(arg))
	cmd.Dir = filepath.Join("testdata", "web")
	cmd.Env = append(processEnv(nil), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1", "NODE_OPTIONS=")
	// At the deadline SIGTERM, on which playwright-core closes Chromium;
	// SIGKILL 5 s later (both to our child, by PID).
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	steps := map[string]interopWebStep{}
	var order []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var st interopWebStep
		if err := json.Unmarshal(sc.Bytes(), &st); err != nil || st.Step == "" {
			t.Errorf("webmail_e2e.js: not a step: %s", sc.Text())
			continue
		}
		steps[st.Step] = st
		order = append(order, st.Step)
		t.Logf("browser: %-18s %-4s %5d ms %s", st.Step, map[bool]string{true: "ok", false: "FAIL"}[st.OK], st.MS, strings.Join(st.Screenshots, " "))
	}
	if err := cmd.Wait(); err != nil || ctx.Err() != nil {
		t.Errorf("webmail_e2e.js: %v (context: %v); stderr:\n%s", err, ctx.Err(), stderr.String())
	}
	if _, ok := steps["done"]; !ok {
		t.Errorf("webmail_e2e.js did not finish; stderr:\n%s", stderr.String())
	}
	return steps, order
}

// TestInteropWebmail: the browser scenarios of the webmail issue.
func TestInteropWebmail(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and a browser")
	}
	t.Parallel()
	node := interopWebNode(t)
	python, _ := interopSlixmpp(t)
	start := time.Now()

	artifacts := os.Getenv("TIDINGS_WEB_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	} else if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	if abs, err := filepath.Abs(artifacts); err == nil {
		artifacts = abs
	}

	bin := binary(t)
	dns := testdns.Start(t,
		`capulet.example. 60 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		`verona.example. 60 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
	)
	listen := interopListenAddrsN(t, 4)
	environ := testEnv(t,
		"TIDINGS_LISTEN_SMTP="+listen[0],
		"TIDINGS_LISTEN_XMPP_CLIENT="+listen[1],
		"TIDINGS_LISTEN_IMAPS="+listen[2],
		"TIDINGS_LISTEN_HTTPS="+listen[3],
		"TIDINGS_RESOLVER="+dns.Addr,
		"TIDINGS_XMPP_C2S_POST_AUTH_BYTES_PER_SECOND=0",
	)
	proc := startServeProc(t, bin, environ)
	addr := map[string]string{}
	for _, m := range interopWebListensRE.FindAllStringSubmatch(proc.stderr.String(), -1) {
		addr[m[1]] = m[2]
	}
	for _, key := range []string{"smtp", "xmpp_client", "imaps", "https"} {
		if host, port, err := net.SplitHostPort(addr[key]); err != nil || !strings.HasPrefix(host, "127.") || port == "0" {
			t.Fatalf("listen.%s: logged address %q; log:\n%s", key, addr[key], proc.stderr.String())
		}
	}
	xmppHost, xmppPortText, _ := net.SplitHostPort(addr["xmpp_client"])
	xmppPort, _ := strconv.Atoi(xmppPortText)
	mx, imaps := addr["smtp"], addr["imaps"]

	srv := &interopServer{bin: bin, environ: environ}
	for _, u := range []string{interopJuliet, interopRomeo} {
		srv.cli(t, interopPassword+"\n", "user", "add", u, "--password-stdin")
	}
	srv.cli(t, interopPassword+"\n", "user", "add", interopWebAdmin, "--password-stdin", "--admin", "on", "--name", "Prince Escalus")

	inbox := map[string]string{"subject": "Meet me at my cell", "from": interopWebLaurence, "fromName": "Friar Laurence",
		"body": "Come to shrift this afternoon.\nAnd there thou shalt at Friar Laurence' cell be shrived and married."}
	interopSieveSend(t, mx, interopSieveMail{from: interopWebLaurence, to: interopJuliet, subject: inbox["subject"],
		header: "From: Friar Laurence <" + interopWebLaurence + ">\r\n", body: strings.ReplaceAll(inbox["body"], "\n", "\r\n") + "\r\n"})

	compose := map[string]string{"to": interopRomeo, "subject": "O Romeo, Romeo", "body": "Deny thy father and refuse thy name."}
	live := map[string]string{"subject": "Where is Romeo", "body": "Saw you him today?"}
	cfg := map[string]any{
		"base":      "https://" + addr["https"],
		"artifacts": artifacts,
		"chromium":  interopWebChromium,
		"domain":    "capulet.example",
		"rule":      "Contacts to XMPP",
		"juliet":    map[string]string{"address": interopJuliet, "password": interopPassword},
		"admin":     map[string]string{"address": interopWebAdmin, "password": interopPassword},
		"inbox":     inbox,
		"compose":   compose,
		"contact":   map[string]string{"name": "Tybalt", "email": interopWebTybalt},
		"newUser":   map[string]string{"address": interopWebNewUser, "password": interopWebNewPass, "name": "Benvolio"},
		"live":      live,
	}
	browserStart := time.Now()
	steps, order := runInteropWebScript(t, node, cfg)
	browserTime := time.Since(browserStart)

	// Every step of the script is a subtest here, with its problems.
	var shots []string
	for _, name := range order {
		st := steps[name]
		shots = append(shots, st.Screenshots...)
		t.Run("browser/"+name, func(t *testing.T) {
			for _, n := range st.Notes {
				t.Logf("note: %s", n)
			}
			switch {
			case st.Skipped:
				t.Errorf("not run: it %s, which failed", st.Error)
			case !st.OK:
				msg := st.Error
				for _, p := range st.Problems {
					msg += "\n  " + p
				}
				t.Errorf("failed after %d ms at %s: %s", st.MS, st.URL, msg)
			}
		})
	}
	t.Logf("%d screenshots in %s:\n  %s", len(shots), artifacts, strings.Join(shots, "\n  "))
	passed := func(name string) bool { st, ok := steps[name]; return ok && st.OK }

	t.Run("compose reached romeo over IMAP", func(t *testing.T) {
		if !passed("compose") {
			t.Skip("the browser could not send")
		}
		m, ok := interopWebAwaitMail(t, imaps, interopRomeo, interopPassword, "INBOX", compose["subject"])
		if !ok {
			return
		}
		if from, err := mail.ParseAddress(m.header.Get("From")); err != nil || from.Address != interopJuliet {
			t.Errorf("From %q, want juliet", m.header.Get("From"))
		}
		if !strings.Contains(m.body, compose["body"]) {
			t.Errorf("body %q lacks %q", m.body, compose["body"])
		}
		if _, ok := interopWebAwaitMail(t, imaps, interopJuliet, interopPassword, "Sent", compose["subject"]); !ok {
			t.Errorf("not in juliet's Sent")
		}
	})

	t.Run("notify over XMPP for mail from a contact", func(t *testing.T) {
		if !passed("filter") {
			t.Skip("the browser could not create the rule")
		}
		juliet := startInteropNotifyClient(t, python, xmppHost, xmppPort, interopJuliet, interopPassword, "web-test")
		juliet.send(t, "login")
		juliet.await(t, "online", 15*time.Second)
		const subject = "Thou wretched boy"
		interopSieveSend(t, mx, interopSieveMail{from: interopWebTybalt, to: interopJuliet, subject: subject,
			header: "From: Tybalt <" + interopWebTybalt + ">\r\n", body: "Here's my fiddlestick.\r\n"})
		ev, _ := juliet.await(t, "message", 5*time.Second)
		if ev.Type != "headline" || !strings.Contains(ev.Body, subject) || !strings.Contains(ev.Body, "Tybalt") {
			t.Errorf("want a headline naming Tybalt and %q, got: %s", subject, ev.line)
		}
		// A stranger's mail brings nothing.
		sent := interopSieveSend(t, mx, interopSieveMail{from: interopWebLaurence, to: interopJuliet, subject: "Not from a contact",
			header: "From: Friar Laurence <" + interopWebLaurence + ">\r\n", body: "Hold, daughter.\r\n"})
		if got := juliet.quiet(sent.Add(time.Second)); len(got) > 0 {
			t.Errorf("want nothing for a stranger's mail, got: %s", interopSieveLines(got))
		}
		juliet.send(t, "quit")
		juliet.await(t, "bye", 15*time.Second)
	})

	t.Run("the admin's new user logs in over IMAP and XMPP", func(t *testing.T) {
		if !passed("admin creates user") {
			t.Skip("the browser could not create the user")
		}
		msgs := interopIMAPMailbox(t, imaps, interopWebNewUser, interopWebNewPass, "INBOX")
		if passed("live update") && len(interopSieveWithSubject(msgs, live["subject"])) != 1 {
			t.Errorf("INBOX of %s holds %q, want juliet's %q", interopWebNewUser, interopSieveSubjects(msgs), live["subject"])
		}
		c := startInteropNotifyClient(t, python, xmppHost, xmppPort, interopWebNewUser, interopWebNewPass, "web-test")
		c.send(t, "login")
		ev, _ := c.await(t, "online", 15*time.Second)
		if !strings.HasPrefix(ev.JID, interopWebNewUser+"/") {
			t.Errorf("XMPP bound %q, want %s/…", ev.JID, interopWebNewUser)
		}
		c.send(t, "quit")
		c.await(t, "bye", 15*time.Second)
	})

	log := proc.stderr.String()
	if strings.Contains(log, "level=ERROR") || strings.Contains(log, "panic") {
		t.Errorf("errors in the server log:\n%s", log)
	}
	t.Logf("done in %v (browser %v)", time.Since(start).Round(time.Millisecond), browserTime.Round(time.Millisecond))
}
