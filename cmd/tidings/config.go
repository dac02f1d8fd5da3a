package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/filters/managesieve"
	"github.com/tidings/tidings/mail/imapd"
	"github.com/tidings/tidings/mail/queue"
	"github.com/tidings/tidings/mail/smtpd"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/webmail/web"
	"github.com/tidings/tidings/xmpp/c2s"
	"github.com/tidings/tidings/xmpp/router"
	"github.com/tidings/tidings/xmpp/s2s"
)

// Config is the whole tidings.toml. Each package owns its section's type,
// defaults and validation; this file composes them.
type Config struct {
	Hostname string   `toml:"hostname" doc:"This server's host name: the name in greetings, in the self-signed certificate, and the MX/SRV target to publish. Empty: the machine's FQDN."`
	Domains  []string `toml:"domains" doc:"Mail/XMPP domains to create at start if they do not exist yet (the admin console and 'tidings domain' manage them too). On a first start with none, the --domain flag or the machine's FQDN is used."`
	DataDir  string   `toml:"data_dir" doc:"Directory for the database, certificates and message data. Relative paths are relative to the working directory."`
	Resolver string   `toml:"resolver" doc:"DNS server (host:port) for MX and SRV lookups. Empty: the system's resolver (/etc/resolv.conf)."`

	Log         LogConfig          `toml:"log" doc:"Logging."`
	Database    migrations.Config  `toml:"database" doc:"The account and message database."`
	TLS         TLSConfig          `toml:"tls" doc:"Certificates for every TLS listener. With no files configured, a self-signed certificate for the hostname and all domains is created in <data_dir>/tls and reused."`
	Listen      ListenConfig       `toml:"listen" doc:"Listen addresses, one per service: host:port, \":port\" for all interfaces, or \"\" to switch the service off."`
	Accounts    accounts.Config    `toml:"accounts" doc:"The shared user base: password hashing, password policy, the failed-login throttle."`
	SMTP        smtpd.Config       `toml:"smtp" doc:"SMTP limits, for the MX (listen.smtp) and submission (listen.submission, listen.submissions) listeners."`
	Queue       queue.Config       `toml:"queue" doc:"The outbound queue: delivery of submitted mail to other domains' mail servers."`
	IMAP        imapd.Config       `toml:"imap" doc:"IMAP limits, for listen.imap (STARTTLS) and listen.imaps (implicit TLS)."`
	XMPP        XMPPConfig         `toml:"xmpp" doc:"XMPP: server features and storage limits."`
	Filters     filters.Config     `toml:"filters" doc:"Sieve filters: script quotas, run limits, and XMPP new-mail notifications."`
	ManageSieve managesieve.Config `toml:"managesieve" doc:"ManageSieve (listen.managesieve): limits and timeouts."`
	Webmail     web.Config         `toml:"webmail" doc:"The webmail and admin console (listen.https, listen.http): sessions, page size, uploads, ACME certificates."`
}

// XMPPConfig is the [xmpp] section: the router's settings, and the client
// streams in [xmpp.c2s].
type XMPPConfig struct {
	router.Config
	C2S c2s.Config `toml:"c2s" doc:"Client connections (listen.xmpp_client, listen.xmpp_client_tls): TLS, timeouts, queue and stanza limits."`
	S2S S2SConfig  `toml:"s2s" doc:"Federation with other XMPP servers (listen.xmpp_server, listen.xmpp_server_tls): policy, certificates, timeouts, queues and stanza limits."`
}

// LogConfig selects the log format and level.
type LogConfig struct {
	Format string `toml:"format" doc:"\"text\" or \"json\"."`
	Level  string `toml:"level" doc:"\"debug\", \"info\", \"warn\" or \"error\"."`
}

// TLSConfig names certificate files; both empty means self-signed.
type TLSConfig struct {
	CertFile string `toml:"cert_file" doc:"PEM certificate chain (e.g. from certbot's fullchain.pem). Empty: self-signed."`
	KeyFile  string `toml:"key_file" doc:"PEM private key for cert_file."`
}

// ListenConfig holds one address per service. The protocol servers arrive
// with their issues; builtListeners says which are served.
type ListenConfig struct {
	Admin         string `toml:"admin" doc:"Health checks (/healthz) and Prometheus metrics (/metrics), plain HTTP. Keep it on loopback or a private network."`
	SMTP          string `toml:"smtp" doc:"SMTP for incoming mail (MX)."`
	Submission    string `toml:"submission" doc:"Mail submission with STARTTLS (RFC 6409)."`
	Submissions   string `toml:"submissions" doc:"Mail submission over implicit TLS (RFC 8314)."`
	IMAP          string `toml:"imap" doc:"IMAP with STARTTLS."`
	IMAPS         string `toml:"imaps" doc:"IMAP over implicit TLS."`
	ManageSieve   string `toml:"managesieve" doc:"ManageSieve (RFC 5804) for filter scripts."`
	XMPPClient    string `toml:"xmpp_client" doc:"XMPP client connections with STARTTLS."`
	XMPPClientTLS string `toml:"xmpp_client_tls" doc:"XMPP client connections over direct TLS (XEP-0368)."`
	XMPPServer    string `toml:"xmpp_server" doc:"XMPP server-to-server federation."`
	XMPPServerTLS string `toml:"xmpp_server_tls" doc:"XMPP federation over direct TLS (XEP-0368)."`
	HTTP          string `toml:"http" doc:"Webmail over HTTP (redirects to HTTPS)."`
	HTTPS         string `toml:"https" doc:"Webmail and admin console over HTTPS."`
}

