package main

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEnsureSelfSigned walks one certificate through its life with a fake
// clock: made once, reused while it covers the names and is not about to
// expire, remade otherwise.
func TestEnsureSelfSigned(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tls") // created by ensureSelfSigned
	cert, key := filepath.Join(dir, "selfsigned.crt"), filepath.Join(dir, "selfsigned.key")
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	soon := t0.Add(selfSignedLife - selfSignedRenew + time.Hour)   // within the renewal margin of a t0 certificate
	notYet := t0.Add(selfSignedLife - selfSignedRenew - time.Hour) // just before it
	names := []string{testHostname, "capulet.example"}
	more := append(slices.Clone(names), "montague.example")

	other := filepath.Join(t.TempDir(), "other")
	if _, err := ensureSelfSigned(filepath.Join(other, "c"), filepath.Join(other, "k"), names, t0); err != nil {
		t.Fatal(err)
	}
	copyFile := func(from, to string) func(t *testing.T) {
		return func(t *testing.T) {
			b, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(to, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}

	steps := []struct {
		name   string
		setup  func(t *testing.T)
		names  []string
		now    time.Time
		made   bool
		issued time.Time // when the certificate on disk afterwards was made
	}{
		{name: "first start", names: names, now: t0, made: true, issued: t0},
		{name: "restart", names: names, now: t0.Add(time.Minute), made: false, issued: t0},
		{name: "fewer names", names: names[:1], now: t0, made: false, issued: t0},
		{name: "same names, other order and case", names: []string{"Capulet.Example", testHostname}, now: t0, made: false, issued: t0},
		{name: "outside the renewal margin", names: names, now: notYet, made: false, issued: t0},
		{name: "new domain", names: more, now: t0, made: true, issued: t0},
		{name: "expiring soon", names: more, now: soon, made: true, issued: soon},
		{name: "renewed one is kept", names: more, now: soon.Add(time.Hour), made: false, issued: soon},
		{name: "expired", names: more, now: soon.Add(selfSignedLife + time.Hour), made: true, issued: soon.Add(selfSignedLife + time.Hour)},
		{name: "corrupt certificate", setup: func(t *testing.T) { os.WriteFile(cert, []byte("garbage"), 0o644) },
			names: more, now: t0, made: true, issued: t0},
		{name: "key lost", setup: func(t *testing.T) { os.Remove(key) }, names: more, now: t0, made: true, issued: t0},
		{name: "key of another certificate", setup: copyFile(filepath.Join(other, "k"), key), names: more, now: t0, made: true, issued: t0},
		{name: "clock set back before the certificate", names: more, now: t0.Add(-24 * time.Hour), made: true, issued: t0.Add(-24 * time.Hour)},
		{name: "certificate lost", setup: func(t *testing.T) { os.Remove(cert) }, names: more, now: t0, made: true, issued: t0},
	}
	for i := range steps {
		s := &steps[i]
		ok := t.Run(s.name, func(t *testing.T) {
			if s.setup != nil {
				s.setup(t)
			}
			before, _ := os.ReadFile(cert)
			made, err := ensureSelfSigned(cert, key, s.names, s.now)
			if err != nil {
				t.Fatal(err)
			}
			if made != s.made {
				t.Errorf("made = %v, want %v", made, s.made)
			}
			after, err := os.ReadFile(cert)
			if err != nil {
				t.Fatal(err)
			}
			if changed := !bytes.Equal(before, after); changed != s.made {
				t.Errorf("certificate file changed = %v, want %v", changed, s.made)
			}
			pair, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				t.Fatalf("the files on disk are not a key pair: %v", err)
			}
			leaf := pair.Leaf
			for _, n := range s.names {
				if err := leaf.VerifyHostname(n); err != nil {
					t.Errorf("certificate does not cover %s: %v", n, err)
				}
			}
			if want := s.issued.Add(selfSignedLife); !leaf.NotAfter.Equal(want) {
				t.Errorf("NotAfter = %v, want %v", leaf.NotAfter, want)
			}
			if !leaf.NotBefore.Before(s.issued) {
				t.Errorf("NotBefore = %v, not before issuance at %v", leaf.NotBefore, s.issued)
			}
			if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("key file: %v, %v; want mode 0600", st.Mode(), err)
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".tmp-") {
					t.Errorf("temporary file left behind: %s", e.Name())
				}
			}
		})
		if !ok {
			t.FailNow()
		}
	}
}
