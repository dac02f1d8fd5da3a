package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidings/tidings/internal/testdns"
	"github.com/tidings/tidings/xmpp/s2s"
)

// The federation interop test proves XMPP server-to-server (xmpp/s2s)
// against Prosody (Debian package prosody), a server nobody here wrote
// (interop_s2s_ejabberd_test.go runs the same against ejabberd):
// montague.example is hosted on Prosody with the user romeo, capulet.example on
// the real binary with juliet. Both servers find each other only through
// _xmpp-server._tcp SRV records served by the test's DNS server
// (testdns.Start): Tidings through the top-level `resolver` key, Prosody
// through its libunbound resolver forwarding to it (`unbound.forward`), so
// neither /etc/hosts nor the system resolver is involved. Prosody runs as
// the prosody user from testdata/s2s/prosody.cfg.lua, filled in for a
// temporary directory holding its data, pid file, log and certificate, on a
// loopback address of its own. testdata/s2s/juliet_romeo.py (slixmpp) logs
// juliet in to Tidings and romeo in to Prosody; they subscribe to each
// other until both rosters say both, see each other's presence and
// exchange messages both ways. The domains are under example., not test.:
// libunbound answers every name under test. (RFC 6761) with NXDOMAIN itself
// and has no setting Prosody passes on to change that.
//
// It runs with self-signed certificates, where neither server can verify
// the other and both fall back to Server Dialback (XEP-0220), and with
// certificates from a private CA made by the test and trusted by both
// (Tidings: xmpp.s2s.ca_file; Prosody: ssl.cafile), where both require
// valid certificates and authenticate with SASL EXTERNAL (XEP-0178), once
// with romeo writing first and once with juliet. Prosody has mod_s2s_bidi
// on, so the side that opens the link asks for a bidirectional stream
// (XEP-0288) and the other sends its stanzas back on it: the test checks
// with `tidings xmpp s2s --json` that there is only the one stream
// (s2sMode.bidi says which, and why dialback makes two).

const (
	s2sJuliet   = "juliet@capulet.example"
	s2sRomeo    = "romeo@montague.example"
	s2sPassword = interopPassword
)

// s2sMode is one run of the federation test.
type s2sMode struct {
	name      string
	ca        bool   // certificates from a private CA, SASL EXTERNAL required
	peerIP    string // the peer server's c2s and s2s listeners
	tidingsIP string // Tidings' c2s and s2s listeners
	wantAuth  string // what Tidings logs for its links: auth=...
	// bidi: what the peer does with XEP-0288: "" nothing (a stream each
	// way); "out" it takes our stream's offer (Tidings writes first) and
	// needs no stream of its own; "in" it asks for it on its own stream
	// (romeo writes first) and we open none; "both": Tidings writes first
	// and authenticates with dialback, which Prosody verifies over a
	// stream of its own to us (it sends db:verify as an s2s stanza and
	// authenticates that stream too): two bidirectional streams.
	bidi string
	// literalTarget: capulet's SRV record names Tidings' address itself
	// ("127.0.0.76.") rather than a host with an A record, for peers that
	// look SRV targets up with the system's resolver (ejabberd).
	literalTarget bool
}

// s2sPeer is the server hosting montague.example (Prosody, ejabberd).
type s2sPeer interface {
	// tempDir returns a temporary directory the server's user owns,
	// removed at clean-up.
	tempDir(t *testing.T) string
	// start writes the server's configuration into c.dir, starts it,
	// registers s2sRomeo with s2sPassword and waits until its c2s port
	// answers. Clean-up stops it by PID.
	start(t *testing.T, c s2sPeerConfig)
}

// s2sAuthChecker is a peer that can tell how it authenticated the links
// ("dialback" or "external").
type s2sAuthChecker interface {
	checkAuth(t *testing.T, dir, auth string)
}

// s2sPeerConfig is what the peer server is started with.
type s2sPeerConfig struct {
	dir              string // holds montague.crt and montague.key
	ip               string // listeners' address
	c2sPort, s2sPort int
	dns              string // the test's DNS server, host:port: the only resolver
	cafile           string // certificates trusted for peers
	secure           bool   // valid certificates only (SASL EXTERNAL), no dialback
}

