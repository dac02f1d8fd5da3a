package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/migrations"
)

// The scenario's names.
const (
	domain       = "capulet.example"
	juliet       = "juliet@capulet.example"
	password     = "correct horse battery"
	senderDomain = "montague.example"
	sender       = "tybalt@montague.example" // juliet's contact
	senderName   = "Tybalt"
)

// script is juliet's active script: a headline for mail from anyone in her
// address book.
const script = `require ["enotify","extlists"]; if address :list "from" ":addrbook:default" { notify "xmpp:juliet@capulet.example"; }`

// config is the server's configuration: the MX listener, the XMPP client
// listener and the admin listener (metrics) on loopback ports the kernel
// picks, and the tool's DNS server as resolver (the MX checks SPF and
// DMARC of every mail). Everything else is the default.
const config = `hostname = "mx.capulet.example"
domains = [%q]
data_dir = %q
resolver = %q

[log]
level = "info"

[listen]
admin = "127.0.0.1:0"
smtp = "127.0.0.1:0"
submission = ""
submissions = ""
imap = ""
imaps = ""
managesieve = ""
xmpp_client = "127.0.0.1:0"
xmpp_client_tls = ""
xmpp_server = ""
xmpp_server_tls = ""
http = ""
https = ""
`

// server is a `tidings serve` process started by the tool.
type server struct {
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
	smtp    string
	c2s     string
	admin   string
}

// buildServer builds ./cmd/tidings into dir (the tool runs inside the
// module: `go run ./bench/notifylat`, or its test).
func buildServer(dir string, race bool) (string, error) {
	bin := filepath.Join(dir, "tidings")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "github.com/tidings/tidings/cmd/tidings")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/tidings (run the tool inside the module, or pass -bin): %v\n%s", err, out)
	}
	return bin, nil
}

// setup creates the domain, juliet (4096 SCRAM iterations), her contact
// and her active script in the SQLite database at dbPath, before the
// server opens it.
func setup(ctx context.Context, dbPath string) error {
	db, err := migrations.Open(ctx, migrations.DefaultConfig(dbPath))
	if err != nil {
		return err
	}
	defer db.Close()
	cfg := accounts.DefaultConfig()
	cfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(db, cfg, nil, nil)
	if err != nil {
		return err
	}
	if _, err := acc.AddDomain(ctx, domain, accounts.DomainSettings{}); err != nil {
		return err
	}
	u, err := acc.AddUser(ctx, accounts.NewUser{Address: juliet, Password: password})
	if err != nil {
		return err
	}
	if _, err := acc.AddContact(ctx, juliet, accounts.Contact{Name: senderName, Email: sender}); err != nil {
		return err
	}
	sc := filters.New(db, acc, filters.Config{}, nil).Scripts()
	if err := sc.Put(ctx, u.ID, "notify", script); err != nil {
		return err
	}
	return sc.Activate(ctx, u.ID, "notify")
}

var listeningRE = regexp.MustCompile(`msg=listening service=(\S+) addr=(\S+)`)

// startServer runs `tidings serve` on dir with env added to the tool's
// environment (without its TIDINGS_ variables). Its log goes to
// dir/server.log.
func startServer(bin, dir, resolver string, env ...string) (*server, error) {
	cfgPath := filepath.Join(dir, "tidings.toml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, config, domain, dir, resolver), 0o600); err != nil {
		return nil, err
	}
	s := &server{logPath: filepath.Join(dir, "server.log"), done: make(chan struct{})}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, "serve", "--config", cfgPath)
	s.cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TIDINGS_") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	s.cmd.Env = append(s.cmd.Env, env...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	for deadline := time.Now().Add(60 * time.Second); ; {
		b, _ := os.ReadFile(s.logPath)
		for _, m := range listeningRE.FindAllStringSubmatch(string(b), -1) {
			switch m[1] {
			case "smtp":
				s.smtp = m[2]
			case "xmpp_client":
				s.c2s = m[2]
			case "admin":
				s.admin = m[2]
			}
		}
		if s.smtp != "" && s.c2s != "" && s.admin != "" {
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("tidings serve exited: %s\n%s", s.cmd.ProcessState, s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("tidings serve: no listeners after 60 s\n%s", s.logTail())
		}
	}
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// troubles returns the server's WARN and ERROR log lines (at most 20)
// but the one about the self-signed certificate it creates.
func (s *server) troubles() []string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() && len(out) < 20 {
		l := sc.Text()
		if strings.Contains(l, "self-signed certificate") {
			continue
		}
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}

// stop ends the server (our child, by its PID) with SIGTERM, and kills it
// if it has not stopped within 40 s (its graceful stop takes up to 30 s).
func (s *server) stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(40 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return errors.New("tidings serve did not stop within 40 s after SIGTERM; killed")
	}
	if !s.cmd.ProcessState.Success() {
		return fmt.Errorf("tidings serve: %s\n%s", s.cmd.ProcessState, s.logTail())
	}
	return nil
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// cpuSeconds reads process_cpu_seconds_total from the server's metrics.
func cpuSeconds(admin string) (float64, error) {
	resp, err := httpClient.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			io.Copy(io.Discard, resp.Body)
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, errors.New("/metrics: no process_cpu_seconds_total")
}

// dnsServer answers the MX's SPF and DMARC look-ups for the sender's
// domain on loopback (UDP and TCP on one port), so that no look-up leaves
// the machine or waits on a resolver that cannot answer: the sender's SPF
// record passes 127.0.0.0/8, its DMARC policy is none. Other names get
// NXDOMAIN, other types of these names NODATA.
type dnsServer struct {
	addr    string
	servers []*dns.Server
}

var dnsRecords = map[string][]string{
	senderDomain + ".":             {"v=spf1 ip4:127.0.0.0/8 -all"},
	"_dmarc." + senderDomain + ".": {"v=DMARC1; p=none"},
}

func startDNS() (*dnsServer, error) {
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ln == nil; i++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		if ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
			pc.Close()
			if i == 20 {
				return nil, fmt.Errorf("dns: no port free for both UDP and TCP: %w", err)
			}
		}
	}
	d := &dnsServer{addr: pc.LocalAddr().String()}
	h := dns.HandlerFunc(answer)
	d.servers = []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}}
	for _, srv := range d.servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
	}
	return d, nil
}

func (d *dnsServer) stop() {
	for _, s := range d.servers {
		s.Shutdown()
	}
}

func answer(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) == 1 {
		q := req.Question[0]
		txt, ok := dnsRecords[strings.ToLower(q.Name)]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeTXT:
			for _, t := range txt {
				m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT,
					Class: dns.ClassINET, Ttl: 300}, Txt: []string{t}})
			}
		}
	}
	w.WriteMsg(m)
}
