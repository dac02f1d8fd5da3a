package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/accounts"
)

// serving is `tidings serve` running in-process.
type serving struct {
	stdout, stderr syncBuffer
	cancel         context.CancelFunc
	done           chan struct{} // closed when run returned
	code           int           // run's result, once done is closed
}

// startServe runs `tidings serve args...` in a goroutine. The test's
// clean-up stops it if the test did not.
func startServe(t *testing.T, environ []string, args ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.code = run(ctx, append([]string{"serve"}, args...),
			&env{stdin: strings.NewReader(""), stdout: &s.stdout, stderr: &s.stderr, environ: environ})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop within 30 s of the clean-up")
		}
	})
	return s
}

// adminAddr waits for the admin listener's log line and returns its address.
func (s *serving) adminAddr(t *testing.T) string {
	t.Helper()
	return waitFor(t, &s.stderr, listeningRE, s.done, 30*time.Second)
}

// wait waits for run to return, without stopping it.
func (s *serving) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(within):
		t.Fatalf("serve still running after %v; stderr:\n%s", within, s.stderr.String())
		return -1
	}
}

// stop cancels the context (as SIGINT/SIGTERM do) and checks that run
// returns 0 promptly.
func (s *serving) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	if code := s.wait(t, 10*time.Second); code != exitOK {
		t.Fatalf("serve exited %d after cancel, want 0; stderr:\n%s", code, s.stderr.String())
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

var passwordRE = regexp.MustCompile(`(?m)^ +password: +(\S+)$`)

// logOrder returns the subsystems of the log lines "msg=<what>
// subsystem=<name>" in order.
func logOrder(log, what string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`msg=`+what+` subsystem=(\w+)`).FindAllStringSubmatch(log, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestServe starts, probes and stops the server three times on one data
// directory, on each database: the first start sets up a domain and an
// administrator and prints the password once, later starts keep the
// certificate unless a new domain needs a new one.
func TestServe(t *testing.T) {
	t.Parallel()
	for i := range drivers {
		d := &drivers[i]
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			testServe(t, testEnv(t, append(d.env(t), "TIDINGS_LISTEN_ADMIN=127.0.0.1:0", "TIDINGS_LOG_LEVEL=debug")...))
		})
	}
}

