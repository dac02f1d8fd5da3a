package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/xmpp/router"
)

// Admin listener limits: it answers probes and scrapes, nothing slow.
const (
	adminReadHeaderTimeout = 5 * time.Second
	adminWriteTimeout      = 30 * time.Second
	adminIdleTimeout       = 2 * time.Minute
	healthTimeout          = 3 * time.Second
)

// adminServer serves /healthz and /metrics for operators and monitoring.
type adminServer struct {
	*http.Server
	mux  *http.ServeMux
	done chan struct{}
	addr string // the bound address; "" when listen.admin is off
}

func (s *server) startAdmin(ctx context.Context) error {
	if s.cfg.Listen.Admin == "" {
		s.admin = &adminServer{Server: &http.Server{}, done: closedChan()}
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Listen.Admin)
	if err != nil {
		return fmt.Errorf("listen.admin: %w", err)
	}
	s.admin = newAdminServer(s.db, s.reg, s.log)
	s.admin.handleSessions(s.router)
	s.admin.handleS2S(s.s2s)
	s.admin.addr = ln.Addr().String()
	go func() {
		defer close(s.admin.done)
		if err := s.admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin listener failed", "err", err)
		}
	}()
	s.log.Info("listening", "service", "admin", "addr", ln.Addr().String())
	return nil
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

func newAdminServer(db *migrations.DB, reg *prometheus.Registry, log *slog.Logger) *adminServer {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := db.Ping(ctx); err != nil {
			log.Warn("health check failed", "err", err)
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	return &adminServer{
		mux: mux,
		Server: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: adminReadHeaderTimeout,
			WriteTimeout:      adminWriteTimeout,
			IdleTimeout:       adminIdleTimeout,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		done: make(chan struct{}),
	}
}

// handleSessions serves GET /xmpp/sessions: the bound XMPP sessions as
// JSON, for 'tidings xmpp sessions'. The admin listener is for operators
// only (loopback or a private network), like /metrics.
func (a *adminServer) handleSessions(r *router.Router) {
	if r == nil {
		return
	}
	a.mux.HandleFunc("GET /xmpp/sessions", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(nonNil(r.Sessions()))
	})
}

// Shutdown stops accepting, lets requests finish until ctx ends, then waits
// for the serving goroutine.
func (a *adminServer) Shutdown(ctx context.Context) error {
	err := a.Server.Shutdown(ctx)
	<-a.done
	return err
}
