package imapd

import (
	"crypto/tls"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

// TestStress runs stressClients imapclient sessions of one user against
// one server, each doing random APPEND, STORE (+FLAGS, -FLAGS, FLAGS,
// .SILENT, with and without UNCHANGEDSINCE, on sequence and UID sets),
// EXPUNGE and UID EXPUNGE, MOVE and UID MOVE, FETCH and UID FETCH (FLAGS
// MODSEQ), STATUS, NOOP and short IDLEs, plus one QRESYNC session
// (stress_qresync_test.go: VANISHED, UID FETCH … VANISHED, SELECT with
// QRESYNC), while every response is checked as it arrives
// (stress_view_test.go):
//
//   - a FETCH names a sequence number the client knows, and its UID is the
//     one the client holds for it; a newly learnt UID lies between its
//     neighbours' (UIDs ascend with sequence numbers) and was never
//     expunged, neither in this session nor, before this SELECT, in any;
//     a VANISHED UID is one the client holds, and after a QRESYNC SELECT
//     the cache minus VANISHED (EARLIER) plus the new messages is exactly
//     what EXISTS and the following FETCHes say;
//   - a message's MODSEQ never goes back, and one (UID, MODSEQ) has the
//     same FLAGS in every session; HIGHESTMODSEQ never goes back, is never
//     below a MODSEQ the client holds, and at SELECT and in STATUS is never
//     below a MODSEQ some session saw before the command began;
//   - APPENDUID and COPYUID hand out each UID once, above every UID handed
//     out before the command began; UIDNEXT is above them too;
//   - EXISTS never shrinks the count, EXPUNGE names a known message, and
//     imapclient's own message count agrees with the view after every
//     command; MOVE's source UIDs leave the view; a STORE (UNCHANGEDSINCE)
//     reports as MODIFIED every message whose MODSEQ the client already
//     knew to be newer.
//
// At the end, with everyone idle, every session's view (UIDs, flags,
// MODSEQs) must equal a fresh session's UID FETCH 1:* and the store's own
// index; the UIDs handed out must be exactly those left plus those the
// store lists as expunged; and the sessions that held a mailbox from the
// start must have seen one EXISTS per UID added and one EXPUNGE per UID
// expunged.
//
// It runs for 1.5 s per database (0.5 s with -short). For a longer run set
// TIDINGS_IMAP_STRESS to a duration, e.g. TIDINGS_IMAP_STRESS=60s. The
// seed is logged; TIDINGS_IMAP_STRESS_SEED=n replays a client's choices
// (the interleaving of the clients is up to the scheduler).
func TestStress(t *testing.T) {
	dur := 1500 * time.Millisecond
	if testing.Short() {
		dur = 500 * time.Millisecond
	}
	if s := os.Getenv("TIDINGS_IMAP_STRESS"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("TIDINGS_IMAP_STRESS=%q: %v", s, err)
		}
		dur = d
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("TIDINGS_IMAP_STRESS_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("TIDINGS_IMAP_STRESS_SEED=%q: %v", s, err)
		}
		seed = n
	}
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		t.Logf("seed %d, %s (TIDINGS_IMAP_STRESS_SEED=%d repeats the choices)", seed, dur, seed)
		log := &syncBuffer{}
		runStress(t, newEnv(t, db, nil, logTo(log)), seed, dur)
		if t.Failed() {
			for _, l := range strings.Split(log.String(), "\n") {
				if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
					t.Logf("server: %s", l)
				}
			}
		}
	})
}

const stressClients = 6

// The mailboxes: INBOX and Other are always selected by someone; Archive
// only by the roaming client, so its shared state is dropped and
// reloaded.
var stressBoxes = []string{"INBOX", "Other", "Archive"}

var stressFlags = []imap.Flag{imap.FlagSeen, imap.FlagFlagged, imap.FlagAnswered, imap.FlagDeleted, imap.FlagDraft, "$Work", "$Later"}

// stressClient is one session and what it has done.
type stressClient struct {
	t        *testing.T
	e        *env
	w        *stressWorld
	name     string
	c        *imapclient.Client
	v        *view
	rnd      *rand.Rand
	home     string // "" for the roaming client
	ops      map[string]int
	sent     int // messages appended, for unique subjects
	fixed    bool
	selHMS   uint64      // HIGHESTMODSEQ at the last SELECT
	raw      *rawSession // the QRESYNC session speaks the protocol itself (c is nil)
	validity uint32      // UIDVALIDITY at its last SELECT
	selN     int         // messages at the last SELECT
}

