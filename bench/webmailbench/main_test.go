package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestSmoke runs the tool on a small folder so the test command keeps it
// working; the figures come from `go run ./bench/webmailbench`.
func TestSmoke(t *testing.T) {
	var out bytes.Buffer
	ts, err := run(options{n: 300, iter: 5, warmup: 1}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 6 || !strings.Contains(out.String(), "p99 < 100ms: ok") {
		t.Fatalf("output:\n%s", out.String())
	}
	t.Log("\n" + out.String())
}
