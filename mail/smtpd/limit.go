package smtpd

import (
	"crypto/tls"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidings/tidings/accounts"
)

// limitListener refuses a client address's connections beyond
// MaxConnsPerIP at accept, with 421 on plain-text ports.
type limitListener struct {
	net.Listener
	s   *Server
	tls bool // implicit TLS: no plain-text reply possible
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := accounts.RemoteIP(c.RemoteAddr())
		if l.s.admit(ip) {
			return &limitConn{Conn: c, release: func() { l.s.release(ip) }}, nil
		}
		l.s.log.Warn("too many connections from one address", "remote", ip)
		if !l.tls {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write([]byte("421 4.7.0 " + l.s.hostname + " too many connections from your address\r\n"))
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

// limitConn releases its slot once, and can close itself right after the
// next reply is written (to end a connection with a final reply).
type limitConn struct {
	net.Conn
	release    func()
	once       sync.Once
	closeAfter atomic.Bool
}

func (c *limitConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.closeAfter.Load() {
		c.Close()
	}
	return n, err
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
