package s2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidings/tidings/xmpp/internal/connset"
	"github.com/tidings/tidings/xmpp/router"
)

// Options are what a Server needs besides its Config.
type Options struct {
	// TLS holds our certificate: served on inbound streams and presented as
	// the client certificate on outbound ones. Required.
	TLS *tls.Config
	// Router delivers verified inbound stanzas and receives bounces.
	Router *router.Router
	// Secret is the persistent dialback secret (LoadSecret).
	Secret []byte
	// Resolver finds peers; nil: net.DefaultResolver.
	Resolver Resolver
	// Dialer connects to peers; nil: a net.Dialer.
	Dialer *net.Dialer
	Log    *slog.Logger
}

// Server is the federation service: the outbound pool (router.Remote) and
// the inbound listeners.
type Server struct {
	cfg    Config
	srvTLS *tls.Config // inbound: asks for a client certificate, ALPN xmpp-server
	ours   *tls.Config // source of our certificate
	roots  *x509.CertPool
	router *router.Router
	secret []byte
	res    Resolver
	dialer *net.Dialer
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	closed   bool
	links    map[pair]*link
	failures map[pair]failure
	wg       sync.WaitGroup // outbound links

	in connset.Set[*inConn] // inbound listeners and connections

	stanzasIn, stanzasOut, bounced, failed atomic.Uint64 // Stats
}

// pair is (local domain, remote domain).
type pair struct{ local, remote string }

type failure struct {
	count   int
	retryAt time.Time
	err     string
	cond    string // what stanzas bounce with until retryAt
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("s2s: server closed")

// New returns a federation server.
func New(cfg Config, o Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.TLS == nil {
		return nil, errors.New("s2s: a TLS configuration is required (dialback only runs over TLS)")
	}
	if len(o.Secret) < 16 {
		return nil, errors.New("s2s: the dialback secret is missing")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{Timeout: 10 * time.Second}
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("s2s: ca_file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("s2s: ca_file %s: no PEM certificates", cfg.CAFile)
		}
	}
	s := &Server{cfg: cfg, ours: o.TLS, roots: roots, router: o.Router, secret: o.Secret, res: o.Resolver,
		dialer: o.Dialer, log: o.Log.With("proto", "xmpp-s2s"),
		links: map[pair]*link{}, failures: map[pair]failure{}}
	s.srvTLS = o.TLS.Clone()
	s.srvTLS.NextProtos = []string{"xmpp-server"}
	s.srvTLS.ClientAuth = tls.RequestClientCert // verified by us, for EXTERNAL
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// clientTLS is the configuration of an outbound stream to domain. The
// peer's certificate is checked by us after the handshake (certValid), so
// a self-signed peer can still be reached with dialback.
func (s *Server) clientTLS(local, remote string, direct bool) *tls.Config {
	c := &tls.Config{ServerName: remote, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.ourCert(local), nil
		}}
	if direct {
		c.NextProtos = []string{"xmpp-server"}
	}
	return c
}

func (s *Server) ourCert(local string) *tls.Certificate {
	if s.ours.GetCertificate != nil {
		if c, err := s.ours.GetCertificate(&tls.ClientHelloInfo{ServerName: local}); err == nil && c != nil {
			return c
		}
	}
	if len(s.ours.Certificates) > 0 {
		return &s.ours.Certificates[0]
	}
	return &tls.Certificate{}
}

// allowed applies the federation switch and the allow/block lists.
func (s *Server) allowed(remote string) bool { return s.cfg.Enabled && s.cfg.allowed(remote) }

// Link is one federation link, for operators.
type Link struct {
	Local     string    `json:"local"`
	Remote    string    `json:"remote"`
	Direction string    `json:"direction"` // "out" or "in"
	State     string    `json:"state"`     // connecting, ready, verifying
	Auth      string    `json:"auth"`      // "external", "dialback" or ""
	Bidi      bool      `json:"bidi"`      // stanzas go both ways on this stream (XEP-0288)
	Addr      string    `json:"addr"`      // the peer's address
	Since     time.Time `json:"since"`
	Queued    int       `json:"queued,omitempty"`
}

// Links lists the live links, outbound and inbound.
func (s *Server) Links() []Link {
	s.mu.Lock()
	links := make([]*link, 0, len(s.links))
	for _, l := range s.links {
		links = append(links, l)
	}
	s.mu.Unlock()
	conns := s.in.Conns()
	var out []Link
	for _, l := range links {
		if l.in == nil { // an inbound stream lists itself
			out = append(out, l.info())
		}
	}
	for _, c := range conns {
		out = append(out, c.info()...)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Remote != b.Remote {
			return a.Remote < b.Remote
		}
		if a.Local != b.Local {
			return a.Local < b.Local
		}
		return a.Direction > b.Direction
	})
	return out
}

// Stats are the federation counters since the server started.
type Stats struct {
	StanzasIn  uint64 // accepted from peers and routed
	StanzasOut uint64 // queued to peers' streams
	Bounced    uint64 // stanzas returned to their senders with an error
	Failed     uint64 // outbound streams that could not be set up
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{StanzasIn: s.stanzasIn.Load(), StanzasOut: s.stanzasOut.Load(), Bounced: s.bounced.Load(), Failed: s.failed.Load()}
}

// Shutdown stops accepting, closes every stream with system-shutdown
// (bouncing queued stanzas) and waits for the connections to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	links := make([]*link, 0, len(s.links))
	for _, l := range s.links {
		links = append(links, l)
	}
	s.mu.Unlock()
	conns := s.in.Close()
	for _, l := range links {
		l.shutdown()
	}
	for _, c := range conns {
		c.w.close("system-shutdown", "the server is shutting down")
	}
	done := make(chan struct{})
	go func() { s.in.Wait(); s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		for _, c := range s.in.Conns() {
			c.nc.Close()
		}
		for _, l := range links { // outside s.mu: link locks come first
			l.abort()
		}
		<-done
		return ctx.Err()
	}
}

// Serve accepts inbound server connections on ln until Shutdown; with
// directTLS they start with TLS (XEP-0368).
func (s *Server) Serve(ln net.Listener, directTLS bool) error {
	return s.in.Serve(ln, ErrServerClosed,
		func(nc net.Conn) *inConn { return newInConn(s, nc, directTLS) },
		func(c *inConn) { c.serve() })
}