func (e *env) stressClient(t *testing.T, w *stressWorld, name string, seed int64) *stressClient {
	t.Helper()
	sc := &stressClient{t: t, e: e, w: w, name: name, v: newView(w, name), rnd: rand.New(rand.NewSource(seed)), ops: map[string]int{}}
	conn, err := tls.Dial("tcp", e.addr[IMAPS], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	sc.c = imapclient.New(&tapConn{Conn: conn, v: sc.v}, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Fetch: sc.unilateralFetch,
	}})
	t.Cleanup(func() { sc.c.Close() })
	if err := sc.c.Login("juliet@capulet.example", pw).Wait(); err != nil {
		t.Fatal(err)
	}
	return sc
}

// unilateralFetch: once CONDSTORE is on, a FETCH the client did not ask
// for carries UID and MODSEQ (RFC 7162 §3.1).
func (sc *stressClient) unilateralFetch(m *imapclient.FetchMessageData) {
	buf, err := m.Collect()
	if err != nil {
		sc.w.fail(sc.name, fmt.Sprintf("unilateral FETCH %d: %v", m.SeqNum, err))
		return
	}
	if buf.UID == 0 || buf.ModSeq == 0 {
		sc.w.fail(sc.name, fmt.Sprintf("unilateral FETCH %d without UID or MODSEQ: %+v", m.SeqNum, buf))
	}
}

