package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-smtp"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/internal/connlimit"
	"github.com/tidings/tidings/mail/delivery"
	"github.com/tidings/tidings/mail/verify"
)

// Mode is what a listener is for.
type Mode int

// The listener modes.
const (
	// MX accepts mail for local domains from anyone (port 25).
	MX Mode = iota
	// Submission requires AUTH, which needs STARTTLS first (port 587).
	Submission
	// Submissions is submission over implicit TLS (port 465, RFC 8314).
	Submissions
)

func (m Mode) String() string {
	return [...]string{"smtp", "submission", "submissions"}[m]
}

// Server is the SMTP server. Create it with New, then call Serve once per
// listener.
type Server struct {
	cfg      Config
	limit    *connlimit.Limiter // connections per client address, across listeners
	hostname string
	tls      *tls.Config
	accounts *accounts.Store
	deliver  *delivery.Deliverer
	verifier *verify.Verifier
	log      *slog.Logger

	mu       sync.Mutex
	servers  []*smtp.Server
	sessions map[*session]struct{}
	closed   bool
	nextID   atomic.Uint64
}

// Deps are what the server needs from the rest of Tidings.
type Deps struct {
	Hostname  string
	TLS       *tls.Config
	Accounts  *accounts.Store
	Deliverer *delivery.Deliverer
	Verifier  *verify.Verifier // nil: no SPF/DKIM/DMARC checks of incoming mail
	Log       *slog.Logger
}

// New returns a server.
func New(cfg Config, d Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.TLS == nil || d.Accounts == nil || d.Deliverer == nil || d.Hostname == "" {
		return nil, errors.New("smtpd: Hostname, TLS, Accounts and Deliverer are required")
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, limit: &connlimit.Limiter{Max: cfg.MaxConnsPerIP}, hostname: d.Hostname, tls: d.TLS, accounts: d.Accounts, deliver: d.Deliverer, verifier: d.Verifier,
		log: log.With("proto", "smtp"), sessions: map[*session]struct{}{}}, nil
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = smtp.ErrServerClosed

// Serve accepts connections on ln until Shutdown or Close. For
// Submissions, ln is a plain TCP listener: Serve adds TLS.
func (s *Server) Serve(ln net.Listener, mode Mode) error {
	srv := smtp.NewServer(backend{s, mode})
	srv.Domain = s.hostname
	srv.TLSConfig = s.tls
	srv.MaxMessageBytes = int64(s.cfg.MaxMessageSize)
	srv.MaxRecipients = s.cfg.MaxRecipients
	srv.MaxLineLength = s.cfg.MaxLineLength
	srv.ReadTimeout, srv.WriteTimeout = s.cfg.ReadTimeout, s.cfg.WriteTimeout
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = errorLog{s.log.With("mode", mode.String())}
	ln = s.listener(ln, mode)
	if mode == Submissions {
		ln = tls.NewListener(ln, s.tls)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.servers = append(s.servers, srv)
	s.mu.Unlock()
	if err := srv.Serve(ln); err != nil {
		return err
	}
	return ErrServerClosed // go-smtp returns nil after Close or Shutdown
}

// Shutdown stops accepting, tells idle sessions 421 and closes them, lets
// transactions in flight finish until ctx ends, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	servers := append([]*smtp.Server(nil), s.servers...)
	idle := []*session{}
	for sess := range s.sessions {
		if !sess.busy.Load() {
			idle = append(idle, sess)
		}
	}
	s.mu.Unlock()
	done := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { done <- srv.Shutdown(ctx) }()
	}
	for _, sess := range idle {
		sess.goodbye("421 4.3.2 " + s.hostname + " shutting down\r\n")
	}
	var errs []error
	for range servers {
		if err := <-done; err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if ctx.Err() != nil {
		return errors.Join(append(errs, s.Close())...)
	}
	return errors.Join(errs...)
}

// Close closes every listener and connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	servers := append([]*smtp.Server(nil), s.servers...)
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		if err := srv.Close(); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Server) track(sess *session, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.sessions[sess] = struct{}{}
	} else {
		delete(s.sessions, sess)
	}
}

// backend adapts the server to go-smtp for one listener mode.
type backend struct {
	s    *Server
	mode Mode
}

var _ smtp.Backend = backend{}

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	lc, _ := unwrapConn(c.Conn())
	sess := &session{s: b.s, mode: b.mode, c: c, conn: lc, remote: accounts.RemoteIP(c.Conn().RemoteAddr())}
	sess.log = b.s.log.With("cid", fmt.Sprintf("s%d", b.s.nextID.Add(1)), "mode", b.mode.String(), "remote", sess.remote)
	b.s.track(sess, true)
	return sess, nil
}

// errorLog sends go-smtp's internal errors to slog.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Printf(format string, v ...any) { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l errorLog) Println(v ...any)               { l.log.Warn(fmt.Sprint(v...)) }
