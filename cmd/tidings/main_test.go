package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidings/tidings/migrations/dbtest"
)

// The tests run every verb in-process through run(), each test with its own
// data directory and configuration file given through the environment, so
// neither the working directory nor the caller's TIDINGS_* variables matter.
// process_test.go also runs the built binary.

func TestMain(m *testing.M) {
	code := dbtest.Main(m)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// testHostname is the hostname every test configures, so that no test
// depends on the machine's name or resolver.
const testHostname = "mail.capulet.example"

// testEnv returns the environment of one test: a fresh data directory, an
// empty configuration file named by TIDINGS_CONFIG, every listener off
// (admin too; turn it on with withEnv), the minimum SCRAM iteration count so
// that -race stays quick, and then extra (KEY=VALUE, replacing).
func testEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "tidings.toml")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	environ := []string{
		"TIDINGS_CONFIG=" + cfg,
		"TIDINGS_DATA_DIR=" + t.TempDir(),
		"TIDINGS_HOSTNAME=" + testHostname,
		"TIDINGS_ACCOUNTS_SCRAM_ITERATIONS=4096",
	}
	ListenConfig{}.each(func(key, _ string) {
		environ = append(environ, "TIDINGS_LISTEN_"+strings.ToUpper(key)+"=")
	})
	return withEnv(environ, extra...)
}

// withEnv returns a copy of environ with each KEY=VALUE of kv set, replacing
// an earlier value of KEY.
func withEnv(environ []string, kv ...string) []string {
	out := append([]string{}, environ...)
	for _, s := range kv {
		k, _, _ := strings.Cut(s, "=")
		replaced := false
		for i, old := range out {
			if name, _, _ := strings.Cut(old, "="); name == k {
				out[i], replaced = s, true
			}
		}
		if !replaced {
			out = append(out, s)
		}
	}
	return out
}

// envValue returns KEY's value in environ.
func envValue(environ []string, key string) string { return lookupEnv(environ, key) }

// result is what one in-process command did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\n--- stdout:\n" + r.stdout + "--- stderr:\n" + r.stderr
}

// runCmd runs one verb in-process with stdin (nil: empty).
func runCmd(t *testing.T, environ []string, stdin io.Reader, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, args, &env{stdin: stdin, stdout: &out, stderr: &errb, environ: environ})
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// syncBuffer is a bytes.Buffer safe for one writer goroutine and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listeningRE matches the admin listener's log line (text format) and
// captures the bound address.
var listeningRE = regexp.MustCompile(`msg=listening service=admin addr=(\S+)`)

// waitFor polls buf until re matches and returns the first submatch (or the
// whole match). It fails t if done is closed first or after timeout.
func waitFor(t *testing.T, buf *syncBuffer, re *regexp.Regexp, done <-chan struct{}, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(buf.String()); m != nil {
			return m[len(m)-1]
		}
		select {
		case <-done:
			if m := re.FindStringSubmatch(buf.String()); m != nil {
				return m[len(m)-1]
			}
			t.Fatalf("exited before %q appeared; output:\n%s", re, buf.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %v; output:\n%s", re, timeout, buf.String())
		}
	}
}

// binDir holds the built binary (process_test.go); TestMain removes it.
var binDir string