func testServe(t *testing.T, environ []string) {
	const admin = "admin@capulet.example"
	dataDir := envValue(environ, "TIDINGS_DATA_DIR")
	certFile := filepath.Join(dataDir, "tls", "selfsigned.crt")
	var password string
	var firstCert []byte

	t.Run("first start", func(t *testing.T) {
		s := startServe(t, environ, "--domain", "capulet.example")
		addr := s.adminAddr(t)
		if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
			t.Errorf("admin listens on %s", addr)
		}
		if running := "msg=\"tidings is running\" admin=http://" + addr + "\n"; !strings.Contains(s.stderr.String(), running) {
			t.Errorf("log lacks %q (the bound address, not the configured :0):\n%s", running, s.stderr.String())
		}

		out := s.stdout.String()
		ms := passwordRE.FindAllStringSubmatch(out, -1)
		if len(ms) != 1 {
			t.Fatalf("want the first password printed once on stdout:\n%s", out)
		}
		password = ms[0][1]
		if strings.Count(out, password) != 1 || !strings.Contains(out, "address (and Jabber ID):  "+admin+"\n") {
			t.Errorf("stdout:\n%s", out)
		}
		if strings.Contains(s.stderr.String(), password) {
			t.Errorf("the password is in the log")
		}

		if code, body := httpGet(t, "http://"+addr+"/healthz"); code != http.StatusOK || body != "ok\n" {
			t.Errorf("/healthz: %d %q", code, body)
		}
		code, body := httpGet(t, "http://"+addr+"/metrics")
		if code != http.StatusOK {
			t.Errorf("/metrics: %d", code)
		}
		for _, want := range []string{`tidings_build_info{version="` + version + `"} 1`, "\ngo_goroutines ", "\ntidings_auth_throttled_total 0\n"} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		if code, _ := httpGet(t, "http://"+addr+"/nothing"); code != http.StatusNotFound {
			t.Errorf("/nothing: %d", code)
		}

		// A second client of the same database, while the server runs.
		st := openTestStore(t, environ)
		ctx := context.Background()
		u, err := st.Authenticate(ctx, accounts.Attempt{Username: admin, Password: password, Service: accounts.ServiceIMAP})
		if err != nil || !u.Admin || u.DisplayName != "Administrator" {
			t.Errorf("the printed password: %+v, %v", u, err)
		}
		if _, err := st.Authenticate(ctx, accounts.Attempt{Username: admin, Password: password + "x", Service: accounts.ServiceIMAP}); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Errorf("a wrong password: %v", err)
		}
		for _, role := range []string{"postmaster", "abuse"} {
			if u, err := st.Resolve(ctx, role+"@capulet.example"); err != nil || u.Address != admin {
				t.Errorf("%s@: %+v, %v", role, u, err)
			}
		}
		ds, err := st.Domains(ctx)
		if err != nil || len(ds) != 1 || ds[0].Name != "capulet.example" {
			t.Errorf("domains: %+v, %v", ds, err)
		}

		s.stop(t)
		log := s.stderr.String()
		if got, want := logOrder(log, "started"), []string{"database", "accounts", "tls", "store", "filters", "queue", "smtp", "imap", "managesieve", "xmpp", "s2s", "webmail", "admin"}; !slices.Equal(got, want) {
			t.Errorf("start order %v, want %v", got, want)
		}
		if got, want := logOrder(log, "stopped"), []string{"admin", "webmail", "s2s", "xmpp", "managesieve", "imap", "smtp", "queue", "filters", "store", "accounts", "database"}; !slices.Equal(got, want) {
			t.Errorf("stop order %v, want %v", got, want)
		}
		for _, want := range []string{"created a self-signed certificate", "msg=\"shutting down\"", "msg=stopped\n"} {
			if !strings.Contains(log, want) {
				t.Errorf("log lacks %q", want)
			}
		}
		if firstCert, err = os.ReadFile(certFile); err != nil {
			t.Fatal(err)
		}
		if names := certNames(t, firstCert); !slices.Equal(names, []string{testHostname, "capulet.example"}) {
			t.Errorf("certificate names %v", names)
		}
		// Stopped means stopped: the admin port is closed.
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("admin port %s still open after stop", addr)
		}
	})
	if password == "" || firstCert == nil {
		t.FailNow()
	}

	t.Run("restart", func(t *testing.T) {
		s := startServe(t, environ, "--domain", "ignored.example")
		addr := s.adminAddr(t)
		if code, _ := httpGet(t, "http://"+addr+"/healthz"); code != http.StatusOK {
			t.Errorf("/healthz: %d", code)
		}
		s.stop(t)
		if out := s.stdout.String(); out != "" {
			t.Errorf("a restart printed to stdout:\n%s", out)
		}
		if strings.Contains(s.stderr.String(), "created a self-signed certificate") {
			t.Errorf("restart made a new certificate")
		}
		if cert, _ := os.ReadFile(certFile); string(cert) != string(firstCert) {
			t.Errorf("restart changed the certificate file")
		}
		if _, err := login(t, environ, admin, password); err != nil {
			t.Errorf("the first password after a restart: %v", err)
		}
		if _, err := openTestStore(t, environ).Domain(context.Background(), "ignored.example"); !errors.Is(err, accounts.ErrNotFound) {
			t.Errorf("--domain is for the first start only, but: %v", err)
		}
	})

	t.Run("new domain", func(t *testing.T) {
		s := startServe(t, withEnv(environ, "TIDINGS_DOMAINS=montague.example"))
		s.adminAddr(t)
		s.stop(t)
		if out := s.stdout.String(); out != "" {
			t.Errorf("stdout:\n%s", out)
		}
		cert, err := os.ReadFile(certFile)
		if err != nil {
			t.Fatal(err)
		}
		if string(cert) == string(firstCert) {
			t.Fatalf("the certificate was not remade for the new domain")
		}
		if names := certNames(t, cert); !slices.Equal(names, []string{testHostname, "capulet.example", "montague.example"}) {
			t.Errorf("certificate names %v", names)
		}
	})
}

func certNames(t *testing.T, pemBytes []byte) []string {
	t.Helper()
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.DNSNames
}

