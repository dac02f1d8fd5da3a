package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations"
)

// server is a `tidings serve` process started by the tool.
type server struct {
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
	c2s     string // STARTTLS listener
	c2sTLS  string // direct TLS listener
	admin   string
}

// config is the server's configuration for load: only the XMPP client
// listeners and the admin listener (metrics), on loopback ports the kernel
// picks; no rate shaping (it would throttle the tool, which sends from few
// addresses at many times a human's rate); no per-address connection cap.
const config = `hostname = %q
domains = [%q]
data_dir = %q

[log]
level = "info"

[listen]
admin = "127.0.0.1:0"
smtp = ""
submission = ""
submissions = ""
imap = ""
imaps = ""
managesieve = ""
xmpp_client = "127.0.0.1:0"
xmpp_client_tls = "127.0.0.1:0"
xmpp_server = ""
xmpp_server_tls = ""
http = ""
https = ""

[accounts]
scram_iterations = 4096

[xmpp.c2s]
max_conns_per_ip = 1000000

[xmpp.c2s.pre_auth]
bytes_per_second = 0

[xmpp.c2s.post_auth]
bytes_per_second = 0
`

// buildServer builds ./cmd/tidings into dir (the tool runs inside the
// module: `go run ./bench/xmppload`, or its test).
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

var listeningRE = regexp.MustCompile(`msg=listening service=(\S+) addr=(\S+)`)

// startServer runs `tidings serve` on dir with the load configuration. Its
// log goes to dir/server.log. The process inherits the tool's open-file
// limit (raised by raiseFileLimit).
func startServer(bin, dir, domain string) (*server, error) {
	cfgPath := filepath.Join(dir, "tidings.toml")
	cfg := fmt.Sprintf(config, "xmpp."+domain, domain, dir)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
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
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(s.logPath)
		for _, m := range listeningRE.FindAllStringSubmatch(string(b), -1) {
			switch m[1] {
			case "xmpp_client":
				s.c2s = m[2]
			case "xmpp_client_tls":
				s.c2sTLS = m[2]
			case "admin":
				s.admin = m[2]
			}
		}
		if s.c2s != "" && s.c2sTLS != "" && s.admin != "" {
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

// createUsers makes sure prefix0..prefix<n-1>@domain exist in the SQLite
// database at dbPath (creating the domain too), and derives each one's
// client-side SCRAM-SHA-1 keys into keys. New users get 4096 PBKDF2
// iterations (the minimum) so that creating 10,000 takes seconds.
func createUsers(ctx context.Context, dbPath, domain, prefix, password string, n int, keys *keyCache) (created int, err error) {
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o750); err != nil {
		return 0, err
	}
	db, err := migrations.Open(ctx, migrations.DefaultConfig(dbPath))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	cfg := accounts.DefaultConfig()
	cfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(db, cfg, nil, nil)
	if err != nil {
		return 0, err
	}
	if _, err := acc.AddDomain(ctx, domain, accounts.DomainSettings{}); err != nil && !errors.Is(err, accounts.ErrExists) {
		return 0, err
	}
	var next, made atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 { // PBKDF2 on both cores while the other workers wait on the database
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				addr := fmt.Sprintf("%s%d@%s", prefix, i, domain)
				cred, _, err := acc.SCRAMCredential(ctx, addr, accounts.SCRAMSHA1)
				if errors.Is(err, accounts.ErrNotFound) {
					if _, err = acc.AddUser(ctx, accounts.NewUser{Address: addr, Password: password}); err == nil {
						made.Add(1)
						cred, _, err = acc.SCRAMCredential(ctx, addr, accounts.SCRAMSHA1)
					}
				}
				if err == nil {
					var k scramKeys
					if k, err = deriveKeys(password, cred.Salt, cred.Iterations); err == nil {
						keys.put(fmt.Sprintf("%s%d", prefix, i), k)
					}
				}
				if err != nil {
					errs <- fmt.Errorf("user %s: %w", addr, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return int(made.Load()), <-errs
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// metrics reads the server's Prometheus metrics (samples without labels,
// and labelled ones under their full text).
func metrics(admin string) (map[string]float64, error) {
	if admin == "" {
		return nil, errors.New("no admin address")
	}
	resp, err := httpClient.Get("http://" + admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

// raiseFileLimit lifts the open-file soft limit to the hard limit: 10,000
// sessions need 10,000 descriptors in the tool and as many in the server,
// which inherits the limit when the tool starts it.
func raiseFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	return l.Cur
}
