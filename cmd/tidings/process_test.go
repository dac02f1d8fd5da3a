package main

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds ./cmd/tidings once per test binary into binDir (removed by
// TestMain) and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	buildOnce.Do(func() {
		gobin, err := exec.LookPath("go") // go test puts $GOROOT/bin first in PATH
		if err != nil {
			buildErr = err
			return
		}
		if binDir, err = os.MkdirTemp("", "tidings-bin"); err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(binDir, "tidings")
		args := []string{"build", "-o", binPath}
		if raceEnabled() {
			// Reuses the packages compiled for this test binary (a cold
			// cgo build of SQLite is slow), and finds races in the process.
			args = append(args, "-race")
		}
		cmd := exec.Command(gobin, append(args, ".")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// processEnv is the environment for the binary: this process's, without any
// TIDINGS_ variable, plus environ.
func processEnv(environ []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			out = append(out, kv)
		}
	}
	return append(out, environ...)
}

// TestProcessSignal runs `tidings serve` as a real process in a temporary
// working directory and stops it with a signal: exit code 0, a "stopped"
// log line, within a few seconds.
func TestProcessSignal(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	tests := []struct {
		name string
		sig  syscall.Signal
	}{
		{"SIGTERM", syscall.SIGTERM},
		{"SIGINT", syscall.SIGINT},
	}
	for i := range tests {
		tc := &tests[i]
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr syncBuffer
			cmd := exec.Command(bin, "serve", "--domain", "x.example")
			cmd.Dir = t.TempDir()
			cmd.Env = processEnv(testEnv(t, "TIDINGS_LISTEN_ADMIN=127.0.0.1:0"))
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
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
				default:
					cmd.Process.Kill() // our child, by PID
					<-done
				}
			})

			addr := waitFor(t, &stderr, listeningRE, done, 30*time.Second)
			resp, err := httpClient.Get("http://" + addr + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/healthz: %s", resp.Status)
			}
			if !strings.Contains(stdout.String(), "admin@x.example") {
				t.Errorf("no first administrator on stdout:\n%s", stdout.String())
			}

			sent := time.Now()
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("still running 10 s after %v; stderr:\n%s", tc.sig, stderr.String())
			}
			if waitErr != nil {
				t.Errorf("after %v: %v (want exit code 0); stderr:\n%s", tc.sig, waitErr, stderr.String())
			}
			if d := time.Since(sent); d > 5*time.Second {
				t.Errorf("took %v to stop", d)
			}
			log := stderr.String()
			for _, want := range []string{"msg=\"shutting down\"", "msg=stopped\n"} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
			// The working directory is not the data directory: nothing there.
			if ents, _ := os.ReadDir(cmd.Dir); len(ents) > 0 {
				t.Errorf("files in the working directory: %v", ents)
			}
		})
	}
}

// TestProcessExitCodes checks that the exit codes reach the shell.
func TestProcessExitCodes(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	missing := filepath.Join(t.TempDir(), "missing.toml")
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"version", []string{"version"}, exitOK},
		{"unknown command", []string{"frobnicate"}, exitUsage},
		{"not found", []string{"user", "show", "nobody@x.example"}, exitNotFound},
		{"bad config", []string{"config", "check", "--config", missing}, exitInvalid},
	}
	for i := range tests {
		tc := &tests[i]
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(bin, tc.args...)
			cmd.Dir = t.TempDir()
			cmd.Env = processEnv(testEnv(t))
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit code %d, want %d\n%s", code, tc.code, out)
			}
		})
	}
}
