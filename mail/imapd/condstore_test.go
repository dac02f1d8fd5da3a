package imapd

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

// ok runs a command that must succeed and returns its untagged lines
// and the tagged reply.
func (r *raw) ok(tag, line string) ([]string, string) {
	r.t.Helper()
	reply, untagged := r.cmd(tag, line)
	if !strings.HasPrefix(reply, "OK") {
		r.t.Fatalf("%s: %s (untagged %q)", line, reply, untagged)
	}
	return untagged, reply
}

// has fails unless some line matches the regular expression; it returns
// the first submatch of the first matching line.
func has(t *testing.T, lines []string, expr string) string {
	t.Helper()
	re := regexp.MustCompile(expr)
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			if len(m) > 1 {
				return m[1]
			}
			return m[0]
		}
	}
	t.Fatalf("no line matches %q in %q", expr, lines)
	return ""
}

func hasNot(t *testing.T, lines []string, expr string) {
	t.Helper()
	re := regexp.MustCompile(expr)
	for _, l := range lines {
		if re.MatchString(l) {
			t.Fatalf("line %q matches %q", l, expr)
		}
	}
}

func u64(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCondStore: CONDSTORE (RFC 7162 §3.1) over the wire: HIGHESTMODSEQ
// on SELECT, the MODSEQ item, CHANGEDSINCE, UNCHANGEDSINCE with MODIFIED,
// SEARCH MODSEQ, STATUS HIGHESTMODSEQ, and MODSEQ in another session's
// unsolicited FETCH.
func TestCondStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		{
			e := newEnv(t, db, nil)
			r := e.raw(t)
			r.ok("a", `LOGIN juliet@capulet.example "`+pw+`"`)
			caps, _ := r.ok("b", "CAPABILITY")
			for _, c := range []string{"CONDSTORE", "QRESYNC", "QUOTA", "QUOTA=RES-STORAGE", "ID"} {
				has(t, caps, ` `+regexp.QuoteMeta(c)+`( |$)`)
			}
			for i := range 3 {
				r.ok("c", fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len("Subject: x\r\n\r\nhi"), "Subject: x\r\n\r\nhi"))
				_ = i
			}
			sel, _ := r.ok("d", "SELECT INBOX")
			high := u64(t, has(t, sel, `^\* OK \[HIGHESTMODSEQ (\d+)\]`))

			// MODSEQ enables CONDSTORE; every message has one, at most HIGHESTMODSEQ.
			f, _ := r.ok("e", "FETCH 1:* (MODSEQ)")
			if len(f) != 3 {
				t.Fatalf("FETCH MODSEQ: %q", f)
			}
			for _, l := range f {
				if ms := u64(t, has(t, []string{l}, `MODSEQ \((\d+)\)`)); ms == 0 || ms > high {
					t.Errorf("%q: MODSEQ outside 1..%d", l, high)
				}
			}

			// Another session sees the change with its MODSEQ.
			o := e.raw(t)
			o.ok("a", `LOGIN juliet@capulet.example "`+pw+`"`)
			o.ok("b", "SELECT INBOX (CONDSTORE)")

			st, _ := r.ok("f", `STORE 1 +FLAGS (\Flagged)`)
			ms1 := u64(t, has(t, st, `^\* 1 FETCH .*MODSEQ \((\d+)\)`))
			if ms1 <= high {
				t.Errorf("MODSEQ after STORE %d, not above %d", ms1, high)
			}
			noop, _ := o.ok("c", "NOOP")
			has(t, noop, fmt.Sprintf(`^\* 1 FETCH \(UID 1 FLAGS \(\\Flagged\) MODSEQ \(%d\)\)`, ms1))

			// CHANGEDSINCE: only message 1 changed since high.
			ch, _ := r.ok("g", fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", high))
			if len(ch) != 1 || !strings.Contains(ch[0], "UID 1 ") || !strings.Contains(ch[0], "MODSEQ") {
				t.Errorf("CHANGEDSINCE %d: %q", high, ch)
			}

			// UNCHANGEDSINCE: message 2 last changed before ms1, 1 at ms1.
			reply, un := r.cmd("h", fmt.Sprintf(`STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\Seen)`, ms1-1))
			if reply != "OK [MODIFIED 1] Conditional STORE failed" {
				t.Errorf("conditional STORE: %q", reply)
			}
			has(t, un, `^\* 2 FETCH \(UID 2 MODSEQ \(\d+\)\)$`) // .SILENT still says the new MODSEQ
			hasNot(t, un, `^\* 1 FETCH`)
			reply, _ = r.cmd("h2", `UID STORE 3 (UNCHANGEDSINCE 0) +FLAGS (\Seen)`)
			if reply != "OK [MODIFIED 3] Conditional STORE failed" {
				t.Errorf("UNCHANGEDSINCE 0: %q", reply)
			}

			srch, _ := r.ok("i", fmt.Sprintf("SEARCH MODSEQ %d", ms1))
			has(t, srch, `^\* SEARCH 1 2 \(MODSEQ \d+\)$`)
			srch, _ = r.ok("i1", "SEARCH ALL") // no MODSEQ key: no (MODSEQ n)
			has(t, srch, `^\* SEARCH 1 2 3$`)
			srch, _ = r.ok("i2", fmt.Sprintf(`UID SEARCH RETURN (COUNT) MODSEQ "/flags/\\seen" all %d`, ms1+1))
			has(t, srch, `^\* ESEARCH \(TAG "i2"\) UID COUNT 1 MODSEQ \d+$`)

			stat, _ := r.ok("j", "STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
			if h := u64(t, has(t, stat, `HIGHESTMODSEQ (\d+)`)); h <= ms1 {
				t.Errorf("STATUS HIGHESTMODSEQ %d, not above %d", h, ms1)
			}

			// Without CONDSTORE a session's FETCH carries no MODSEQ.
			p := e.raw(t)
			p.ok("a", `LOGIN juliet@capulet.example "`+pw+`"`)
			p.ok("b", "SELECT INBOX")
			r.ok("k", `STORE 3 +FLAGS (\Answered)`)
			noop, _ = p.ok("c", "NOOP")
			has(t, noop, `^\* 3 FETCH \(UID 3 FLAGS \(\\Answered\)\)$`)

			for _, bad := range []string{
				"FETCH 1 (FLAGS) (CHANGEDSINCE)",
				"FETCH 1 (FLAGS) (FROBNICATE 1)",
				"STORE 1 (UNCHANGEDSINCE x) +FLAGS (\\Seen)",
				"SEARCH MODSEQ",
				"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)", // QRESYNC not enabled
				"SELECT INBOX (QRESYNC (1 1))",                    // QRESYNC not enabled
				"SELECT INBOX (BOGUS)",
			} {
				if reply, _ := p.cmd("z", bad); !strings.HasPrefix(reply, "BAD") {
					t.Errorf("%s: %q, want BAD", bad, reply)
				}
			}
			p.ok("y", "NOOP") // the connection lives on
		}
	})
}

