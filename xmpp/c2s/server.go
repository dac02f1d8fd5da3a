package c2s

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/internal/connlimit"
	"github.com/tidings/tidings/xmpp/internal/connset"
	"github.com/tidings/tidings/xmpp/router"
	"github.com/tidings/tidings/xmpp/streamreader"
)

// Config tunes client streams.
type Config struct {
	RequireTLS         bool                `toml:"require_tls" doc:"Refuse to authenticate on :5222 before STARTTLS (RFC 6120 §5.3.1). Leave on outside tests."`
	NegotiationTimeout time.Duration       `toml:"negotiation_timeout" doc:"Time a new connection has to finish TLS, SASL and resource binding."`
	PingAfter          time.Duration       `toml:"ping_after" doc:"A bound session silent this long gets an XEP-0199 ping from the server."`
	PingTimeout        time.Duration       `toml:"ping_timeout" doc:"A pinged session that stays silent this much longer is closed as dead."`
	WriteTimeout       time.Duration       `toml:"write_timeout" doc:"Longest a write to a client may block before the session is closed."`
	MaxQueueBytes      int                 `toml:"max_queue_bytes" doc:"Bytes queued for one client before it counts as too slow and is disconnected (so it cannot stall others)."`
	MaxConnsPerIP      int                 `toml:"max_conns_per_ip" doc:"Simultaneous client connections from one address."`
	MaxAuthFailures    int                 `toml:"max_auth_failures" doc:"Failed SASL attempts on one stream before it is closed."`
	PreAuth            streamreader.Limits `toml:"pre_auth" doc:"Limits before authentication."`
	PostAuth           streamreader.Limits `toml:"post_auth" doc:"Limits after authentication."`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		RequireTLS:         true,
		NegotiationTimeout: 60 * time.Second,
		PingAfter:          5 * time.Minute,
		PingTimeout:        time.Minute,
		WriteTimeout:       30 * time.Second,
		MaxQueueBytes:      1 << 20,
		MaxConnsPerIP:      20,
		MaxAuthFailures:    3,
		PreAuth:            streamreader.DefaultPreAuth(),
		PostAuth:           streamreader.DefaultPostAuth(),
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	for name, d := range map[string]time.Duration{"negotiation_timeout": c.NegotiationTimeout,
		"ping_after": c.PingAfter, "ping_timeout": c.PingTimeout, "write_timeout": c.WriteTimeout} {
		if d <= 0 {
			errs = append(errs, errors.New(name+" must be positive"))
		}
	}
	if c.MaxQueueBytes < 64<<10 {
		errs = append(errs, errors.New("max_queue_bytes must be at least 64KiB"))
	}
	if c.MaxConnsPerIP < 1 || c.MaxAuthFailures < 1 {
		errs = append(errs, errors.New("max_conns_per_ip and max_auth_failures must be at least 1"))
	}
	if err := c.PreAuth.Validate(); err != nil {
		errs = append(errs, errors.New("pre_auth: "+err.Error()))
	}
	if err := c.PostAuth.Validate(); err != nil {
		errs = append(errs, errors.New("post_auth: "+err.Error()))
	}
	return errors.Join(errs...)
}

// Server accepts client connections (RFC 6120) for the domains the router
// hosts.
type Server struct {
	cfg    Config
	tls    *tls.Config
	acc    *accounts.Store
	router *router.Router
	log    *slog.Logger
	limit  *connlimit.Limiter
	secret [32]byte // for the fake salts of unknown users
	ctx    context.Context
	cancel context.CancelFunc

	conns connset.Set[*conn]
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("c2s: server closed")

// New returns a server. tlsConfig is used for STARTTLS and direct TLS.
func New(cfg Config, tlsConfig *tls.Config, acc *accounts.Store, r *router.Router, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, acc: acc, router: r, log: log.With("proto", "xmpp"),
		limit: &connlimit.Limiter{Max: cfg.MaxConnsPerIP}}
	if tlsConfig != nil {
		s.tls = tlsConfig.Clone()
		s.tls.NextProtos = []string{"xmpp-client"} // XEP-0368 ALPN
	}
	randRead(s.secret[:])
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Serve accepts connections on ln until Shutdown. With directTLS the
// connections start with TLS (XEP-0368, ALPN xmpp-client).
func (s *Server) Serve(ln net.Listener, directTLS bool) error {
	if directTLS && s.tls == nil {
		return errors.New("c2s: direct TLS needs a TLS configuration")
	}
	l := s.limit.Wrap(ln, nil, func(ip netip.Addr) {
		s.log.Warn("xmpp: too many connections from one address", "remote", ip)
	})
	return s.conns.Serve(l, ErrServerClosed,
		func(nc net.Conn) *conn { return newConn(s, nc, directTLS) },
		func(c *conn) { c.serve() })
}

// Shutdown stops accepting, ends every stream with system-shutdown and
// waits for the sessions to finish (their unavailable presence goes out).
// When ctx ends first the connections are closed hard.
func (s *Server) Shutdown(ctx context.Context) error {
	for _, c := range s.conns.Close() {
		c.Close("system-shutdown", "the server is shutting down")
	}
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		for _, c := range s.conns.Conns() {
			c.raw.Close()
		}
		<-done
		return ctx.Err()
	}
}

// Connections returns the number of open client connections.
func (s *Server) Connections() int {
	return s.conns.Len()
}
