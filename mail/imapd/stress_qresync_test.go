package imapd

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"math/rand"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// The QRESYNC session of TestStress: imapclient cannot read VANISHED, so
// this one speaks the protocol itself, over the same tap and checks as the
// others. It learns of expunges by UID (VANISHED), asks for changes with
// UID FETCH … (CHANGEDSINCE n VANISHED), and re-SELECTs INBOX with the
// QRESYNC parameter (RFC 7162 §3.2.5): its cached UIDs minus VANISHED
// (EARLIER) plus the new messages must line up with what the server says
// next.

// rawSession runs one command at a time on a connection whose responses
// the view's tap reads.
type rawSession struct {
	conn *tls.Conn
	r    *bufio.Reader
	tag  int
}

func (e *env) qresyncClient(t *testing.T, w *stressWorld, name string, seed int64) *stressClient {
	t.Helper()
	sc := &stressClient{t: t, e: e, w: w, name: name, v: newView(w, name), rnd: rand.New(rand.NewSource(seed)), ops: map[string]int{}}
	conn, err := tls.Dial("tcp", e.addr[IMAPS], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	sc.raw = &rawSession{conn: conn, r: bufio.NewReader(&tapConn{Conn: conn, v: sc.v})}
	if _, err := sc.raw.r.ReadString('\n'); err != nil { // greeting
		t.Fatal(err)
	}
	for _, c := range []string{`LOGIN juliet@capulet.example "` + pw + `"`, "ENABLE QRESYNC"} {
		if _, err := sc.rawCmd(c); err != nil {
			t.Fatal(err)
		}
	}
	return sc
}

// rawCmd sends one command and returns its untagged lines; a reply other
// than OK is an error.
func (sc *stressClient) rawCmd(line string) ([]string, error) {
	rs := sc.raw
	rs.tag++
	tag := fmt.Sprintf("Q%d", rs.tag)
	sc.v.note("C: " + tag + " " + line)
	if _, err := rs.conn.Write([]byte(tag + " " + line + "\r\n")); err != nil {
		return nil, err
	}
	var untagged []string
	for {
		rs.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		l, err := rs.r.ReadString('\n')
		if err != nil {
			return untagged, err
		}
		l = strings.TrimRight(l, "\r\n")
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			if !strings.HasPrefix(rest, "OK") {
				return untagged, fmt.Errorf("%s: %s", line, rest)
			}
			return untagged, nil
		}
		untagged = append(untagged, l)
	}
}

// rawDo is do for the QRESYNC session.
func (sc *stressClient) rawDo(line string) ([]string, error) {
	var lines []string
	err := sc.do(func() (err error) {
		lines, err = sc.rawCmd(line)
		return err
	})
	return lines, err
}

func (sc *stressClient) rawOps() []stressOp {
	return []stressOp{
		{"store", 30, sc.rawStore},
		{"expunge", 10, sc.rawExpunge},
		{"fetch", 15, sc.rawFetchChanged},
		{"noop", 15, sc.noop},
		{"idle", 10, sc.rawIdle},
		{"select", 10, sc.rawSelect},
	}
}

var (
	uidValidityRE = regexp.MustCompile(`^\* OK \[UIDVALIDITY (\d+)\]`)
	selHighestRE  = regexp.MustCompile(`^\* OK \[HIGHESTMODSEQ (\d+)\]`)
)

// rawSelect SELECTs INBOX, with QRESYNC (UIDVALIDITY, the HIGHESTMODSEQ of
// the last SELECT, the known UIDs) when the client knows every UID.
func (sc *stressClient) rawSelect() error {
	slots := sc.v.snapshot()
	line := "SELECT INBOX"
	var cache []slot
	if sc.validity != 0 && !hasUnknown(slots) {
		cache = slots
		known := make([]uint32, len(slots))
		for i, s := range slots {
			known[i] = s.uid
		}
		line = fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d", sc.validity, sc.selHMS)
		if len(known) > 0 && sc.rnd.Intn(3) > 0 {
			line += " " + uidSet(known).String()
		}
		line += "))"
		if cache == nil {
			cache = []slot{}
		}
	}
	_, floorModSeq := sc.w.floors("INBOX")
	sc.v.beginSelect("INBOX", cache)
	lines, err := sc.rawDo(line)
	sc.v.endSelect()
	if err != nil {
		return err
	}
	for _, l := range lines {
		if m := uidValidityRE.FindStringSubmatch(l); m != nil {
			sc.validity = atoi(m[1])
		}
		if m := selHighestRE.FindStringSubmatch(l); m != nil {
			sc.selHMS = uint64(atoi(m[1]))
		}
	}
	if sc.selHMS < floorModSeq {
		sc.fail("SELECT: HIGHESTMODSEQ %d, but MODSEQ %d was seen before", sc.selHMS, floorModSeq)
	}
	return sc.fill()
}

