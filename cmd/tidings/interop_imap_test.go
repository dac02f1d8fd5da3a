package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidings/tidings/mail/store"
)

// The IMAP interop test proves the IMAP server with mbsync (Debian package
// isync), a synchronising client nobody here wrote that leans on UIDs,
// UIDVALIDITY, UIDPLUS, pipelining and flag updates more than an ordinary
// mail reader. The real binary serves IMAPS and IMAP with STARTTLS on
// loopback; the test fills the server side through the message store (the
// same database, as the SMTP interop tests read it), changes it through
// go-imap's client, changes the Maildir side directly, lets mbsync sync both
// ways, and compares the two sides message by message.

var (
	imapInteropListensRE  = regexp.MustCompile(`msg=listening service=(imap|imaps) addr=(\S+)`)
	imapInteropStartTLSRE = regexp.MustCompile(`msg="logged in"[^\n]* mode=imap `)
)

// interopMbsync returns mbsync and its version.
func interopMbsync(t *testing.T) (string, string) {
	t.Helper()
	path, err := exec.LookPath("mbsync")
	if err != nil {
		interopRequireTool(t, "mbsync not installed (Debian: apt-get install isync; scripts/test.sh does): %v", err)
	}
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		interopRequireTool(t, "mbsync --version: %v\n%s", err, out)
	}
	return path, strings.TrimSpace(string(out))
}

// mbsyncDomain is the right-hand side of every Message-ID the test writes;
// the left-hand side is the message's token.
const mbsyncDomain = "mbsync.test"

// mbsyncMessage returns a message (CRLF line ends) whose Message-ID and
// Subject carry tok. A big one crosses the store's 256 KiB body chunks.
func mbsyncMessage(tok string, big bool) string {
	var b strings.Builder
	b.WriteString("Date: Tue, 02 Jan 2024 10:00:00 +0000\r\n" +
		"From: Juliet <juliet@capulet.example>\r\n" +
		"To: Romeo <romeo@capulet.example>\r\n" +
		"Subject: mbsync " + tok + "\r\n" +
		"Message-ID: <" + tok + "@" + mbsyncDomain + ">\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n" +
		"\r\n" +
		"Message " + tok + ".\r\n" +
		"O Romeo, Romeo — wherefore art thou Romeo?\r\n" +
		".\r\n" +
		"From the orchard wall\r\n")
	if big {
		for i := range 4000 {
			fmt.Fprintf(&b, "%05d %s filler line to cross the store's body chunks.......\r\n", i, tok)
		}
	}
	return b.String()
}

// mbsyncToken returns the token of a message: the left-hand side of its
// Message-ID, checked against its Subject.
func mbsyncToken(messageID, subject string) (string, error) {
	id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(messageID), "<"), ">")
	tok, ok := strings.CutSuffix(id, "@"+mbsyncDomain)
	if !ok || tok == "" {
		return "", fmt.Errorf("Message-ID %q is not one of the test's", messageID)
	}
	if subject != "mbsync "+tok {
		return "", fmt.Errorf("Message-ID %q but Subject %q", messageID, subject)
	}
	return tok, nil
}

// mbsyncFlagLetters maps IMAP system flags to Maildir info letters
// (https://cr.yp.to/proto/maildir.html), the ones mbsync synchronises.
var mbsyncFlagLetters = map[imap.Flag]byte{
	imap.FlagDraft: 'D', imap.FlagFlagged: 'F', imap.FlagAnswered: 'R',
	imap.FlagSeen: 'S', imap.FlagDeleted: 'T',
}

// sortedLetters returns the letters of s sorted, as Maildir writes them.
func sortedLetters(s string) string {
	b := []byte(s)
	slices.Sort(b)
	return string(slices.Compact(b))
}

// mbsyncBox is one mailbox's messages: token → flag letters (sorted).
type mbsyncBox map[string]string

// mbsyncSide is every mailbox of one side, by IMAP name.
type mbsyncSide map[string]mbsyncBox

