package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/filters/managesieve"
	"github.com/tidings/tidings/mail/delivery"
	"github.com/tidings/tidings/mail/dkim"
	"github.com/tidings/tidings/mail/imapd"
	"github.com/tidings/tidings/mail/queue"
	"github.com/tidings/tidings/mail/smtpd"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/mail/verify"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/xmpp/c2s"
	"github.com/tidings/tidings/xmpp/router"
	"github.com/tidings/tidings/xmpp/s2s"
	xstorage "github.com/tidings/tidings/xmpp/storage"
)

func init() {
	register("serve", command{summary: "run Tidings (first start: sets up the data directory and an admin account)", run: serveCmd})
}

// shutdownTimeout bounds a graceful stop; then connections are cut.
const shutdownTimeout = 30 * time.Second

func serveCmd(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "serve", "")
	domain := f.String("domain", "", "first domain to create on first start (default: the machine's FQDN)")
	logFormat := f.String("log-format", "", "override log.format: text or json")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	cfg, path, err := loadConfig(f.config, e.environ)
	if err != nil {
		return err
	}
	if *logFormat != "" {
		if *logFormat != "text" && *logFormat != "json" {
			return usagef("--log-format: want text or json")
		}
		cfg.Log.Format = *logFormat
	}
	log := newLogger(e.stderr, cfg.Log)
	log.Info("starting tidings", "version", version, "config", orNone(path), "hostname", cfg.Hostname, "data_dir", cfg.DataDir)
	srv := &server{cfg: cfg, log: log, out: e.stdout, firstDomain: *domain}
	return srv.run(ctx)
}

func newLogger(w io.Writer, c LogConfig) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// server holds the running subsystems of `tidings serve`.
type server struct {
	cfg         Config
	log         *slog.Logger
	out         io.Writer // where the first admin password is printed
	firstDomain string

	reg       *prometheus.Registry
	db        *migrations.DB
	accounts  *accounts.Store
	stopWatch func()
	tls       *tls.Config
	store     *store.Store
	deliver   *delivery.Deliverer
	dkim      *dkim.Keys
	queue     *queue.Queue
	stopQueue func()
	smtp      *smtpd.Server
	imap      *imapd.Server
	router    *router.Router
	// liveRouter is router for goroutines that run while XMPP starts
	// (filter notifications).
	liveRouter  atomic.Pointer[router.Router]
	filter      *filters.Filter
	sieve       *managesieve.Server
	stopFilters func()
	c2s         *c2s.Server
	stopXMPP    func()
	s2s         *s2s.Server
	remote      remoteSwitch // the router's Remote (s2s.go)
	admin       *adminServer
	listeners   listenerSet // what serveOn opened, for the console's switches
	web         *webServer
}

// subsystem is one part of the server: started in order, stopped in reverse.
type subsystem struct {
	name  string
	start func(ctx context.Context) error
	stop  func(ctx context.Context) error // may be nil
}

// subsystems lists the start order. Protocol servers join this list.
func (s *server) subsystems() []subsystem {
	return []subsystem{
		{"database", s.startDatabase, func(context.Context) error { return s.db.Close() }},
		{"accounts", s.startAccounts, func(context.Context) error { s.stopWatch(); return nil }},
		{"tls", s.startTLS, nil},
		{"store", s.startStore, func(context.Context) error { s.store.Close(); return nil }},
		{"filters", s.startFilters, func(context.Context) error { s.stopFilters(); return nil }},
		{"queue", s.startQueue, func(context.Context) error { s.stopQueue(); return nil }},
		{"smtp", s.startSMTP, func(ctx context.Context) error { return s.smtp.Shutdown(ctx) }},
		{"imap", s.startIMAP, func(ctx context.Context) error { return s.imap.Shutdown(ctx) }},
		{"managesieve", s.startManageSieve, func(ctx context.Context) error { return s.sieve.Shutdown(ctx) }},
		{"xmpp", s.startXMPP, func(ctx context.Context) error { defer s.stopXMPP(); return s.c2s.Shutdown(ctx) }},
		{"s2s", s.startS2S, s.stopS2S},
		{"webmail", s.startWebmail, s.stopWebmail},
		{"admin", s.startAdmin, func(ctx context.Context) error { return s.admin.Shutdown(ctx) }},
	}
}

