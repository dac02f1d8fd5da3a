package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/router"
	"github.com/tidings/tidings/xmpp/s2s"
)

func init() {
	register("xmpp s2s", command{summary: "list the XMPP federation links of the running server (asks listen.admin)", run: xmppS2S})
}

// S2SConfig is the [xmpp.s2s] section: federation (listen.xmpp_server,
// listen.xmpp_server_tls).
type S2SConfig = s2s.Config

// remoteSwitch is the router's Remote: set before the client listeners
// start (startXMPP) and pointed at the federation server once it runs, so
// the router's field is never written while sessions route.
type remoteSwitch struct{ p atomic.Pointer[s2s.Server] }

func (r *remoteSwitch) Send(ctx context.Context, from, to router.JID, st *elem.Element) error {
	if srv := r.p.Load(); srv != nil {
		return srv.Send(ctx, from, to, st)
	}
	return errors.New("federation is not available on this server")
}

// startS2S starts federation: the dialback secret, the outbound pool and
// the inbound listeners.
func (s *server) startS2S(ctx context.Context) error {
	cfg := s.cfg.XMPP.S2S
	if !cfg.Enabled {
		s.log.Info("XMPP federation is off (xmpp.s2s.enabled)")
		return nil
	}
	secret, err := s2s.LoadSecret(ctx, s.db)
	if err != nil {
		return fmt.Errorf("dialback secret: %w", err)
	}
	srv, err := s2s.New(cfg, s2s.Options{TLS: s.tls, Router: s.router, Secret: secret, Resolver: s.cfg.resolver(), Log: s.log})
	if err != nil {
		return err
	}
	for _, l := range []struct {
		key, addr string
		direct    bool
	}{{"xmpp_server", s.cfg.Listen.XMPPServer, false}, {"xmpp_server_tls", s.cfg.Listen.XMPPServerTLS, true}} {
		if err := s.serveOn(l.key, l.addr, func(ln net.Listener) error { return srv.Serve(ln, l.direct) }, s2s.ErrServerClosed); err != nil {
			srv.Shutdown(ctx)
			return err
		}
	}
	s.s2s = srv
	s.remote.p.Store(srv)
	s.reg.MustRegister(s2sCollector{srv})
	return nil
}

func (s *server) stopS2S(ctx context.Context) error {
	if s.s2s == nil {
		return nil
	}
	s.remote.p.Store(nil)
	return s.s2s.Shutdown(ctx)
}

// handleS2S serves GET /xmpp/s2s: the live federation links as JSON, for
// 'tidings xmpp s2s'.
func (a *adminServer) handleS2S(srv *s2s.Server) {
	a.mux.HandleFunc("GET /xmpp/s2s", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		var links []s2s.Link
		if srv != nil {
			links = srv.Links()
		}
		json.NewEncoder(w).Encode(nonNil(links))
	})
}

// xmppS2S lists the federation links: they live in the server's memory.
func xmppS2S(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "xmpp s2s", "").withJSON()
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	var links []s2s.Link
	if err := adminGet(ctx, e, f.config, "/xmpp/s2s", &links); err != nil {
		return err
	}
	if f.json {
		return printJSON(e.stdout, nonNil(links))
	}
	rows := make([][]string, len(links))
	for i, l := range links {
		auth := l.Auth
		if auth == "" {
			auth = "-"
		}
		dir := l.Direction
		if l.Bidi {
			dir += "+bidi" // XEP-0288: stanzas go both ways on this stream
		}
		rows[i] = []string{l.Local, l.Remote, dir, l.State, auth, l.Addr, l.Since.Local().Format(time.DateTime)}
	}
	return table(e.stdout, []string{"LOCAL", "REMOTE", "DIR", "STATE", "AUTH", "ADDR", "SINCE"}, rows)
}
