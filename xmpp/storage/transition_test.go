package storage

import (
	"fmt"
	"strings"
	"testing"
)

// state parses the notation of RFC 6121 Appendix A: "none", "none+out",
// "none+in", "none+out+in", "to", "to+in", "from", "from+out", "both",
// optionally followed by "+approved" and/or "+hidden".
func state(t *testing.T, s string) Item {
	t.Helper()
	parts := strings.Split(s, "+")
	it := Item{JID: "romeo@montague.example", Subscription: Subscription(parts[0])}
	for _, p := range parts[1:] {
		switch p {
		case "out":
			it.PendingOut = true
		case "in":
			it.PendingIn = true
		case "approved":
			it.Approved = true
		case "hidden":
			it.Hidden = true
		default:
			t.Fatalf("bad state %q", s)
		}
	}
	return it
}

func notation(it Item) string {
	s := string(it.Subscription)
	for _, f := range []struct {
		on   bool
		name string
	}{{it.PendingOut, "out"}, {it.PendingIn, "in"}, {it.Approved, "approved"}, {it.Hidden, "hidden"}} {
		if f.on {
			s += "+" + f.name
		}
	}
	return s
}

var nineStates = []string{"none", "none+out", "none+in", "none+out+in", "to", "to+in", "from", "from+out", "both"}

type step struct {
	from string
	ev   Event
	to   string
	fwd  bool
	auto bool
}

// appendixA is the whole of RFC 6121 Appendix A, 9 states × 8 events, as
// this server implements it. Forward is "route" (A.2) or "deliver" (A.3).
var appendixA = []step{
	// A.2.1 outbound subscribe: always routed (§3.1.2).
	{"none", OutSubscribe, "none+out", true, false},
	{"none+out", OutSubscribe, "none+out", true, false},
	{"none+in", OutSubscribe, "none+out+in", true, false},
	{"none+out+in", OutSubscribe, "none+out+in", true, false},
	{"to", OutSubscribe, "to", true, false},
	{"to+in", OutSubscribe, "to+in", true, false},
	{"from", OutSubscribe, "from+out", true, false},
	{"from+out", OutSubscribe, "from+out", true, false},
	{"both", OutSubscribe, "both", true, false},
	// A.2.3 outbound subscribed: routed only when it answers a request;
	// otherwise a pre-approval (§3.4), not routed.
	{"none", OutSubscribed, "none+approved", false, false},
	{"none+out", OutSubscribed, "none+out+approved", false, false},
	{"none+in", OutSubscribed, "from", true, false},
	{"none+out+in", OutSubscribed, "from+out", true, false},
	{"to", OutSubscribed, "to+approved", false, false},
	{"to+in", OutSubscribed, "both", true, false},
	{"from", OutSubscribed, "from", false, false},
	{"from+out", OutSubscribed, "from+out", false, false},
	{"both", OutSubscribed, "both", false, false},
	// A.2.2 outbound unsubscribe: always routed (§3.3.2).
	{"none", OutUnsubscribe, "none", true, false},
	{"none+out", OutUnsubscribe, "none", true, false},
	{"none+in", OutUnsubscribe, "none+in", true, false},
	{"none+out+in", OutUnsubscribe, "none+in", true, false},
	{"to", OutUnsubscribe, "none", true, false},
	{"to+in", OutUnsubscribe, "none+in", true, false},
	{"from", OutUnsubscribe, "from", true, false},
	{"from+out", OutUnsubscribe, "from", true, false},
	{"both", OutUnsubscribe, "from", true, false},
	// A.2.4 outbound unsubscribed: always routed (§3.2.2).
	{"none", OutUnsubscribed, "none", true, false},
	{"none+out", OutUnsubscribed, "none+out", true, false},
	{"none+in", OutUnsubscribed, "none", true, false},
	{"none+out+in", OutUnsubscribed, "none+out", true, false},
	{"to", OutUnsubscribed, "to", true, false},
	{"to+in", OutUnsubscribed, "to", true, false},
	{"from", OutUnsubscribed, "none", true, false},
	{"from+out", OutUnsubscribed, "none+out", true, false},
	{"both", OutUnsubscribed, "to", true, false},
	// A.3.1 inbound subscribe: auto-answered when the contact already has
	// a subscription; a repeated request is delivered again.
	{"none", InSubscribe, "none+in", true, false},
	{"none+out", InSubscribe, "none+out+in", true, false},
	{"none+in", InSubscribe, "none+in", true, false},
	{"none+out+in", InSubscribe, "none+out+in", true, false},
	{"to", InSubscribe, "to+in", true, false},
	{"to+in", InSubscribe, "to+in", true, false},
	{"from", InSubscribe, "from", false, true},
	{"from+out", InSubscribe, "from+out", false, true},
	{"both", InSubscribe, "both", false, true},
	// A.3.3 inbound subscribed: delivered only on a change.
	{"none", InSubscribed, "none", false, false},
	{"none+out", InSubscribed, "to", true, false},
	{"none+in", InSubscribed, "none+in", false, false},
	{"none+out+in", InSubscribed, "to+in", true, false},
	{"to", InSubscribed, "to", false, false},
	{"to+in", InSubscribed, "to+in", false, false},
	{"from", InSubscribed, "from", false, false},
	{"from+out", InSubscribed, "both", true, false},
	{"both", InSubscribed, "both", false, false},
	// A.3.2 inbound unsubscribe: delivered only on a change.
	{"none", InUnsubscribe, "none", false, false},
	{"none+out", InUnsubscribe, "none+out", false, false},
	{"none+in", InUnsubscribe, "none", true, false},
	{"none+out+in", InUnsubscribe, "none+out", true, false},
	{"to", InUnsubscribe, "to", false, false},
	{"to+in", InUnsubscribe, "to", true, false},
	{"from", InUnsubscribe, "none", true, false},
	{"from+out", InUnsubscribe, "none+out", true, false},
	{"both", InUnsubscribe, "to", true, false},
	// A.3.4 inbound unsubscribed: delivered only on a change.
	{"none", InUnsubscribed, "none", false, false},
	{"none+out", InUnsubscribed, "none", true, false},
	{"none+in", InUnsubscribed, "none+in", false, false},
	{"none+out+in", InUnsubscribed, "none+in", true, false},
	{"to", InUnsubscribed, "none", true, false},
	{"to+in", InUnsubscribed, "none+in", true, false},
	{"from", InUnsubscribed, "from", false, false},
	{"from+out", InUnsubscribed, "from", true, false},
	{"both", InUnsubscribed, "from", true, false},
}