func runStress(t *testing.T, e *env, seed int64, dur time.Duration) {
	w := newStressWorld(stressBoxes...)
	setup := e.stressClient(t, w, "setup", seed)
	if err := setup.c.Create("Other", nil).Wait(); err != nil { // Archive is a default mailbox
		t.Fatal(err)
	}
	for i := range 30 {
		if err := setup.append(stressBoxes[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	clients := make([]*stressClient, stressClients)
	for i := range clients {
		sc := e.stressClient(t, w, fmt.Sprintf("c%d", i), seed+int64(i)+1)
		switch {
		case i == stressClients-1:
			sc.home = "" // roams
		case i == stressClients-2:
			sc.home = "Other"
		default:
			sc.home = "INBOX"
		}
		start := sc.home
		if start == "" {
			start = "INBOX"
		}
		if err := sc.selectBox(start); err != nil {
			t.Fatal(err)
		}
		sc.fixed = sc.home != ""
		clients[i] = sc
	}

	q := e.qresyncClient(t, w, "q", seed+stressClients+1)
	if err := q.rawSelect(); err != nil {
		t.Fatal(err)
	}
	clients = append(clients, q)

	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	for _, sc := range clients {
		wg.Go(func() { sc.run(deadline) })
	}
	if !waitTimeout(&wg, dur+30*time.Second) {
		w.fail("test", "clients still busy 30 s after the deadline; closing their connections")
		for _, sc := range clients {
			if sc.raw != nil {
				sc.raw.conn.Close()
			} else {
				sc.c.Close()
			}
		}
		wg.Wait()
	}
	total := map[string]int{}
	for _, sc := range clients {
		for op, n := range sc.ops {
			total[op] += n
		}
	}
	t.Logf("operations: %v", total)
	if report(t, w, seed) {
		return
	}
	finalCheck(t, e, w, clients)
	report(t, w, seed)
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// report fails the test with the violations found so far.
func report(t *testing.T, w *stressWorld, seed int64) bool {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range w.violations {
		t.Errorf("%s", v)
	}
	if len(w.violations) > 0 {
		t.Errorf("seed %d (TIDINGS_IMAP_STRESS_SEED=%d)", seed, seed)
	}
	return len(w.violations) > 0
}

// stressOp is an operation a client picks by weight.
type stressOp struct {
	name   string
	weight int
	fn     func() error
}

// run does random operations until the deadline or the first violation.
func (sc *stressClient) run(deadline time.Time) {
	ops := []stressOp{
		{"append", 14, func() error { return sc.append(sc.appendTarget()) }},
		{"store", 26, sc.store},
		{"expunge", 8, sc.expunge},
		{"move", 8, sc.move},
		{"fetch", 14, sc.fetch},
		{"noop", 10, sc.noop},
		{"idle", 5, sc.idle},
		{"status", 5, sc.status},
		{"select", 4, sc.reselect},
	}
	if sc.raw != nil {
		ops = sc.rawOps()
	}
	total := 0
	for _, op := range ops {
		total += op.weight
	}
	for time.Now().Before(deadline) && !sc.w.isStopped() {
		n := sc.rnd.Intn(total)
		for _, op := range ops {
			if n -= op.weight; n < 0 {
				sc.ops[op.name]++
				if err := op.fn(); err != nil {
					sc.fail("%s: %v", op.name, err)
					return
				}
				break
			}
		}
		if sc.rnd.Intn(10) < 7 {
			if err := sc.fill(); err != nil {
				sc.fail("fill: %v", err)
				return
			}
		}
	}
}

func (sc *stressClient) fail(format string, args ...any) {
	sc.v.mu.Lock()
	defer sc.v.mu.Unlock()
	sc.v.failLocked(format, args...)
}

// do runs one command and then checks what every command must leave:
// imapclient's message count equals the view's, and the MODSEQs seen
// become the floor for later HIGHESTMODSEQs.
func (sc *stressClient) do(cmd func() error) error {
	sc.v.beginCommand()
	if err := cmd(); err != nil {
		return err
	}
	_, maxModSeq, _, _ := sc.v.result()
	sc.w.doneModSeq(sc.v.mailbox, maxModSeq)
	if sc.c == nil {
		return nil
	}
	if mb := sc.c.Mailbox(); mb != nil {
		if n := len(sc.v.snapshot()); int(mb.NumMessages) != n {
			sc.fail("imapclient counts %d messages, the view %d", mb.NumMessages, n)
		}
	}
	return nil
}

func (sc *stressClient) selectBox(mailbox string) error {
	floorUID, floorModSeq := sc.w.floors(mailbox)
	sc.v.beginSelect(mailbox, nil)
	var data *imap.SelectData
	err := sc.do(func() (err error) {
		data, err = sc.c.Select(mailbox, &imap.SelectOptions{CondStore: true}).Wait()
		return err
	})
	sc.v.endSelect()
	if err != nil {
		return err
	}
	if uint32(data.UIDNext) <= floorUID {
		sc.fail("SELECT: UIDNEXT %d, but UID %d was handed out before", data.UIDNext, floorUID)
	}
	if data.HighestModSeq < floorModSeq {
		sc.fail("SELECT: HIGHESTMODSEQ %d, but MODSEQ %d was seen before", data.HighestModSeq, floorModSeq)
	}
	if bad := sc.w.allocate(sc.name, mailbox, data.UIDValidity, 0, nil); bad != nil {
		sc.fail("SELECT: %s", strings.Join(bad, "; "))
	}
	sc.selHMS, sc.selN = data.HighestModSeq, int(data.NumMessages)
	return sc.fill()
}

// fill asks for what the view lacks, as a client keeping a cache would:
// the UIDs of new messages and the flags after a .SILENT STORE.
func (sc *stressClient) fill() error {
	if sc.raw != nil {
		return sc.rawFill()
	}
	seqs, uids := sc.v.unknown()
	if len(seqs) > 0 {
		if err := sc.do(func() error {
			return sc.c.Fetch(imap.SeqSetNum(seqs...), &imap.FetchOptions{UID: true, Flags: true, ModSeq: true}).Close()
		}); err != nil {
			return err
		}
	}
	if len(uids) > 0 {
		return sc.do(func() error {
			return sc.c.Fetch(uidSet(uids), &imap.FetchOptions{UID: true, Flags: true, ModSeq: true}).Close()
		})
	}
	return nil
}

func uidSet(uids []uint32) imap.UIDSet {
	var s imap.UIDSet
	for _, u := range uids {
		s.AddNum(imap.UID(u))
	}
	return s
}

func (sc *stressClient) appendTarget() string {
	if sc.home != "" && sc.rnd.Intn(3) > 0 {
		return sc.home
	}
	return stressBoxes[sc.rnd.Intn(len(stressBoxes))]
}

func (sc *stressClient) randomFlags() []imap.Flag {
	var out []imap.Flag
	for range sc.rnd.Intn(3) {
		if f := stressFlags[sc.rnd.Intn(len(stressFlags))]; !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// append adds a message; APPENDUID must be a new UID.
func (sc *stressClient) append(mailbox string) error {
	sc.sent++
	body := fmt.Sprintf("From: %s@capulet.example\r\nSubject: %s-%d\r\n\r\nstress\r\n", sc.name, sc.name, sc.sent)
	floor, _ := sc.w.floors(mailbox)
	var data *imap.AppendData
	err := sc.do(func() error {
		cmd := sc.c.Append(mailbox, int64(len(body)), &imap.AppendOptions{Flags: sc.randomFlags()})
		if _, err := cmd.Write([]byte(body)); err != nil {
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		var err error
		data, err = cmd.Wait()
		return err
	})
	if err != nil {
		return err
	}
	if data.UID == 0 {
		sc.fail("APPEND to %s: no APPENDUID", mailbox)
		return nil
	}
	if bad := sc.w.allocate(sc.name, mailbox, data.UIDValidity, floor, []uint32{uint32(data.UID)}); bad != nil {
		sc.fail("APPENDUID: %s", strings.Join(bad, "; "))
	}
	return nil
}

// target picks a random set of messages: sequence numbers or UIDs, a
// single one, a range, a range to "*", or a few.
func (sc *stressClient) target() (imap.NumSet, []slot, bool) {
	slots := sc.v.snapshot()
	if len(slots) == 0 {
		return nil, nil, false
	}
	var known []uint32
	for _, s := range slots {
		if s.uid != 0 {
			known = append(known, s.uid)
		}
	}
	lo := uint32(sc.rnd.Intn(len(slots)) + 1)
	hi := min(lo+uint32(sc.rnd.Intn(4)), uint32(len(slots)))
	if len(known) == 0 || sc.rnd.Intn(2) == 0 {
		var s imap.SeqSet
		switch sc.rnd.Intn(4) {
		case 0:
			s.AddNum(lo)
		case 1:
			s.AddRange(lo, hi)
		case 2:
			s.AddRange(lo, 0) // lo:*
		default:
			s.AddNum(lo, uint32(sc.rnd.Intn(len(slots))+1))
		}
		return s, slots, true
	}
	var s imap.UIDSet
	a := known[sc.rnd.Intn(len(known))]
	switch sc.rnd.Intn(4) {
	case 0:
		s.AddNum(imap.UID(a))
	case 1:
		s.AddRange(imap.UID(a), imap.UID(a+uint32(sc.rnd.Intn(6))))
	case 2:
		s.AddRange(imap.UID(a), 0) // a:*
	default:
		s.AddNum(imap.UID(a), imap.UID(known[sc.rnd.Intn(len(known))]))
	}
	return s, slots, true
}

// named lists the known UIDs of slots that set names ("*" is the last
// message the client knows, or its highest known UID).
func named(set imap.NumSet, slots []slot) []uint32 {
	var out []uint32
	var maxUID uint32
	for _, s := range slots {
		maxUID = max(maxUID, s.uid)
	}
	for i, s := range slots {
		if s.uid == 0 {
			continue
		}
		switch set := set.(type) {
		case imap.SeqSet:
			if numSetHas(set, uint32(i+1), uint32(len(slots))) {
				out = append(out, s.uid)
			}
		case imap.UIDSet:
			if numSetHas(set, s.uid, maxUID) {
				out = append(out, s.uid)
			}
		}
	}
	return out
}

// numSetHas resolves "*" as star.
func numSetHas(set imap.NumSet, n, star uint32) bool {
	var ranges [][2]uint32
	switch set := set.(type) {
	case imap.SeqSet:
		for _, r := range set {
			ranges = append(ranges, [2]uint32{r.Start, r.Stop})
		}
	case imap.UIDSet:
		for _, r := range set {
			ranges = append(ranges, [2]uint32{uint32(r.Start), uint32(r.Stop)})
		}
	}
	for _, r := range ranges {
		sp := newSpan(r[0], r[1], star)
		if n >= sp.lo && n <= sp.hi {
			return true
		}
	}
	return false
}

// store changes flags. With UNCHANGEDSINCE, every message whose MODSEQ
// the client already knows to be newer must come back as MODIFIED (RFC
// 7162 §3.1.3), unless it was expunged meanwhile.
func (sc *stressClient) store() error {
	set, slots, ok := sc.target()
	if !ok {
		return sc.noop()
	}
	sf := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: sc.rnd.Intn(3) == 0, Flags: sc.randomFlags()}
	switch n := sc.rnd.Intn(10); {
	case n < 4:
		sf.Op = imap.StoreFlagsDel
	case n < 6:
		sf.Op = imap.StoreFlagsSet
	}
	if len(sf.Flags) == 0 && sf.Op != imap.StoreFlagsSet {
		sf.Flags = []imap.Flag{stressFlags[sc.rnd.Intn(len(stressFlags))]}
	}
	var opt *imap.StoreOptions
	var newer []uint32
	if sc.rnd.Intn(4) == 0 {
		opt = &imap.StoreOptions{UnchangedSince: 1}
		if s := slots[sc.rnd.Intn(len(slots))]; s.modSeq > 0 {
			opt.UnchangedSince = s.modSeq
		}
		known := map[uint32]uint64{}
		for _, s := range slots {
			known[s.uid] = s.modSeq
		}
		for _, u := range named(set, slots) {
			if known[u] > opt.UnchangedSince {
				newer = append(newer, u)
			}
		}
	}
	if err := sc.do(func() error { return sc.c.Store(set, sf, opt).Close() }); err != nil {
		return err
	}
	if len(newer) > 0 {
		sc.checkModified(set, slots, newer)
	}
	return nil
}

func (sc *stressClient) checkModified(set imap.NumSet, slots []slot, newer []uint32) {
	tagged, _, _, _ := sc.v.result()
	modified := map[uint32]bool{}
	if rest, ok := strings.CutPrefix(tagged, "MODIFIED "); ok {
		for _, n := range parseNumSet(rest) {
			if _, bySeq := set.(imap.SeqSet); bySeq {
				// No EXPUNGE during STORE: the numbers are those of slots.
				if n >= 1 && int(n) <= len(slots) {
					modified[slots[n-1].uid] = true
				}
				continue
			}
			modified[n] = true
		}
	}
	for _, u := range newer {
		if !modified[u] {
			sc.w.mustVanish(sc.v.mailbox, u, sc.name+": STORE (UNCHANGEDSINCE) did not report it MODIFIED though its MODSEQ was known to be newer")
		}
	}
}

// parseNumSet expands "1:3,7".
func parseNumSet(s string) []uint32 {
	var out []uint32
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, ":")
		lo := atoi(a)
		hi := lo
		if isRange {
			hi = atoi(b)
		}
		for n := min(lo, hi); n <= max(lo, hi) && n != 0; n++ {
			out = append(out, n)
		}
	}
	return out
}

// expunge runs EXPUNGE or UID EXPUNGE, often after marking a few messages
// \Deleted so that the mailboxes do not only grow.
func (sc *stressClient) expunge() error {
	set, slots, ok := sc.target()
	if !ok {
		return sc.noop()
	}
	if len(slots) > 40 || sc.rnd.Intn(4) == 0 {
		sf := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
		if err := sc.do(func() error { return sc.c.Store(set, sf, nil).Close() }); err != nil {
			return err
		}
	}
	uids := named(set, slots)
	if len(uids) == 0 || sc.rnd.Intn(2) == 0 {
		return sc.do(func() error { return sc.c.Expunge().Close() })
	}
	return sc.do(func() error { return sc.c.UIDExpunge(uidSet(uids)).Close() })
}

// move runs MOVE or UID MOVE to another mailbox: COPYUID's new UIDs are
// checked like APPENDUID's, and the source UIDs must leave the view.
func (sc *stressClient) move() error {
	set, slots, ok := sc.target()
	if !ok || len(slots) < 10 {
		return sc.append(sc.v.mailbox) // keep some messages to work on
	}
	dest := "INBOX"
	if sc.v.mailbox == "INBOX" {
		dest = stressBoxes[1+sc.rnd.Intn(len(stressBoxes)-1)]
	}
	floor, _ := sc.w.floors(dest)
	var data *imapclient.MoveData
	if err := sc.do(func() (err error) {
		data, err = sc.c.Move(set, dest).Wait()
		return err
	}); err != nil {
		return err
	}
	if data == nil || data.SourceUIDs == nil {
		return nil // nothing left to move
	}
	src, _ := data.SourceUIDs.(imap.UIDSet).Nums()
	dst, _ := data.DestUIDs.(imap.UIDSet).Nums()
	if len(src) != len(dst) {
		sc.fail("MOVE: COPYUID %v → %v", data.SourceUIDs, data.DestUIDs)
		return nil
	}
	if bad := sc.w.allocate(sc.name, dest, data.UIDValidity, floor, uint32s(dst)); bad != nil {
		sc.fail("MOVE: COPYUID: %s", strings.Join(bad, "; "))
	}
	if _, _, _, gone := sc.v.result(); gone < len(src) {
		sc.fail("MOVE of %d messages: %d EXPUNGEs", len(src), gone)
	}
	for _, s := range sc.v.snapshot() {
		if slices.Contains(src, imap.UID(s.uid)) {
			sc.fail("MOVE: UID %d moved away but still in the view", s.uid)
		}
	}
	return nil
}

func uint32s(uids []imap.UID) []uint32 {
	out := make([]uint32, len(uids))
	for i, u := range uids {
		out[i] = uint32(u)
	}
	return out
}

// fetch runs one of: UID FETCH 1:*, UID FETCH of a random set, FETCH of
// random sequence numbers, UID FETCH 1:* (CHANGEDSINCE). After UID FETCH
// 1:*, a known message without a response must have been expunged.
func (sc *stressClient) fetch() error {
	opt := &imap.FetchOptions{UID: true, Flags: true, ModSeq: true}
	all := imap.UIDSet{{Start: 1, Stop: 0}}
	switch sc.rnd.Intn(4) {
	case 0:
		before := sc.v.snapshot()
		if err := sc.do(func() error { return sc.c.Fetch(all, opt).Close() }); err != nil {
			return err
		}
		_, _, fetched, _ := sc.v.result()
		for _, s := range before {
			if s.uid != 0 && !fetched[s.uid] {
				sc.w.mustVanish(sc.v.mailbox, s.uid, sc.name+": missing from UID FETCH 1:*")
			}
		}
		return nil
	case 1, 2:
		set, _, ok := sc.target()
		if !ok {
			return sc.noop()
		}
		return sc.do(func() error { return sc.c.Fetch(set, opt).Close() })
	default:
		slots := sc.v.snapshot()
		if len(slots) > 0 {
			opt.ChangedSince = slots[sc.rnd.Intn(len(slots))].modSeq
		}
		return sc.do(func() error { return sc.c.Fetch(all, opt).Close() })
	}
}

func (sc *stressClient) noop() error {
	if sc.raw != nil {
		_, err := sc.rawDo("NOOP")
		return err
	}
	return sc.do(func() error { return sc.c.Noop().Wait() })
}

// idle waits a few milliseconds in IDLE, taking updates as they come.
func (sc *stressClient) idle() error {
	return sc.do(func() error {
		cmd, err := sc.c.Idle()
		if err != nil {
			return err
		}
		time.Sleep(time.Duration(5+sc.rnd.Intn(30)) * time.Millisecond)
		if err := cmd.Close(); err != nil {
			return err
		}
		return cmd.Wait()
	})
}

// status asks any mailbox for UIDNEXT and HIGHESTMODSEQ, which must not be
// below what completed commands established.
func (sc *stressClient) status() error {
	mailbox := stressBoxes[sc.rnd.Intn(len(stressBoxes))]
	floorUID, floorModSeq := sc.w.floors(mailbox)
	var data *imap.StatusData
	if err := sc.do(func() (err error) {
		data, err = sc.c.Status(mailbox, &imap.StatusOptions{NumMessages: true, UIDNext: true, HighestModSeq: true}).Wait()
		return err
	}); err != nil {
		return err
	}
	if uint32(data.UIDNext) <= floorUID {
		sc.fail("STATUS %s: UIDNEXT %d, but UID %d was handed out before", mailbox, data.UIDNext, floorUID)
	}
	if data.HighestModSeq < floorModSeq {
		sc.fail("STATUS %s: HIGHESTMODSEQ %d, but MODSEQ %d was seen before", mailbox, data.HighestModSeq, floorModSeq)
	}
	sc.w.doneModSeq(mailbox, data.HighestModSeq)
	return nil
}

// reselect: the roaming client SELECTs another mailbox (or the same one
// again); the others NOOP.
func (sc *stressClient) reselect() error {
	if sc.home != "" {
		return sc.noop()
	}
	return sc.selectBox(stressBoxes[sc.rnd.Intn(len(stressBoxes))])
}