// run starts every subsystem, waits for ctx (SIGINT/SIGTERM), then stops
// them in reverse order within shutdownTimeout.
func (s *server) run(ctx context.Context) error {
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo())
	var started []subsystem
	stopAll := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		var errs []error
		for i := len(started) - 1; i >= 0; i-- {
			if sub := started[i]; sub.stop != nil {
				if err := sub.stop(sctx); err != nil {
					errs = append(errs, fmt.Errorf("stop %s: %w", sub.name, err))
				}
				s.log.Debug("stopped", "subsystem", sub.name)
			}
		}
		return errors.Join(errs...)
	}
	for _, sub := range s.subsystems() {
		if err := sub.start(ctx); err != nil {
			s.log.Error("start failed", "subsystem", sub.name, "err", err)
			return errors.Join(fmt.Errorf("start %s: %w", sub.name, err), stopAll())
		}
		started = append(started, sub)
		s.log.Debug("started", "subsystem", sub.name)
	}
	s.logUnbuilt()
	if s.admin.addr != "" {
		s.log.Info("tidings is running", "admin", "http://"+s.admin.addr)
	} else {
		s.log.Info("tidings is running")
	}
	<-ctx.Done()
	s.log.Info("shutting down")
	err := stopAll()
	s.log.Info("stopped")
	return err
}

// logUnbuilt says once which configured listeners this build cannot serve
// yet, so nobody wonders why a port is closed.
func (s *server) logUnbuilt() {
	var names []string
	s.cfg.Listen.each(func(key, addr string) {
		if addr != "" && !builtListeners[key] {
			names = append(names, key)
		}
	})
	if len(names) > 0 {
		s.log.Info("listeners this build does not serve yet", "listen", strings.Join(names, ","))
	}
}

func buildInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tidings_build_info", Help: "Version of the running binary."}, []string{"version"})
	g.WithLabelValues(version).Set(1)
	return g
}

func (s *server) startDatabase(ctx context.Context) error {
	db, err := openDatabase(ctx, s.cfg)
	if err != nil {
		return err
	}
	s.db = db
	v, _ := db.Version(ctx)
	s.log.Info("database ready", "driver", db.Dialect(), "database", db.String(), "schema", v)
	return nil
}

func (s *server) startAccounts(ctx context.Context) error {
	st, err := accounts.New(s.db, s.cfg.Accounts, s.log, s.reg)
	if err != nil {
		return err
	}
	s.accounts = st
	if err := s.bootstrap(ctx); err != nil {
		return err
	}
	s.stopWatch, err = st.Watch(context.WithoutCancel(ctx))
	return err
}

// bootstrap makes a first start usable: the configured domains exist, there
// is at least one domain, and a brand-new installation gets an administrator
// whose random password is printed once.
func (s *server) bootstrap(ctx context.Context) error {
	users, err := s.accounts.CountUsers(ctx)
	if err != nil {
		return err
	}
	firstStart := users == 0
	for _, d := range s.cfg.Domains {
		if _, err := s.accounts.AddDomain(ctx, d, accounts.DomainSettings{}); err != nil && !errors.Is(err, accounts.ErrExists) {
			return fmt.Errorf("domains: %w", err)
		}
	}
	// The admin lives in the domain asked for first: --domain, else the
	// first configured domain, else the only one there is.
	adminDomain := ""
	switch {
	case s.firstDomain != "" && !firstStart:
		s.log.Info("--domain ignored: this is not a first start (use 'tidings domain add')", "domain", s.firstDomain)
	case s.firstDomain != "":
		d, err := s.accounts.AddDomain(ctx, s.firstDomain, accounts.DomainSettings{})
		if err != nil && !errors.Is(err, accounts.ErrExists) {
			return fmt.Errorf("first domain (set it with --domain): %w", err)
		}
		adminDomain = d.Name
		if adminDomain == "" { // it existed
			adminDomain, _ = accounts.NormalizeDomain(s.firstDomain)
		}
	case len(s.cfg.Domains) > 0:
		adminDomain, _ = accounts.NormalizeDomain(s.cfg.Domains[0])
	}
	ds, err := s.accounts.Domains(ctx)
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		d, err := s.accounts.AddDomain(ctx, machineFQDN(), accounts.DomainSettings{})
		if err != nil {
			return fmt.Errorf("first domain (set it with --domain): %w", err)
		}
		ds = append(ds, d)
	}
	if !firstStart {
		return nil
	}
	return s.createFirstAdmin(ctx, cmp.Or(adminDomain, ds[0].Name))
}

