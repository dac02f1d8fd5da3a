package managesieve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/internal/connlimit"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("managesieve: server closed")

// Server is the ManageSieve server. Set its fields, then call Serve once
// per listener; the fields must not change after that.
type Server struct {
	Config   Config           // limits; zero fields mean their default
	Scripts  *filters.Scripts // required
	Accounts *accounts.Store  // required: logins and the account events that end sessions
	TLS      *tls.Config      // for STARTTLS; required unless Config.AllowInsecureAuth
	Hostname string           // named in the greeting; may be empty
	Log      *slog.Logger     // nil: no logging
	Limits   filters.Config   // the limits Scripts was made with: MAXREDIRECTS and the largest script literal; zero fields mean filters' defaults
	// Extensions are the Sieve extensions of the engine (sieve.Supported()),
	// advertised as SIEVE (RFC 5804 §1.7).
	Extensions []string
	// Notify are the enotify URI schemes (RFC 5435), advertised as NOTIFY
	// when Extensions has "enotify"; nil means {"mailto", "xmpp"}.
	Notify []string

	initOnce    sync.Once
	initErr     error
	cfg         Config // Config with defaults
	maxScript   int
	maxRedirect int
	notify      []string
	log         *slog.Logger
	limit       *connlimit.Limiter
	ctx         context.Context // the base of every connection's context
	cancel      context.CancelFunc
	unsubscribe func()
	nextID      atomic.Uint64
	panics      atomic.Uint64
	workers     sync.WaitGroup // BYE writers and account re-checks
	connsWG     sync.WaitGroup // serve goroutines of the connections

	mu        sync.Mutex
	closed    bool // no new listeners or connections
	finished  bool // no new workers (Close ran)
	listeners map[net.Listener]struct{}
	sessions  map[*conn]struct{}
	users     map[string]map[*conn]struct{} // by address, from the start of AUTHENTICATE
}

// init checks the fields and prepares the server once.
func (s *Server) init() error {
	s.initOnce.Do(func() {
		switch {
		case s.Scripts == nil || s.Accounts == nil:
			s.initErr = errors.New("managesieve: Scripts and Accounts are required")
			return
		case s.TLS == nil && !s.Config.AllowInsecureAuth:
			s.initErr = errors.New("managesieve: TLS is required (PLAIN is only offered after STARTTLS)")
			return
		}
		if err := s.Config.Validate(); err != nil {
			s.initErr = err
			return
		}
		s.cfg = s.Config.withDefaults()
		def := filters.DefaultConfig()
		s.maxScript, s.maxRedirect = s.Limits.MaxScriptSize, s.Limits.MaxRedirects
		if s.maxScript <= 0 {
			s.maxScript = def.MaxScriptSize
		}
		if s.maxRedirect <= 0 {
			s.maxRedirect = def.MaxRedirects
		}
		s.notify = s.Notify
		if s.notify == nil {
			s.notify = []string{"mailto", "xmpp"}
		}
		s.log = s.Log
		if s.log == nil {
			s.log = slog.New(slog.DiscardHandler)
		}
		s.log = s.log.With("proto", "managesieve")
		s.limit = &connlimit.Limiter{Max: s.cfg.MaxConnsPerIP}
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.listeners = map[net.Listener]struct{}{}
		s.sessions = map[*conn]struct{}{}
		s.users = map[string]map[*conn]struct{}{}
		s.unsubscribe = s.Accounts.Subscribe(s.accountEvent)
	})
	return s.initErr
}

// refusal is what a connection over the per-address limit gets.
var refusal = []byte("BYE (TRYLATER) \"Too many connections from your address\"\r\n")

// Serve accepts connections on ln until Shutdown or Close. Connections
// start in clear text and may upgrade with STARTTLS (RFC 5804 §2.2).
func (s *Server) Serve(ln net.Listener) error {
	if err := s.init(); err != nil {
		ln.Close()
		return err
	}
	l := s.limit.Wrap(ln, refusal, func(ip netip.Addr) {
		s.log.Warn("too many connections from one address", "remote", ip)
	})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait and go on, as
			// net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Error("accept failed; retrying", "err", err, "delay", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if c := s.newConn(nc); c != nil {
			go c.serve()
		}
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// newConn registers a new connection; nil if the server is closing.
func (s *Server) newConn(nc net.Conn) *conn {
	c := newConn(s, nc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.cancel()
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		nc.Write(appendResponse(nil, respBYE, codeTryLater, shutdownText))
		nc.Close()
		return nil
	}
	s.sessions[c] = struct{}{}
	s.connsWG.Add(1)
	return c
}

// Shutdown stops accepting, ends every connection with
// BYE (TRYLATER) "Server shutting down" — at once if it is waiting for a
// command, else when its command is done — and waits for them to close.
// When ctx ends first, it closes what is left and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.init(); err != nil {
		return err
	}
	s.stopAccepting()
	s.mu.Lock()
	live := make([]*conn, 0, len(s.sessions))
	for c := range s.sessions {
		live = append(live, c)
	}
	s.mu.Unlock()
	for _, c := range live {
		c.end(codeTryLater, shutdownText)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		left := len(s.sessions)
		s.mu.Unlock()
		if left == 0 {
			return s.Close()
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), s.Close())
		case <-tick.C:
		}
	}
}

// Close closes every listener and connection at once and waits for the
// connections' goroutines to end.
func (s *Server) Close() error {
	if err := s.init(); err != nil {
		return err
	}
	s.stopAccepting()
	s.mu.Lock()
	s.finished = true
	live := make([]*conn, 0, len(s.sessions))
	for c := range s.sessions {
		live = append(live, c)
	}
	s.mu.Unlock()
	s.cancel()
	for _, c := range live {
		c.raw.Close()
	}
	s.connsWG.Wait() // their store calls end with their contexts
	s.workers.Wait()
	return nil
}

// stopAccepting marks the server closed and closes its listeners.
func (s *Server) stopAccepting() {
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	ls := make([]net.Listener, 0, len(s.listeners))
	for l := range s.listeners {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	if first {
		s.unsubscribe()
	}
	for _, l := range ls {
		l.Close()
	}
}

// spawn runs fn on a goroutine that Close waits for; not after Close.
func (s *Server) spawn(fn func()) {
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return
	}
	s.workers.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.workers.Done()
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in a managesieve worker", "panic", fmt.Sprint(p))
			}
		}()
		fn()
	}()
}

// forget drops a closed connection.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.sessions, c)
	s.untrackLocked(c)
	s.mu.Unlock()
	s.connsWG.Done()
}

// track files c under address (lower-case, normalised by accounts) so that
// account events reach it; untrack removes it.
func (s *Server) track(c *conn, address string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.untrackLocked(c)
	m := s.users[address]
	if m == nil {
		m = map[*conn]struct{}{}
		s.users[address] = m
	}
	m[c] = struct{}{}
	c.tracked = address
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.untrackLocked(c)
}

func (s *Server) untrackLocked(c *conn) {
	if c.tracked == "" {
		return
	}
	if m := s.users[c.tracked]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(s.users, c.tracked)
		}
	}
	c.tracked = ""
}

// Connections returns the number of open connections.
func (s *Server) Connections() int {
	if s.init() != nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Panics returns how many connections ended in a recovered panic (for a
// metric).
func (s *Server) Panics() uint64 { return s.panics.Load() }
