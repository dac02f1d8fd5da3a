package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The client is a lean hand-written XMPP client: no XML parser, only
// scanning for the markers of the few replies it waits for, so the load
// tool leaves the CPU to the server. It speaks STARTTLS or direct TLS,
// SCRAM-SHA-1 (RFC 5802), resource binding and initial presence.

const (
	nsSASL = "urn:ietf:params:xml:ns:xmpp-sasl"
	// nsStreamErr appears in every stream error's condition element.
	nsStreamErr = "urn:ietf:params:xml:ns:xmpp-streams"
)

// scramKeys are what a SCRAM-SHA-1 client derives from the password, the
// salt and the iteration count. Clients may cache them (RFC 5802 §5.1
// lets them; Conversations does), which keeps the 4096 PBKDF2 rounds out
// of the measured logins: the server never runs PBKDF2 for SCRAM.
type scramKeys struct {
	salt       string
	iterations int
	clientKey  []byte
	storedKey  []byte
	serverKey  []byte
}

func deriveKeys(password string, salt []byte, iterations int) (scramKeys, error) {
	salted, err := pbkdf2.Key(sha1.New, password, salt, iterations, sha1.Size)
	if err != nil {
		return scramKeys{}, err
	}
	ck := hmacSHA1(salted, "Client Key")
	sk := sha1.Sum(ck)
	return scramKeys{salt: string(salt), iterations: iterations, clientKey: ck, storedKey: sk[:],
		serverKey: hmacSHA1(salted, "Server Key")}, nil
}

func hmacSHA1(key []byte, msg string) []byte {
	m := hmac.New(sha1.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// keyCache holds the derived keys per account.
type keyCache struct {
	mu sync.Mutex
	m  map[string]scramKeys
}

func (k *keyCache) get(user string, salt []byte, iterations int, password string) (scramKeys, error) {
	k.mu.Lock()
	c, ok := k.m[user]
	k.mu.Unlock()
	if ok && c.salt == string(salt) && c.iterations == iterations {
		return c, nil
	}
	c, err := deriveKeys(password, salt, iterations)
	if err != nil {
		return c, err
	}
	k.put(user, c)
	return c, nil
}

func (k *keyCache) put(user string, c scramKeys) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]scramKeys{}
	}
	k.m[user] = c
	k.mu.Unlock()
}

// target says where and how clients connect.
type target struct {
	addr     string // c2s listener
	direct   bool   // direct TLS (XEP-0368) instead of STARTTLS
	domain   string
	prefix   string // localpart prefix of the users
	password string
	keys     *keyCache
	sources  []net.Addr // local addresses to spread connections over (nil: the system's choice)
	classic  bool       // X25519 only
}

// mode describes the connection for the report.
func (t *target) mode() string {
	m := "STARTTLS"
	if t.direct {
		m = "direct TLS"
	}
	if t.classic {
		m += ", X25519 only"
	}
	return m
}

// xconn is one client stream.
type xconn struct {
	nc  net.Conn
	buf []byte // buf[:n] is read but not consumed
	n   int
	jid string // full JID after bind
}

const negotiationTimeout = 30 * time.Second

// login connects as localpart@domain (the n-th connection), authenticates
// with SCRAM-SHA-1, binds resource, sends initial presence and waits for the
// server to echo it (RFC 6121 §4.2.2): then the session is fully online.
func (t *target) login(n int, localpart, resource string) (*xconn, error) {
	d := net.Dialer{Timeout: negotiationTimeout}
	if len(t.sources) > 0 {
		d.LocalAddr = t.sources[n%len(t.sources)]
	}
	nc, err := d.Dial("tcp", t.addr)
	if err != nil {
		return nil, err
	}
	c := &xconn{nc: nc, buf: make([]byte, 4096)}
	if err := c.negotiate(t, localpart, resource); err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s@%s: %w", localpart, t.domain, err)
	}
	return c, nil
}

func (c *xconn) negotiate(t *target, localpart, resource string) error {
	c.nc.SetDeadline(time.Now().Add(negotiationTimeout))
	tcfg := &tls.Config{ServerName: t.domain, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	if t.classic {
		tcfg.CurvePreferences = []tls.CurveID{tls.X25519}
	}
	if t.direct {
		tcfg.NextProtos = []string{"xmpp-client"}
		c.nc = tls.Client(c.nc, tcfg)
	} else {
		f, err := c.header(t.domain)
		if err != nil {
			return err
		}
		if !bytes.Contains(f, []byte("<starttls")) {
			return errors.New("no STARTTLS offered")
		}
		if err := c.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"); err != nil {
			return err
		}
		if _, err := c.expect("<proceed"); err != nil {
			return err
		}
		c.n = 0
		c.nc = tls.Client(c.nc, tcfg)
	}
	if err := c.nc.(*tls.Conn).Handshake(); err != nil {
		return err
	}
	f, err := c.header(t.domain)
	if err != nil {
		return err
	}
	if !bytes.Contains(f, []byte(">SCRAM-SHA-1<")) {
		return errors.New("SCRAM-SHA-1 not offered")
	}
	if err := c.scram(t, localpart); err != nil {
		return err
	}
	if _, err := c.header(t.domain); err != nil {
		return err
	}
	if err := c.write("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" +
		resource + "</resource></bind></iq>"); err != nil {
		return err
	}
	res, err := c.expect("</iq>")
	if err != nil {
		return err
	}
	c.jid = between(res, "<jid>", "</jid>")
	if c.jid == "" {
		return fmt.Errorf("bind failed: %s", res)
	}
	if err := c.write("<presence/>"); err != nil {
		return err
	}
	if _, err := c.expect("<presence"); err != nil {
		return err
	}
	if _, err := c.expect(">"); err != nil {
		return err
	}
	c.nc.SetDeadline(time.Time{})
	return nil
}