// diffSides describes how got differs from want ("" if it does not),
// naming at most a few messages per mailbox.
func diffSides(got, want mbsyncSide) string {
	var b strings.Builder
	names := slices.Sorted(maps.Keys(want))
	for name := range got {
		if _, ok := want[name]; !ok {
			names = append(names, name)
		}
	}
	for _, name := range names {
		g, gok := got[name]
		w, wok := want[name]
		switch {
		case !gok:
			fmt.Fprintf(&b, "mailbox %q missing\n", name)
			continue
		case !wok:
			fmt.Fprintf(&b, "mailbox %q unexpected (%d messages)\n", name, len(g))
			continue
		}
		var lines []string
		for _, tok := range slices.Sorted(maps.Keys(w)) {
			if gf, ok := g[tok]; !ok {
				lines = append(lines, fmt.Sprintf("  %s missing (want flags %q)", tok, w[tok]))
			} else if gf != w[tok] {
				lines = append(lines, fmt.Sprintf("  %s flags %q, want %q", tok, gf, w[tok]))
			}
		}
		for _, tok := range slices.Sorted(maps.Keys(g)) {
			if _, ok := w[tok]; !ok {
				lines = append(lines, fmt.Sprintf("  %s unexpected (flags %q)", tok, g[tok]))
			}
		}
		if len(lines) > 0 {
			fmt.Fprintf(&b, "mailbox %q: %d messages, want %d; %d differences:\n", name, len(g), len(w), len(lines))
			if len(lines) > 12 {
				lines = append(lines[:12], "  …")
			}
			b.WriteString(strings.Join(lines, "\n") + "\n")
		}
	}
	return b.String()
}

// mbsyncEnv is one run of the test: the server, its IMAP addresses, the
// mbsync configuration and the Maildir.
type mbsyncEnv struct {
	bin, mbsync string
	srv         *interopServer
	proc        *serveProc
	addr        map[string]string // imap, imaps
	tlsConfig   *tls.Config
	certFile    string
	dir         string // mbsync's configuration files
	maildir     string // Path of the MaildirStore; INBOX is maildir/INBOX
	user        string
	contents    map[string]string // token → the message as written (CRLF)
	fromServer  map[string]bool   // token → written on the server side
	dates       map[string]time.Time
}

// dial returns a fresh IMAPS client logged in as the test user.
func (e *mbsyncEnv) dial(t *testing.T) *imapclient.Client {
	t.Helper()
	trace := &syncBuffer{}
	c, err := imapclient.DialTLS(e.addr["imaps"], &imapclient.Options{TLSConfig: e.tlsConfig, DebugWriter: trace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			s := trace.String()
			if len(s) > 4000 {
				s = "…" + s[len(s)-4000:]
			}
			t.Logf("IMAP trace (the end):\n%s", s)
		}
	})
	if err := c.Login(e.user, interopPassword).Wait(); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	return c
}

// writeConfig writes an mbsyncrc for the listener key (imaps: SSLType
// IMAPS, imap: STARTTLS) and returns its path. Both share the Maildir and
// the sync state, so either can continue where the other stopped.
func (e *mbsyncEnv) writeConfig(t *testing.T, key string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(e.addr[key])
	if err != nil {
		t.Fatalf("listen.%s: %q: %v", key, e.addr[key], err)
	}
	sslType := map[string]string{"imap": "STARTTLS", "imaps": "IMAPS"}[key]
	// The server's self-signed certificate as a "host" certificate: trusted
	// as it is, whatever name it carries (mbsync(1), CertificateFile).
	rc := fmt.Sprintf(`IMAPAccount tidings
Host %s
Port %s
User %s
Pass "%s"
SSLType %s
SystemCertificates no
CertificateFile %s

IMAPStore far
Account tidings

MaildirStore near
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel tidings
Far :far:
Near :near:
Patterns *
Sync All
Create Both
Remove None
Expunge Both
CopyArrivalDate yes
SyncState *
`, host, port, e.user, interopPassword, sslType, e.certFile, e.maildir, e.maildir)
	path := filepath.Join(e.dir, "mbsyncrc-"+key)
	if err := os.WriteFile(path, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// run runs mbsync -a with the configuration for listener key and fails t
// unless it exits 0 within a minute.
func (e *mbsyncEnv) run(t *testing.T, key string) {
	t.Helper()
	rc := e.writeConfig(t, key)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.mbsync, "-c", rc, "-a")
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), "HOME="+e.dir)
	cmd.Stdin = strings.NewReader("")
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mbsync over %s: %v (after %v)\n%s", key, err, time.Since(start).Round(time.Millisecond), out)
	}
	t.Logf("mbsync over %s: %v\n%s", key, time.Since(start).Round(time.Millisecond), out)
}

