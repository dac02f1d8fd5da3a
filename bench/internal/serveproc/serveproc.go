// Package serveproc runs `tidings serve` as a child process for the load
// tools under bench/: they measure the server as users meet it, in its own
// process, with the tool's load on the other side of real sockets.
package serveproc

import (
	"bufio"
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
	"syscall"
	"time"
)

// Build builds ./cmd/tidings into dir (the tool runs inside the module:
// `go run ./bench/…`, or its test), with -race if asked.
func Build(dir string, race bool) (string, error) {
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

// Proc is a running `tidings serve`.
type Proc struct {
	Cmd     *exec.Cmd
	LogPath string            // dir/server.log: the server's stdout and stderr
	Addr    map[string]string // listen key ("smtp", "xmpp_client", "admin", …) → the address it logged
	done    chan struct{}
}

var listeningRE = regexp.MustCompile(`msg=listening service=(\S+) addr=(\S+)`)

// startTimeout bounds the wait for the listeners.
const startTimeout = 60 * time.Second

// Start writes config to dir/tidings.toml and runs bin serve on it in dir,
// with the tool's environment less its TIDINGS_ variables, plus env. The
// process inherits the tool's limits (open files). Start returns once every
// listener in want has logged its address.
func Start(bin, dir, config string, env []string, want ...string) (*Proc, error) {
	cfgPath := filepath.Join(dir, "tidings.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, err
	}
	p := &Proc{LogPath: filepath.Join(dir, "server.log"), Addr: map[string]string{}, done: make(chan struct{})}
	logf, err := os.Create(p.LogPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	p.Cmd = exec.Command(bin, "serve", "--config", cfgPath)
	p.Cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TIDINGS_") {
			p.Cmd.Env = append(p.Cmd.Env, kv)
		}
	}
	p.Cmd.Env = append(p.Cmd.Env, env...)
	p.Cmd.Stdout, p.Cmd.Stderr = logf, logf
	if err := p.Cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.Cmd.Wait(); close(p.done) }()
	return p, p.await(want)
}

// await polls the log until every wanted listener has logged its address.
func (p *Proc) await(want []string) error {
	for deadline := time.Now().Add(startTimeout); ; {
		b, _ := os.ReadFile(p.LogPath)
		for _, m := range listeningRE.FindAllStringSubmatch(string(b), -1) {
			p.Addr[m[1]] = m[2]
		}
		if allIn(p.Addr, want) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("tidings serve exited: %s\n%s", p.Cmd.ProcessState, p.LogTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return fmt.Errorf("tidings serve: no listeners after %v\n%s", startTimeout, p.LogTail())
		}
	}
}

func allIn(m map[string]string, keys []string) bool {
	for _, k := range keys {
		if m[k] == "" {
			return false
		}
	}
	return true
}

// LogTail returns the last 4000 bytes of the server's log.
func (p *Proc) LogTail() string {
	b, _ := os.ReadFile(p.LogPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop ends the server (the tool's child, by its PID) with SIGTERM, and
// kills it if it has not stopped within 40 s (its graceful stop takes up
// to 30 s).
func (p *Proc) Stop() error {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		p.Cmd.Process.Kill()
		<-p.done
		return errors.New("tidings serve did not stop within 40 s after SIGTERM; killed")
	}
	if !p.Cmd.ProcessState.Success() {
		return fmt.Errorf("tidings serve: %s\n%s", p.Cmd.ProcessState, p.LogTail())
	}
	return nil
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// Metrics reads the server's Prometheus metrics from its admin listener:
// samples without labels under their name, labelled ones under their full
// text.
func Metrics(admin string) (map[string]float64, error) {
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
