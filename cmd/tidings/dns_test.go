package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidings/tidings/internal/testdns"
)

// publish adds r to the test DNS server.
func publish(t *testing.T, d *testdns.Server, r dnsRecord) {
	t.Helper()
	v := r.Value
	if r.Type == "TXT" {
		v = zoneValue(r)
	}
	d.Add(t, r.Name+". 300 IN "+r.Type+" "+v)
}

func TestDNSRecordsAndCheck(t *testing.T) {
	z := testdns.Start(t)
	environ := testEnv(t, "TIDINGS_HOSTNAME=mail.capulet.example", "TIDINGS_RESOLVER="+z.Addr,
		"TIDINGS_LISTEN_SUBMISSIONS=:465", "TIDINGS_LISTEN_XMPP_CLIENT=:5222", "TIDINGS_LISTEN_XMPP_SERVER=:5269")
	if r := runCmd(t, environ, nil, "domain", "add", "capulet.example"); r.code != 0 {
		t.Fatal(r)
	}
	r := runCmd(t, environ, nil, "dns", "records", "--json", "capulet.example")
	var rs []dnsRecord
	if err := json.Unmarshal([]byte(r.stdout), &rs); err != nil || r.code != 0 {
		t.Fatalf("%v\n%v", err, r)
	}
	types := map[string]bool{}
	for _, rec := range rs {
		types[rec.Type+" "+strings.SplitN(rec.Name, ".", 2)[0]] = true
	}
	for _, want := range []string{"MX capulet", "TXT capulet", "TXT tidings-ed", "TXT tidings-rsa", "TXT _dmarc",
		"SRV _submissions", "SRV _xmpp-client", "SRV _xmpp-server"} {
		if !types[want] {
			t.Errorf("records lack %s: %v", want, types)
		}
	}
	if types["SRV _imaps"] || types["SRV _xmpps-client"] {
		t.Errorf("records for listeners that are off: %v", types)
	}
	// Nothing published: every record is reported, exit 1.
	if r := runCmd(t, environ, nil, "dns", "check", "--no-probe", "capulet.example"); r.code != exitFailure || strings.Count(r.stdout, "WRONG") != len(rs) {
		t.Fatalf("empty zone: %v", r)
	}
	for _, rec := range rs {
		if rec.Type != "SRV" || !strings.HasPrefix(rec.Name, "_xmpp-server") {
			publish(t, z, rec)
		}
	}
	r = runCmd(t, environ, nil, "dns", "check", "--no-probe", "capulet.example")
	if r.code != exitFailure || strings.Count(r.stdout, "WRONG") != 1 || !strings.Contains(r.stdout, "WRONG  SRV _xmpp-server._tcp.capulet.example: not published") {
		t.Fatalf("one missing: %v", r)
	}
	publish(t, z, dnsRecord{Name: "_xmpp-server._tcp.capulet.example", Type: "SRV", Value: "0 5 5269 mail.capulet.example."})
	if r := runCmd(t, environ, nil, "dns", "check", "--no-probe", "capulet.example"); r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("all %d records are in place", len(rs))) || strings.Contains(r.stdout, "port") {
		t.Fatalf("complete zone: %v", r)
	}
}

// probeListenKeys are the listeners the probe test serves, all on loopback
// ports of the kernel's choosing.
var probeListenKeys = []string{"smtp", "submission", "submissions", "imap", "imaps", "xmpp_client", "xmpp_client_tls", "xmpp_server", "xmpp_server_tls"}

