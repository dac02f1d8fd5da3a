package main

import (
	"bytes"
	"runtime/debug"
	"testing"
)

// TestSmoke runs the tool with a few mails against a real `tidings serve`
// process, so the test command keeps it working, and checks that every
// headline arrives; the figures themselves come from
// `go run ./bench/notifylat`.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server; skipped with -short")
	}
	var out bytes.Buffer
	res, err := run(options{n: 20, rate: 100, size: 4096, warmup: 2, dir: t.TempDir() + "/data", race: raceEnabled()}, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.sent != 20 || res.arrived != 20 || res.p50 <= 0 || res.p99 < res.p50 || res.max < res.p99 || res.perSec <= 0 {
		t.Errorf("results: %+v", res)
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
