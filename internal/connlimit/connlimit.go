// Package connlimit bounds the simultaneous connections of one client
// address, for every protocol listener (SMTP, IMAP, XMPP): connections
// beyond the limit get the protocol's refusal line and are closed at
// accept, before any protocol state exists.
//
// It imports nothing of Tidings, so every server package may use it.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Limiter counts connections per client address across all the listeners
// it wraps (one Limiter per server, so STARTTLS and TLS ports share it).
// The zero value with Max set is ready.
type Limiter struct {
	Max int // simultaneous connections per client address
	mu  sync.Mutex
	n   map[netip.Addr]int
}

// Wrap returns ln limited by l. A refused connection gets refusal (nil on
// TLS ports: nothing can be said in clear) and is closed; refused, if not
// nil, is told about it (logging).
func (l *Limiter) Wrap(ln net.Listener, refusal []byte, refused func(ip netip.Addr)) net.Listener {
	return &listener{Listener: ln, l: l, refusal: refusal, refused: refused}
}

type listener struct {
	net.Listener
	l       *Limiter
	refusal []byte
	refused func(netip.Addr)
}

// Accept returns the next connection within the limit. Closing it frees
// its slot.
func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := RemoteIP(c.RemoteAddr())
		if ln.l.acquire(ip) {
			return &Conn{Conn: c, release: func() { ln.l.release(ip) }}, nil
		}
		if ln.refused != nil {
			ln.refused(ip)
		}
		if len(ln.refusal) > 0 {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write(ln.refusal)
		}
		c.Close()
	}
}

func (l *Limiter) acquire(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == nil {
		l.n = map[netip.Addr]int{}
	}
	if l.n[ip] >= l.Max {
		return false
	}
	l.n[ip]++
	return true
}

func (l *Limiter) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[ip]--; l.n[ip] <= 0 {
		delete(l.n, ip)
	}
}

// Conn is an admitted connection; Close frees its slot once.
type Conn struct {
	net.Conn
	release func()
	once    sync.Once
}

// Close closes the connection and frees its slot.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// RemoteIP is the client address of a connection, IPv4-mapped addresses
// unmapped; invalid if unknown.
func RemoteIP(a net.Addr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