func (s *server) createFirstAdmin(ctx context.Context, domain string) error {
	addr := "admin@" + domain
	password := rand.Text()
	if _, err := s.accounts.AddUser(ctx, accounts.NewUser{Address: addr, Password: password,
		DisplayName: "Administrator", Admin: true}); err != nil {
		return fmt.Errorf("first admin account: %w", err)
	}
	// RFC 5321 §4.5.1 requires postmaster; RFC 2142 asks for abuse.
	for _, role := range []string{"postmaster", "abuse"} {
		if _, err := s.accounts.AddAlias(ctx, role+"@"+domain, addr); err != nil {
			return err
		}
	}
	fmt.Fprintf(s.out, `
================================================================
 Tidings is set up. The first administrator account:

   address (and Jabber ID):  %s
   password:                 %s

 This password is shown only this once. Change it in the webmail
 (Settings) or with
   tidings user passwd %s
 postmaster@ and abuse@%s deliver to this account.
%s================================================================

`, addr, password, addr, domain, s.webmailHint())
	return nil
}

func (s *server) startStore(ctx context.Context) error {
	st, err := store.New(s.db, s.cfg.DataDir, s.log)
	if err != nil {
		return err
	}
	s.store = st
	if _, err := st.SweepOrphans(ctx); err != nil {
		return err
	}
	n, err := st.FillSearchForms(ctx) // once, after migration 0009
	if n > 0 {
		s.log.Info("wrote the search forms of older messages", "messages", n)
	}
	return err
}

// startQueue builds local delivery and the outbound queue and starts the
// queue's workers.
func (s *server) startQueue(ctx context.Context) error {
	if err := s.startDKIM(ctx); err != nil {
		return err
	}
	s.deliver = &delivery.Deliverer{Store: s.store, Signer: s.dkim, Filter: s.filter, MessageURL: s.messageURL,
		MaxSize: int64(s.cfg.SMTP.MaxMessageSize) + receivedSlack, Log: s.log}
	q, err := queue.New(s.cfg.Queue, queue.Deps{DB: s.db, Hostname: s.cfg.Hostname, Local: localDSN{s},
		IsLocal: s.isLocalDomain, Resolver: s.cfg.resolver(), Log: s.log})
	if err != nil {
		return err
	}
	s.deliver.Queue, s.queue = q, q
	s.stopQueue, err = q.Start(context.WithoutCancel(ctx))
	return err
}

// startDKIM makes sure every domain has its signing keys, now and when
// domains are added later (seen through the account change feed).
func (s *server) startDKIM(ctx context.Context) error {
	s.dkim = dkim.New(s.db)
	ds, err := s.accounts.Domains(ctx)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if err := s.dkim.EnsureKeys(ctx, d.Name); err != nil {
			return err
		}
	}
	s.accounts.Subscribe(func(ev accounts.Event) {
		if ev.Kind != accounts.EventDomainChanged {
			return
		}
		go func() { // RSA key generation takes a moment; never block the feed
			if _, err := s.accounts.Domain(context.Background(), ev.Domain); err != nil {
				return // deleted
			}
			if err := s.dkim.EnsureKeys(context.Background(), ev.Domain); err != nil {
				s.log.Error("creating DKIM keys", "domain", ev.Domain, "err", err)
			}
		}()
	})
	return nil
}

func (s *server) isLocalDomain(ctx context.Context, domain string) bool {
	d, err := s.accounts.Domain(ctx, domain)
	return err == nil && d.MailEnabled
}

// localDSN delivers what the queue holds for local recipients: bounces to
// local senders, filter redirects and vacation replies.
type localDSN struct{ s *server }

