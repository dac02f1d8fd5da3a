package c2s_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/router"
)

// TestConcurrentTraffic: clients of four accounts send to each other at
// the same time while changing presence and rosters, so that lock-order
// problems in the router show up as a hang (and data races under -race).
// Every message must arrive, in order per sender.
func TestConcurrentTraffic(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	var clients []*client
	for _, name := range []string{"juliet", "romeo", "nurse", "tybalt"} {
		clients = append(clients, e.online(t, name), e.loginClient(t, name, ""))
	}
	clients[1].getRoster()
	clients[1].available()
	clients[3].getRoster()
	clients[3].available()
	subscribeBoth(t, clients[0], clients[2])
	const n = 25
	var wg sync.WaitGroup
	errs := make(chan error, len(clients))
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range n {
				for _, to := range clients {
					if to == c {
						continue
					}
					m := elem.New("", "message", "to", to.jid, "type", "chat").AddText("", "body", fmt.Sprintf("%s %d", c.jid, k))
					if err := c.sendFn(m); err != nil {
						errs <- err
						return
					}
				}
				var err error
				switch k % 5 {
				case 0:
					err = c.sendFn(elem.New("", "presence").AddText("", "status", fmt.Sprint(k)))
				case 1:
					err = c.sendFn(elem.New("", "iq", "type", "set", "id", fmt.Sprint("r", i, k)).Add(
						rosterQuery("", elem.New(router.NSRoster, "item", "jid", fmt.Sprintf("c%d@%s", k, domain)))))
				case 2:
					err = c.sendFn(elem.New("", "presence", "type", "subscribe", "to", clients[(i+2)%len(clients)].bare()))
				case 3:
					err = c.sendFn(elem.New("", "iq", "type", "get", "id", fmt.Sprint("v", i, k), "to", clients[(i+3)%len(clients)].bare()).
						Add(elem.New(router.NSVCard, "vCard")))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, c := range clients {
		next := map[string]int{} // sender → next k expected
		for range (len(clients) - 1) * n {
			m := c.expect("a chat message", func(el *elem.Element) bool { return el.Local == "message" && el.Get("type") == "chat" })
			from := m.Get("from")
			if want := fmt.Sprintf("%s %d", from, next[from]); m.ChildText("", "body") != want {
				t.Fatalf("%s: got %q from %s, want %q", c.jid, m.ChildText("", "body"), from, want)
			}
			next[from]++
		}
		c.sync()
	}
}