// mbsyncLocalMsg is one message file in the Maildir.
type mbsyncLocalMsg struct {
	path  string
	flags string // sorted letters after ":2,"
	raw   string
	mtime time.Time
}

// local reads the Maildir: every directory under maildir with a cur
// subdirectory is a mailbox, named by its path (INBOX for maildir/INBOX).
// Files in tmp fail t.
func (e *mbsyncEnv) local(t *testing.T) (mbsyncSide, map[string]map[string]mbsyncLocalMsg) {
	t.Helper()
	side := mbsyncSide{}
	files := map[string]map[string]mbsyncLocalMsg{}
	err := filepath.WalkDir(e.maildir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if _, err := os.Stat(filepath.Join(path, "cur")); err != nil {
			return nil
		}
		name, err := filepath.Rel(e.maildir, path)
		if err != nil {
			return err
		}
		name = filepath.ToSlash(name)
		box, msgs := mbsyncBox{}, map[string]mbsyncLocalMsg{}
		side[name], files[name] = box, msgs
		if tmp, _ := os.ReadDir(filepath.Join(path, "tmp")); len(tmp) > 0 {
			t.Errorf("%s/tmp holds %d files after mbsync", name, len(tmp))
		}
		for _, sub := range []string{"cur", "new"} {
			ents, err := os.ReadDir(filepath.Join(path, sub))
			if err != nil {
				return err
			}
			for _, ent := range ents {
				if ent.IsDir() || strings.HasPrefix(ent.Name(), ".") {
					continue
				}
				p := filepath.Join(path, sub, ent.Name())
				raw, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				info, err := ent.Info()
				if err != nil {
					return err
				}
				m, err := mail.ReadMessage(bytes.NewReader(raw))
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				tok, err := mbsyncToken(m.Header.Get("Message-Id"), m.Header.Get("Subject"))
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				if _, dup := box[tok]; dup {
					t.Errorf("%s: %s twice in the Maildir (%s and %s)", name, tok, msgs[tok].path, p)
				}
				_, info2, _ := strings.Cut(ent.Name(), ":2,")
				box[tok] = sortedLetters(info2)
				msgs[tok] = mbsyncLocalMsg{path: p, flags: box[tok], raw: string(raw), mtime: info.ModTime()}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return side, files
}

// mbsyncServerMsg is one message on the server.
type mbsyncServerMsg struct {
	uid   imap.UID
	flags string
	date  time.Time
	raw   string // only if asked for
}

// server reads every mailbox on the server over a fresh IMAP connection
// (EXAMINE, FETCH UID FLAGS INTERNALDATE ENVELOPE
// BODY.PEEK[HEADER.FIELDS (MESSAGE-ID SUBJECT)], and BODY.PEEK[] if
// withBodies) and returns the mailboxes with their UIDNEXT.
func (e *mbsyncEnv) server(t *testing.T, withBodies bool) (mbsyncSide, map[string]map[string]mbsyncServerMsg, map[string]uint32) {
	t.Helper()
	c := e.dial(t)
	defer func() {
		if err := c.Logout().Wait(); err != nil {
			t.Errorf("LOGOUT: %v", err)
		}
	}()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	side, msgs, uidNext := mbsyncSide{}, map[string]map[string]mbsyncServerMsg{}, map[string]uint32{}
	hdr := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID", "Subject"}, Peek: true}
	whole := &imap.FetchItemBodySection{Peek: true}
	for _, l := range list {
		if slices.Contains(l.Attrs, imap.MailboxAttrNoSelect) || slices.Contains(l.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		box, bm := mbsyncBox{}, map[string]mbsyncServerMsg{}
		side[l.Mailbox], msgs[l.Mailbox] = box, bm
		st, err := c.Status(l.Mailbox, &imap.StatusOptions{UIDNext: true}).Wait()
		if err != nil {
			t.Fatalf("STATUS %s: %v", l.Mailbox, err)
		}
		uidNext[l.Mailbox] = uint32(st.UIDNext)
		sel, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatalf("EXAMINE %s: %v", l.Mailbox, err)
		}
		if sel.NumMessages == 0 {
			continue
		}
		opt := &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, Envelope: true, BodySection: []*imap.FetchItemBodySection{hdr}}
		if withBodies {
			opt.BodySection = append(opt.BodySection, whole)
		}
		fetched, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, opt).Collect()
		if err != nil {
			t.Fatalf("FETCH %s: %v", l.Mailbox, err)
		}
		if len(fetched) != int(sel.NumMessages) {
			t.Errorf("FETCH 1:* in %s: %d messages, EXISTS %d", l.Mailbox, len(fetched), sel.NumMessages)
		}
		for _, f := range fetched {
			h, err := mail.ReadMessage(bytes.NewReader(append(f.FindBodySection(hdr), '\r', '\n')))
			if err != nil {
				t.Fatalf("%s UID %d: BODY[HEADER.FIELDS (MESSAGE-ID SUBJECT)]: %v", l.Mailbox, f.UID, err)
			}
			tok, err := mbsyncToken(h.Header.Get("Message-Id"), h.Header.Get("Subject"))
			if err != nil {
				t.Fatalf("%s UID %d: %v", l.Mailbox, f.UID, err)
			}
			if f.Envelope == nil {
				t.Errorf("%s UID %d: no ENVELOPE", l.Mailbox, f.UID)
			} else if etok, err := mbsyncToken(f.Envelope.MessageID, f.Envelope.Subject); err != nil || etok != tok {
				t.Errorf("%s UID %d: ENVELOPE message-id %q subject %q, header fields say %s (%v)", l.Mailbox, f.UID, f.Envelope.MessageID, f.Envelope.Subject, tok, err)
			}
			if old, dup := bm[tok]; dup {
				t.Errorf("%s: %s twice on the server (UIDs %d and %d)", l.Mailbox, tok, old.uid, f.UID)
			}
			var letters []byte
			for _, fl := range f.Flags {
				if b, ok := mbsyncFlagLetters[fl]; ok {
					letters = append(letters, b)
				}
			}
			box[tok] = sortedLetters(string(letters))
			bm[tok] = mbsyncServerMsg{uid: f.UID, flags: box[tok], date: f.InternalDate, raw: string(f.FindBodySection(whole))}
		}
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Errorf("UNSELECT: %v", err)
	}
	return side, msgs, uidNext
}

// mbsyncTUIDRE matches the X-TUID header field mbsync adds to every
// message it copies to the other side, to find it again after a crash.
var mbsyncTUIDRE = regexp.MustCompile(`(?m)^X-TUID: [A-Za-z0-9+/]{12}\r?\n`)

// withoutTUID removes the one X-TUID field from the header of raw; ok
// reports whether there was exactly one.
func withoutTUID(raw string) (string, bool) {
	end := len(raw) // the header ends with the first empty line
	if i := strings.Index(raw, "\n\n"); i >= 0 {
		end = i + 1
	}
	if i := strings.Index(raw, "\r\n\r\n"); i >= 0 && i+2 < end {
		end = i + 2
	}
	locs := mbsyncTUIDRE.FindAllStringIndex(raw[:end], -1)
	if len(locs) != 1 {
		return raw, false
	}
	return raw[:locs[0][0]] + raw[locs[0][1]:], true
}

// checkContents compares every message of both sides with what the test
// wrote: byte for byte on the server (CRLF), with LF line ends in the
// Maildir (mbsync converts), except for the X-TUID field mbsync adds to
// the copies it makes (in the Maildir of messages that came from the
// server, on the server for those that came from the Maildir).
func (e *mbsyncEnv) checkContents(t *testing.T, local map[string]map[string]mbsyncLocalMsg, remote map[string]map[string]mbsyncServerMsg) {
	t.Helper()
	bad := 0
	report := func(format string, args ...any) {
		t.Helper()
		if bad++; bad <= 5 {
			t.Errorf(format, args...)
		}
	}
	for name, msgs := range local {
		for tok, m := range msgs {
			raw, copied := withoutTUID(m.raw)
			want := strings.ReplaceAll(e.contents[tok], "\r\n", "\n")
			if copied != e.fromServer[tok] || raw != want {
				report("Maildir %s: %s (%d bytes, X-TUID %v) differs from the message written (%d bytes, LF, X-TUID %v); starts: %.500q",
					name, tok, len(m.raw), copied, len(want), e.fromServer[tok], m.raw)
			}
		}
	}
	for name, msgs := range remote {
		for tok, m := range msgs {
			raw, copied := withoutTUID(m.raw)
			if copied == e.fromServer[tok] || raw != e.contents[tok] {
				report("server %s: %s BODY[] (%d bytes, X-TUID %v) differs from the message written (%d bytes, X-TUID %v); starts: %.500q",
					name, tok, len(m.raw), copied, len(e.contents[tok]), !e.fromServer[tok], m.raw)
			}
		}
	}
	if bad > 5 {
		t.Errorf("… %d messages differ in all", bad)
	}
}

// TestInteropIMAPMbsync syncs a 1,000-message INBOX and a few other
// mailboxes with mbsync, both ways, with flag changes, expunges and new
// messages and mailboxes on each side, until both sides are identical; a
// third run over STARTTLS must then change nothing.
func TestInteropIMAPMbsync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and runs mbsync")
	}
	t.Parallel()
	mbsync, version := interopMbsync(t)
	t.Logf("%s", version)
	start := time.Now()

	e := &mbsyncEnv{bin: binary(t), mbsync: mbsync, addr: map[string]string{}, dir: t.TempDir(),
		user: interopJuliet, contents: map[string]string{}, fromServer: map[string]bool{}, dates: map[string]time.Time{}}
	e.maildir = filepath.Join(e.dir, "mail")
	if err := os.Mkdir(e.maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	listen := interopListenAddrs(t)
	environ := testEnv(t, "TIDINGS_LISTEN_IMAP="+listen[0], "TIDINGS_LISTEN_IMAPS="+listen[1])
	e.proc = startServeProc(t, e.bin, environ)
	for _, m := range imapInteropListensRE.FindAllStringSubmatch(e.proc.stderr.String(), -1) {
		e.addr[m[1]] = m[2]
	}
	if e.addr["imap"] == "" || e.addr["imaps"] == "" {
		t.Fatalf("no IMAP listen addresses logged:\n%s", e.proc.stderr.String())
	}
	e.srv = &interopServer{bin: e.bin, environ: environ}
	e.srv.cli(t, interopPassword+"\n", "user", "add", e.user, "--password-stdin")
	openInteropStores(t, e.srv)

	e.certFile = filepath.Join(envValue(environ, "TIDINGS_DATA_DIR"), "tls", "selfsigned.crt")
	pemBytes, err := os.ReadFile(e.certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("%s: no certificate", e.certFile)
	}
	e.tlsConfig = &tls.Config{RootCAs: pool, ServerName: testHostname}

	// The server side: 1,000 messages in INBOX (every 100th one big; every
	// 20th starting at 4 already \Seen \Flagged) and 20 in Lists/tidings, a
	// mailbox one level down, delivered through the store.
	ctx := context.Background()
	u, err := e.srv.acc.User(ctx, e.user)
	if err != nil {
		t.Fatal(err)
	}
	type delivery struct {
		tok, box string
		flags    []string
		big      bool
	}
	var deliveries []delivery
	base := time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC)
	for i := 1; i <= 1000; i++ {
		d := delivery{tok: fmt.Sprintf("m%04d", i), box: "INBOX", big: i%100 == 50}
		if i%20 == 4 {
			d.flags = []string{`\Seen`, `\Flagged`}
		}
		deliveries = append(deliveries, d)
	}
	for i := 1; i <= 20; i++ {
		deliveries = append(deliveries, delivery{tok: fmt.Sprintf("l%02d", i), box: "Lists/tidings"})
	}
	for i, d := range deliveries {
		e.contents[d.tok] = mbsyncMessage(d.tok, d.big)
		e.fromServer[d.tok] = true
		e.dates[d.tok] = base.Add(time.Duration(i) * time.Minute)
	}
	delivering := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(deliveries))
	work := make(chan delivery)
	for range 8 {
		wg.Go(func() {
			for d := range work {
				res, err := e.srv.st.Deliver(ctx, strings.NewReader(e.contents[d.tok]), store.DeliverOptions{InternalDate: e.dates[d.tok]},
					[]store.Target{{User: u, Mailbox: d.box, Create: true, Flags: d.flags}})
				if err == nil && res[0].Err != nil {
					err = res[0].Err
				}
				if err != nil {
					errs <- fmt.Errorf("deliver %s: %w", d.tok, err)
				}
			}
		})
	}
	for _, d := range deliveries {
		work <- d
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d messages delivered in %v", len(deliveries), time.Since(delivering).Round(time.Millisecond))

	// want is the model both sides must match.
	want := mbsyncSide{"INBOX": {}, "Lists/tidings": {}}
	for _, d := range deliveries {
		flags := ""
		if len(d.flags) > 0 {
			flags = "FS"
		}
		want[d.box][d.tok] = flags
	}
	for _, sp := range store.DefaultMailboxes {
		if _, ok := want[sp.Name]; !ok {
			want[sp.Name] = mbsyncBox{}
		}
	}

	// 1. The first sync copies everything down.
	e.run(t, "imaps")
	local, localFiles := e.local(t)
	if n := len(local["INBOX"]); n != 1000 {
		t.Errorf("Maildir INBOX: %d messages after the first sync, want 1,000", n)
	}
	if d := diffSides(local, want); d != "" {
		t.Fatalf("Maildir after the first sync:\n%s", d)
	}
	remote, _, _ := e.server(t, false)
	if d := diffSides(remote, want); d != "" {
		t.Fatalf("server after the first sync:\n%s", d)
	}
	e.checkContents(t, localFiles, nil)
	// CopyArrivalDate: mbsync keeps the INTERNALDATE as the file's mtime.
	for tok, m := range localFiles["INBOX"] {
		if !m.mtime.Equal(e.dates[tok]) {
			t.Errorf("Maildir %s: mtime %v, want the INTERNALDATE %v", tok, m.mtime, e.dates[tok])
			break
		}
	}

	// 2. Changes on the server, through IMAP.
	_, remoteMsgs, _ := e.server(t, false)
	uidsOf := func(box string, pick func(i int) bool) imap.UIDSet {
		var set imap.UIDSet
		for i := 1; i <= 1000; i++ {
			if pick(i) {
				m, ok := remoteMsgs[box][fmt.Sprintf("m%04d", i)]
				if !ok {
					t.Fatalf("m%04d not on the server", i)
				}
				set.AddNum(m.uid)
			}
		}
		return set
	}
	c := e.dial(t)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	storeFlags := func(set imap.UIDSet, op imap.StoreFlagsOp, flags ...imap.Flag) {
		t.Helper()
		if err := c.Store(set, &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close(); err != nil {
			t.Fatalf("UID STORE %v %v: %v", set, flags, err)
		}
	}
	storeFlags(uidsOf("INBOX", func(i int) bool { return i%20 == 1 }), imap.StoreFlagsAdd, imap.FlagFlagged)
	storeFlags(uidsOf("INBOX", func(i int) bool { return i%20 == 2 }), imap.StoreFlagsAdd, imap.FlagSeen)
	storeFlags(uidsOf("INBOX", func(i int) bool { return i%40 == 4 }), imap.StoreFlagsDel, imap.FlagFlagged)
	storeFlags(uidsOf("INBOX", func(i int) bool { return i%20 == 9 }), imap.StoreFlagsAdd, imap.FlagAnswered)
	storeFlags(uidsOf("INBOX", func(i int) bool { return i%20 == 3 }), imap.StoreFlagsAdd, imap.FlagDeleted)
	if _, err := c.Expunge().Collect(); err != nil {
		t.Fatalf("EXPUNGE: %v", err)
	}
	for i := 1; i <= 1000; i++ {
		tok := fmt.Sprintf("m%04d", i)
		switch {
		case i%20 == 1:
			want["INBOX"][tok] = "F"
		case i%20 == 2:
			want["INBOX"][tok] = "S"
		case i%40 == 4:
			want["INBOX"][tok] = "S"
		case i%20 == 9:
			want["INBOX"][tok] = "R"
		case i%20 == 3:
			delete(want["INBOX"], tok)
		}
	}
	// New messages, one with flags, and a new mailbox one level down.
	appendMsg := func(box, tok string, flags ...imap.Flag) {
		t.Helper()
		e.contents[tok] = mbsyncMessage(tok, false)
		e.fromServer[tok] = true
		cmd := c.Append(box, int64(len(e.contents[tok])), &imap.AppendOptions{Flags: flags})
		if _, err := cmd.Write([]byte(e.contents[tok])); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("APPEND %s to %s: %v", tok, box, err)
		}
		var letters []byte
		for _, f := range flags {
			letters = append(letters, mbsyncFlagLetters[f])
		}
		if want[box] == nil {
			want[box] = mbsyncBox{}
		}
		want[box][tok] = sortedLetters(string(letters))
	}
	appendMsg("INBOX", "srv01", imap.FlagSeen)
	appendMsg("INBOX", "srv02", imap.FlagSeen, imap.FlagAnswered)
	appendMsg("INBOX", "srv03", imap.FlagFlagged)
	appendMsg("INBOX", "srv04")
	appendMsg("INBOX", "srv05")
	if err := c.Create("Projects/Verona", nil).Wait(); err != nil {
		t.Fatalf("CREATE: %v", err)
	}
	want["Projects"] = mbsyncBox{} // RFC 9051 §6.3.4: CREATE makes the parent too
	appendMsg("Projects/Verona", "pr01")
	appendMsg("Projects/Verona", "pr02", imap.FlagFlagged)
	lists := imap.UIDSet{}
	lists.AddNum(remoteMsgs["Lists/tidings"]["l03"].uid)
	if _, err := c.Select("Lists/tidings", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	storeFlags(lists, imap.StoreFlagsAdd, imap.FlagFlagged)
	want["Lists/tidings"]["l03"] = "F"
	if err := c.Logout().Wait(); err != nil {
		t.Errorf("LOGOUT: %v", err)
	}

	// 2. Changes in the Maildir: flags in file names, deleted files, new
	// files and a new mailbox.
	setLocalFlags := func(box, tok, flags string) {
		t.Helper()
		m := localFiles[box][tok]
		dir, name := filepath.Split(m.path)
		base, _, _ := strings.Cut(name, ":2,")
		np := filepath.Join(filepath.Dir(filepath.Clean(dir)), "cur", base+":2,"+flags)
		if err := os.Rename(m.path, np); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 1000; i++ {
		tok := fmt.Sprintf("m%04d", i)
		cur := localFiles["INBOX"][tok].flags
		switch {
		case i%40 == 1: // also \Flagged on the server
			setLocalFlags("INBOX", tok, sortedLetters(cur+"S"))
			want["INBOX"][tok] = "FS"
		case i%20 == 5:
			setLocalFlags("INBOX", tok, sortedLetters(cur+"S"))
			want["INBOX"][tok] = "S"
		case i%20 == 6:
			setLocalFlags("INBOX", tok, sortedLetters(cur+"F"))
			want["INBOX"][tok] = "F"
		case i%40 == 24: // was FS
			setLocalFlags("INBOX", tok, strings.ReplaceAll(cur, "S", ""))
			want["INBOX"][tok] = "F"
		case i%20 == 7:
			if err := os.Remove(localFiles["INBOX"][tok].path); err != nil {
				t.Fatal(err)
			}
			delete(want["INBOX"], tok)
		case i%20 == 8: // trashed: Expunge Both removes it on both sides
			setLocalFlags("INBOX", tok, sortedLetters(cur+"T"))
			delete(want["INBOX"], tok)
		}
	}
	setLocalFlags("Lists/tidings", "l02", "S")
	want["Lists/tidings"]["l02"] = "S"
	seq := 0
	addLocal := func(box, sub, tok, flags string) {
		t.Helper()
		e.contents[tok] = mbsyncMessage(tok, tok == "loc02")
		dir := filepath.Join(e.maildir, filepath.FromSlash(box))
		for _, s := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, s), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		seq++
		name := fmt.Sprintf("%d.M%dP%d.interop", time.Now().Unix(), seq, os.Getpid())
		if sub == "cur" {
			name += ":2," + flags
		}
		p := filepath.Join(dir, sub, name)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(e.contents[tok], "\r\n", "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		e.dates[tok] = base.Add(-time.Duration(seq) * time.Hour)
		if err := os.Chtimes(p, e.dates[tok], e.dates[tok]); err != nil {
			t.Fatal(err)
		}
		if want[box] == nil {
			want[box] = mbsyncBox{}
		}
		want[box][tok] = flags
	}
	for i := 1; i <= 4; i++ {
		addLocal("INBOX", "new", fmt.Sprintf("loc%02d", i), "")
	}
	addLocal("INBOX", "cur", "loc05", "FS")
	for i := 1; i <= 3; i++ {
		addLocal("Notes", "new", fmt.Sprintf("note%02d", i), "")
	}

	// 3. The second sync carries both sides' changes across; the third,
	// over STARTTLS, finds nothing to do.
	e.run(t, "imaps")
	local, _ = e.local(t)
	if d := diffSides(local, want); d != "" {
		t.Errorf("Maildir after the second sync:\n%s", d)
	}
	remote, _, uidNext := e.server(t, false)
	if d := diffSides(remote, want); d != "" {
		t.Errorf("server after the second sync:\n%s", d)
	}
	if t.Failed() {
		t.FailNow()
	}
	listing := func() []string {
		var names []string
		filepath.WalkDir(e.maildir, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
				names = append(names, strings.TrimPrefix(path, e.maildir))
			}
			return err
		})
		return names
	}
	before := listing()

	e.run(t, "imap")
	if !imapInteropStartTLSRE.MatchString(e.proc.stderr.String()) {
		t.Errorf("no login over listen.imap (STARTTLS) in the server log")
	}
	local, localFiles = e.local(t)
	remote, remoteMsgs, uidNext3 := e.server(t, true)
	if after := listing(); !slices.Equal(before, after) {
		t.Errorf("the third sync changed the Maildir: %d files before, %d after", len(before), len(after))
	}
	if !maps.Equal(uidNext, uidNext3) {
		t.Errorf("the third sync changed the server: UIDNEXT %v before, %v after", uidNext, uidNext3)
	}

	// 4. Both sides are the model: the same mailboxes, messages and flags,
	// the same bytes.
	if d := diffSides(local, want); d != "" {
		t.Errorf("Maildir at the end:\n%s", d)
	}
	if d := diffSides(remote, want); d != "" {
		t.Errorf("server at the end:\n%s", d)
	}
	if d := diffSides(local, remote); d != "" {
		t.Errorf("Maildir against the server at the end:\n%s", d)
	}
	if n := len(want["INBOX"]); n != 1000-150+10 {
		t.Errorf("model INBOX: %d messages, want 860", n) // the test's own arithmetic
	}
	e.checkContents(t, localFiles, remoteMsgs)
	// CopyArrivalDate up: the files' mtimes became INTERNALDATEs.
	for _, tok := range []string{"loc01", "loc05", "note01"} {
		box := map[bool]string{true: "Notes", false: "INBOX"}[strings.HasPrefix(tok, "note")]
		if got := remoteMsgs[box][tok].date; !got.Equal(e.dates[tok]) {
			t.Errorf("server %s %s: INTERNALDATE %v, want the file's mtime %v", box, tok, got, e.dates[tok])
		}
	}
	t.Logf("done in %v", time.Since(start).Round(time.Millisecond))
}
