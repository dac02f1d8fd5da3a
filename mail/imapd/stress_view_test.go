package imapd

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// This file is the checking half of TestStress: what every stress client
// learns from the server, in wire order, and the knowledge the clients
// share (stressWorld).
//
// Why a tap on the connection and not only imapclient's
// UnilateralDataHandler: imapclient runs the handler's Fetch on a new
// goroutine per message, so the order of FETCH against EXPUNGE and
// EXISTS is lost, and FETCH responses that match a pending command go to
// the command instead. The tap sees every response line in order, before
// imapclient parses it, so a client's view (sequence number → UID, flags,
// MODSEQ) is exactly what a careful client would hold.

// stressWorld is what the clients know together: which UIDs were handed
// out, which were seen expunged and when, and which flags each (UID,
// MODSEQ) had. It also collects the violations.
type stressWorld struct {
	mu         sync.Mutex
	epoch      uint64 // counts expunge observations
	boxes      map[string]*worldBox
	violations []string
	stopped    bool
}

// worldBox is the shared knowledge about one mailbox.
type worldBox struct {
	validity   uint32
	allocated  map[uint32]string // UID → who got it (APPENDUID, COPYUID)
	maxDone    uint32            // highest UID of a completed APPEND or MOVE
	modSeqDone uint64            // highest MODSEQ in a completed command's responses
	expunged   map[uint32]uint64 // UID → epoch of its first observed EXPUNGE
	flagsAt    map[[2]uint64]string
	mustVanish map[uint32]string // UIDs that must be expunged by the end, and why
}

func newStressWorld(mailboxes ...string) *stressWorld {
	w := &stressWorld{boxes: map[string]*worldBox{}}
	for _, m := range mailboxes {
		w.boxes[m] = &worldBox{allocated: map[uint32]string{}, expunged: map[uint32]uint64{},
			flagsAt: map[[2]uint64]string{}, mustVanish: map[uint32]string{}}
	}
	return w
}

// fail records a violation and stops the run.
func (w *stressWorld) fail(who, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if len(w.violations) < 20 {
		w.violations = append(w.violations, who+": "+msg)
	}
}

func (w *stressWorld) isStopped() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopped
}

// allocate checks UIDs the server just handed out in mailbox (APPENDUID,
// COPYUID): never handed out before, and above every UID handed out by a
// command that completed before this one began (floor).
func (w *stressWorld) allocate(who, mailbox string, validity uint32, floor uint32, uids []uint32) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.boxes[mailbox]
	var bad []string
	if b.validity == 0 {
		b.validity = validity
	} else if validity != b.validity {
		bad = append(bad, fmt.Sprintf("%s: UIDVALIDITY %d, earlier %d", mailbox, validity, b.validity))
	}
	for _, u := range uids {
		if prev, ok := b.allocated[u]; ok {
			bad = append(bad, fmt.Sprintf("%s: UID %d handed out again (first to %s)", mailbox, u, prev))
		}
		if u <= floor {
			bad = append(bad, fmt.Sprintf("%s: new UID %d not above %d, handed out before this command began", mailbox, u, floor))
		}
		b.allocated[u] = who
		b.maxDone = max(b.maxDone, u)
	}
	return bad
}

// floors is what completed commands have established about mailbox: the
// highest UID handed out and the highest MODSEQ seen.
func (w *stressWorld) floors(mailbox string) (uint32, uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.boxes[mailbox]
	return b.maxDone, b.modSeqDone
}

func (w *stressWorld) doneModSeq(mailbox string, modSeq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if b := w.boxes[mailbox]; b != nil {
		b.modSeqDone = max(b.modSeqDone, modSeq)
	}
}

func (w *stressWorld) currentEpoch() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.epoch
}

// sawExpunge records that a client saw uid expunged.
func (w *stressWorld) sawExpunge(mailbox string, uid uint32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.epoch++
	if _, ok := w.boxes[mailbox].expunged[uid]; !ok {
		w.boxes[mailbox].expunged[uid] = w.epoch
	}
}

// expungedBefore reports whether some client saw uid expunged at or before
// epoch.
func (w *stressWorld) expungedBefore(mailbox string, uid uint32, epoch uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.boxes[mailbox].expunged[uid]
	return ok && at <= epoch
}

