package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/mail/delivery"
	"github.com/tidings/tidings/webmail"
	"github.com/tidings/tidings/webmail/web"
)

// webServer is the webmail on listen.https and the redirect on listen.http.
type webServer struct {
	https, http *http.Server
	stop        func() // the App's housekeeping
}

// Timeouts of the webmail's HTTP servers. Writes get no fixed timeout: the
// live-update stream (server-sent events) extends its deadline per event,
// and downloads of large attachments take what they take; idle and header
// reads are bounded.
const (
	webReadHeaderTimeout = 10 * time.Second
	webReadTimeout       = 5 * time.Minute // a large compose upload
	webIdleTimeout       = 2 * time.Minute
	webMaxHeaderBytes    = 64 << 10
)

// startWebmail serves the webmail and admin console on listen.https and
// redirects listen.http to it. With webmail.acme, certificates come from the
// ACME CA for the hostname and the mail domains' webmail names.
func (s *server) startWebmail(ctx context.Context) error {
	cfg := s.cfg.Webmail
	if s.cfg.Listen.HTTPS == "" {
		if s.cfg.Listen.HTTP != "" {
			s.log.Warn("listen.http is set but listen.https is not: the webmail is off")
		}
		return nil
	}
	app, err := webmail.New(cfg, web.Deps{DB: s.db, Accounts: s.accounts, Store: s.store, Scripts: s.filter.Scripts(),
		Filter: s.filter, Submitter: webSubmitter{s}, Services: webServices{s}, Queue: webQueue{s}, Stats: webStats{s},
		DNS: webDNS{s}, Hostname: s.cfg.Hostname, Log: s.log, MaxMessageSize: int64(s.cfg.SMTP.MaxMessageSize)})
	if err != nil {
		return err
	}
	tlsCfg := s.tls.Clone()
	var redirect http.Handler = http.HandlerFunc(s.redirectToHTTPS)
	if cfg.ACME {
		m := &autocert.Manager{Prompt: autocert.AcceptTOS, Email: cfg.ACMEEmail,
			Cache: autocert.DirCache(filepath.Join(s.cfg.DataDir, "acme")), HostPolicy: s.acmeHostPolicy}
		if cfg.ACMEDirectory != "" {
			m.Client = &acme.Client{DirectoryURL: cfg.ACMEDirectory}
		}
		tlsCfg = m.TLSConfig()
		redirect = m.HTTPHandler(redirect) // answers HTTP-01 challenges, redirects the rest
	} else {
		tlsCfg.NextProtos = []string{"h2", "http/1.1"}
	}
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug) // TLS handshake noise from scanners
	w := &webServer{
		https: &http.Server{Handler: app, TLSConfig: tlsCfg, ReadHeaderTimeout: webReadHeaderTimeout, ReadTimeout: webReadTimeout,
			IdleTimeout: webIdleTimeout, MaxHeaderBytes: webMaxHeaderBytes, ErrorLog: errLog},
		http: &http.Server{Handler: redirect, ReadHeaderTimeout: webReadHeaderTimeout, ReadTimeout: 30 * time.Second,
			IdleTimeout: webIdleTimeout, MaxHeaderBytes: webMaxHeaderBytes, ErrorLog: errLog},
	}
	if err := s.serveOn("https", s.cfg.Listen.HTTPS, func(ln net.Listener) error {
		return w.https.Serve(tls.NewListener(ln, tlsCfg))
	}, http.ErrServerClosed); err != nil {
		return err
	}
	if err := s.serveOn("http", s.cfg.Listen.HTTP, w.http.Serve, http.ErrServerClosed); err != nil {
		w.https.Close()
		return err
	}
	w.stop = app.Start(context.Background())
	s.web = w
	return nil
}

func (s *server) stopWebmail(ctx context.Context) error {
	if s.web == nil {
		return nil
	}
	// Server-sent event streams never end by themselves: give the others
	// a moment, then close what is left.
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := s.web.https.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.web.https.Close()
	}
	s.web.http.Close()
	s.web.stop()
	return err
}