// preApproved covers the states in which a pre-approval can exist (those
// without a subscription from the contact and without a pending request).
var preApproved = []step{
	{"none+approved", OutSubscribe, "none+out+approved", true, false},
	{"none+out+approved", OutSubscribe, "none+out+approved", true, false},
	{"to+approved", OutSubscribe, "to+approved", true, false},
	{"none+approved", OutSubscribed, "none+approved", false, false},
	{"none+out+approved", OutSubscribed, "none+out+approved", false, false},
	{"to+approved", OutSubscribed, "to+approved", false, false},
	{"none+approved", OutUnsubscribe, "none+approved", true, false},
	{"none+out+approved", OutUnsubscribe, "none+approved", true, false},
	{"to+approved", OutUnsubscribe, "none+approved", true, false},
	// §3.4: unsubscribed cancels a pre-approval.
	{"none+approved", OutUnsubscribed, "none", true, false},
	{"none+out+approved", OutUnsubscribed, "none+out", true, false},
	{"to+approved", OutUnsubscribed, "to", true, false},
	// §3.4: the server answers for the owner.
	{"none+approved", InSubscribe, "from", false, true},
	{"none+out+approved", InSubscribe, "from+out", false, true},
	{"to+approved", InSubscribe, "both", false, true},
	{"none+approved", InSubscribed, "none+approved", false, false},
	{"none+out+approved", InSubscribed, "to+approved", true, false},
	{"to+approved", InSubscribed, "to+approved", false, false},
	// Clears the pre-approval; delivered only if the state proper changed.
	{"none+approved", InUnsubscribe, "none", false, false},
	{"none+out+approved", InUnsubscribe, "none+out", false, false},
	{"to+approved", InUnsubscribe, "to", false, false},
	{"none+approved", InUnsubscribed, "none+approved", false, false},
	{"none+out+approved", InUnsubscribed, "none+approved", true, false},
	{"to+approved", InUnsubscribed, "none+approved", true, false},
}