// TestQResync: QRESYNC (RFC 7162 §3.2): SELECT with the QRESYNC parameter
// reports what vanished and what changed, VANISHED replaces EXPUNGE, and
// UID FETCH … (CHANGEDSINCE n VANISHED).
func TestQResync(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		{
			e := newEnv(t, db, nil)
			a := e.raw(t)
			a.ok("a", `LOGIN juliet@capulet.example "`+pw+`"`)
			for range 5 {
				a.ok("b", "APPEND INBOX {6+}\r\nhi\r\n\r\n")
			}
			sel, _ := a.ok("c", "SELECT INBOX")
			validity := has(t, sel, `\[UIDVALIDITY (\d+)\]`)
			high := u64(t, has(t, sel, `\[HIGHESTMODSEQ (\d+)\]`))

			// Changes while the client is away: 2 and 4 expunged, 3 flagged.
			a.ok("d", `STORE 2,4 +FLAGS.SILENT (\Deleted)`)
			a.ok("e", "EXPUNGE")
			a.ok("f", `STORE 2 +FLAGS.SILENT (\Flagged)`) // now UID 3

			b := e.raw(t)
			b.ok("a", `LOGIN juliet@capulet.example "`+pw+`"`)
			if reply, _ := b.cmd("b", "SELECT INBOX (QRESYNC ("+validity+" 1))"); !strings.HasPrefix(reply, "BAD") {
				t.Errorf("QRESYNC before ENABLE: %q", reply)
			}
			en, _ := b.ok("c", "ENABLE QRESYNC")
			has(t, en, `^\* ENABLED QRESYNC$`)
			sel, reply := b.ok("d", fmt.Sprintf("SELECT INBOX (QRESYNC (%s %d 1:5))", validity, high))
			if !strings.Contains(reply, "READ-WRITE") {
				t.Errorf("SELECT: %q", reply)
			}
			has(t, sel, `^\* VANISHED \(EARLIER\) 2,4$`)
			has(t, sel, `^\* 2 FETCH \(UID 3 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$`)
			hasNot(t, sel, `^\* 1 FETCH`)

			// Known UIDs narrow VANISHED; a wrong UIDVALIDITY gives a plain SELECT.
			sel, _ = b.ok("e", fmt.Sprintf("EXAMINE INBOX (QRESYNC (%s %d 3:5 (1:3 1,3,5)))", validity, high))
			has(t, sel, `^\* VANISHED \(EARLIER\) 4$`)
			sel, _ = b.ok("f", fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", u64(t, validity)+1, high))
			hasNot(t, sel, `VANISHED|FETCH`)

			// Live expunges reach a QRESYNC session as VANISHED.
			a.ok("g", `UID STORE 1,5 +FLAGS.SILENT (\Deleted)`)
			a.ok("h", "EXPUNGE")
			noop, _ := b.ok("i", "NOOP")
			has(t, noop, `^\* VANISHED 1,5$`)
			hasNot(t, noop, `EXPUNGE`)

			v, _ := b.ok("j", fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", high))
			has(t, v, `^\* VANISHED \(EARLIER\) 1:2,4:5$`)
			has(t, v, `^\* 1 FETCH \(UID 3 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$`)
			if reply, _ := b.cmd("k", fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", high)); !strings.HasPrefix(reply, "BAD") {
				t.Errorf("VANISHED without UID: %q", reply)
			}
			// FETCH responses carry the UID once QRESYNC is on.
			f, _ := b.ok("l", "FETCH 1 (FLAGS)")
			has(t, f, `^\* 1 FETCH \(UID 3 FLAGS`)
		}
	})
}

