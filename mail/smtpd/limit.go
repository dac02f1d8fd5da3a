package smtpd

import (
	"bytes"
	"crypto/tls"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
)

// listener applies the per-address connection limit (421 at accept on
// plain-text ports) and wraps each connection in a replyConn.
func (s *Server) listener(ln net.Listener, mode Mode) net.Listener {
	var refusal []byte
	if mode != Submissions {
		refusal = []byte("421 4.7.0 " + s.hostname + " too many connections from your address\r\n")
	}
	refused := func(ip netip.Addr) {
		s.log.Warn("too many connections from one address", "remote", ip, "mode", mode.String())
	}
	return replyListener{s.limit.Wrap(ln, refusal, refused)}
}

type replyListener struct{ net.Listener }

func (l replyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &replyConn{Conn: c}, nil
}

// replyConn can close itself right after the next reply is written, to end
// a connection with a final reply. It also notes whether the client's first
// greeting was HELO (plain SMTP) rather than EHLO, which go-smtp does not
// tell: the Received header names the protocol (RFC 3848).
type replyConn struct {
	net.Conn
	closeAfter atomic.Bool
	greeted    bool // the first greeting command was seen (reads are sequential)
	helo       atomic.Bool
}

func (c *replyConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.greeted && n > 0 {
		c.noteGreeting(p[:n])
	}
	return n, err
}

// noteGreeting looks at the clear-text input for the first HELO or EHLO.
func (c *replyConn) noteGreeting(b []byte) {
	for len(b) >= 4 {
		switch strings.ToUpper(string(b[:4])) {
		case "HELO":
			c.helo.Store(true)
			c.greeted = true
			return
		case "EHLO":
			c.greeted = true
			return
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return
		}
		b = b[i+1:]
	}
}

func (c *replyConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.closeAfter.Load() {
		c.Close()
	}
	return n, err
}

// unwrapConn finds our replyConn under TLS.
func unwrapConn(c net.Conn) (*replyConn, bool) {
	for {
		switch x := c.(type) {
		case *replyConn:
			return x, true
		case *tls.Conn:
			c = x.NetConn()
		default:
			return nil, false
		}
	}
}