// builtListeners are the services this build serves.
var builtListeners = map[string]bool{"admin": true, "smtp": true, "submission": true, "submissions": true, "imap": true, "imaps": true, "managesieve": true,
	"xmpp_client": true, "xmpp_client_tls": true, "xmpp_server": true, "xmpp_server_tls": true, "http": true, "https": true}

// DefaultConfig is the configuration with no file and no environment.
// Machine-dependent defaults (hostname, database path) are filled by
// [Config.resolve].
func DefaultConfig() Config {
	return Config{
		DataDir:  "data",
		Log:      LogConfig{Format: "text", Level: "info"},
		Database: migrations.DefaultConfig(""),
		Listen: ListenConfig{
			Admin: "127.0.0.1:9190",
			SMTP:  ":25", Submission: ":587", Submissions: ":465",
			IMAP: ":143", IMAPS: ":993", ManageSieve: ":4190",
			XMPPClient: ":5222", XMPPClientTLS: ":5223", XMPPServer: ":5269", XMPPServerTLS: ":5270",
			HTTP: ":80", HTTPS: ":443",
		},
		Accounts:    accounts.DefaultConfig(),
		SMTP:        smtpd.DefaultConfig(),
		Queue:       queue.DefaultConfig(),
		IMAP:        imapd.DefaultConfig(),
		XMPP:        XMPPConfig{Config: router.DefaultConfig(), C2S: c2s.DefaultConfig(), S2S: s2s.DefaultConfig()},
		Filters:     filters.DefaultConfig(),
		ManageSieve: managesieve.DefaultConfig(),
		Webmail:     web.DefaultConfig(),
	}
}

// resolve fills the defaults that depend on the machine or on other keys.
func (c *Config) resolve() {
	if c.Hostname == "" {
		c.Hostname = machineFQDN()
	}
	if c.Database.DSN == "" && c.Database.Driver == string(migrations.SQLite) {
		c.Database.DSN = filepath.Join(c.DataDir, "tidings.db")
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if _, err := accounts.NormalizeDomain(c.Hostname); err != nil {
		errs = append(errs, fmt.Errorf("hostname: %w", err))
	}
	for _, d := range c.Domains {
		if _, err := accounts.NormalizeDomain(d); err != nil {
			errs = append(errs, fmt.Errorf("domains: %w", err))
		}
	}
	if c.Resolver != "" {
		if _, port, err := net.SplitHostPort(c.Resolver); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("resolver: %q is not host:port", c.Resolver))
		}
	}
	if strings.TrimSpace(c.DataDir) == "" {
		errs = append(errs, errors.New("data_dir: must not be empty"))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q is not \"text\" or \"json\"", c.Log.Format))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.Log.Level)); err != nil {
		errs = append(errs, fmt.Errorf("log.level: %q is not debug, info, warn or error", c.Log.Level))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: set both cert_file and key_file, or neither (self-signed)"))
	}
	for _, f := range []string{c.TLS.CertFile, c.TLS.KeyFile} {
		if f != "" {
			if _, err := os.Stat(f); err != nil {
				errs = append(errs, fmt.Errorf("tls: %w", err))
			}
		}
	}
	errs = append(errs, c.Listen.validate()...)
	errs = append(errs, c.Database.Validate(), c.Accounts.Validate(), c.SMTP.Validate(), c.Queue.Validate(), c.IMAP.Validate(), c.XMPP.Config.Validate(), c.XMPP.C2S.Validate(), c.XMPP.S2S.Validate(), c.Filters.Validate(), c.ManageSieve.Validate(), c.Webmail.Validate())
	return errors.Join(errs...)
}

// each calls fn with the TOML key and value of every listener.
func (l ListenConfig) each(fn func(key, addr string)) {
	v, t := reflect.ValueOf(l), reflect.TypeOf(l)
	for i := range t.NumField() {
		fn(t.Field(i).Tag.Get("toml"), v.Field(i).String())
	}
}

func (l ListenConfig) validate() []error {
	var errs []error
	seen := map[string]string{}
	l.each(func(key, addr string) {
		if addr == "" {
			return
		}
		_, port, err := net.SplitHostPort(addr)
		if err != nil || port == "" {
			errs = append(errs, fmt.Errorf("listen.%s: %q is not host:port", key, addr))
			return
		}
		if port == "0" {
			return // the kernel picks a free port: never a clash
		}
		if other, dup := seen[addr]; dup {
			errs = append(errs, fmt.Errorf("listen.%s: %s is already used by listen.%s", key, addr, other))
		}
		seen[addr] = key
	})
	return errs
}

// machineFQDN returns the host's fully qualified name as well as it can be
// found without asking anyone but the local resolver.
func machineFQDN() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	if strings.Contains(h, ".") {
		return strings.ToLower(h)
	}
	addrs, _ := net.LookupHost(h)
	for _, a := range addrs {
		names, _ := net.LookupAddr(a)
		for _, n := range names {
			if n = strings.TrimSuffix(n, "."); strings.Contains(n, ".") && !strings.HasPrefix(n, "localhost") {
				return strings.ToLower(n)
			}
		}
	}
	return strings.ToLower(h)
}

// resolver returns the DNS resolver the configuration asks for.
func (c Config) resolver() *net.Resolver {
	if c.Resolver == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, c.Resolver)
	}}
}
