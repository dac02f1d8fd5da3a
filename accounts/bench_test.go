package accounts

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/tidings/tidings/migrations/dbtest"
)

// BenchmarkAuthenticate measures a PLAIN login (lookup plus PBKDF2) at the
// default iteration count, on SQLite: the cost every IMAP/SMTP/XMPP PLAIN
// login pays.
func BenchmarkAuthenticate(b *testing.B) {
	cfg := DefaultConfig()
	s, err := New(dbtest.SQLite(b), cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	s.AddDomain(ctx, "capulet.example", DomainSettings{})
	if _, err := s.AddUser(ctx, NewUser{Address: "juliet@capulet.example", Password: pw}); err != nil {
		b.Fatal(err)
	}
	a := Attempt{Username: "juliet@capulet.example", Password: pw, Remote: netip.MustParseAddr("192.0.2.1"), Service: ServiceIMAP}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Authenticate(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUserLookup measures User by address among 10,000 users: what
// RCPT TO and every JID lookup cost.
func BenchmarkUserLookup(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SCRAMIterations = MinSCRAMIterations
	s, err := New(dbtest.SQLite(b), cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	s.AddDomain(ctx, "capulet.example", DomainSettings{})
	const n = 10000
	for i := range n {
		if _, err := s.AddUser(ctx, NewUser{Address: fmt.Sprintf("user%d@capulet.example", i), Password: pw}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := s.User(ctx, fmt.Sprintf("user%d@capulet.example", i%n)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