// TestQuotaAndID: GETQUOTAROOT/GETQUOTA (RFC 9208) and ID (RFC 2971).
func TestQuotaAndID(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), nil)
	q := accounts.ByteSize(1 << 20)
	if _, err := e.acc.UpdateUser(e.ctx, e.juliet.Address, accounts.UserUpdate{Quota: &q}); err != nil {
		t.Fatal(err)
	}
	r := e.raw(t)
	id, _ := r.ok("a", `ID ("name" "test client" "version" "1.0")`)
	has(t, id, `^\* ID \("name" "Tidings"`)
	r.ok("a2", "ID NIL")
	r.ok("b", `LOGIN juliet@capulet.example "`+pw+`"`)
	r.ok("c", "APPEND INBOX {3000+}\r\n"+strings.Repeat("x", 2998)+"\r\n")
	qr, _ := r.ok("d", "GETQUOTAROOT INBOX")
	has(t, qr, `^\* QUOTAROOT INBOX ""$`)
	has(t, qr, `^\* QUOTA "" \(STORAGE 3 1024\)$`)
	qq, _ := r.ok("e", `GETQUOTA ""`)
	has(t, qq, `^\* QUOTA "" \(STORAGE 3 1024\)$`)
	for line, want := range map[string]string{
		`SETQUOTA "" (STORAGE 1)`: "NO",
		`GETQUOTA "other"`:        "NO [NONEXISTENT]",
		`GETQUOTAROOT Nowhere`:    "NO [NONEXISTENT]",
		`GETQUOTAROOT`:            "BAD",
		`ID ("name")`:             "BAD",
		`ID`:                      "BAD",
	} {
		if reply, _ := r.cmd("f", line); !strings.HasPrefix(reply, want) {
			t.Errorf("%s: %q, want %s", line, reply, want)
		}
	}

	// An account without a quota has no quota root.
	o := e.raw(t)
	o.ok("a", `LOGIN romeo@capulet.example "`+pw+`"`)
	qr, _ = o.ok("b", "GETQUOTAROOT INBOX")
	if len(qr) != 1 || qr[0] != `* QUOTAROOT INBOX` {
		t.Errorf("GETQUOTAROOT without quota: %q", qr)
	}
}

