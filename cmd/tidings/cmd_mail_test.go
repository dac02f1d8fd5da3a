package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/mail/store"
)

// mailEnv is a test configuration with the users juliet and romeo.
func mailEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	environ := testEnv(t, extra...)
	for _, args := range [][]string{
		{"domain", "add", "capulet.example"},
		{"user", "add", "--password-stdin", "juliet@capulet.example"},
		{"user", "add", "--password-stdin", "romeo@capulet.example"},
		{"user", "add", "--password-stdin", "--quota", "200", "tybalt@capulet.example"},
	} {
		if r := runCmd(t, environ, strings.NewReader("long-enough-pw\n"), args...); r.code != 0 {
			t.Fatalf("%v: %s", args, r)
		}
	}
	return environ
}

// openMail opens the message store environ configures, next to the CLI.
func openMail(t *testing.T, environ []string) (*store.Store, *accounts.Store) {
	t.Helper()
	acc, db := openTestDB(t, environ)
	st, err := store.New(db, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st, acc
}

// storedMessage is what a test compares of a stored message.
type storedMessage struct {
	Mailbox string
	Flags   string
	Date    int64
	Body    string
}

// dump returns every message of a user, by mailbox and UID.
func dump(t *testing.T, st *store.Store, acc *accounts.Store, addr string) []storedMessage {
	t.Helper()
	ctx := context.Background()
	u, err := acc.User(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	boxes, err := st.Mailboxes(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []storedMessage
	for _, mb := range boxes {
		list, err := st.List(ctx, mb.ID, store.AllUIDs, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range list {
			_, body, err := st.Open(ctx, mb.ID, m.UID)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(body)
			body.Close()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, storedMessage{mb.Name, strings.Join(m.Flags, " "), m.InternalDate.Unix(), string(b)})
		}
	}
	return out
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// writeMaildirMessage writes a message file with an mtime.
func writeMaildirMessage(t *testing.T, path, body string, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestMailImportExport(t *testing.T) {
	t.Parallel()
	environ := mailEnv(t)
	const juliet, romeo = "juliet@capulet.example", "romeo@capulet.example"
	dir := t.TempDir()

	// A Maildir++ tree: INBOX, Work and Work/Projects, flags in the info,
	// a Dovecot keyword, a message in new/, and one garbage file.
	md := filepath.Join(dir, "Maildir")
	t0 := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
	msg := func(subject, body string) string {
		return "From: Romeo <romeo@montague.example>\nSubject: " + subject + "\n\n" + body
	}
	files := []struct {
		path, body, box, flags string
	}{
		{"cur/1714550400.M1.host:2,S", msg("seen", "Read already.\n"), "INBOX", `\Seen`},
		{"new/1714550401.M2.host", msg("new", "Not read yet.\r\nCRLF kept.\r\n"), "INBOX", ``},
		{"cur/1714550402.M3.host:2,FRa", msg("flagged", "Answered and important.\n"), "INBOX", `$Important \Answered \Flagged`},
		{".Work/cur/1714550403.M4.host:2,", msg("work", "No flags.\n"), "Work", ``},
		{".Work.Projects/cur/1714550404.M5.host:2,DST", msg("draft", "A deleted draft.\n"), "Work/Projects", `\Deleted \Draft \Seen`},
		{"cur/1714550405.M6.host:2,S", "\x00\x01\x02garbage without a header\n", "", ""},
	}
	for i, f := range files {
		writeMaildirMessage(t, filepath.Join(md, filepath.FromSlash(f.path)), f.body, t0.Add(time.Duration(i)*time.Hour))
	}
	if err := os.WriteFile(filepath.Join(md, "dovecot-keywords"), []byte("0 $Important\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(md, "tmp"), 0o700)

	r := runCmd(t, environ, nil, "mail", "import", juliet, md)
	if r.code != 0 || !strings.Contains(r.stdout, "imported 5 messages into 3 mailboxes, skipped 1") ||
		!strings.Contains(r.stdout, "1 skipped: not a mail message (no header)") ||
		!strings.Contains(r.stderr, "1714550405.M6.host:2,S: not a mail message") {
		t.Fatalf("maildir import: %s", r)
	}

	// An mbox file into a new mailbox.
	r = runCmd(t, environ, nil, "mail", "import", "--mailbox", "Archive/2025", juliet, filepath.Join("testdata", "mail", "sample.mbox"))
	if r.code != 0 || !strings.Contains(r.stdout, "imported 3 messages into 1 mailboxes, skipped 0") {
		t.Fatalf("mbox import: %s", r)
	}

	st, acc := openMail(t, environ)
	got := dump(t, st, acc, juliet)
	var want []storedMessage
	mboxDate := func(day, h, m, s int) int64 { return time.Date(2025, 3, day, h, m, s, 0, time.UTC).Unix() }
	want = append(want,
		storedMessage{"Archive/2025", `\Answered \Flagged \Seen`, mboxDate(4, 10, 15, 0), crlf("From: Alice <alice@example.org>\nTo: juliet@capulet.example\nSubject: first\nDate: Tue, 4 Mar 2025 10:14:00 +0000\n\n" +
			"Hello.\nFrom the balcony, an escaped line.\n>From twice escaped.\nFrom inside a line is fine: From \n")},
		storedMessage{"Archive/2025", `$Label1 Work`, mboxDate(5, 11, 0, 0), crlf("From: Bob <bob@example.org>\nSubject: second\n\nUnread, no Status.\n\n")},
		storedMessage{"Archive/2025", `\Seen`, mboxDate(6, 12, 30, 45), crlf("From: Carol <carol@example.org>\nSubject: third, no trailing blank line\n\nLast one.\n")},
	)
	for i, f := range files[:5] {
		want = append(want, storedMessage{f.box, f.flags, t0.Add(time.Duration(i) * time.Hour).Unix(), crlf(strings.ReplaceAll(f.body, "\r\n", "\n"))})
	}
	slices.SortStableFunc(want, func(a, b storedMessage) int { return strings.Compare(a.Mailbox, b.Mailbox) })
	if !slices.Equal(got, want) {
		t.Fatalf("stored:\n%s\nwant:\n%s", fmtMessages(got), fmtMessages(want))
	}

	// Export in both formats and import into romeo: the same messages.
	for _, format := range []string{"maildir", "mbox"} {
		out := filepath.Join(dir, "export-"+format)
		r := runCmd(t, environ, nil, "mail", "export", "--format", format, juliet, out)
		if r.code != 0 || !strings.Contains(r.stdout, "exported 8 messages from 9 mailboxes") {
			t.Fatalf("export %s: %s", format, r)
		}
		env2 := mailEnv(t)
		if format == "maildir" {
			if r := runCmd(t, env2, nil, "mail", "import", juliet, out); r.code != 0 || !strings.Contains(r.stdout, "imported 8 messages into 4 mailboxes") {
				t.Fatalf("re-import %s: %s", format, r)
			}
		} else {
			for _, box := range []string{"INBOX", "Work", "Work/Projects", "Archive/2025", "Sent"} {
				r := runCmd(t, env2, nil, "mail", "import", "--mailbox", box, juliet, filepath.Join(out, filepath.FromSlash(box)+".mbox"))
				if box == "Sent" {
					if r.code != 0 || !strings.Contains(r.stdout, "imported 0 messages") {
						t.Errorf("an empty mbox file: %s", r)
					}
					continue
				}
				if r.code != 0 {
					t.Fatalf("re-import %s %s: %s", format, box, r)
				}
			}
		}
		st2, acc2 := openMail(t, env2)
		if again := dump(t, st2, acc2, juliet); !slices.Equal(again, got) {
			t.Errorf("%s round trip:\n%s\nwant:\n%s", format, fmtMessages(again), fmtMessages(got))
		}
	}

	// One mailbox as one mbox file.
	one := filepath.Join(dir, "work.mbox")
	if r := runCmd(t, environ, nil, "mail", "export", "--format", "mbox", "--mailbox", "Work/Projects", juliet, one); r.code != 0 {
		t.Fatalf("export one: %s", r)
	}
	if r := runCmd(t, environ, nil, "mail", "import", romeo, one); r.code != 0 || !strings.Contains(r.stdout, "imported 1 messages") {
		t.Fatalf("import one: %s", r)
	}

	// Failures.
	for _, c := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"mail", "import", "nobody@capulet.example", md}, exitNotFound, "not found"},
		{[]string{"mail", "import", romeo, filepath.Join(dir, "missing")}, exitFailure, "no such file"},
		{[]string{"mail", "import", romeo, t.TempDir()}, exitFailure, "not a Maildir"},
		{[]string{"mail", "import", romeo, filepath.Join(md, "cur", files[5].path[4:])}, exitFailure, "not an mbox file"},
		{[]string{"mail", "export", "--format", "zip", romeo, dir}, exitUsage, "maildir or mbox"},
		{[]string{"mail", "export", "--mailbox", "Nope", romeo, dir}, exitFailure, "no such mailbox"},
		{[]string{"mail", "import", "tybalt@capulet.example", md}, exitFailure, "mailbox quota exceeded: stopped after importing 2 messages"},
	} {
		if r := runCmd(t, environ, nil, c.args...); r.code != c.code || !strings.Contains(r.stderr, c.stderr) {
			t.Errorf("%v: want exit %d and %q, got %s", c.args, c.code, c.stderr, r)
		}
	}
}

// TestMailFolderNames: Maildir++ folder names are modified UTF-7, as
// Dovecot writes them; names that are not (written by other tools) are
// taken as they are; export writes the canonical encoding, and importing
// the export gives the same mailboxes.
func TestMailFolderNames(t *testing.T) {
	t.Parallel()
	environ := mailEnv(t)
	const juliet = "juliet@capulet.example"
	md := filepath.Join(t.TempDir(), "Maildir")
	os.MkdirAll(filepath.Join(md, "cur"), 0o700)
	folders := []struct{ dir, box, exported string }{
		{".Entw&APw-rfe", "Entwürfe", ".Entw&APw-rfe"},
		{".Archiv.2024.Gel&APY-scht", "Archiv/2024/Gelöscht", ".Archiv.2024.Gel&APY-scht"},
		{".&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-", "Отправленные", ".&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"},
		{".Caf&AOk-&AOk-", "Caféé", ".Caf&AOkA6Q-"}, // two runs in a row: read, written as one
		{".R&D", "R&D", ".R&-D"},       // not modified UTF-7: as it is
		{".Käse", "Käse", ".K&AOQ-se"}, // raw UTF-8 (Dovecot's UTF8 option)
	}
	t0 := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
	for i, f := range folders {
		writeMaildirMessage(t, filepath.Join(md, f.dir, "cur", fmt.Sprintf("%d.M%d.host:2,S", t0.Unix()+int64(i), i)),
			"Subject: "+f.box+"\n\nin "+f.box+"\n", t0.Add(time.Duration(i)*time.Minute))
	}
	if r := runCmd(t, environ, nil, "mail", "import", juliet, md); r.code != 0 || !strings.Contains(r.stdout, "imported 6 messages into 6 mailboxes, skipped 0") {
		t.Fatalf("import: %s", r)
	}
	st, acc := openMail(t, environ)
	got := dump(t, st, acc, juliet)
	var boxes []string
	for _, m := range got {
		boxes = append(boxes, m.Mailbox)
	}
	for _, f := range folders {
		if !slices.Contains(boxes, f.box) {
			t.Errorf("no message in %q: %v", f.box, boxes)
		}
	}

	out := filepath.Join(t.TempDir(), "export")
	if r := runCmd(t, environ, nil, "mail", "export", juliet, out); r.code != 0 {
		t.Fatalf("export: %s", r)
	}
	for _, f := range folders {
		if fi, err := os.Stat(filepath.Join(out, f.exported, "cur")); err != nil || !fi.IsDir() {
			t.Errorf("%s: not exported as %s: %v", f.box, f.exported, err)
		}
	}
	env2 := mailEnv(t)
	if r := runCmd(t, env2, nil, "mail", "import", juliet, out); r.code != 0 {
		t.Fatalf("re-import: %s", r)
	}
	st2, acc2 := openMail(t, env2)
	if again := dump(t, st2, acc2, juliet); !slices.Equal(again, got) {
		t.Errorf("round trip:\n%s\nwant:\n%s", fmtMessages(again), fmtMessages(got))
	}
}

func fmtMessages(ms []storedMessage) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%s [%s] %d %q\n", m.Mailbox, m.Flags, m.Date, m.Body)
	}
	return b.String()
}

// TestMailImportTooBig: a message over smtp.max_message_size is skipped,
// in a Maildir and in an mbox, and the import goes on.
func TestMailImportTooBig(t *testing.T) {
	t.Parallel()
	environ := mailEnv(t, "TIDINGS_SMTP_MAX_MESSAGE_SIZE=2KiB")
	dir := t.TempDir()
	big := "Subject: big\n\n" + strings.Repeat("x", 4000) + "\n"
	mbox := filepath.Join(dir, "a.mbox")
	content := "From a Mon Jan  1 00:00:00 2024\nSubject: small\n\nok\n\nFrom b Mon Jan  1 00:00:00 2024\n" + big + "\nFrom c Mon Jan  1 00:00:00 2024\nSubject: small 2\n\nok\n"
	if err := os.WriteFile(mbox, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, environ, nil, "mail", "import", "juliet@capulet.example", mbox)
	if r.code != 0 || !strings.Contains(r.stdout, "imported 2 messages into 1 mailboxes, skipped 1") || !strings.Contains(r.stdout, "larger than smtp.max_message_size") {
		t.Fatalf("%s", r)
	}
	md := filepath.Join(dir, "md")
	writeMaildirMessage(t, filepath.Join(md, "cur", "1.big:2,S"), big, time.Now())
	writeMaildirMessage(t, filepath.Join(md, "cur", "2.small:2,S"), "Subject: s\n\nok\n", time.Now())
	r = runCmd(t, environ, nil, "mail", "import", "romeo@capulet.example", md)
	if r.code != 0 || !strings.Contains(r.stdout, "imported 1 messages into 1 mailboxes, skipped 1") {
		t.Fatalf("%s", r)
	}
}

// writeBigMbox writes n messages of about 2 KiB.
func writeBigMbox(t testing.TB, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	line := strings.Repeat("lorem ipsum dolor sit amet ", 2) + "\n"
	for i := range n {
		fmt.Fprintf(w, "From sender%d@example.org Mon Jan  1 00:%02d:%02d 2024\n", i, i/60%60, i%60)
		fmt.Fprintf(w, "From: Sender %d <sender%d@example.org>\nTo: juliet@capulet.example\nSubject: message %d\nMessage-ID: <%d@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\n", i, i, i, i)
		for range 33 {
			w.WriteString(line)
		}
		w.WriteString("\n")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestMailImportMemory imports 20,000 messages and checks that the heap
// does not grow with them. Not parallel, so other tests' heaps stay out.
func TestMailImportMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 20,000 messages")
	}
	const n = 20000
	environ := mailEnv(t)
	path := filepath.Join(t.TempDir(), "big.mbox")
	writeBigMbox(t, path, n)

	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	start := time.Now()
	r := runCmd(t, environ, nil, "mail", "import", "juliet@capulet.example", path)
	close(stop)
	<-done
	elapsed := time.Since(start)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("imported %d messages", n)) || !strings.Contains(r.stderr, "imported 20000 messages\n") {
		t.Fatalf("%s", r)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("%d messages in %v (%.0f/s); peak heap in use %.1f MiB, after GC %.1f MiB",
		n, elapsed.Round(time.Millisecond), n/elapsed.Seconds(), float64(peak.Load())/(1<<20), float64(ms.HeapInuse)/(1<<20))
	const limit = 64 << 20
	if peak.Load() > limit || ms.HeapInuse > limit {
		t.Errorf("heap in use: peak %d, after GC %d bytes; want below %d", peak.Load(), ms.HeapInuse, limit)
	}
}

// TestMailImportLongLines: lines longer than the read buffer and bodies
// spooled to a file (over 1 MiB) come through byte for byte.
func TestMailImportLongLines(t *testing.T) {
	t.Parallel()
	environ := mailEnv(t)
	long := strings.Repeat("y", 200<<10)
	big := "Subject: big\n\n" + strings.Repeat(long+"\n", 8) + ">From escaped\n"
	path := filepath.Join(t.TempDir(), "long.mbox")
	content := "From a Mon Jan  1 00:00:00 2024\nSubject: long\nX-Long: " + long + "\n\n" + long + "\n\n" +
		"From b Mon Jan  1 00:00:00 2024\n" + big + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCmd(t, environ, nil, "mail", "import", "juliet@capulet.example", path); r.code != 0 || !strings.Contains(r.stdout, "imported 2 messages") {
		t.Fatalf("%s", r)
	}
	st, acc := openMail(t, environ)
	got := dump(t, st, acc, "juliet@capulet.example")
	want := []string{crlf("Subject: long\nX-Long: " + long + "\n\n" + long + "\n"), crlf(strings.Replace(big, ">From", "From", 1))}
	if len(got) != 2 || got[0].Body != want[0] || got[1].Body != want[1] {
		t.Fatalf("got %d messages; bodies equal: %v", len(got), len(got) == 2 && got[0].Body == want[0] && got[1].Body == want[1])
	}
}
