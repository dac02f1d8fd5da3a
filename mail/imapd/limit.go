package imapd

import (
	"crypto/tls"
	"net"
	"net/netip"
	"time"
)

// libraryIdleDeadline: imapserver sets read deadlines of 30 s (before
// login, and for the rest of a command), 5 min (literals) and 35 min
// (waiting for the next command after login, and IDLE). Deadlines further
// away than this are the idle ones, which limitConn replaces with
// Config.IdleTimeout.
const libraryIdleDeadline = 30 * time.Minute

// listener applies the per-address connection limit (BYE at accept on the
// plain-text port) and wraps each connection in a limitConn.
func (s *Server) listener(ln net.Listener, mode Mode) net.Listener {
	var refusal []byte
	if mode == IMAP {
		refusal = []byte("* BYE [UNAVAILABLE] Too many connections from your address\r\n")
	}
	refused := func(ip netip.Addr) {
		s.log.Warn("too many connections from one address", "remote", ip, "mode", mode.String())
	}
	return idleListener{s.limit.Wrap(ln, refusal, refused), mode, s.cfg.IdleTimeout}
}

type idleListener struct {
	net.Listener
	mode Mode
	idle time.Duration
}

func (l idleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &limitConn{Conn: c, mode: l.mode, idle: l.idle}, nil
}

// limitConn applies the configured idle timeout in place of the
// library's, and remembers its listener's mode.
type limitConn struct {
	net.Conn
	mode Mode
	idle time.Duration
}

func (c *limitConn) SetReadDeadline(t time.Time) error {
	if !t.IsZero() && time.Until(t) > libraryIdleDeadline {
		t = time.Now().Add(c.idle)
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *limitConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// unwrapConn finds our limitConn under TLS.
func unwrapConn(c net.Conn) (*limitConn, bool) {
	for {
		switch x := c.(type) {
		case *limitConn:
			return x, true
		case *tls.Conn:
			c = x.NetConn()
		default:
			return nil, false
		}
	}
}
