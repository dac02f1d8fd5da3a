package s2s

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/router"
	"github.com/tidings/tidings/xmpp/streamreader"
)

// link is the way our stanzas for one (local, remote) pair go: an
// outbound stream of ours, or the peer's inbound stream when it asked for
// a bidirectional one (XEP-0288; in is set, and no goroutine of ours runs
// it).
type link struct {
	s  *Server
	p  pair
	in *inConn

	mu       sync.Mutex
	state    string // connecting, ready, closed
	auth     string
	addr     string
	since    time.Time
	queue    []*elem.Element // while connecting
	w        *writer         // the stream's, once ready
	bidi     bool            // stanzas come back on the same stream
	oc       *outConn
	lastUsed time.Time
	timer    *time.Timer
	cancel   context.CancelFunc
}

var errLinkClosed = errors.New("s2s: link closed")

// Send carries a stanza to another server (router.Remote). An error makes
// the router bounce the stanza at once (with the condition a
// router.RemoteError names); later failures bounce through Router.Bounce.
func (s *Server) Send(ctx context.Context, from, to router.JID, st *elem.Element) error {
	err := s.send(from, to, st)
	if err != nil {
		s.bounced.Add(1)
	}
	return err
}

func (s *Server) send(from, to router.JID, st *elem.Element) error {
	remote := to.Domain
	switch {
	case !s.cfg.Enabled:
		return errors.New("federation is switched off on this server")
	case !s.cfg.allowed(remote):
		return fmt.Errorf("federation with %s is not allowed", remote)
	case from.Domain == "" || s.router == nil || !s.router.Hosted(from.Domain):
		return fmt.Errorf("%s is not a domain of this server", from.Domain)
	}
	p := pair{local: from.Domain, remote: remote}
	for range 3 {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return errors.New("the server is shutting down")
		}
		l := s.links[p]
		if l == nil {
			if f, ok := s.failures[p]; ok && time.Now().Before(f.retryAt) {
				s.mu.Unlock()
				return &router.RemoteError{Type: bounceType(f.cond), Condition: f.cond, Err: fmt.Errorf(
					"%s could not be reached (%s); next attempt in %s", remote, f.err, time.Until(f.retryAt).Round(time.Second))}
			}
			l = &link{s: s, p: p, state: "connecting", since: time.Now()}
			s.links[p] = l
			s.wg.Add(1)
			go l.run()
		}
		s.mu.Unlock()
		if err := l.send(st); err != errLinkClosed {
			return err
		}
	}
	return fmt.Errorf("the stream to %s keeps closing", remote)
}

func (l *link) send(st *elem.Element) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch l.state {
	case "connecting":
		if len(l.queue) >= l.s.cfg.MaxQueue {
			return &router.RemoteError{Type: "wait", Condition: "resource-constraint", // RFC 6120 §8.3.3.18
				Err: fmt.Errorf("too many stanzas waiting for the stream to %s", l.p.remote)}
		}
		l.queue = append(l.queue, st)
		return nil
	case "ready":
		if l.w.stanza(st) {
			l.lastUsed = time.Now()
			l.s.stanzasOut.Add(1)
			return nil
		}
		l.state = "closed"
		l.s.dropLink(l)
	}
	return errLinkClosed
}

func (s *Server) dropLink(l *link) {
	s.mu.Lock()
	if s.links[l.p] == l {
		delete(s.links, l.p)
	}
	s.mu.Unlock()
}

// backoff is the wait after the n-th consecutive failure: RetryMin
// doubled per failure, capped at RetryMax.
func (s *Server) backoff(n int) time.Duration {
	d := s.cfg.RetryMin
	for i := 1; i < n && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryMax)
}

