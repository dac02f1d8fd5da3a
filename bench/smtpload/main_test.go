package main

import "testing"

// TestSmoke runs the load tool briefly so the test command keeps it
// working; the figures themselves come from `go run ./bench/smtpload`.
func TestSmoke(t *testing.T) {
	if err := run(2, 40, 4096, t.TempDir()); err != nil {
		t.Fatal(err)
	}
}
