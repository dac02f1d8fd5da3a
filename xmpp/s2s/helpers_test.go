package s2s

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/internal/testcert"
	"github.com/tidings/tidings/internal/testdns"
	"github.com/tidings/tidings/migrations/dbtest"
	"github.com/tidings/tidings/xmpp/elem"
	"github.com/tidings/tidings/xmpp/router"
	"github.com/tidings/tidings/xmpp/storage"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// fakeSession records what the router delivers to a bound resource.
type fakeSession struct {
	ch chan *elem.Element
}

func (f *fakeSession) Send(st *elem.Element) { f.ch <- st.Copy() }
func (f *fakeSession) Close(string, string)  {}

// node is one Tidings router with federation, on loopback.
type node struct {
	t      *testing.T
	domain string
	acc    *accounts.Store
	r      *router.Router
	srv    *Server
	tls    *tls.Config
	cfg    Config
	dns    *testdns.Server
	port   int // the STARTTLS listener
	ln     net.Listener
	conns  atomic.Int32 // connections accepted
	users  map[string]*fakeSession
	secret []byte
}

func testConfig() Config {
	c := DefaultConfig()
	c.ConnectTimeout = 5 * time.Second
	c.NegotiationTimeout = 5 * time.Second
	c.RetryMin = 50 * time.Millisecond
	c.RetryMax = 200 * time.Millisecond
	return c
}

// newNode makes a domain with users (each bound as user/phone), a router
// and an s2s server listening on 127.0.0.1, published in d by SRV only.
func newNode(t *testing.T, d *testdns.Server, domain string, tc *tls.Config, cfg Config, direct bool, users ...string) *node {
	t.Helper()
	ctx := context.Background()
	db := dbtest.SQLite(t)
	acfg := accounts.DefaultConfig()
	acfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(db, acfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.AddDomain(ctx, domain, accounts.DomainSettings{}); err != nil {
		t.Fatal(err)
	}
	r := router.New(router.DefaultConfig(), acc, storage.New(db, storage.DefaultConfig()), nil)
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, domain: domain, acc: acc, r: r, tls: tc, cfg: cfg, dns: d, users: map[string]*fakeSession{}}
	for _, u := range users {
		au, err := acc.AddUser(ctx, accounts.NewUser{Address: u + "@" + domain, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		fs := &fakeSession{ch: make(chan *elem.Element, 100)}
		if _, err := r.Bind(ctx, au, "phone", fs, "test"); err != nil {
			t.Fatal(err)
		}
		n.users[u] = fs
	}
	secret, err := LoadSecret(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadSecret(ctx, db)
	if err != nil || string(again) != string(secret) {
		t.Fatalf("secret not persistent: %v", err)
	}
	n.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.port = n.ln.Addr().(*net.TCPAddr).Port
	service := "_xmpp-server"
	if direct {
		service = "_xmpps-server"
	}
	d.Add(t, service+"._tcp."+domain+". 60 IN SRV 0 5 "+strconv.Itoa(n.port)+" xmpp."+domain+".",
		"xmpp."+domain+". 60 IN A 127.0.0.1")
	n.secret = secret
	n.start(secret, direct)
	return n
}

func (n *node) start(secret []byte, direct bool) {
	t := n.t
	srv, err := New(n.cfg, Options{TLS: n.tls, Router: n.r, Secret: secret, Resolver: n.dns.Resolver()})
	if err != nil {
		t.Fatal(err)
	}
	n.srv = srv
	n.r.Remote = srv
	ln := &countingListener{Listener: n.ln, n: &n.conns}
	go srv.Serve(ln, direct)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// send routes a chat message as if from's client sent it.
func (n *node) send(from, to, body string) {
	fj, _ := router.ParseJID(from)
	tj, _ := router.ParseJID(to)
	st := elem.New("", "message", "from", from, "to", to, "type", "chat", "id", "m-"+body).AddText("", "body", body)
	n.r.Route(context.Background(), fj, tj, st)
}

// wait returns the next stanza delivered to user, or fails.
func (n *node) wait(user string, d time.Duration) *elem.Element {
	n.t.Helper()
	select {
	case st := <-n.users[user].ch:
		return st
	case <-time.After(d):
		n.t.Fatalf("nothing delivered to %s@%s within %s", user, n.domain, d)
		return nil
	}
}

// ca is a private certificate authority.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

func newCA(t *testing.T) *ca {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	tmpl.Subject.CommonName = "Tidings test CA"
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &ca{cert: cert, key: key, file: file}
}

// leaf issues a certificate; tmpl sets the names (nil: dNSName domain).
func (c *ca) leaf(t *testing.T, domain string, tmpl *x509.Certificate) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl == nil {
		tmpl = &x509.Certificate{DNSNames: []string{domain}}
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func selfSigned(t *testing.T, domain string) *tls.Config {
	c, err := testcert.Config(domain)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

func errorCondition(st *elem.Element) string {
	if st.Get("type") != "error" {
		return ""
	}
	if e := st.Child("", "error"); e != nil {
		for _, c := range e.Elements() {
			if c.Space == router.NSStanzas && c.Local != "text" {
				return c.Local
			}
		}
	}
	return "?"
}
