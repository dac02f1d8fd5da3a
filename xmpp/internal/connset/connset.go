// Package connset runs the accept loop of an XMPP stream server (c2s, s2s
// inbound) and keeps the set of its open connections for shutdown: what
// both servers need, written once.
package connset

import (
	"errors"
	"net"
	"sync"
	"time"
)

// Set tracks the listeners and connections of one server. The zero value
// is ready. C is the server's connection type.
type Set[C comparable] struct {
	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[C]struct{}
	wg        sync.WaitGroup
}

// Serve accepts on ln until Close. Each connection becomes a C through
// newConn and is served by serve on its own goroutine; it stays in the set
// until serve returns. After Close, Serve returns closedErr. Temporary
// accept errors (timeouts) are retried after a short pause.
func (s *Set[C]) Serve(ln net.Listener, closedErr error, newConn func(net.Conn) C, serve func(C)) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return closedErr
	}
	if s.listeners == nil {
		s.listeners, s.conns = map[net.Listener]struct{}{}, map[C]struct{}{}
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.Closed() {
				return closedErr
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return err
		}
		c := newConn(nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return closedErr
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close marks the set closed, closes its listeners and returns the
// connections open at that moment, for the server to end them.
func (s *Set[C]) Close() []C {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	return s.snapshot()
}

// Closed reports whether Close was called.
func (s *Set[C]) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Conns returns the open connections.
func (s *Set[C]) Conns() []C {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshot()
}

// Len returns the number of open connections.
func (s *Set[C]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Wait waits until every connection's serve has returned.
func (s *Set[C]) Wait() { s.wg.Wait() }

func (s *Set[C]) snapshot() []C {
	out := make([]C, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}