// hidden: a hidden item (or no row, which behaves as "none+hidden").
var hidden = []step{
	{"none+hidden", OutSubscribe, "none+out", true, false},
	{"none+hidden", OutSubscribed, "none+approved", false, false},
	{"none+hidden", OutUnsubscribe, "none+hidden", true, false},
	{"none+hidden", OutUnsubscribed, "none+hidden", true, false},
	{"none+hidden", InSubscribe, "none+in+hidden", true, false},
	{"none+hidden", InSubscribed, "none+hidden", false, false},
	{"none+hidden", InUnsubscribe, "none+hidden", false, false},
	{"none+hidden", InUnsubscribed, "none+hidden", false, false},
	{"none+in+hidden", OutSubscribe, "none+out+in", true, false},
	{"none+in+hidden", OutSubscribed, "from", true, false},
	{"none+in+hidden", OutUnsubscribe, "none+in+hidden", true, false},
	{"none+in+hidden", OutUnsubscribed, "none+hidden", true, false},
	{"none+in+hidden", InSubscribe, "none+in+hidden", true, false},
	{"none+in+hidden", InSubscribed, "none+in+hidden", false, false},
	{"none+in+hidden", InUnsubscribe, "none+hidden", true, false},
	{"none+in+hidden", InUnsubscribed, "none+in+hidden", false, false},
}

func TestTransitionTableIsExhaustive(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range appendixA {
		seen[s.from+" "+s.ev.String()] = true
	}
	for _, st := range nineStates {
		for ev := OutSubscribe; ev <= InUnsubscribed; ev++ {
			if !seen[st+" "+ev.String()] {
				t.Errorf("appendixA lacks %s on %v", st, ev)
			}
		}
	}
	if len(appendixA) != 72 || len(seen) != 72 {
		t.Errorf("appendixA has %d rows, %d distinct; want 72", len(appendixA), len(seen))
	}
}

func TestTransition(t *testing.T) {
	for name, table := range map[string][]step{"appendixA": appendixA, "preApproved": preApproved, "hidden": hidden} {
		for i, s := range table {
			t.Run(fmt.Sprintf("%s/%d/%s/%v", name, i, s.from, s.ev), func(t *testing.T) {
				in := state(t, s.from)
				in.Name, in.Groups = "Romeo", []string{"Friends"}
				got, fwd, auto := transition(in, s.ev)
				if notation(got) != s.to || fwd != s.fwd || auto != s.auto {
					t.Errorf("%s on %v = %s, forward %v, auto %v; want %s, %v, %v",
						s.from, s.ev, notation(got), fwd, auto, s.to, s.fwd, s.auto)
				}
				if got.JID != in.JID || got.Name != in.Name || len(got.Groups) != 1 {
					t.Errorf("transition changed JID, name or groups: %+v", got)
				}
			})
		}
	}
}

// TestTransitionStaysValid walks every reachable combination and checks
// that no step produces a state outside Appendix A.
func TestTransitionStaysValid(t *testing.T) {
	valid := map[string]bool{}
	for _, s := range nineStates {
		valid[s] = true
	}
	for _, s := range []string{"none", "none+out", "to"} {
		valid[s+"+approved"] = true
	}
	for _, s := range []string{"none", "none+in"} {
		valid[s+"+hidden"] = true
	}
	for st := range valid {
		for ev := OutSubscribe; ev <= InUnsubscribed; ev++ {
			got, _, _ := transition(state(t, st), ev)
			if !valid[notation(got)] {
				t.Errorf("%s on %v gives %s, not a valid state", st, ev, notation(got))
			}
		}
	}
}

func TestTransitionUnknownEvent(t *testing.T) {
	in := state(t, "to+in")
	if got, fwd, auto := transition(in, Event(99)); notation(got) != "to+in" || fwd || auto {
		t.Errorf("unknown event: %s, %v, %v", notation(got), fwd, auto)
	}
	if s := Event(99).String(); s != "Event(99)" {
		t.Errorf("String = %q", s)
	}
}