func hasUnknown(slots []slot) bool {
	for _, s := range slots {
		if s.uid == 0 {
			return true
		}
	}
	return false
}

// knownUIDs picks a random run of known UIDs.
func (sc *stressClient) knownUIDs() []uint32 {
	var known []uint32
	for _, s := range sc.v.snapshot() {
		if s.uid != 0 {
			known = append(known, s.uid)
		}
	}
	if len(known) == 0 {
		return nil
	}
	i := sc.rnd.Intn(len(known))
	return known[i:min(len(known), i+1+sc.rnd.Intn(4))]
}

// rawStore: UID STORE with ±FLAGS, sometimes .SILENT or UNCHANGEDSINCE.
func (sc *stressClient) rawStore() error {
	uids := sc.knownUIDs()
	if uids == nil {
		return sc.noop()
	}
	slots := sc.v.snapshot()
	op := []string{"+FLAGS", "-FLAGS", "FLAGS"}[sc.rnd.Intn(3)]
	if sc.rnd.Intn(3) == 0 {
		op += ".SILENT"
	}
	var flags []string
	for _, f := range sc.randomFlags() {
		flags = append(flags, string(f))
	}
	mod := ""
	var newer []uint32
	if sc.rnd.Intn(4) == 0 {
		since := slots[sc.rnd.Intn(len(slots))].modSeq
		mod = fmt.Sprintf("(UNCHANGEDSINCE %d) ", since)
		for _, s := range slots {
			if s.modSeq > since && containsUID(uids, s.uid) {
				newer = append(newer, s.uid)
			}
		}
	}
	set := uidSet(uids)
	if _, err := sc.rawDo(fmt.Sprintf("UID STORE %s %s%s (%s)", set, mod, op, strings.Join(flags, " "))); err != nil {
		return err
	}
	if len(newer) > 0 {
		sc.checkModified(set, slots, newer)
	}
	return nil
}

func containsUID(uids []uint32, u uint32) bool {
	for _, x := range uids {
		if x == u {
			return true
		}
	}
	return false
}

// rawExpunge marks a few messages \Deleted and UID EXPUNGEs them, or runs
// EXPUNGE.
func (sc *stressClient) rawExpunge() error {
	uids := sc.knownUIDs()
	if uids == nil || len(sc.v.snapshot()) < 10 {
		return sc.noop()
	}
	set := uidSet(uids).String()
	if _, err := sc.rawDo("UID STORE " + set + ` +FLAGS.SILENT (\Deleted)`); err != nil {
		return err
	}
	if sc.rnd.Intn(2) == 0 {
		_, err := sc.rawDo("EXPUNGE")
		return err
	}
	_, err := sc.rawDo("UID EXPUNGE " + set)
	return err
}

// rawFetchChanged: UID FETCH 1:* (FLAGS) (CHANGEDSINCE n VANISHED).
func (sc *stressClient) rawFetchChanged() error {
	since := sc.selHMS
	if slots := sc.v.snapshot(); len(slots) > 0 && sc.rnd.Intn(2) == 0 {
		since = slots[sc.rnd.Intn(len(slots))].modSeq
	}
	_, err := sc.rawDo(fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", max(since, 1)))
	return err
}

// rawIdle idles for a few milliseconds.
func (sc *stressClient) rawIdle() error {
	return sc.do(func() error {
		rs := sc.raw
		rs.tag++
		tag := fmt.Sprintf("Q%d", rs.tag)
		if _, err := rs.conn.Write([]byte(tag + " IDLE\r\n")); err != nil {
			return err
		}
		done := false
		for {
			rs.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			l, err := rs.r.ReadString('\n')
			if err != nil {
				return err
			}
			switch {
			case strings.HasPrefix(l, "+") && !done:
				time.Sleep(time.Duration(5+sc.rnd.Intn(30)) * time.Millisecond)
				if _, err := rs.conn.Write([]byte("DONE\r\n")); err != nil {
					return err
				}
				done = true
			case strings.HasPrefix(l, tag+" "):
				if !strings.HasPrefix(l, tag+" OK") {
					return fmt.Errorf("IDLE: %s", l)
				}
				return nil
			}
		}
	})
}

// rawFill is fill for the QRESYNC session.
func (sc *stressClient) rawFill() error {
	seqs, uids := sc.v.unknown()
	if len(seqs) > 0 {
		var s imap.SeqSet
		s.AddNum(seqs...)
		if _, err := sc.rawDo("FETCH " + s.String() + " (UID FLAGS MODSEQ)"); err != nil {
			return err
		}
	}
	if len(uids) > 0 {
		_, err := sc.rawDo("UID FETCH " + uidSet(uids).String() + " (FLAGS MODSEQ)")
		return err
	}
	return nil
}
