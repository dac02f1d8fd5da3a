package s2s

import (
	"bytes"
	"testing"

	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

func TestLoadSecretPersists(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		a, err := LoadSecret(t.Context(), db)
		if err != nil || len(a) != 32 {
			t.Fatalf("LoadSecret: %d bytes, %v", len(a), err)
		}
		b, err := LoadSecret(t.Context(), db)
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("second LoadSecret differs: %v", err)
		}
	})
}

func TestDialbackKey(t *testing.T) {
	got := dialbackKey([]byte("s3cr3tf0rd14lb4ck"), "example.net", "example.com", "D60000229F")
	if len(got) != 64 || got == dialbackKey([]byte("other secret"), "example.net", "example.com", "D60000229F") {
		t.Errorf("key %s", got)
	}
	if !keyValid([]byte("s3cr3tf0rd14lb4ck"), "example.net", "example.com", "D60000229F", got) ||
		keyValid([]byte("s3cr3tf0rd14lb4ck"), "example.net", "example.org", "D60000229F", got) {
		t.Error("keyValid")
	}
}