// run sets the stream up, flushes the queue, then reads until the stream
// ends.
func (l *link) run() {
	s := l.s
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ConnectTimeout)
	l.mu.Lock()
	l.cancel = cancel
	l.mu.Unlock()
	oc, err := s.connect(ctx, l.p, false)
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
	cancel()
	if err != nil {
		cond := "remote-server-not-found"
		var ne net.Error
		if timedOut || (errors.As(err, &ne) && ne.Timeout()) {
			cond = "remote-server-timeout"
		}
		l.mu.Lock()
		l.state = "closed"
		q := l.queue
		l.queue = nil
		l.mu.Unlock()
		s.mu.Lock()
		if s.links[l.p] == l {
			delete(s.links, l.p)
		}
		f := s.failures[l.p]
		f.count++
		f.retryAt = time.Now().Add(s.backoff(f.count))
		f.err, f.cond = shortErr(err), cond
		s.failures[l.p] = f
		s.mu.Unlock()
		s.failed.Add(1)
		s.bounced.Add(uint64(len(q)))
		s.log.Info("s2s: outbound stream failed", "local", l.p.local, "remote", l.p.remote, "err", err,
			"bounced", len(q), "retry_in", s.backoff(f.count))
		for _, st := range q {
			s.router.Bounce(s.ctx, st, bounceType(cond), cond, "")
		}
		return
	}
	s.mu.Lock()
	delete(s.failures, l.p)
	s.mu.Unlock()
	l.mu.Lock()
	l.state, l.oc, l.w, l.auth, l.addr, l.bidi = "ready", oc, oc.w, oc.auth, oc.addr, oc.bidi
	l.since, l.lastUsed = time.Now(), time.Now()
	for _, st := range l.queue {
		if oc.w.stanza(st) {
			s.stanzasOut.Add(1)
		}
	}
	l.queue = nil
	l.timer = time.AfterFunc(s.cfg.IdleTimeout, l.idle)
	l.mu.Unlock()
	s.log.Info("s2s: outbound stream ready", "local", l.p.local, "remote", l.p.remote, "addr", oc.addr, "auth", oc.auth, "bidi", oc.bidi)

	err = oc.readLoop(l.touch)
	l.mu.Lock()
	l.state = "closed"
	l.timer.Stop()
	l.mu.Unlock()
	s.dropLink(l)
	s.log.Info("s2s: outbound stream ended", "local", l.p.local, "remote", l.p.remote, "err", err)
	var se *streamreader.Error
	if errors.As(err, &se) {
		oc.w.close(se.Condition, se.Text)
	} else {
		oc.w.close("", "")
	}
	oc.w.flush(s.cfg.WriteTimeout)
	oc.nc.Close()
}

// touch records traffic from the peer on a bidirectional stream.
func (l *link) touch() {
	l.mu.Lock()
	l.lastUsed = time.Now()
	l.mu.Unlock()
}

// idle closes a stream that carried nothing for IdleTimeout.
func (l *link) idle() {
	l.mu.Lock()
	if l.state != "ready" {
		l.mu.Unlock()
		return
	}
	if quiet := time.Since(l.lastUsed); quiet < l.s.cfg.IdleTimeout {
		l.timer.Reset(l.s.cfg.IdleTimeout - quiet)
		l.mu.Unlock()
		return
	}
	l.state = "closed"
	oc := l.oc
	l.mu.Unlock()
	l.s.dropLink(l)
	l.s.log.Debug("s2s: closing idle stream", "local", l.p.local, "remote", l.p.remote)
	oc.w.close("", "")
}

// shutdown closes the stream (or stops connecting).
func (l *link) shutdown() {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch l.state {
	case "connecting":
		if l.cancel != nil {
			l.cancel()
		}
	case "ready":
		if l.in == nil { // an inbound stream is closed with the listener's connections
			l.oc.w.close("system-shutdown", "the server is shutting down")
		}
	}
}

// abort closes the connection hard.
func (l *link) abort() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		l.cancel()
	}
	if l.oc != nil {
		l.oc.nc.Close()
	}
}

func (l *link) info() Link {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Link{Local: l.p.local, Remote: l.p.remote, Direction: "out", State: l.state, Auth: l.auth,
		Bidi: l.bidi, Addr: l.addr, Since: l.since, Queued: len(l.queue)}
}

// bounceType is the error type that goes with a condition (RFC 6120
// §8.3.3): wait for a timeout or congestion, which may pass, else cancel.
func bounceType(cond string) string {
	if cond == "remote-server-timeout" || cond == "resource-constraint" {
		return "wait"
	}
	return "cancel"
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i > 0 {
		s = s[:i]
	}
	return s
}

// outConn is one outbound connection: a federation stream, or a dialback
// verification connection.
type outConn struct {
	s        *Server
	p        pair
	nc       net.Conn
	tc       *tls.Conn
	rd       *streamreader.Reader
	w        *writer
	streamID string
	addr     string
	auth     string
	bidi     bool // we asked for a bidirectional stream (XEP-0288)
}

// authError means the peer was reached but authentication failed: no
// other address is tried.
type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }

