package imapd

import (
	"github.com/emersion/go-imap/v2"
)

// item is a message named by a client: its sequence number in the
// client's view and its UID.
type item struct {
	seq uint32
	uid uint32
}

// span is an inclusive range with "*" resolved.
type span struct{ lo, hi uint32 }

// items resolves a sequence or UID set (or $, RFC 5182) to the messages
// it names that the client knows about, in ascending order. Messages whose
// EXISTS is still queued for the client are left out: they have no
// sequence number the client could understand yet.
func (x *session) items(sel *selected, set imap.NumSet) []item {
	if imap.IsSearchRes(set) {
		set = x.searchRes
	}
	b := sel.box
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []item
	switch set := set.(type) {
	case imap.SeqSet:
		spans := seqSpans(set, x.clientCount(sel))
		for i, m := range b.msgs {
			if seq := sel.tracker.EncodeSeqNum(uint32(i + 1)); seq != 0 && inSpans(spans, seq) {
				out = append(out, item{seq, m.uid})
			}
		}
	case imap.UIDSet:
		spans := uidSpans(set, b.lastUID())
		for i, m := range b.msgs {
			if inSpans(spans, m.uid) {
				if seq := sel.tracker.EncodeSeqNum(uint32(i + 1)); seq != 0 {
					out = append(out, item{seq, m.uid})
				}
			}
		}
	}
	return out
}

// clientCount is the highest sequence number the client knows of a
// message that still exists ("*" in a sequence set); box.mu is held.
func (x *session) clientCount(sel *selected) uint32 {
	for i := len(sel.box.msgs); i > 0; i-- {
		if seq := sel.tracker.EncodeSeqNum(uint32(i)); seq != 0 {
			return seq
		}
	}
	return 0
}

func seqSpans(set imap.SeqSet, star uint32) []span {
	out := make([]span, 0, len(set))
	for _, r := range set {
		out = append(out, newSpan(r.Start, r.Stop, star))
	}
	return out
}

func uidSpans(set imap.UIDSet, star uint32) []span {
	out := make([]span, 0, len(set))
	for _, r := range set {
		out = append(out, newSpan(uint32(r.Start), uint32(r.Stop), star))
	}
	return out
}

// newSpan resolves "*" (0) and orders the ends: "4:2" is "2:4" and "n:*"
// with n above "*" is "*:n" (RFC 9051 §9, seq-range).
func newSpan(start, stop, star uint32) span {
	if start == 0 {
		start = star
	}
	if stop == 0 {
		stop = star
	}
	return span{min(start, stop), max(start, stop)}
}

func inSpans(spans []span, n uint32) bool {
	for _, s := range spans {
		if n >= s.lo && n <= s.hi {
			return true
		}
	}
	return false
}

func uidsOf(items []item) []uint32 {
	out := make([]uint32, len(items))
	for i, it := range items {
		out[i] = it.uid
	}
	return out
}