// flags checks that every client sees the same flags for a (UID, MODSEQ).
func (w *stressWorld) flags(mailbox string, uid uint32, modSeq uint64, flags string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := [2]uint64{uint64(uid), modSeq}
	b := w.boxes[mailbox]
	if prev, ok := b.flagsAt[key]; ok && prev != flags {
		return fmt.Sprintf("UID %d MODSEQ %d has FLAGS (%s), another response said (%s)", uid, modSeq, flags, prev)
	}
	b.flagsAt[key] = flags
	return ""
}

func (w *stressWorld) mustVanish(mailbox string, uid uint32, why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.boxes[mailbox].mustVanish[uid] = why
}

// slot is one message of a client's view. uid 0: the client was told it
// exists (EXISTS) but not yet its UID. flagsKnown: flags are those at
// modSeq (a .SILENT STORE tells only the new MODSEQ).
type slot struct {
	uid        uint32
	modSeq     uint64
	flags      string
	flagsKnown bool
}

// view is one client's picture of its selected mailbox, built by the tap
// from every response line in wire order, with the checks that can be
// made as each line arrives.
type view struct {
	w    *stressWorld
	name string

	mu       sync.Mutex
	in       []byte // response bytes not yet a whole line
	literal  int    // literal bytes still to skip
	partial  string // a response line interrupted by a literal
	recent   []string
	reported bool

	mailbox     string
	selecting   bool   // inside SELECT until its EXISTS, which sets the count
	qresync     bool   // this SELECT has the QRESYNC parameter: slots start from cache
	qPending    bool   // QRESYNC SELECT: cache minus VANISHED (EARLIER) not yet completed
	qExists     uint32 // QRESYNC SELECT: its EXISTS
	cache       []slot // QRESYNC SELECT: what the client knew before
	selectEpoch uint64 // world epoch when the SELECT began
	slots       []slot
	expunged    map[string]map[uint32]bool // per mailbox, across SELECTs
	learned     map[string]map[uint32]bool // every UID learnt, per mailbox
	highest     map[string]uint64          // HIGHESTMODSEQ seen, per mailbox
	grown       int                        // messages added by EXISTS since SELECT
	expunges    int                        // EXPUNGEs since SELECT

	// For the command in progress.
	tagged    string          // its tagged reply's code, e.g. "MODIFIED 3"
	maxModSeq uint64          // the highest MODSEQ in its responses
	fetched   map[uint32]bool // UIDs in its FETCH responses
	cmdGone   int             // EXPUNGEs during it
}

func newView(w *stressWorld, name string) *view {
	return &view{w: w, name: name, expunged: map[string]map[uint32]bool{}, learned: map[string]map[uint32]bool{},
		highest: map[string]uint64{}}
}

// tapConn feeds what the server sends to a view before imapclient reads it.
type tapConn struct {
	net.Conn
	v *view
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.v.feed(p[:n])
	return n, err
}

func (c *tapConn) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\r\n"), "\r\n") {
		c.v.note("C: " + l)
	}
	return c.Conn.Write(p)
}

const recentLines = 80

func (v *view) note(line string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.noteLocked(line)
}

func (v *view) noteLocked(line string) {
	if strings.Contains(line, "LOGIN ") {
		line = "C: LOGIN …"
	}
	if len(line) > 300 {
		line = line[:300] + "…"
	}
	if len(v.recent) == recentLines {
		v.recent = v.recent[1:]
	}
	v.recent = append(v.recent, line)
}

// failLocked records a violation; the first one of a client carries its
// recent traffic.
func (v *view) failLocked(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if v.mailbox != "" {
		msg = "[" + v.mailbox + "] " + msg
	}
	if !v.reported {
		v.reported = true
		msg += "\n\trecent traffic, oldest first:\n\t\t" + strings.Join(v.recent, "\n\t\t")
	}
	v.w.fail(v.name, msg)
}

// feed splits the server's bytes into responses, skipping literals.
func (v *view) feed(p []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.in = append(v.in, p...)
	for len(v.in) > 0 {
		if v.literal > 0 {
			n := min(v.literal, len(v.in))
			v.literal -= n
			v.in = v.in[n:]
			continue
		}
		i := bytes.Index(v.in, []byte("\r\n"))
		if i < 0 {
			return
		}
		line := v.partial + string(v.in[:i])
		v.in = v.in[i+2:]
		if m := literalRE.FindStringSubmatch(line); m != nil {
			v.literal, _ = strconv.Atoi(m[1])
			v.partial = line + "…"
			continue
		}
		v.partial = ""
		v.noteLocked("S: " + line)
		v.response(line)
	}
}

