package imapd

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/mail/store"
)

// finalCheck runs once every client is idle: the sessions' views, a
// fresh session and the store must agree, and the UIDs must add up.
func finalCheck(t *testing.T, e *env, w *stressWorld, clients []*stressClient) {
	t.Helper()
	want := map[string][]slot{}
	vanished := map[string][]uint32{}
	ids := map[string]int64{}
	for _, name := range stressBoxes {
		mb, err := e.st.Mailbox(e.ctx, e.juliet.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = mb.ID
		ms, err := e.st.Index(e.ctx, mb.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		want[name] = storeSlots(ms)
		if vanished[name], err = e.st.Vanished(e.ctx, mb.ID, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, sc := range clients {
		sc.converge(want[sc.v.mailbox])
	}
	for _, name := range stressBoxes {
		if got := freshView(t, e, name); !slices.Equal(got, want[name]) {
			t.Errorf("%s: a fresh session's UID FETCH 1:* differs from the store:\n%s", name, slotDiff(got, want[name]))
		}
		accountUIDs(t, w, name, want[name], vanished[name], clients)
	}
	for _, sc := range clients {
		if !sc.fixed {
			continue
		}
		name := sc.v.mailbox
		since, err := e.st.Vanished(e.ctx, ids[name], sc.selHMS)
		if err != nil {
			t.Fatal(err)
		}
		sc.v.mu.Lock()
		grown, expunges := sc.v.grown, sc.v.expunges
		sc.v.mu.Unlock()
		// A message added and expunged before the session heard of the
		// addition is never shown to it (box.ahead): both counts may fall
		// short of the store's by the same number.
		added := len(want[name]) + len(since) - sc.selN
		if expunges > len(since) || added-grown != len(since)-expunges {
			t.Errorf("%s in %s since SELECT: %d EXISTS added and %d EXPUNGEs; the store added %d and expunged %d",
				sc.name, name, grown, expunges, added, len(since))
		}
		t.Logf("%s in %s: %d messages added, %d expunged, %d of them never shown; %d at the end",
			sc.name, name, grown, expunges, added-grown, len(want[name]))
	}
}

func storeSlots(ms []store.Indexed) []slot {
	out := make([]slot, len(ms))
	for i, m := range ms {
		out[i] = slot{uid: m.UID, modSeq: m.ModSeq, flags: canonFlags(strings.Join(m.Flags, " ")), flagsKnown: true}
	}
	return out
}

// converge NOOPs until the client's view equals want: changes from other
// sessions reach it through the store's change feed, asynchronously.
func (sc *stressClient) converge(want []slot) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := sc.noop()
		if err == nil {
			err = sc.fill()
		}
		if err != nil {
			sc.fail("final NOOP: %v", err)
			return
		}
		got := sc.v.snapshot()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			sc.fail("10 s after the end, the view still differs from the store:\n%s", slotDiff(got, want))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freshView is what a new session sees in mailbox.
func freshView(t *testing.T, e *env, mailbox string) []slot {
	t.Helper()
	c := e.login(t, "juliet", nil)
	defer c.Close()
	if _, err := c.Select(mailbox, &imap.SelectOptions{CondStore: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, ModSeq: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]slot, len(msgs))
	for i, m := range msgs {
		fs := make([]string, len(m.Flags))
		for j, f := range m.Flags {
			fs[j] = string(f)
		}
		out[i] = slot{uid: uint32(m.UID), modSeq: m.ModSeq, flags: canonFlags(strings.Join(fs, " ")), flagsKnown: true}
	}
	return out
}

// accountUIDs: every UID handed out is either still there or expunged
// (never both), every UID a client learnt or saw expunged was handed out,
// what a client saw expunged is expunged, and the flags every session saw
// at a final MODSEQ are the final flags.
func accountUIDs(t *testing.T, w *stressWorld, name string, final []slot, vanished []uint32, clients []*stressClient) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.boxes[name]
	present := map[uint32]bool{}
	for _, s := range final {
		present[s.uid] = true
		if _, ok := b.allocated[s.uid]; !ok {
			t.Errorf("%s: UID %d in the store was never handed out", name, s.uid)
		}
		if f, ok := b.flagsAt[[2]uint64{uint64(s.uid), s.modSeq}]; ok && f != s.flags {
			t.Errorf("%s: UID %d MODSEQ %d has FLAGS (%s) in the store, (%s) in a session", name, s.uid, s.modSeq, s.flags, f)
		}
	}
	gone := map[uint32]bool{}
	for _, u := range vanished {
		gone[u] = true
		if present[u] {
			t.Errorf("%s: UID %d both present and expunged", name, u)
		}
		if _, ok := b.allocated[u]; !ok {
			t.Errorf("%s: expunged UID %d was never handed out", name, u)
		}
	}
	for u, who := range b.allocated {
		if !present[u] && !gone[u] {
			t.Errorf("%s: UID %d (handed out to %s) neither present nor expunged", name, u, who)
		}
	}
	for u, why := range b.mustVanish {
		if !gone[u] {
			t.Errorf("%s: UID %d is not expunged; %s", name, u, why)
		}
	}
	for _, sc := range clients {
		sc.v.mu.Lock()
		for u := range sc.v.expunged[name] {
			if !gone[u] {
				t.Errorf("%s: %s saw UID %d expunged, the store did not expunge it", name, sc.name, u)
			}
		}
		for u := range sc.v.learned[name] {
			if _, ok := b.allocated[u]; !ok {
				t.Errorf("%s: %s learnt UID %d, never handed out", name, sc.name, u)
			}
		}
		sc.v.mu.Unlock()
	}
}

// slotDiff describes how got differs from want.
func slotDiff(got, want []slot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\t%d messages, want %d\n", len(got), len(want))
	byUID := map[uint32]slot{}
	for _, s := range want {
		byUID[s.uid] = s
	}
	n := 0
	for i, s := range got {
		w, ok := byUID[s.uid]
		if ok && s == w {
			continue
		}
		if n++; n > 20 {
			b.WriteString("\t…\n")
			break
		}
		if !ok {
			fmt.Fprintf(&b, "\tmessage %d: UID %d MODSEQ %d (%s), not in the store\n", i+1, s.uid, s.modSeq, s.flags)
		} else {
			fmt.Fprintf(&b, "\tUID %d: MODSEQ %d (%s) known=%v, want MODSEQ %d (%s)\n", s.uid, s.modSeq, s.flags, s.flagsKnown, w.modSeq, w.flags)
		}
	}
	have := map[uint32]bool{}
	for _, s := range got {
		have[s.uid] = true
	}
	for _, s := range want {
		if !have[s.uid] {
			fmt.Fprintf(&b, "\tUID %d MODSEQ %d (%s) missing\n", s.uid, s.modSeq, s.flags)
		}
	}
	return b.String()
}
