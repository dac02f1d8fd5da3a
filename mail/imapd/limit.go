package imapd

import (
	"crypto/tls"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/tidings/tidings/accounts"
)

// libraryIdleDeadline: imapserver sets read deadlines of 30 s (before
// login, and for the rest of a command), 5 min (literals) and 35 min
// (waiting for the next command after login, and IDLE). Deadlines further
// away than this are the idle ones, which limitConn replaces with
// Config.IdleTimeout.
const libraryIdleDeadline = 30 * time.Minute

// limitListener refuses a client address's connections beyond
// MaxConnsPerIP at accept, with a BYE on plain-text ports.
type limitListener struct {
	net.Listener
	s    *Server
	mode Mode
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := accounts.RemoteIP(c.RemoteAddr())
		if l.s.admit(ip) {
			return &limitConn{Conn: c, mode: l.mode, idle: l.s.cfg.IdleTimeout, release: func() { l.s.release(ip) }}, nil
		}
		l.s.log.Warn("too many connections from one address", "remote", ip, "mode", l.mode.String())
		if l.mode == IMAP {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write([]byte("* BYE [UNAVAILABLE] Too many connections from your address\r\n"))
		}
		c.Close()
	}
}

func (s *Server) admit(ip netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip] >= s.cfg.MaxConnsPerIP {
		return false
	}
	s.perIP[ip]++
	return true
}

func (s *Server) release(ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

// limitConn releases its slot once, and applies the configured idle
// timeout in place of the library's.
type limitConn struct {
	net.Conn
	mode    Mode
	idle    time.Duration
	release func()
	once    sync.Once
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

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
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