var (
	literalRE  = regexp.MustCompile(`\{(\d+)\+?\}$`)
	existsRE   = regexp.MustCompile(`^\* (\d+) EXISTS$`)
	vanishedRE = regexp.MustCompile(`^\* VANISHED (\(EARLIER\) )?([\d:,]+)$`)
	expungeRE  = regexp.MustCompile(`^\* (\d+) EXPUNGE$`)
	fetchRE    = regexp.MustCompile(`^\* (\d+) FETCH \((.*)\)$`)
	uidItemRE  = regexp.MustCompile(`(?:^| )UID (\d+)`)
	modSeqRE   = regexp.MustCompile(`(?:^| )MODSEQ \((\d+)\)`)
	flagsRE    = regexp.MustCompile(`(?:^| )FLAGS \(([^)]*)\)`)
	highestRE  = regexp.MustCompile(`^\* OK \[HIGHESTMODSEQ (\d+)\]`)
	statusRE   = regexp.MustCompile(`^\* STATUS "?([^"(]+?)"? \((.*)\)$`)
	statHighRE = regexp.MustCompile(`HIGHESTMODSEQ (\d+)`)
	taggedRE   = regexp.MustCompile(`^[A-Za-z0-9.]+ (?:OK|NO|BAD)(?: \[([^\]]*)\])?`)
)

func (v *view) response(line string) {
	if !strings.HasPrefix(line, "* ") {
		if m := taggedRE.FindStringSubmatch(line); m != nil {
			v.tagged = m[1]
		}
		return
	}
	if m := existsRE.FindStringSubmatch(line); m != nil {
		v.exists(atoi(m[1]))
	} else if m := expungeRE.FindStringSubmatch(line); m != nil {
		v.expunge(atoi(m[1]))
	} else if m := fetchRE.FindStringSubmatch(line); m != nil {
		v.fetch(atoi(m[1]), m[2])
	} else if m := vanishedRE.FindStringSubmatch(line); m != nil {
		v.vanished(m[1] != "", parseNumSet(m[2]))
	} else if m := highestRE.FindStringSubmatch(line); m != nil {
		v.highestModSeq(v.mailbox, uint64(atoi(m[1])))
	} else if m := statusRE.FindStringSubmatch(line); m != nil {
		if h := statHighRE.FindStringSubmatch(m[2]); h != nil {
			v.highestModSeq(m[1], uint64(atoi(h[1])))
		}
	} else if strings.HasPrefix(line, "* BYE") || strings.HasPrefix(line, "* VANISHED") {
		v.failLocked("unexpected %q", line)
	}
}

func atoi(s string) uint32 {
	n, _ := strconv.ParseUint(s, 10, 32)
	return uint32(n)
}

// exists: the count never shrinks; new messages have no UID yet.
func (v *view) exists(n uint32) {
	if v.selecting {
		v.selecting = false
		if v.qresync {
			v.slots, v.qExists, v.qPending = v.cache, n, true
		} else {
			v.slots = make([]slot, n)
		}
		return
	}
	v.settleLocked()
	if int(n) < len(v.slots) {
		v.failLocked("EXISTS %d below the %d messages known", n, len(v.slots))
		return
	}
	v.grown += int(n) - len(v.slots)
	for len(v.slots) < int(n) {
		v.slots = append(v.slots, slot{})
	}
}

// expunge removes a message; its UID, if known, must never come back.
func (v *view) expunge(seq uint32) {
	v.settleLocked()
	if seq == 0 || int(seq) > len(v.slots) {
		v.failLocked("EXPUNGE %d with %d messages", seq, len(v.slots))
		return
	}
	s := v.slots[seq-1]
	v.slots = slices.Delete(v.slots, int(seq-1), int(seq))
	v.expunges++
	v.cmdGone++
	if s.uid != 0 {
		v.sawGoneLocked(s.uid)
	}
}

// sawGoneLocked records uid as expunged: it must never come back.
func (v *view) sawGoneLocked(uid uint32) {
	gone := v.expunged[v.mailbox]
	if gone == nil {
		gone = map[uint32]bool{}
		v.expunged[v.mailbox] = gone
	}
	if gone[uid] {
		v.failLocked("UID %d expunged twice", uid)
	}
	gone[uid] = true
	v.w.sawExpunge(v.mailbox, uid)
}

