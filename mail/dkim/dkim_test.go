package dkim

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

const msg = "From: Juliet <juliet@capulet.example>\r\nTo: romeo@montague.example\r\nSubject: tonight\r\n" +
	"Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@capulet.example>\r\n\r\nBalcony, at nine.\r\n"

func TestSignVerify(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		ctx := context.Background()
		k := New(db)
		if err := k.EnsureKeys(ctx, "Capulet.Example"); err != nil {
			t.Fatal(err)
		}
		if err := k.EnsureKeys(ctx, "capulet.example"); err != nil {
			t.Fatal(err)
		}
		keys, err := k.List(ctx, "capulet.example")
		if err != nil || len(keys) != 2 || keys[0].Algorithm != "ed25519" || keys[1].Algorithm != "rsa" {
			t.Fatalf("keys = %+v, %v", keys, err)
		}
		zone := map[string]string{}
		for _, key := range keys {
			name, value, err := key.Record()
			if err != nil {
				t.Fatal(err)
			}
			zone[name] = value
		}
		if v := zone["tidings-ed._domainkey.capulet.example"]; !strings.HasPrefix(v, "v=DKIM1; k=ed25519; p=") || len(v) != len("v=DKIM1; k=ed25519; p=")+44 {
			t.Errorf("ed25519 record %q", v)
		}
		signed, err := k.Sign(ctx, "capulet.example", []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(signed, []byte(msg)) || bytes.Count(signed, []byte("DKIM-Signature:")) != 2 {
			t.Fatalf("signed:\n%s", signed)
		}
		opts := &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) { return []string{zone[name]}, nil }}
		verify := func(m []byte) []*dkim.Verification {
			vs, err := dkim.VerifyWithOptions(bytes.NewReader(m), opts)
			if err != nil {
				t.Fatal(err)
			}
			return vs
		}
		for _, v := range verify(signed) {
			if v.Err != nil || v.Domain != "capulet.example" {
				t.Errorf("verification %+v", v)
			}
		}
		tampered := bytes.Replace(signed, []byte("Subject: tonight"), []byte("Subject: never"), 1)
		for _, v := range verify(tampered) {
			if v.Err == nil {
				t.Error("a changed Subject still verifies")
			}
		}
		// An added second From breaks it too (over-signing).
		added := bytes.Replace(signed, []byte("To: romeo"), []byte("From: mallory@evil.example\r\nTo: romeo"), 1)
		for _, v := range verify(added) {
			if v.Err == nil {
				t.Error("an added From still verifies")
			}
		}
		if _, err := k.Sign(ctx, "elsewhere.example", []byte(msg)); err == nil {
			t.Error("signed for a domain without keys")
		}
	})
}