// Tidings' log lines for established links, with how they authenticated.
var (
	s2sOutboundReadyRE   = regexp.MustCompile(`msg="s2s: outbound stream ready" (?:\S+ )*?local=capulet\.example remote=montague\.example addr=\S+ auth=(\w+) bidi=(\w+)`)
	s2sInboundVerifiedRE = regexp.MustCompile(`msg="s2s: inbound stream verified" (?:\S+ )*?local=capulet\.example remote=montague\.example auth=(\w+) bidi=(\w+)`)
)

func TestInteropS2SProsody(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and Prosody")
	}
	t.Parallel()
	for _, m := range []s2sMode{
		{name: "dialback", peerIP: "127.0.0.71", tidingsIP: "127.0.0.72", wantAuth: "dialback", bidi: "both"},
		{name: "external", ca: true, peerIP: "127.0.0.73", tidingsIP: "127.0.0.74", wantAuth: "external", bidi: "in"},
		{name: "external-juliet-first", ca: true, peerIP: "127.0.0.79", tidingsIP: "127.0.0.80", wantAuth: "external", bidi: "out"},
	} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			testS2S(t, m, interopProsody(t))
		})
	}
}

// testS2S runs the Juliet-and-Romeo scenario between the binary
// (capulet.example) and peer (montague.example).
func testS2S(t *testing.T, m s2sMode, peer s2sPeer) {
	python, _ := interopSlixmpp(t)
	start := time.Now()
	bin := binary(t)
	if ln, err := net.Listen("tcp", m.peerIP+":0"); err != nil {
		t.Skipf("no loopback address %s (Linux routes all of 127/8 to lo): %v", m.peerIP, err)
	} else {
		ln.Close()
	}

	// Ports: the peer's must be chosen before it starts; Tidings' s2s port
	// goes into the DNS records, which are fixed when the server starts.
	ports := freePorts(t, m.peerIP, 2)
	pc := s2sPeerConfig{ip: m.peerIP, c2sPort: ports[0], s2sPort: ports[1], secure: m.ca}
	tports := freePorts(t, m.tidingsIP, 2)
	tidingsS2S, tidingsAdmin := tports[0], tports[1]
	target := "xmpp.capulet.example."
	if m.literalTarget {
		target = m.tidingsIP + "."
	}
	d := testdns.Start(t,
		"_xmpp-server._tcp.capulet.example. 60 IN SRV 0 5 "+strconv.Itoa(tidingsS2S)+" "+target,
		"xmpp.capulet.example. 60 IN A "+m.tidingsIP,
		"_xmpp-server._tcp.montague.example. 60 IN SRV 0 5 "+strconv.Itoa(pc.s2sPort)+" xmpp.montague.example.",
		"xmpp.montague.example. 60 IN A "+m.peerIP,
	)
	pc.dns = d.Addr

	// Certificates: self-signed for each, or both from one private CA.
	pc.dir = peer.tempDir(t)
	tdir := t.TempDir()
	extra := []string{
		"TIDINGS_RESOLVER=" + d.Addr,
		"TIDINGS_LISTEN_XMPP_CLIENT=127.0.0.1:0", // port 0 elsewhere cannot take tidingsS2S
		"TIDINGS_LISTEN_XMPP_SERVER=" + net.JoinHostPort(m.tidingsIP, strconv.Itoa(tidingsS2S)),
		"TIDINGS_LISTEN_ADMIN=" + net.JoinHostPort(m.tidingsIP, strconv.Itoa(tidingsAdmin)), // tidings xmpp s2s
		"TIDINGS_XMPP_C2S_POST_AUTH_BYTES_PER_SECOND=0",
		"TIDINGS_XMPP_S2S_CONNECT_TIMEOUT=20s",
	}
	pc.cafile = filepath.Join(pc.dir, "montague.crt") // self-signed: trusts nothing but itself
	if m.ca {
		ca := newTestCA(t)
		ca.issue(t, filepath.Join(pc.dir, "montague"), "montague.example", "xmpp.montague.example")
		ca.issue(t, filepath.Join(tdir, "capulet"), "capulet.example", testHostname)
		pc.cafile = filepath.Join(pc.dir, "ca.crt")
		writeFile(t, pc.cafile, ca.pem)
		extra = append(extra,
			"TIDINGS_TLS_CERT_FILE="+filepath.Join(tdir, "capulet.crt"),
			"TIDINGS_TLS_KEY_FILE="+filepath.Join(tdir, "capulet.key"),
			"TIDINGS_XMPP_S2S_CA_FILE="+pc.cafile,
			"TIDINGS_XMPP_S2S_REQUIRE_VALID_CERTS=true",
		)
	} else {
		selfSigned(t, filepath.Join(pc.dir, "montague"), "montague.example", "xmpp.montague.example")
	}
	peer.start(t, pc)

	environ := testEnv(t, extra...)
	proc := startServeProc(t, bin, environ)
	srv := &interopServer{bin: bin, environ: environ}
	srv.cli(t, s2sPassword+"\n", "user", "add", s2sJuliet, "--password-stdin")
	c2s := regexp.MustCompile(`msg=listening service=xmpp_client addr=(\S+)`).FindStringSubmatch(proc.stderr.String())
	if c2s == nil {
		t.Fatalf("no xmpp_client listener in the log:\n%s", proc.stderr.String())
	}
	host, port, _ := net.SplitHostPort(c2s[1])
	tport, _ := strconv.Atoi(port)

	cfg, _ := json.Marshal(map[string]any{
		"juliet": s2sJuliet, "romeo": s2sRomeo, "password": s2sPassword,
		"juliet_host": host, "juliet_port": tport, "romeo_host": m.peerIP, "romeo_port": pc.c2sPort,
		"romeo_first": m.bidi == "in",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "s2s", "juliet_romeo.py"), string(cfg))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	out := stdout.String()
	if err != nil || !strings.HasPrefix(out, "PASS ") {
		t.Fatalf("juliet_romeo.py: %v\n%s\nstderr:\n%s", err, out, stderr.String()) // clean-ups add both servers' logs
	}
	first, _, _ := strings.Cut(out, "\n")
	t.Log(first)

	// Both directions were authenticated the way this mode wants, on
	// one stream each way or, with bidi, on one stream.
	log := proc.stderr.String()
	checkS2SLinks(t, m, srv, log)
	checkS2SMetrics(t, m, "http://"+net.JoinHostPort(m.tidingsIP, strconv.Itoa(tidingsAdmin))+"/metrics")
	if c, ok := peer.(s2sAuthChecker); ok {
		c.checkAuth(t, pc.dir, m.wantAuth)
	}
	if strings.Contains(log, "level=ERROR") || strings.Contains(log, "panic") {
		t.Errorf("errors in the server log:\n%s", log)
	}
	t.Logf("%s done in %v", m.name, time.Since(start).Round(time.Millisecond))
}