// TestDNSCheckProbes runs `tidings serve` and probes its ports the way
// `dns check` finds them in DNS: montague.example (XMPP only) through the
// CLI, with SRV records naming the real ports, then with a closed and a
// silent port added; capulet.example's mail ports (MX on the SMTP
// listener's port instead of 25) and the A-record fallback for XMPP through
// the prober itself.
func TestDNSCheckProbes(t *testing.T) {
	t.Parallel()
	d := testdns.Start(t, "mail.capulet.example. 300 IN A 127.0.0.1", "capulet.example. 300 IN A 127.0.0.1")
	environ := testEnv(t, "TIDINGS_RESOLVER="+d.Addr, "TIDINGS_DOMAINS=capulet.example")
	for _, k := range probeListenKeys {
		environ = withEnv(environ, "TIDINGS_LISTEN_"+strings.ToUpper(k)+"=127.0.0.1:0")
	}
	if r := runCmd(t, environ, nil, "domain", "add", "--mail=off", "montague.example"); r.code != 0 {
		t.Fatal(r)
	}
	srv := startServe(t, environ)
	bound := map[string]string{}
	checkEnv := environ // the configuration `dns check` sees: the bound ports, for the SRV records
	for _, k := range probeListenKeys {
		bound[k] = waitFor(t, &srv.stderr, regexp.MustCompile(`msg=listening service=`+k+` addr=(\S+)`), srv.done, 30*time.Second)
		checkEnv = withEnv(checkEnv, "TIDINGS_LISTEN_"+strings.ToUpper(k)+"="+bound[k])
	}
	portOf := func(addr string) uint16 {
		_, p, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(p)
		return uint16(n)
	}

	t.Run("XMPP ports by SRV", func(t *testing.T) {
		for _, rec := range recordsOf(t, checkEnv, "montague.example") {
			publish(t, d, rec)
		}
		r := runCmd(t, checkEnv, nil, "dns", "check", "montague.example")
		if r.code != 0 || !strings.Contains(r.stdout, "all 4 records are in place.\nall 4 ports answer, 4 with warnings.\n") {
			t.Fatal(r)
		}
		for _, want := range []string{
			"warn   xmpps-client mail.capulet.example:" + strconv.Itoa(int(portOf(bound["xmpp_client_tls"]))) + " (127.0.0.1): TLS (ALPN xmpp-client), XMPP stream features; " + certUntrusted + "\n",
			"warn   xmpp-client mail.capulet.example:" + strconv.Itoa(int(portOf(bound["xmpp_client"]))) + " (127.0.0.1): XMPP stream features, STARTTLS; " + certUntrusted + "\n",
			"warn   xmpps-server mail.capulet.example:" + strconv.Itoa(int(portOf(bound["xmpp_server_tls"]))) + " (127.0.0.1): TLS (ALPN xmpp-server), XMPP stream features; " + certUntrusted + "\n",
			"warn   xmpp-server mail.capulet.example:" + strconv.Itoa(int(portOf(bound["xmpp_server"]))) + " (127.0.0.1): XMPP stream features, STARTTLS; " + certUntrusted + "\n",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, r.stdout)
			}
		}
	})

	t.Run("closed and silent ports", func(t *testing.T) {
		closed := closedPort(t)
		silent := silentListener(t)
		d.Add(t, "_xmpp-server._tcp.montague.example. 300 IN SRV 10 5 "+strconv.Itoa(int(closed))+" mail.capulet.example.",
			"_xmpps-client._tcp.montague.example. 300 IN SRV 10 5 "+strconv.Itoa(int(silent))+" mail.capulet.example.")
		start := time.Now()
		r := runCmd(t, checkEnv, nil, "dns", "check", "--probe-timeout", "500ms", "montague.example")
		if r.code != exitFailure || !strings.Contains(r.stdout, "all 4 records are in place.\n2 of 6 ports do not answer as they should.\n") ||
			!strings.Contains(r.stderr, errDNSProblems.Error()) {
			t.Fatal(r)
		}
		for _, want := range []string{
			fmt.Sprintf("FAIL   xmpp-server mail.capulet.example:%d (127.0.0.1): connect: connection refused (port closed)\n", closed),
			fmt.Sprintf("FAIL   xmpps-client mail.capulet.example:%d (127.0.0.1): TLS handshake: no answer within 500ms\n", silent),
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, r.stdout)
			}
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("the check took %v with a 500 ms probe timeout", took)
		}
		if r := runCmd(t, checkEnv, nil, "dns", "check", "--no-probe", "montague.example"); r.code != 0 || strings.Contains(r.stdout, "port") {
			t.Errorf("--no-probe: %v", r)
		}
		if r := runCmd(t, checkEnv, nil, "dns", "check", "--probe-timeout", "0s", "montague.example"); r.code != exitUsage {
			t.Errorf("--probe-timeout 0s: %v", r)
		}
	})

	t.Run("mail ports and the XMPP fallback", func(t *testing.T) {
		for _, rec := range recordsOf(t, checkEnv, "capulet.example") {
			if !strings.HasPrefix(rec.Name, "_xmpp") {
				publish(t, d, rec)
			}
		}
		p := newProber(Config{Hostname: testHostname}, 10*time.Second)
		p.res = d.Resolver()
		p.smtpPort, p.xmppClientPort, p.xmppServerPort = portOf(bound["smtp"]), portOf(bound["xmpp_client"]), portOf(bound["xmpp_server"])
		ctx := context.Background()
		ts := p.plan(ctx, "capulet.example", true, true)
		res := p.run(ctx, ts)
		var got []string
		for i, tg := range ts {
			got = append(got, fmt.Sprintf("%s %s: %s", res[i].status, tg, res[i].detail))
		}
		mailHost := func(key string) string {
			return "mail.capulet.example:" + strconv.Itoa(int(portOf(bound[key]))) + " (127.0.0.1)"
		}
		self := func(key string) string {
			return "capulet.example:" + strconv.Itoa(int(portOf(bound[key]))) + " (127.0.0.1; no SRV record: the domain itself)"
		}
		want := []string{
			"warn smtp " + mailHost("smtp") + ": SMTP greeting, STARTTLS; " + certUntrusted,
			"warn submissions " + mailHost("submissions") + ": TLS, SMTP greeting; " + certUntrusted,
			"warn submission " + mailHost("submission") + ": SMTP greeting, STARTTLS; " + certUntrusted,
			"warn imaps " + mailHost("imaps") + ": TLS, IMAP greeting; " + certUntrusted,
			"warn imap " + mailHost("imap") + ": IMAP greeting, STARTTLS; " + certUntrusted,
			"warn xmpp-client " + self("xmpp_client") + ": XMPP stream features, STARTTLS; " + certUntrusted,
			"warn xmpp-server " + self("xmpp_server") + ": XMPP stream features, STARTTLS; " + certUntrusted,
		}
		if !slices.Equal(got, want) {
			t.Errorf("probes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	srv.stop(t)
}

// recordsOf returns `tidings dns records --json domain`.
func recordsOf(t *testing.T, environ []string, domain string) []dnsRecord {
	t.Helper()
	r := runCmd(t, environ, nil, "dns", "records", "--json", domain)
	var rs []dnsRecord
	if err := json.Unmarshal([]byte(r.stdout), &rs); err != nil || r.code != 0 {
		t.Fatalf("%v\n%v", err, r)
	}
	return rs
}

// closedPort returns a loopback port nothing listens on (it did a moment ago).
func closedPort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return uint16(port)
}

// silentListener accepts connections and never says a word.
func silentListener(t *testing.T) uint16 {
	t.Helper()
	return fakePort(t, nil, func(net.Conn) {})
}

// fakePort serves connections on a loopback port until the test ends:
// optionally TLS, then speak, then read until the client leaves.
func fakePort(t *testing.T, tlsCfg *tls.Config, speak func(c net.Conn)) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(time.Minute))
				if tlsCfg != nil {
					tc := tls.Server(c, tlsCfg)
					if tc.Handshake() != nil {
						return
					}
					c = tc
				}
				speak(c)
				io.Copy(io.Discard, c)
			})
		}
	})
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// TestDNSProbeVerdicts probes small Go servers on loopback: certificates
// from a trusted authority, for the wrong name, untrusted; ports that speak
// the wrong protocol or end the stream; a direct-TLS XMPP port without ALPN.
func TestDNSProbeVerdicts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newTestCA(t)
	ca.issue(t, filepath.Join(dir, "good"), "mail.capulet.example", "capulet.example")
	ca.issue(t, filepath.Join(dir, "other"), "other.example")
	tlsWith := func(base string) *tls.Config {
		cert, err := tls.LoadX509KeyPair(filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key"))
		if err != nil {
			t.Fatal(err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	imapGreeting := func(c net.Conn) { io.WriteString(c, "* OK [CAPABILITY IMAP4rev2] ready\r\n") }
	xmppFeatures := func(c net.Conn) {
		io.WriteString(c, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='capulet.example' id='x1' version='1.0'><stream:features/>")
	}
	hostUnknown := func(c net.Conn) {
		io.WriteString(c, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x2' version='1.0'>"+
			"<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>")
	}
	imaps, xmpps, xmpp := mailProbes[2], xmppProbes[0], xmppProbes[1]
	for _, tc := range []struct {
		name         string
		svc          probeService
		tls          *tls.Config
		speak        func(net.Conn)
		roots        *x509.CertPool
		status, want string
	}{
		{"trusted", imaps, tlsWith("good"), imapGreeting, roots, probeOK, "TLS, IMAP greeting, certificate valid"},
		{"untrusted", imaps, tlsWith("good"), imapGreeting, nil, probeWarn, "TLS, IMAP greeting; " + certUntrusted},
		{"wrong name", imaps, tlsWith("other"), imapGreeting, roots, probeFail, "certificate is for other.example, not mail.capulet.example or capulet.example"},
		{"wrong protocol", imaps, tlsWith("good"), func(c net.Conn) { io.WriteString(c, "220 mail.capulet.example ESMTP\r\n") }, roots,
			probeFail, `greeting: not an IMAP greeting: "220 mail.capulet.example ESMTP"`},
		{"no TLS", imaps, nil, imapGreeting, roots, probeFail, "TLS handshake: "},
		{"no ALPN", xmpps, tlsWith("good"), xmppFeatures, roots, probeWarn, "TLS, XMPP stream features, certificate valid; the server did not confirm ALPN xmpp-client"},
		{"no STARTTLS", xmpp, nil, xmppFeatures, roots, probeFail, "STARTTLS not offered in the stream features"},
		{"stream error", xmpp, nil, hostUnknown, roots, probeFail, "stream error: host-unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			port := fakePort(t, tc.tls, tc.speak)
			p := &prober{timeout: 10 * time.Second, helo: testHostname, roots: tc.roots}
			res := p.probe(context.Background(), probeTarget{svc: tc.svc, domain: "capulet.example", host: "mail.capulet.example", port: port, ip: "127.0.0.1"})
			if res.status != tc.status || !strings.HasPrefix(res.detail, tc.want) {
				t.Errorf("got %s %q, want %s %q", res.status, res.detail, tc.status, tc.want)
			}
		})
	}
}
