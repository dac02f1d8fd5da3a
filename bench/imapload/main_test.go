package main

import (
	"testing"
	"time"
)

// TestSmoke runs the load tool on a small mailbox so the test command keeps
// it working; the figures come from `go run ./bench/imapload`.
func TestSmoke(t *testing.T) {
	if err := run(300, 2, time.Second); err != nil {
		t.Fatal(err)
	}
}