// checkS2SLinks checks how the binary's links to montague.example were
// made: its log (auth=, bidi=) and `tidings xmpp s2s --json`, which lists
// the live links. With bidi there is one stream, in the direction of the
// side that wrote first, and no other.
func checkS2SLinks(t *testing.T, m s2sMode, srv *interopServer, log string) {
	t.Helper()
	out, in := s2sOutboundReadyRE.FindStringSubmatch(log), s2sInboundVerifiedRE.FindStringSubmatch(log)
	var want []string // direction:auth:bidi of the ready links
	switch m.bidi {
	case "":
		want = []string{"out:" + m.wantAuth + ":false", "in:" + m.wantAuth + ":false"}
	case "both":
		want = []string{"out:" + m.wantAuth + ":true", "in:" + m.wantAuth + ":true"}
	case "out":
		want, in = []string{"out:" + m.wantAuth + ":true"}, []string{"", m.wantAuth, "true"}
	case "in":
		want, out = []string{"in:" + m.wantAuth + ":true"}, []string{"", m.wantAuth, "true"}
	}
	for _, c := range []struct {
		re  *regexp.Regexp
		got []string
	}{{s2sOutboundReadyRE, out}, {s2sInboundVerifiedRE, in}} {
		if c.got == nil || c.got[1] != m.wantAuth || c.got[2] != strconv.FormatBool(m.bidi != "") {
			t.Errorf("%s: %q, want auth=%s bidi=%v; log:\n%s", c.re, c.got, m.wantAuth, m.bidi != "", log)
		}
	}
	if m.bidi == "out" && strings.Contains(log, `msg="s2s: inbound stream verified"`) ||
		m.bidi == "in" && strings.Contains(log, `msg="s2s: outbound stream ready"`) {
		t.Errorf("bidi %s, but a stream the other way too; log:\n%s", m.bidi, log)
	}
	var links []s2s.Link
	if err := json.Unmarshal([]byte(srv.cliOut(t, "xmpp", "s2s", "--json")), &links); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range links {
		if l.State == "ready" && l.Local == "capulet.example" && l.Remote == "montague.example" {
			got = append(got, l.Direction+":"+l.Auth+":"+strconv.FormatBool(l.Bidi))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("tidings xmpp s2s: links to montague.example %q, want %q; all: %+v", got, want, links)
	}
}

// checkS2SMetrics reads the federation metrics: the ready links to
// montague.example by direction and authentication, and stanzas both ways.
func checkS2SMetrics(t *testing.T, m s2sMode, url string) {
	t.Helper()
	code, body := httpGet(t, url)
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	var want []string
	switch m.bidi {
	case "":
		want = []string{`tidings_xmpp_s2s_links{auth="` + m.wantAuth + `",bidi="false",direction="in",state="ready"} 1`,
			`tidings_xmpp_s2s_links{auth="` + m.wantAuth + `",bidi="false",direction="out",state="ready"} 1`}
	case "both":
		want = []string{`tidings_xmpp_s2s_links{auth="` + m.wantAuth + `",bidi="true",direction="in",state="ready"} 1`,
			`tidings_xmpp_s2s_links{auth="` + m.wantAuth + `",bidi="true",direction="out",state="ready"} 1`}
	default:
		want = []string{`tidings_xmpp_s2s_links{auth="` + m.wantAuth + `",bidi="true",direction="` + m.bidi + `",state="ready"} 1`}
	}
	for _, w := range want {
		if !strings.Contains(body, "\n"+w+"\n") {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	for _, dir := range []string{"in", "out"} {
		// The scenario's stanzas: at least the subscription handshake,
		// presence and three messages each way.
		re := regexp.MustCompile(`\ntidings_xmpp_s2s_stanzas_total\{direction="` + dir + `"\} (\d+)\n`)
		got := re.FindStringSubmatch(body)
		if n := 0; got == nil {
			t.Errorf("/metrics: no s2s stanzas %s", dir)
		} else if n, _ = strconv.Atoi(got[1]); n < 5 {
			t.Errorf("/metrics: %d s2s stanzas %s, want at least 5", n, dir)
		}
	}
	if !strings.Contains(body, "\ntidings_xmpp_s2s_bounces_total 0\n") {
		t.Errorf("/metrics: bounces are not 0:\n%s", grepLines(body, "tidings_xmpp_s2s"))
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", grepLines(body, "tidings_xmpp_s2s"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// prosodyBin is Prosody's installation: its binaries, and the user it runs
// as when the test runs as root (Prosody refuses to run as root).
type prosodyBin struct {
	prosody, prosodyctl string
	cred                *syscall.Credential // nil: as ourselves
}

// interopProsody finds Prosody, or skips (fails in CI mode).
func interopProsody(t *testing.T) *prosodyBin {
	t.Helper()
	p := &prosodyBin{}
	var err error
	if p.prosody, err = exec.LookPath("prosody"); err == nil {
		p.prosodyctl, err = exec.LookPath("prosodyctl")
	}
	if err != nil {
		interopRequireTool(t, "Prosody not installed (Debian: apt-get install prosody; scripts/test.sh does): %v", err)
	}
	// The test's DNS server is reachable for Prosody only through
	// libunbound (lua-unbound, only recommended by the package): without
	// it Prosody reads /etc/resolv.conf and ignores the unbound setting.
	if out, err := exec.Command(prosodyLua(p.prosody), "-e", `require "lunbound"`).CombinedOutput(); err != nil {
		interopRequireTool(t, "Prosody's Lua lacks lunbound (Debian: apt-get install lua-unbound; scripts/test.sh does): %v\n%s", err, out)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("prosody")
		if err != nil {
			interopRequireTool(t, "running as root and there is no prosody user to run Prosody as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	return p
}

// prosodyLua returns the Lua interpreter named on prosody's #! line
// (Debian: #!/usr/bin/env lua5.4), or lua5.4.
func prosodyLua(prosody string) string {
	b, _ := os.ReadFile(prosody)
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if f := strings.Fields(strings.TrimPrefix(string(line), "#!")); len(f) > 0 && bytes.HasPrefix(b, []byte("#!")) {
		return f[len(f)-1]
	}
	return "lua5.4"
}

// tempDir returns a temporary directory Prosody's user owns (t.TempDir's
// parents are root's alone), removed at clean-up.
func (p *prosodyBin) tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tidings-prosody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// command returns Prosody's name run as its user, in dir.
func (p *prosodyBin) command(dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

// start writes dir/prosody.cfg.lua from the template, registers romeo,
// starts Prosody in the foreground and waits until its c2s port answers.
// Clean-up stops it by PID with SIGTERM.
func (p *prosodyBin) start(t *testing.T, c s2sPeerConfig) {
	t.Helper()
	dir := c.dir
	cfgFile := filepath.Join(dir, "prosody.cfg.lua")
	writeTemplate(t, "prosody.cfg.lua", cfgFile, map[string]string{
		"DIR": dir, "IP": c.ip, "C2S_PORT": strconv.Itoa(c.c2sPort), "S2S_PORT": strconv.Itoa(c.s2sPort),
		"DNS": strings.Replace(c.dns, ":", "@", 1), "SECURE_AUTH": strconv.FormatBool(c.secure), "CAFILE": c.cafile,
	})
	for _, sub := range []string{"data", "certs"} { // certs: Prosody indexes it at start
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if p.cred != nil {
		err := filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, int(p.cred.Uid), int(p.cred.Gid))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	localpart, domain, _ := strings.Cut(s2sRomeo, "@")
	reg := p.command(dir, p.prosodyctl, "--config", cfgFile, "register", localpart, domain, s2sPassword)
	if out, err := reg.CombinedOutput(); err != nil {
		t.Fatalf("prosodyctl register: %v\n%s", err, out)
	}

	var output syncBuffer
	cmd := p.command(dir, p.prosody, "--config", cfgFile)
	cmd.Stdout, cmd.Stderr = &output, &output
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
			t.Errorf("Prosody exited early: %v\n%s", waitErr, output.String())
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM) // our child, by PID
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("Prosody still running 10 s after SIGTERM")
		}
		if t.Failed() {
			t.Logf("Prosody (pid %d) output:\n%s\nlog (tail):\n%s", cmd.Process.Pid, output.String(), p.logTail(dir))
		}
	})
	addr := net.JoinHostPort(c.ip, strconv.Itoa(c.c2sPort))
	ok := eventually(15*time.Second, func() bool {
		select {
		case <-done:
			return true
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	select {
	case <-done:
		t.Fatalf("Prosody exited: %v\n%s\nlog:\n%s", waitErr, output.String(), p.logTail(dir))
	default:
	}
	if !ok {
		t.Fatalf("Prosody's c2s port %s did not answer within 15 s\n%s\nlog:\n%s", addr, output.String(), p.logTail(dir))
	}
}

// logTail returns the end of Prosody's debug log.
func (p *prosodyBin) logTail(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "prosody.log"))
	if err != nil {
		return err.Error()
	}
	if len(b) > 30000 {
		b = b[len(b)-30000:]
	}
	return string(b)
}

// freePorts returns n distinct TCP ports free on ip just now. Each test
// has loopback addresses of its own, so nothing else takes them before
// they are used.
func freePorts(t *testing.T, ip string, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close() // held until all are chosen: no port twice
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// writeTemplate fills in testdata/s2s/name (placeholders NAME between
// double at-signs) with vars and writes it to file.
func writeTemplate(t *testing.T, name, file string, vars map[string]string) {
	t.Helper()
	tmpl, err := os.ReadFile(filepath.Join("testdata", "s2s", name))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(tmpl)
	for k, v := range vars {
		cfg = strings.ReplaceAll(cfg, "@@"+k+"@@", v)
	}
	if i := strings.Index(cfg, "@@"); i >= 0 {
		t.Fatalf("%s: placeholder left: %.40s", name, cfg[i:])
	}
	writeFile(t, file, []byte(cfg))
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// testCA is a private certificate authority made by the test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Verona test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes base.crt and base.key: a server certificate for names
// (dNSName SANs; the CN is the first, which no XMPP server may use).
func (ca *testCA) issue(t *testing.T, base string, names ...string) {
	t.Helper()
	writeLeaf(t, base, ca.cert, ca.key, names)
}

// selfSigned writes base.crt and base.key: a self-signed certificate for names.
func selfSigned(t *testing.T, base string, names ...string) {
	t.Helper()
	writeLeaf(t, base, nil, nil, names)
}

func writeLeaf(t *testing.T, base string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, names []string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, base+".crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(t, base+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}