// vanished is QRESYNC's VANISHED (RFC 7162 §3.2.10). Without EARLIER it is
// EXPUNGE by UID: each UID is a message the client knows, by UID or as
// one of the messages whose UID it has not learnt that lie between the
// right neighbours. With EARLIER inside a QRESYNC SELECT, the UIDs leave
// the client's cache; elsewhere (UID FETCH … VANISHED) they change
// nothing, and a UID still in the view must be expunged by the end.
func (v *view) vanished(earlier bool, uids []uint32) {
	switch {
	case earlier && v.qPending:
		for _, u := range uids {
			if i := slices.IndexFunc(v.slots, func(s slot) bool { return s.uid == u }); i >= 0 {
				v.slots = slices.Delete(v.slots, i, i+1)
				v.sawGoneLocked(u)
			}
		}
		return
	case earlier:
		for _, s := range v.slots {
			if slices.Contains(uids, s.uid) {
				v.w.mustVanish(v.mailbox, s.uid, v.name+": reported VANISHED (EARLIER) while still in the view")
			}
		}
		return
	}
	v.settleLocked()
	for _, u := range uids {
		i := v.vanishedSlot(u)
		if i < 0 {
			v.failLocked("VANISHED %d: no such message in the view", u)
			return
		}
		v.slots = slices.Delete(v.slots, i, i+1)
		v.expunges++
		v.cmdGone++
		v.sawGoneLocked(u)
	}
}

// vanishedSlot finds the slot of a vanished UID: its own, or the first
// slot without a UID where it would fit.
func (v *view) vanishedSlot(u uint32) int {
	for i, s := range v.slots {
		switch {
		case s.uid == u:
			return i
		case s.uid > u:
			return -1
		case s.uid == 0 && v.nextKnown(i) > u:
			return i
		}
	}
	return -1
}

// nextKnown is the first UID known after slot i, or the largest UID.
func (v *view) nextKnown(i int) uint32 {
	for _, s := range v.slots[i+1:] {
		if s.uid != 0 {
			return s.uid
		}
	}
	return math.MaxUint32
}

// settleLocked completes a QRESYNC SELECT's view: the cache minus what
// VANISHED (EARLIER) removed, then the messages added since, whose UIDs
// are all above.
func (v *view) settleLocked() {
	if !v.qPending {
		return
	}
	v.qPending = false
	if len(v.slots) > int(v.qExists) {
		v.failLocked("QRESYNC SELECT: EXISTS %d, but %d known UIDs were not reported VANISHED", v.qExists, len(v.slots))
		return
	}
	for len(v.slots) < int(v.qExists) {
		v.slots = append(v.slots, slot{})
	}
}

// fetch checks a FETCH response against the view and updates it: the
// sequence number exists, its UID agrees with the one known (or, if new,
// fits between its neighbours and was never expunged), MODSEQ does not
// go backwards, and equal MODSEQs mean equal flags, across all clients.
func (v *view) fetch(seq uint32, items string) {
	v.settleLocked()
	if seq == 0 || int(seq) > len(v.slots) {
		v.failLocked("FETCH %d with %d messages", seq, len(v.slots))
		return
	}
	um := uidItemRE.FindStringSubmatch(items)
	if um == nil {
		v.failLocked("FETCH %d without UID", seq)
		return
	}
	uid := atoi(um[1])
	s := &v.slots[seq-1]
	if s.uid == 0 {
		if !v.learnUID(seq, uid) {
			return
		}
		s.uid = uid
		if v.learned[v.mailbox] == nil {
			v.learned[v.mailbox] = map[uint32]bool{}
		}
		v.learned[v.mailbox][uid] = true
	} else if s.uid != uid {
		v.failLocked("FETCH %d says UID %d; sequence number %d is UID %d", seq, uid, seq, s.uid)
		return
	}
	if v.fetched != nil {
		v.fetched[uid] = true
	}
	fm, mm := flagsRE.FindStringSubmatch(items), modSeqRE.FindStringSubmatch(items)
	if mm == nil {
		if fm != nil {
			v.failLocked("FETCH %d (UID %d) has FLAGS without MODSEQ after CONDSTORE", seq, uid)
		}
		return
	}
	modSeq, _ := strconv.ParseUint(mm[1], 10, 64)
	v.maxModSeq = max(v.maxModSeq, modSeq)
	switch {
	case modSeq < s.modSeq:
		v.failLocked("UID %d: MODSEQ went back from %d to %d", uid, s.modSeq, modSeq)
		return
	case modSeq > s.modSeq:
		s.modSeq, s.flagsKnown = modSeq, false
	}
	if fm == nil {
		return
	}
	flags := canonFlags(fm[1])
	if s.flagsKnown && flags != s.flags {
		v.failLocked("UID %d MODSEQ %d: FLAGS (%s), earlier (%s) at the same MODSEQ", uid, modSeq, flags, s.flags)
	}
	s.flags, s.flagsKnown = flags, true
	if msg := v.w.flags(v.mailbox, uid, modSeq, flags); msg != "" {
		v.failLocked("%s", msg)
	}
}

