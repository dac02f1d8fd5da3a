package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/internal/connlimit"
	"github.com/tidings/tidings/mail/imapd/imapserver"
	"github.com/tidings/tidings/mail/store"
)

// Mode is what a listener is for.
type Mode int

// The listener modes.
const (
	// IMAP is port 143: plain text until STARTTLS; no login before it.
	IMAP Mode = iota
	// IMAPS is port 993: implicit TLS (RFC 8314).
	IMAPS
)

func (m Mode) String() string { return [...]string{"imap", "imaps"}[m] }

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("imapd: server closed")

// Deps are what the server needs from the rest of Tidings.
type Deps struct {
	TLS      *tls.Config     // for STARTTLS and IMAPS
	Accounts *accounts.Store // logins, and the account events that end sessions
	Store    *store.Store    // the messages
	Log      *slog.Logger    // may be nil
	Version  string          // the server's version, for ID (RFC 2971)
}

// Server is the IMAP server. Create it with New, then call Serve once per
// listener.
type Server struct {
	version     string
	cfg         Config
	limit       *connlimit.Limiter // connections per client address, across listeners
	tls         *tls.Config
	accounts    *accounts.Store
	store       *store.Store
	log         *slog.Logger
	imap        *imapserver.Server
	ctx         context.Context // the base of every session's context
	cancel      context.CancelFunc
	unsubscribe func()
	closeOnce   sync.Once
	workers     sync.WaitGroup // user feeds and account-event checks
	nextID      atomic.Uint64

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	users     map[int64]*userState
}

// New returns a server.
func New(cfg Config, d Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.TLS == nil || d.Accounts == nil || d.Store == nil {
		return nil, errors.New("imapd: TLS, Accounts and Store are required")
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{version: d.Version, cfg: cfg, limit: &connlimit.Limiter{Max: cfg.MaxConnsPerIP}, tls: d.TLS, accounts: d.Accounts, store: d.Store, log: log.With("proto", "imap"),
		listeners: map[net.Listener]struct{}{}, sessions: map[*session]struct{}{},
		users: map[int64]*userState{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: s.newSession,
		Caps:       capabilities,
		Logger:     libraryLog{s.log},
		TLSConfig:  d.TLS,
		// InsecureAuth stays false: LOGINDISABLED and no AUTH= before TLS
		// (RFC 9051 §6.2.3, RFC 8314).
	})
	s.unsubscribe = d.Accounts.Subscribe(s.accountEvent)
	return s, nil
}

// capabilities are advertised on top of what imapserver always offers
// (SASL-IR, LITERAL-, ENABLE, IDLE, UNSELECT, UTF8=ACCEPT, STARTTLS, AUTH=).
// APPENDLIMIT=n comes from session.AppendLimit.
var capabilities = imap.CapSet{
	imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}, // RFC 3501, RFC 9051
	imap.CapNamespace:    {}, // RFC 2342
	imap.CapUIDPlus:      {}, // RFC 4315
	imap.CapMove:         {}, // RFC 6851
	imap.CapESearch:      {}, // RFC 4731
	imap.CapSearchRes:    {}, // RFC 5182
	imap.CapListExtended: {}, // RFC 5258
	imap.CapListStatus:   {}, // RFC 5819
	imap.CapStatusSize:   {}, // RFC 8438
	imap.CapChildren:     {}, // RFC 3348
	imap.CapSpecialUse:   {}, // RFC 6154
	imap.CapBinary:       {}, // RFC 3516
	imap.CapCondStore:    {}, // RFC 7162
	imap.CapQResync:      {}, // RFC 7162
	imap.CapQuota:        {}, // RFC 9208
	"QUOTA=RES-STORAGE":  {}, // RFC 9208 §5.1
	imap.CapID:           {}, // RFC 2971
	// Not LITERAL+ (RFC 7888): imapserver refuses an APPEND literal above
	// APPENDLIMIT before reading it, and for a non-synchronising literal
	// it then parses the message text as commands of this user. With
	// LITERAL- (advertised by imapserver) non-synchronising literals are at
	// most 4 KiB, below the smallest APPENDLIMIT, so that cannot happen.
}

// Serve accepts connections on ln until Shutdown or Close. For IMAPS, ln
// is a plain TCP listener: Serve adds TLS.
func (s *Server) Serve(ln net.Listener, mode Mode) error {
	l := s.listener(ln, mode)
	if mode == IMAPS {
		l = tls.NewListener(l, s.tls)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	if err := s.imap.Serve(l); err != nil {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if !closed {
			return err
		}
	}
	return ErrServerClosed // imapserver returns nil once the listener is closed
}

// Shutdown stops accepting, says BYE to every session that is not inside a
// command and to the others once their command is done, and waits for them
// to end. When ctx ends first, it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		left := len(s.sessions)
		for x := range s.sessions {
			if x.busy.Load() == 0 {
				s.sayBye(x, shutdownNotice)
			}
		}
		s.mu.Unlock()
		if left == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), s.Close())
		case <-tick.C:
		}
	}
	return s.Close()
}

// Close closes every listener and connection at once.
func (s *Server) Close() error {
	s.stopAccepting()
	var err error
	s.closeOnce.Do(func() {
		if err = s.imap.Close(); errors.Is(err, net.ErrClosed) {
			err = nil // stopAccepting closed the listeners already
		}
		s.cancel()
	})
	s.workers.Wait()
	return err
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

// newSession is imapserver's hook for a new connection.
func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	nc := c.NetConn()
	x := &session{s: s, conn: c, remote: accounts.RemoteIP(nc.RemoteAddr())}
	if lc, ok := unwrapConn(nc); ok {
		x.mode = lc.mode
	}
	x.ctx, x.cancel = context.WithCancel(s.ctx)
	x.log = s.log.With("cid", fmt.Sprintf("i%d", s.nextID.Add(1)), "mode", x.mode.String(), "remote", x.remote)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		x.cancel()
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: shutdownNotice}
	}
	s.sessions[x] = struct{}{}
	x.log.Debug("connected")
	return x, nil, nil
}

// sayBye ends a session with BYE, on a goroutine: the BYE waits for a
// response being written. Call with s.mu held.
func (s *Server) sayBye(x *session, reason string) {
	if x.byeSent.Load() {
		return
	}
	s.workers.Add(1)
	go func() {
		defer s.workers.Done()
		x.bye(reason)
	}()
}

// forget drops a closed session.
func (s *Server) forget(x *session) {
	s.mu.Lock()
	delete(s.sessions, x)
	s.mu.Unlock()
}

// libraryLog sends imapserver's messages to slog. Most are about clients
// that went away (timeouts, resets, failed handshakes).
type libraryLog struct{ log *slog.Logger }

func (l libraryLog) Printf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, "panic") {
		l.log.Error(msg)
		return
	}
	l.log.Info(msg)
}