// header opens a stream and returns the features.
func (c *xconn) header(domain string) ([]byte, error) {
	if err := c.write("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='" +
		domain + "' version='1.0'>"); err != nil {
		return nil, err
	}
	return c.expect("</stream:features>") // Tidings writes the prefixed form
}

// scram runs SCRAM-SHA-1 without channel binding (gs2 "n,,").
func (c *xconn) scram(t *target, localpart string) error {
	var nb [18]byte
	rand.Read(nb[:])
	cnonce := base64.RawStdEncoding.EncodeToString(nb[:])
	bare := "n=" + strings.NewReplacer("=", "=3D", ",", "=2C").Replace(localpart) + ",r=" + cnonce
	const gs2 = "n,,"
	if err := c.write("<auth xmlns='" + nsSASL + "' mechanism='SCRAM-SHA-1'>" +
		base64.StdEncoding.EncodeToString([]byte(gs2+bare)) + "</auth>"); err != nil {
		return err
	}
	ch, err := c.expect("</challenge>")
	if err != nil {
		return err
	}
	sf, err := base64.StdEncoding.DecodeString(between(ch, ">", "</challenge>"))
	if err != nil {
		return fmt.Errorf("challenge: %w", err)
	}
	serverFirst := string(sf)
	var nonce, salt64 string
	iterations := 0
	for _, a := range strings.Split(serverFirst, ",") {
		switch {
		case strings.HasPrefix(a, "r="):
			nonce = a[2:]
		case strings.HasPrefix(a, "s="):
			salt64 = a[2:]
		case strings.HasPrefix(a, "i="):
			iterations, _ = strconv.Atoi(a[2:])
		}
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil || !strings.HasPrefix(nonce, cnonce) || iterations < 1 {
		return fmt.Errorf("bad server-first-message %q", serverFirst)
	}
	keys, err := t.keys.get(localpart, salt, iterations, t.password)
	if err != nil {
		return err
	}
	final := "c=" + base64.StdEncoding.EncodeToString([]byte(gs2)) + ",r=" + nonce
	authMessage := bare + "," + serverFirst + "," + final
	proof := hmacSHA1(keys.storedKey, authMessage)
	subtle.XORBytes(proof, proof, keys.clientKey)
	if err := c.write("<response xmlns='" + nsSASL + "'>" +
		base64.StdEncoding.EncodeToString([]byte(final+",p="+base64.StdEncoding.EncodeToString(proof))) + "</response>"); err != nil {
		return err
	}
	ok, err := c.expect("</success>")
	if err != nil {
		return err
	}
	v, err := base64.StdEncoding.DecodeString(between(ok, ">", "</success>"))
	if err != nil || string(v) != "v="+base64.StdEncoding.EncodeToString(hmacSHA1(keys.serverKey, authMessage)) {
		return errors.New("wrong server signature")
	}
	c.n = 0
	return nil
}

func (c *xconn) write(s string) error {
	_, err := c.nc.Write([]byte(s))
	return err
}

// expect reads until marker arrives and returns everything up to its end,
// which is consumed. A SASL failure or stream error before it is an error.
func (c *xconn) expect(marker string) ([]byte, error) {
	m := []byte(marker)
	for {
		if i := bytes.Index(c.buf[:c.n], m); i >= 0 {
			end := i + len(m)
			out := bytes.Clone(c.buf[:end])
			c.n = copy(c.buf, c.buf[end:c.n])
			return out, nil
		}
		got := c.buf[:c.n]
		if bytes.Contains(got, []byte("<failure")) || bytes.Contains(got, []byte(nsStreamErr)) {
			time.Sleep(10 * time.Millisecond) // let the rest of the reply arrive
			k, _ := c.nc.Read(c.buf[c.n:])
			return nil, fmt.Errorf("waiting for %s, got %s", marker, c.buf[:c.n+k])
		}
		if c.n == len(c.buf) {
			c.buf = append(c.buf, make([]byte, max(4096, len(c.buf)))...)
		}
		k, err := c.nc.Read(c.buf[c.n:])
		c.n += k
		if err != nil && k == 0 {
			return nil, fmt.Errorf("waiting for %s (have %q): %w", marker, c.buf[:c.n], err)
		}
	}
}

// between returns the text of b between the first from and the following to.
func between(b []byte, from, to string) string {
	i := bytes.Index(b, []byte(from))
	if i < 0 {
		return ""
	}
	rest := b[i+len(from):]
	j := bytes.Index(rest, []byte(to))
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// close ends the stream without waiting for the server's answer.
func (c *xconn) close() {
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.write("</stream:stream>")
	c.nc.Close()
}
