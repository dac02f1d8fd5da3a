package c2s

import (
	"bytes"
	"time"

	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/streamreader"
)

// writeNow writes synchronously; used during negotiation, when nothing
// else writes to the connection.
func (c *conn) writeNow(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	_, err := c.nc.Write(b)
	return err
}

// Send queues a stanza (router.Session). It never blocks: when the client
// falls behind by more than MaxQueueBytes, the session is closed.
func (c *conn) Send(st *elem.Element) {
	var b bytes.Buffer
	st.Append(&b, elem.NSClient)
	c.enqueue(b.Bytes(), false)
}

// Close ends the stream with a stream error (router.Session); "" closes
// it without one. Safe from any goroutine.
func (c *conn) Close(condition, text string) {
	var b bytes.Buffer
	if condition != "" {
		(&streamreader.Error{Condition: condition, Text: text}).WriteTo(&b)
	}
	b.WriteString("</stream:stream>")
	c.enqueue(b.Bytes(), true)
	// Give the reader, or a TLS handshake (which holds the write lock, so
	// the bytes above wait for it), a second more; closeWrite sets this
	// again once they are flushed.
	c.raw.SetReadDeadline(time.Now().Add(time.Second))
}

func (c *conn) enqueue(b []byte, last bool) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.shut {
		return
	}
	if len(c.queue)+len(b) > c.srv.cfg.MaxQueueBytes && !last {
		c.srv.log.Warn("xmpp: client too slow, closing", "jid", c.jid(), "queued", len(c.queue))
		c.shut, c.closeNow = true, true
		c.queue = c.queue[:0]
		c.raw.Close()
		return
	}
	c.queue = append(c.queue, b...)
	if last {
		c.shut, c.closeNow = true, true
	}
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
}

// writeLoop drains the queue and exits when it is empty, so an idle
// session has no writer goroutine and no buffers.
func (c *conn) writeLoop() {
	for {
		c.qmu.Lock()
		if len(c.queue) == 0 {
			c.writing = false
			c.queue, c.spare = nil, nil
			closeNow := c.closeNow
			c.qmu.Unlock()
			if closeNow {
				c.closeWrite()
			}
			return
		}
		buf := c.queue
		c.queue = c.spare[:0]
		c.qmu.Unlock()

		c.wmu.Lock()
		c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
		_, err := c.nc.Write(buf)
		c.wmu.Unlock()

		c.qmu.Lock()
		if cap(buf) <= 64<<10 {
			c.spare = buf[:0]
		}
		if err != nil {
			c.shut, c.closeNow = true, false
			c.queue, c.spare = nil, nil
			c.writing = false
			c.qmu.Unlock()
			c.raw.Close()
			return
		}
		c.qmu.Unlock()
	}
}

// closeWrite ends the connection after our closing tag: the reader sees
// the close and serve cleans up.
func (c *conn) closeWrite() {
	c.raw.SetReadDeadline(time.Now().Add(time.Second)) // let the client answer </stream:stream>
	time.AfterFunc(time.Second, func() { c.raw.Close() })
}

// streamError sends a stream error from the reader goroutine (sending
// our stream header first if the client never got one, RFC 6120 §4.9.1.1)
// and closes.
func (c *conn) streamError(cond, text string) {
	if !c.header {
		var b bytes.Buffer
		c.streamID = newID()
		c.writeHeader(&b)
		c.enqueue(b.Bytes(), false)
	}
	c.Close(cond, text)
}

// closeStream answers the client's </stream:stream>.
func (c *conn) closeStream() { c.Close("", "") }

// finish waits (briefly) until the queue is flushed, then closes.
func (c *conn) finish() {
	deadline := time.Now().Add(c.srv.cfg.WriteTimeout)
	for time.Now().Before(deadline) {
		c.qmu.Lock()
		done := !c.writing
		c.qmu.Unlock()
		if done {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.nc.Close()
}
