package s2s

import (
	"bytes"
	"net"
	"sync"
	"time"

	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/streamreader"
)

// writer is the write side of one s2s connection, the pattern of c2s:
// synchronous writes during negotiation, then a byte queue drained by an
// on-demand goroutine, so the router never blocks on a peer's socket.
type writer struct {
	timeout  time.Duration
	maxBytes int

	wmu sync.Mutex // serialises socket writes; guards nc
	nc  net.Conn

	qmu      sync.Mutex
	queue    []byte
	writing  bool
	shut     bool
	closeNow bool
}

func (w *writer) setConn(nc net.Conn) {
	w.wmu.Lock()
	w.nc = nc
	w.wmu.Unlock()
}

// now writes synchronously (negotiation).
func (w *writer) now(b []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	_, err := w.nc.Write(b)
	return err
}

// stanza queues st for an s2s stream (content namespace jabber:server).
func (w *writer) stanza(st *elem.Element) bool {
	var b bytes.Buffer
	st.Append(&b, elem.NSServer)
	return w.enqueue(b.Bytes(), false)
}

// close queues a stream error (cond "" for none) and the closing tag, then
// closes the connection once they are written.
func (w *writer) close(cond, text string) {
	var b bytes.Buffer
	if cond != "" {
		(&streamreader.Error{Condition: cond, Text: text}).WriteTo(&b)
	}
	b.WriteString("</stream:stream>")
	w.enqueue(b.Bytes(), true)
}

// enqueue reports false when the stream no longer accepts writes.
func (w *writer) enqueue(b []byte, last bool) bool {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	if w.shut {
		return false
	}
	if len(w.queue)+len(b) > w.maxBytes && !last {
		w.shut, w.closeNow = true, true
		w.queue = nil
		w.nc.Close()
		return false
	}
	w.queue = append(w.queue, b...)
	if last {
		w.shut, w.closeNow = true, true
	}
	if !w.writing {
		w.writing = true
		go w.loop()
	}
	return true
}

func (w *writer) loop() {
	for {
		w.qmu.Lock()
		if len(w.queue) == 0 {
			w.writing = false
			closeNow := w.closeNow
			w.qmu.Unlock()
			if closeNow {
				w.wmu.Lock()
				nc := w.nc
				w.wmu.Unlock()
				nc.SetReadDeadline(time.Now().Add(time.Second)) // let the peer answer </stream:stream>
				time.AfterFunc(time.Second, func() { nc.Close() })
			}
			return
		}
		buf := w.queue
		w.queue = nil
		w.qmu.Unlock()

		w.wmu.Lock()
		w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
		_, err := w.nc.Write(buf)
		w.wmu.Unlock()
		if err != nil {
			w.qmu.Lock()
			w.shut, w.queue, w.writing = true, nil, false
			w.qmu.Unlock()
			w.nc.Close()
			return
		}
	}
}

// isShut reports whether the stream stopped accepting writes.
func (w *writer) isShut() bool {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	return w.shut
}

// flush waits up to d for the queue to drain.
func (w *writer) flush(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		w.qmu.Lock()
		done := !w.writing
		w.qmu.Unlock()
		if done {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