// redirectToHTTPS sends plain-HTTP requests to the same path over HTTPS.
func (s *server) redirectToHTTPS(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if _, err := netip.ParseAddr(host); err != nil {
		if _, err := accounts.NormalizeDomain(host); err != nil {
			host = s.cfg.Hostname
		}
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if _, port, err := net.SplitHostPort(s.httpsAddr()); err == nil && port != "443" {
		host = net.JoinHostPort(host, port)
	}
	w.Header().Set("Connection", "close")
	http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
}

// webmailHint is the first-start banner's line about the webmail.
func (s *server) webmailHint() string {
	if s.cfg.Listen.HTTPS == "" {
		return ""
	}
	u := "https://" + s.cfg.Hostname
	if _, port, err := net.SplitHostPort(s.cfg.Listen.HTTPS); err == nil && port != "443" && port != "0" {
		u += ":" + port
	}
	return "\n Sign in to the webmail and admin console at " + u + "/\n"
}

// httpsAddr is the address listen.https is bound to.
func (s *server) httpsAddr() string {
	s.listeners.mu.Lock()
	defer s.listeners.mu.Unlock()
	if sw, ok := s.listeners.m["https"]; ok {
		return sw.bound
	}
	return s.cfg.Listen.HTTPS
}

// acmeHostPolicy allows certificates for the hostname and for
// "mail.<domain>" and "<domain>" of every domain we serve, nothing else (so
// a stranger's SNI cannot make us ask the CA for arbitrary names).
func (s *server) acmeHostPolicy(ctx context.Context, host string) error {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == s.cfg.Hostname {
		return nil
	}
	d := strings.TrimPrefix(host, "mail.")
	if _, err := s.accounts.Domain(ctx, d); err == nil {
		return nil
	}
	return fmt.Errorf("acme: %q is not a name this server serves", host)
}

// webSubmitter sends mail composed in the webmail like submission does:
// local recipients through delivery (Sieve included), others into the
// outbound queue (DKIM-signed), in one transaction, after which the mail is
// durable. The webmail sets From to the user's own address itself.
type webSubmitter struct{ s *server }

func (w webSubmitter) Submit(ctx context.Context, from accounts.User, rcpts []string, msg []byte) error {
	s := w.s
	if max := int64(s.cfg.SMTP.MaxMessageSize); max > 0 && int64(len(msg)) > max {
		return fmt.Errorf("the message is %s, more than the %s allowed", web.FormatBytes(int64(len(msg))), web.FormatBytes(max))
	}
	if max := s.cfg.SMTP.MaxRecipients; max > 0 && len(rcpts) > max {
		return fmt.Errorf("too many recipients: at most %d", max)
	}
	env := delivery.Envelope{From: from.Address}
	for _, to := range rcpts {
		u, local, err := delivery.ResolveRecipient(ctx, s.accounts, to)
		switch {
		case errors.Is(err, delivery.ErrBadAddress):
			return fmt.Errorf("%q is not a mail address", to)
		case errors.Is(err, delivery.ErrNoRecipient):
			return fmt.Errorf("there is no mailbox %s", to)
		case err != nil:
			return err
		case !local:
			if _, err := accounts.NormalizeDomain(to[strings.LastIndexByte(to, '@')+1:]); err != nil {
				return fmt.Errorf("%q is not a mail address: %v", to, err)
			}
			env.Remote = append(env.Remote, to)
		default:
			env.Recipients = append(env.Recipients, u)
			env.RcptTo = append(env.RcptTo, to)
		}
	}
	received := fmt.Sprintf("Received: from webmail by %s with HTTPS\r\n\tfor <%s>; %s\r\n", s.cfg.Hostname,
		from.Address, time.Now().Format(time.RFC1123Z))
	err := s.deliver.Deliver(ctx, env, bytes.NewReader(append([]byte(received), msg...)))
	if err != nil {
		s.log.Warn("webmail submission failed", "from", from.Address, "err", err)
		return err
	}
	s.log.Info("webmail submission", "from", from.Address, "local", len(env.Recipients), "remote", len(env.Remote))
	return nil
}