// TestCondStoreClient drives CONDSTORE, QUOTA and ID with go-imap's
// client, whose parser is not ours.
func TestCondStoreClient(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), nil)
	q := accounts.ByteSize(10 << 20)
	if _, err := e.acc.UpdateUser(e.ctx, e.juliet.Address, accounts.UserUpdate{Quota: &q}); err != nil {
		t.Fatal(err)
	}
	c := e.login(t, "juliet", nil)
	for _, want := range []imap.Cap{imap.CapCondStore, imap.CapQResync, imap.CapQuota, imap.CapID} {
		if !c.Caps().Has(want) {
			t.Errorf("capability %s not advertised", want)
		}
	}
	id, err := c.ID(&imap.IDData{Name: "go-imap test"}).Wait()
	if err != nil || id.Name != "Tidings" {
		t.Fatalf("ID: %+v, %v", id, err)
	}
	uid := appendMsg(t, c, "INBOX", simple("Romeo <romeo@montague.example>", "Hi", "Hello"), nil)
	appendMsg(t, c, "INBOX", simple("Romeo <romeo@montague.example>", "Again", "Hello"), nil)
	sel, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil || sel.HighestModSeq == 0 {
		t.Fatalf("SELECT (CONDSTORE): %+v, %v", sel, err)
	}
	msgs, err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}},
		&imap.StoreOptions{UnchangedSince: sel.HighestModSeq}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].ModSeq <= sel.HighestModSeq {
		t.Fatalf("STORE (UNCHANGEDSINCE): %+v, %v", msgs, err)
	}
	changed, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, ChangedSince: sel.HighestModSeq}).Collect()
	if err != nil || len(changed) != 1 || changed[0].UID != uid || changed[0].ModSeq != msgs[0].ModSeq {
		t.Fatalf("FETCH (CHANGEDSINCE): %+v, %v", changed, err)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{HighestModSeq: true}).Wait()
	if err != nil || st.HighestModSeq != msgs[0].ModSeq {
		t.Fatalf("STATUS HIGHESTMODSEQ: %+v, %v (want %d)", st, err, msgs[0].ModSeq)
	}
	roots, err := c.GetQuotaRoot("INBOX").Wait()
	if err != nil || len(roots) != 1 {
		t.Fatalf("GETQUOTAROOT: %+v, %v", roots, err)
	}
	if s := roots[0].Resources[imap.QuotaResourceStorage]; s.Limit != 10<<10 || s.Usage == 0 {
		t.Errorf("STORAGE %+v, want usage > 0 of %d", s, 10<<10)
	}
}

// TestNoOlderFlagsAfterNewer: an update queued for a session before it
// answers with newer flags (its own STORE, a FETCH) is not written after
// that answer: the client's MODSEQ would go back, and its flags would stay
// outdated, for good when the newer change was its own (found by
// TestStress).
func TestNoOlderFlagsAfterNewer(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		e := newEnv(t, db, nil)
		a, b := e.raw(t), e.raw(t)
		for _, r := range []*raw{a, b} {
			r.ok("a", `LOGIN juliet@capulet.example "`+pw+`"`)
		}
		for range 2 {
			a.ok("b", "APPEND INBOX {6+}\r\nhi\r\n\r\n")
		}
		a.ok("c", "SELECT INBOX")
		b.ok("c", "SELECT INBOX (CONDSTORE)")
		mb, err := e.st.Mailbox(e.ctx, e.juliet.ID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}

		// Message 1: A's change is queued for B, a newer one comes from
		// elsewhere (the store directly), and B FETCHes.
		a.ok("d", `STORE 1 +FLAGS (\Seen)`)
		if _, _, err := e.st.StoreFlags(e.ctx, mb.ID, []store.UIDRange{{Start: 1, Stop: 1}}, store.FlagsAdd, []string{`\Flagged`}, 0); err != nil {
			t.Fatal(err)
		}
		f, _ := b.ok("e", "FETCH 1 (FLAGS MODSEQ)")
		n, _ := b.ok("f", "NOOP")
		checkFlagsSeq(t, append(f, n...), "1", `\Flagged \Seen`)

		// Message 2: A's change is queued for B, then B changes it itself.
		a.ok("g", `STORE 2 +FLAGS (\Seen)`)
		s, _ := b.ok("h", `STORE 2 +FLAGS (\Answered)`)
		n, _ = b.ok("i", "NOOP")
		checkFlagsSeq(t, append(s, n...), "2", `\Answered \Seen`)
	})
}