// connect resolves p.remote and negotiates a stream with the first address
// that answers. verify: stop after TLS (a dialback verification
// connection, XEP-0220 §2.3).
func (s *Server) connect(ctx context.Context, p pair, verify bool) (*outConn, error) {
	targets, err := resolve(ctx, s.res, p.remote)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", p.remote, err)
	}
	var last error
	for _, t := range targets {
		addrs, err := s.res.LookupHost(ctx, t.host)
		if err != nil {
			last = fmt.Errorf("resolving %s: %w", t.host, err)
			continue
		}
		for _, a := range addrs {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("connecting to %s: %w", p.remote, ctx.Err())
			}
			oc, err := s.try(ctx, p, t, net.JoinHostPort(a, fmt.Sprint(t.port)), verify)
			if err == nil {
				return oc, nil
			}
			last = fmt.Errorf("%s: %w", t, err)
			var ae *authError
			if errors.As(err, &ae) {
				return nil, last
			}
		}
	}
	if last == nil {
		last = errors.New("no address")
	}
	return nil, last
}

func (s *Server) try(ctx context.Context, p pair, t target, addr string, verify bool) (*outConn, error) {
	nc, err := s.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	oc := &outConn{s: s, p: p, nc: nc, addr: addr}
	err = oc.negotiate(ctx, t.direct, verify)
	if !stop() || err != nil {
		nc.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return oc, nil
}

// negotiate runs TLS and authentication (RFC 6120 §4.3, §5, §6; XEP-0178,
// XEP-0220) on a fresh connection.
func (oc *outConn) negotiate(ctx context.Context, direct, verify bool) error {
	s, local, remote := oc.s, oc.p.local, oc.p.remote
	if direct {
		tc := tls.Client(oc.nc, s.clientTLS(local, remote, true))
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		oc.nc, oc.tc = tc, tc
	}
	oc.w = &writer{timeout: s.cfg.WriteTimeout, maxBytes: s.cfg.MaxQueueBytes, nc: oc.nc}
	oc.rd = streamreader.New(oc.nc, s.cfg.PreAuth, streamreader.WithContext(s.ctx))
	authed := false
	for range 4 { // at most: initial, after TLS, after SASL
		var b bytes.Buffer
		writeHeader(&b, local, remote, "")
		if err := oc.w.now(b.Bytes()); err != nil {
			return err
		}
		h, err := readHeader(oc.rd)
		if err != nil {
			return fmt.Errorf("reading the stream header: %w", err)
		}
		if h.ns != elem.NSServer {
			return &authError{"the peer does not speak jabber:server"}
		}
		oc.streamID = h.id
		feats, err := oc.expect(nsStream, "features")
		if err != nil {
			return err
		}
		if oc.tc == nil {
			if feats.Child(nsTLS, "starttls") == nil {
				if verify {
					return nil
				}
				return &authError{"the peer does not offer STARTTLS (dialback needs TLS)"}
			}
			if err := oc.w.now([]byte(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)); err != nil {
				return err
			}
			if _, err := oc.expect(nsTLS, "proceed"); err != nil {
				return err
			}
			tc := tls.Client(oc.nc, s.clientTLS(local, remote, false))
			if err := tc.HandshakeContext(ctx); err != nil {
				return fmt.Errorf("TLS: %w", err)
			}
			oc.nc, oc.tc = tc, tc
			oc.w.setConn(tc)
			oc.rd.Reset(tc)
			continue
		}
		if verify || authed {
			return nil
		}
		if err := oc.requestBidi(feats); err != nil {
			return err
		}
		certOK := certValid(s.roots, oc.tc.ConnectionState().PeerCertificates, remote)
		if s.cfg.RequireValidCerts && !certOK {
			return &authError{"the peer's certificate is not valid for " + remote}
		}
		if certOK && offers(feats, "EXTERNAL") {
			auth := elem.New(nsSASL, "auth", "mechanism", "EXTERNAL").Add(elem.Text(base64.StdEncoding.EncodeToString([]byte(local))))
			if err := oc.w.now(render(auth)); err != nil {
				return err
			}
			resp, err := nextElement(oc.rd, nil)
			if err != nil {
				return err
			}
			if resp.Space == nsSASL && resp.Local == "success" {
				authed, oc.auth = true, "external"
				oc.rd.Reset(oc.tc)
				continue
			}
			if s.cfg.RequireValidCerts {
				return &authError{"the peer refused SASL EXTERNAL"}
			}
		}
		if s.cfg.RequireValidCerts {
			return &authError{"the peer does not offer SASL EXTERNAL"}
		}
		return oc.dialback()
	}
	return errors.New("too many stream restarts")
}

// dialback proves our domain with db:result (XEP-0220 §2.1) and waits for
// the verdict.
func (oc *outConn) dialback() error {
	local, remote := oc.p.local, oc.p.remote
	key := dialbackKey(oc.s.secret, remote, local, oc.streamID)
	if err := oc.w.now(render(elem.New(nsDialback, "result", "from", local, "to", remote).Add(elem.Text(key)))); err != nil {
		return err
	}
	for {
		e, err := nextElement(oc.rd, nil)
		if err != nil {
			return err
		}
		if e.Space == nsStream && e.Local == "error" {
			return &authError{"stream error from the peer: " + streamErrorOf(e)}
		}
		if e.Space != nsDialback || e.Local != "result" {
			continue
		}
		switch e.Get("type") {
		case "valid":
			oc.auth = "dialback"
			return nil
		case "invalid":
			return &authError{"the peer refused our dialback (invalid)"}
		case "error": // XEP-0220 §2.4: the reason is a stanza error
			return &authError{"the peer refused our dialback: " + stanzaErrorOf(e)}
		}
	}
}

// expect reads the next element and checks its name; a stream error from
// the peer is reported as such.
func (oc *outConn) expect(space, local string) (*elem.Element, error) {
	e, err := nextElement(oc.rd, nil)
	if err == io.EOF {
		return nil, errors.New("the peer closed the stream")
	}
	if err != nil {
		return nil, err
	}
	if e.Space == nsStream && e.Local == "error" {
		return nil, &authError{"stream error from the peer: " + streamErrorOf(e)}
	}
	if e.Space != space || e.Local != local {
		return nil, fmt.Errorf("expected <%s/>, got <%s/>", local, e.Local)
	}
	return e, nil
}

func offers(feats *elem.Element, mech string) bool {
	m := feats.Child(nsSASL, "mechanisms")
	if m == nil {
		return false
	}
	for _, c := range m.Elements() {
		if c.Local == "mechanism" && strings.TrimSpace(c.Text()) == mech {
			return true
		}
	}
	return false
}

// readLoop reads the ready stream until it ends. On a bidirectional
// stream (XEP-0288) the peer sends stanzas from its domain to ours here,
// and touch is called for each, and may ask us to verify dialback keys;
// otherwise nothing but whitespace, a stream error or the closing tag is
// expected.
func (oc *outConn) readLoop(touch func()) error {
	oc.rd.SetLimits(oc.s.cfg.Limits)
	back := pair{local: oc.p.local, remote: oc.p.remote} // the pair proved when the stream was set up
	for {
		e, err := nextElement(oc.rd, nil)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		switch {
		case e.Space == nsStream && e.Local == "error":
			return errors.New("stream error from the peer: " + streamErrorOf(e))
		case isStanza(e) && !oc.bidi:
			return streamErr("unsupported-stanza-type", "stanzas on this stream need XEP-0288 bidi, which was not negotiated")
		case isStanza(e):
			if err := oc.s.acceptStanza(e, func(p pair) bool { return p == back }); err != nil {
				return err
			}
			touch()
		case oc.bidi && e.Space == nsDialback && e.Local == "verify" && e.Get("type") == "":
			// The peer asks us, as authoritative server, on the stream it
			// may now use both ways (XEP-0288 §3, XEP-0220 §2.3).
			oc.w.enqueue(render(oc.s.verifyAnswer(e)), false)
		default:
			oc.s.log.Debug("s2s: ignored element on an outbound stream", "local", oc.p.local, "remote", oc.p.remote, "element", e.Local)
		}
	}
}

// verifyDialback asks the authoritative server of originating whether key
// is valid for (receiving, originating, streamID) (XEP-0220 §2.3) over a
// dedicated connection.
func (s *Server) verifyDialback(ctx context.Context, receiving, originating, streamID, key string) (bool, error) {
	oc, err := s.connect(ctx, pair{local: receiving, remote: originating}, true)
	if err != nil {
		return false, err
	}
	defer oc.nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		oc.nc.SetDeadline(dl)
	}
	v := elem.New(nsDialback, "verify", "from", receiving, "to", originating, "id", streamID).Add(elem.Text(key))
	if err := oc.w.now(render(v)); err != nil {
		return false, err
	}
	for {
		e, err := nextElement(oc.rd, nil)
		if err != nil {
			return false, err
		}
		if e.Space == nsStream && e.Local == "error" {
			return false, errors.New("stream error from the authoritative server: " + streamErrorOf(e))
		}
		if e.Space == nsDialback && e.Local == "verify" && e.Get("id") == streamID {
			oc.w.now([]byte("</stream:stream>"))
			return e.Get("type") == "valid", nil
		}
	}
}