// TestServeOwnCertificate uses configured certificate files: nothing is
// written to <data_dir>/tls.
func TestServeOwnCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	if _, err := ensureSelfSigned(cert, key, []string{"own.example"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	environ := testEnv(t, "TIDINGS_LISTEN_ADMIN=127.0.0.1:0", "TIDINGS_TLS_CERT_FILE="+cert, "TIDINGS_TLS_KEY_FILE="+key)
	s := startServe(t, environ, "--domain", "capulet.example")
	s.adminAddr(t)
	s.stop(t)
	if !strings.Contains(s.stderr.String(), "msg=\"certificate loaded\" file="+cert) {
		t.Errorf("log:\n%s", s.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(envValue(environ, "TIDINGS_DATA_DIR"), "tls")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("with configured files, no self-signed certificate: %v", err)
	}
}

// TestServeAdminOff runs with every listener off, admin too.
func TestServeAdminOff(t *testing.T) {
	t.Parallel()
	s := startServe(t, testEnv(t), "--domain", "capulet.example")
	waitFor(t, &s.stderr, regexp.MustCompile(`msg="tidings is running"\n`), s.done, 30*time.Second)
	s.stop(t)
	if log := s.stderr.String(); strings.Contains(log, "msg=listening") || strings.Contains(log, "listeners this build does not serve yet") {
		t.Errorf("log:\n%s", log)
	}
}

// TestServeJSONLog checks --log-format json: every stderr line is a JSON
// object, and the admin address is in the "listening" record.
func TestServeJSONLog(t *testing.T) {
	t.Parallel()
	s := startServe(t, testEnv(t, "TIDINGS_LISTEN_ADMIN=127.0.0.1:0"), "--domain", "capulet.example", "--log-format", "json")
	waitFor(t, &s.stderr, regexp.MustCompile(`"msg":"listening"`), s.done, 30*time.Second)
	s.stop(t)
	var addr string
	for _, line := range strings.Split(strings.TrimSpace(s.stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		if rec["msg"] == "listening" {
			addr, _ = rec["addr"].(string)
		}
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
		t.Errorf("listening addr %q", addr)
	}
	if r := runCmd(t, testEnv(t), nil, "serve", "--log-format", "xml"); r.code != exitUsage {
		t.Errorf("--log-format xml: %s", r)
	}
}

// TestServeStartFailure makes one subsystem fail to start: run returns at
// once, non-zero, naming the subsystem, after stopping (in reverse) the ones
// already started. No signal is involved.
func TestServeStartFailure(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // not defer: the parallel subtests run after this function returns
	notCert := filepath.Join(t.TempDir(), "not-a-cert.pem")
	if err := os.WriteFile(notCert, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		env     []string
		domain  string // --domain; "" for capulet.example
		code    int    // 0 for exitFailure
		stderr  []string
		stopped []string // subsystems stopped, in order
	}{
		{"admin port in use", []string{"TIDINGS_LISTEN_ADMIN=" + busy.Addr().String()}, "", 0,
			[]string{"tidings serve: start admin: listen.admin: listen tcp " + busy.Addr().String(), "address already in use",
				`msg="start failed" subsystem=admin`},
			[]string{"webmail", "s2s", "xmpp", "managesieve", "imap", "smtp", "queue", "filters", "store", "accounts", "database"}},
		{"bad certificate", []string{"TIDINGS_LISTEN_ADMIN=127.0.0.1:0", "TIDINGS_TLS_CERT_FILE=" + notCert, "TIDINGS_TLS_KEY_FILE=" + notCert}, "", 0,
			[]string{"tidings serve: start tls: load certificate " + notCert},
			[]string{"accounts", "database"}},
		{"database unreachable", []string{"TIDINGS_LISTEN_ADMIN=127.0.0.1:0", "TIDINGS_DATABASE_DRIVER=postgres",
			"TIDINGS_DATABASE_DSN=postgres://tidings@127.0.0.1:1/tidings?sslmode=disable&connect_timeout=5"}, "", 0,
			[]string{"tidings serve: start database: open postgres database postgres://tidings@127.0.0.1:1/tidings"},
			nil},
		{"invalid --domain", []string{"TIDINGS_LISTEN_ADMIN=127.0.0.1:0"}, "bad_domain!", exitInvalid,
			[]string{"tidings serve: start accounts: first domain (set it with --domain): invalid domain"},
			[]string{"database"}},
	}
	for i := range tests {
		tc := &tests[i]
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			domain, want := cmp.Or(tc.domain, "capulet.example"), cmp.Or(tc.code, exitFailure)
			s := startServe(t, testEnv(t, append(tc.env, "TIDINGS_LOG_LEVEL=debug")...), "--domain", domain)
			code := s.wait(t, 20*time.Second)
			log := s.stderr.String()
			if code != want {
				t.Errorf("exit code %d, want %d", code, want)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(log, want) {
					t.Errorf("stderr lacks %q:\n%s", want, log)
				}
			}
			if got := logOrder(log, "stopped"); !slices.Equal(got, tc.stopped) {
				t.Errorf("stopped %v, want %v", got, tc.stopped)
			}
			if strings.Contains(log, "tidings is running") {
				t.Errorf("claims to be running:\n%s", log)
			}
		})
	}
}

// TestServeDatabaseErrorRedacted: a database that cannot be opened makes
// every command fail, naming the DSN without its password.
func TestServeDatabaseErrorRedacted(t *testing.T) {
	t.Parallel()
	const secret = "Sup3rS3cret"
	tests := []struct {
		name, dsn, shown string
	}{
		{"url", "postgres://tidings:" + secret + "@127.0.0.1:1/tidings?sslmode=disable",
			"postgres://tidings:xxxxx@127.0.0.1:1/tidings"},
		{"url password parameter", "postgres://127.0.0.1:1/tidings?user=tidings&password=" + secret + "&sslmode=disable",
			"password=xxxxx"},
		{"key=value", "host=127.0.0.1 port=1 user=tidings password=" + secret + " dbname=tidings sslmode=disable",
			"host=127.0.0.1 port=1 user=tidings password=xxxxx dbname=tidings"},
		{"key=value quoted", "host=127.0.0.1 port=1 user=tidings password='" + secret + " x' dbname=tidings sslmode=disable",
			"password=xxxxx dbname=tidings"},
	}
	for i := range tests {
		tc := &tests[i]
		for _, args := range [][]string{{"serve", "--domain", "capulet.example"}, {"user", "list"}} {
			t.Run(tc.name+" "+args[0], func(t *testing.T) {
				t.Parallel()
				environ := testEnv(t, "TIDINGS_DATABASE_DRIVER=postgres", "TIDINGS_DATABASE_DSN="+tc.dsn, "TIDINGS_LISTEN_ADMIN=127.0.0.1:0")
				r := runCmd(t, environ, nil, args...)
				if r.code == exitOK {
					t.Fatalf("exit 0 without a database:\n%s", r)
				}
				if strings.Contains(r.stderr+r.stdout, secret) {
					t.Errorf("the password is shown:\n%s", r)
				}
				if !strings.Contains(r.stderr, tc.shown) {
					t.Errorf("stderr lacks %q:\n%s", tc.shown, r)
				}
			})
		}
	}
}

// Make sure the client side of TLS would accept what startTLS builds: a
// sanity check that the loaded pair serves a handshake for the domain.
func TestSelfSignedHandshake(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if _, err := ensureSelfSigned(cert, key, []string{testHostname, "capulet.example"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(pair.Leaf)
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	srv := tls.Server(c1, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	go srv.Handshake()
	cl := tls.Client(c2, &tls.Config{ServerName: "capulet.example", RootCAs: pool})
	if err := cl.Handshake(); err != nil {
		t.Errorf("handshake for capulet.example: %v", err)
	}
}

// TestServeAdminDomain: the first administrator goes into the domain asked
// for first: --domain, else the first configured domain.
func TestServeAdminDomain(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		admin  string
		others []string
	}{
		{"--domain wins", []string{"--domain", "capulet.example"}, "admin@capulet.example", []string{"zeta.example", "alpha.example"}},
		{"first configured", nil, "admin@zeta.example", []string{"alpha.example"}},
	}
	for i := range tests {
		tc := &tests[i]
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			environ := testEnv(t, "TIDINGS_LISTEN_ADMIN=127.0.0.1:0", "TIDINGS_DOMAINS=zeta.example,alpha.example")
			s := startServe(t, environ, tc.args...)
			s.adminAddr(t)
			s.stop(t)
			if out := s.stdout.String(); !strings.Contains(out, tc.admin) {
				t.Fatalf("stdout does not name %s:\n%s", tc.admin, out)
			}
			st := openTestStore(t, environ)
			for _, d := range tc.others {
				if _, err := st.Domain(context.Background(), d); err != nil {
					t.Errorf("domain %s: %v", d, err)
				}
			}
		})
	}
}