// checkFlagsSeq: the FETCH responses for message seq never take MODSEQ
// back, and the last one has the flags want.
func checkFlagsSeq(t *testing.T, lines []string, seq, want string) {
	t.Helper()
	re := regexp.MustCompile(`^\* ` + seq + ` FETCH \(.*FLAGS \(([^)]*)\) MODSEQ \((\d+)\)`)
	var last uint64
	got := ""
	for _, l := range lines {
		m := re.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if ms := u64(t, m[2]); ms < last {
			t.Errorf("message %s: MODSEQ %d after %d in %q", seq, ms, last, lines)
		} else {
			last = ms
		}
		got = m[1]
	}
	if got != want {
		t.Errorf("message %s: last FLAGS (%s), want (%s); lines %q", seq, got, want, lines)
	}
}

// TestQResyncPendingExpunge: an expunge that has not yet reached the
// session's view (the change feed is behind) is not reported in SELECT's
// VANISHED (EARLIER), since EXISTS still counts the message: it comes as a
// live VANISHED afterwards, once (found by TestStress).
func TestQResyncPendingExpunge(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		e := newEnv(t, db, nil)
		a := e.raw(t)
		a.ok("a", `LOGIN juliet@capulet.example "`+pw+`"`)
		for range 3 {
			a.ok("b", "APPEND INBOX {6+}\r\nhi\r\n\r\n")
		}
		sel, _ := a.ok("c", "SELECT INBOX") // keeps the mailbox state loaded
		validity := has(t, sel, `\[UIDVALIDITY (\d+)\]`)
		high := has(t, sel, `\[HIGHESTMODSEQ (\d+)\]`)
		mb, err := e.st.Mailbox(e.ctx, e.juliet.ID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		e.srv.mu.Lock()
		us := e.srv.users[e.juliet.ID]
		e.srv.mu.Unlock()
		b := us.box(mb.ID)

		// Hold the feed: it waits for b's flag changes in flight before
		// applying the first flag change, and the expunge queues behind it.
		b.storing()
		released := false
		release := func() {
			if !released {
				released = true
				b.storedFlags(nil, nil)
			}
		}
		defer release()
		set := []store.UIDRange{{Start: 2, Stop: 2}}
		if _, _, err := e.st.StoreFlags(e.ctx, mb.ID, set, store.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
			t.Fatal(err)
		}
		if gone, err := e.st.Expunge(e.ctx, mb.ID, set); err != nil || len(gone) != 1 {
			t.Fatalf("expunge: %v %v", gone, err)
		}

		q := e.raw(t)
		q.ok("a", `LOGIN juliet@capulet.example "`+pw+`"`)
		q.ok("b", "ENABLE QRESYNC")
		sel, _ = q.ok("c", fmt.Sprintf("SELECT INBOX (QRESYNC (%s %s 1:3))", validity, high))
		has(t, sel, `^\* 3 EXISTS$`)
		hasNot(t, sel, `VANISHED`)
		release()
		var lines []string
		for range 200 { // the feed catches up
			noop, _ := q.ok("d", "NOOP")
			if lines = append(lines, noop...); slices.ContainsFunc(noop, func(l string) bool { return strings.HasPrefix(l, "* VANISHED") }) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		has(t, lines, `^\* VANISHED 2$`)
		hasNot(t, lines, `EARLIER`)
	})
}
