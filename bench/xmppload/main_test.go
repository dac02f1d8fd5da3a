package main

import (
	"bytes"
	"runtime/debug"
	"testing"
	"time"
)

// TestSmoke runs the load tool at a tiny scale against a real `tidings
// serve` process, so the test command keeps it working, and checks that
// its figures are sane; the figures themselves come from
// `go run ./bench/xmppload`.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server; skipped with -short")
	}
	var out bytes.Buffer
	res, err := run(options{domain: "load.example", prefix: "load", password: "correct horse battery",
		dir: t.TempDir(), race: raceEnabled(),
		logins: 40, conc: 8, idle: 100, pairs: 2, duration: time.Second, size: 100, window: 4}, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.loginsPerSec <= 0 || res.loginP50 <= 0 || res.loginP99 < res.loginP50 {
		t.Errorf("logins: %.0f/s, p50 %v, p99 %v", res.loginsPerSec, res.loginP50, res.loginP99)
	}
	// An idle session costs the server at least its socket and goroutine,
	// and nowhere near a megabyte.
	if res.idleSessions != 100 || res.idleHeapPerSession < 1<<10 || res.idleHeapPerSession > 1<<20 {
		t.Errorf("idle: %d sessions, %.0f bytes each", res.idleSessions, res.idleHeapPerSession)
	}
	if res.msgsPerSec <= 0 || res.msgP50 <= 0 || res.msgP99 < res.msgP50 {
		t.Errorf("messages: %.0f/s, p50 %v, p99 %v", res.msgsPerSec, res.msgP50, res.msgP99)
	}
	if res.pacedRate <= 0 || res.pacedPerSec <= 0 || res.pacedP99 < res.pacedP50 {
		t.Errorf("paced messages: %.0f/s offered, %.0f/s arrived, p50 %v, p99 %v", res.pacedRate, res.pacedPerSec, res.pacedP50, res.pacedP99)
	}
}

// raceEnabled reports whether this test binary was built with -race: the
// server is then built with -race too (reusing the compiled packages).
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