// learnUID checks the UID first given for sequence number seq.
func (v *view) learnUID(seq, uid uint32) bool {
	if v.expunged[v.mailbox][uid] {
		v.failLocked("UID %d came back after its EXPUNGE", uid)
		return false
	}
	if v.w.expungedBefore(v.mailbox, uid, v.selectEpoch) {
		v.failLocked("UID %d was seen expunged before this SELECT began, yet it is message %d", uid, seq)
		return false
	}
	for i := int(seq) - 2; i >= 0; i-- {
		if u := v.slots[i].uid; u != 0 {
			if u >= uid {
				v.failLocked("UID %d at sequence number %d is not above UID %d at %d", uid, seq, u, i+1)
				return false
			}
			break
		}
	}
	for i := int(seq); i < len(v.slots); i++ {
		if u := v.slots[i].uid; u != 0 {
			if u <= uid {
				v.failLocked("UID %d at sequence number %d is not below UID %d at %d", uid, seq, u, i+1)
				return false
			}
			break
		}
	}
	return true
}

// highestModSeq: a mailbox's HIGHESTMODSEQ never goes back for a client,
// and is never below a MODSEQ the client already holds.
func (v *view) highestModSeq(mailbox string, h uint64) {
	if h < v.highest[mailbox] {
		v.failLocked("%s: HIGHESTMODSEQ went back from %d to %d", mailbox, v.highest[mailbox], h)
	}
	v.highest[mailbox] = max(v.highest[mailbox], h)
	if mailbox != v.mailbox || v.selecting {
		return
	}
	for _, s := range v.slots {
		if s.modSeq > h {
			v.failLocked("HIGHESTMODSEQ %d below UID %d's MODSEQ %d", h, s.uid, s.modSeq)
			return
		}
	}
}

func canonFlags(s string) string {
	f := strings.Fields(s)
	slices.Sort(f)
	return strings.Join(f, " ")
}

// beginSelect resets the view for a SELECT of mailbox; with QRESYNC,
// cache is what the client knew (slots with UIDs only).
func (v *view) beginSelect(mailbox string, cache []slot) {
	epoch := v.w.currentEpoch()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.mailbox, v.selecting, v.selectEpoch = mailbox, true, epoch
	v.qresync, v.cache, v.qPending = cache != nil, cache, false
	v.slots, v.grown, v.expunges = nil, 0, 0
}

func (v *view) endSelect() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.selecting = false
	v.settleLocked()
}

// beginCommand clears what the view collects per command.
func (v *view) beginCommand() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.tagged, v.maxModSeq, v.fetched, v.cmdGone = "", 0, map[uint32]bool{}, 0
}

// snapshot returns a copy of the slots.
func (v *view) snapshot() []slot {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.slots)
}

// result is what the last command left: its tagged code, the highest
// MODSEQ and the UIDs of its FETCH responses, and its EXPUNGE count.
func (v *view) result() (tagged string, maxModSeq uint64, fetched map[uint32]bool, gone int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.tagged, v.maxModSeq, v.fetched, v.cmdGone
}

// unknown lists the sequence numbers without a UID and the UIDs without
// current flags.
func (v *view) unknown() (seqs []uint32, uids []uint32) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, s := range v.slots {
		switch {
		case s.uid == 0:
			seqs = append(seqs, uint32(i+1))
		case !s.flagsKnown:
			uids = append(uids, s.uid)
		}
	}
	return seqs, uids
}