func (l localDSN) DeliverLocal(ctx context.Context, sender, to string, msg []byte) error {
	u, err := l.s.accounts.Resolve(ctx, to)
	if errors.Is(err, accounts.ErrNotFound) || err == nil && u.Disabled {
		return fmt.Errorf("%w: no such user %s", queue.ErrPermanent, to)
	}
	if err != nil {
		return err
	}
	return l.s.deliver.Deliver(ctx, delivery.Envelope{From: sender, Recipients: []accounts.User{u}, RcptTo: []string{to}}, bytes.NewReader(msg))
}

// receivedSlack is what delivery adds to a message (Received, Return-Path)
// beyond the size the client was allowed to send.
const receivedSlack = 4096

func (s *server) startSMTP(ctx context.Context) error {
	srv, err := smtpd.New(s.cfg.SMTP, smtpd.Deps{Hostname: s.cfg.Hostname, TLS: s.tls, Accounts: s.accounts, Deliverer: s.deliver,
		Verifier: &verify.Verifier{Hostname: s.cfg.Hostname, Resolver: s.cfg.resolver()}, Log: s.log})
	if err != nil {
		return err
	}
	s.smtp = srv
	for _, l := range []struct {
		key, addr string
		mode      smtpd.Mode
	}{
		{"smtp", s.cfg.Listen.SMTP, smtpd.MX},
		{"submission", s.cfg.Listen.Submission, smtpd.Submission},
		{"submissions", s.cfg.Listen.Submissions, smtpd.Submissions},
	} {
		if err := s.serveOn(l.key, l.addr, func(ln net.Listener) error { return srv.Serve(ln, l.mode) }, smtpd.ErrServerClosed); err != nil {
			srv.Close()
			return err
		}
	}
	return nil
}

func (s *server) startIMAP(ctx context.Context) error {
	srv, err := imapd.New(s.cfg.IMAP, imapd.Deps{TLS: s.tls, Accounts: s.accounts, Store: s.store, Log: s.log, Version: version})
	if err != nil {
		return err
	}
	s.imap = srv
	for _, l := range []struct {
		key, addr string
		mode      imapd.Mode
	}{{"imap", s.cfg.Listen.IMAP, imapd.IMAP}, {"imaps", s.cfg.Listen.IMAPS, imapd.IMAPS}} {
		if err := s.serveOn(l.key, l.addr, func(ln net.Listener) error { return srv.Serve(ln, l.mode) }, imapd.ErrServerClosed); err != nil {
			srv.Close()
			return err
		}
	}
	return nil
}

// startXMPP starts the router and the client listeners.
func (s *server) startXMPP(ctx context.Context) error {
	router.Version = version
	st := xstorage.New(s.db, s.cfg.XMPP.StorageConfig())
	r := router.New(s.cfg.XMPP.Config, s.accounts, st, s.log)
	r.Remote = &s.remote
	if err := r.Refresh(ctx); err != nil {
		return err
	}
	srv, err := c2s.New(s.cfg.XMPP.C2S, s.tls, s.accounts, r, s.log)
	if err != nil {
		return err
	}
	s.router, s.c2s = r, srv
	s.liveRouter.Store(r)
	s.stopXMPP = s.accounts.Subscribe(r.AccountEvent)
	s.reg.MustRegister(xmppCollector{r})
	for _, l := range []struct {
		key, addr string
		direct    bool
	}{{"xmpp_client", s.cfg.Listen.XMPPClient, false}, {"xmpp_client_tls", s.cfg.Listen.XMPPClientTLS, true}} {
		if err := s.serveOn(l.key, l.addr, func(ln net.Listener) error { return srv.Serve(ln, l.direct) }, c2s.ErrServerClosed); err != nil {
			srv.Shutdown(ctx)
			s.stopXMPP()
			return err
		}
	}
	return nil
}

// listen opens a TCP listener for listen.<key>, explaining the usual
// failure on privileged ports.
func listen(key, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, os.ErrPermission) {
		return nil, fmt.Errorf("listen.%s %s: %w (ports below 1024 need root or CAP_NET_BIND_SERVICE; or choose another port)", key, addr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("listen.%s %s: %w", key, addr, err)
	}
	return ln, nil
}
