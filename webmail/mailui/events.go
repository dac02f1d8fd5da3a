package mailui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/webmail/web"
)

// Live updates: the page opens an EventSource on /mail/events and, on
// each "mail" event, reloads the folder counts and (when the change is in
// the mailbox it shows) the message list. The stream carries only which
// mailbox changed and how; the page fetches the rest as usual.
const (
	heartbeat      = 25 * time.Second // a comment line, below common 30-60 s proxy idle timeouts
	eventWriteTime = 30 * time.Second // each write must finish within this
	eventBuffer    = 64               // changes queued for a slow stream before it overflows
	retryMillis    = 5000             // EventSource reconnect delay (HTML Living Standard §9.2.6 "retry")
)

// event is the JSON of a "mail" event.
type event struct {
	Kind    string   `json:"kind"` // added, flags, expunged, mailbox
	Mailbox string   `json:"mailbox"`
	UIDs    []uint32 `json:"uids,omitempty"`
}

func kindName(k store.ChangeKind) string {
	switch k {
	case store.MessagesAdded:
		return "added"
	case store.FlagsChanged:
		return "flags"
	case store.MessagesExpunged:
		return "expunged"
	}
	return "mailbox"
}

// events streams the user's changes until the client goes or the server
// shuts the request down.
func (u *ui) events(w http.ResponseWriter, r *http.Request, c *web.Ctx) error {
	sub := u.a.Store.Bus().Subscribe(c.User.ID, eventBuffer)
	defer sub.Close()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(s string) error {
		if err := rc.SetWriteDeadline(time.Now().Add(eventWriteTime)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		// The server's ReadTimeout would otherwise end a quiet stream: its
		// background read of the connection hits the deadline.
		if err := rc.SetReadDeadline(time.Now().Add(2 * heartbeat)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := fmt.Fprint(w, s); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := send(fmt.Sprintf("retry: %d\n: connected\n\n", retryMillis)); err != nil {
		return nil
	}
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		var msg string
		select {
		case <-r.Context().Done():
			return nil
		case ch, ok := <-sub.C():
			if !ok {
				return nil
			}
			b, _ := json.Marshal(event{Kind: kindName(ch.Kind), Mailbox: ch.Mailbox, UIDs: ch.UIDs})
			msg = "event: mail\ndata: " + string(b) + "\n\n"
		case <-t.C:
			msg = ": ping\n\n"
		}
		if sub.Overflowed() {
			// Changes were dropped: the page reloads everything it shows.
			msg = "event: reload\ndata: {}\n\n"
		}
		if err := send(msg); err != nil {
			return nil // the client went away
		}
	}
}
