package sieve

import (
	"context"
	"strings"
	"testing"
)

// An encoded or quoted display name must never pose as an address: only
// the angle-addr outside it counts.
func TestAddressNotFromDisplayName(t *testing.T) {
	s, err := Parse([]byte(`require "fileinto"; if address :is "from" "tybalt@capulet.example" { fileinto "Contacts"; }`), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{
		`=?utf-8?q?=3Ctybalt=40capulet=2Eexample=3E?= <paris@verona.example>`,
		`"<tybalt@capulet.example>" <paris@verona.example>`,
		`"<tybalt@capulet.example>, x" <paris@verona.example>`,
		`(<tybalt@capulet.example>) paris@verona.example`,
		`=?utf-8?q?Tybalt_=3Ctybalt=40capulet=2Eexample=3E,?= <paris@verona.example>`,
	} {
		raw := "From: " + from + "\r\nSubject: x\r\n\r\nbody\r\n"
		m, _ := NewMessage(strings.NewReader(raw), int64(len(raw)))
		res, err := s.Run(context.Background(), &Env{From: "paris@verona.example", To: "juliet@capulet.example", Msg: m})
		if err != nil {
			t.Fatal(err)
		}
		if res.Keep[0].Mailbox != "INBOX" {
			t.Errorf("From: %s matched tybalt: %+v", from, res.Keep)
		}
	}
	raw := "From: =?iso-8859-1?q?T=FFbalt?= <Tybalt@Capulet.example>\r\n\r\n"
	m, _ := NewMessage(strings.NewReader(raw), int64(len(raw)))
	res, _ := s.Run(context.Background(), &Env{Msg: m})
	if res.Keep[0].Mailbox != "Contacts" {
		t.Errorf("the real address did not match: %+v", res.Keep)
	}
}
