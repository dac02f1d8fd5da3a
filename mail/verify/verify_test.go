package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net"
	"strings"
	"testing"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dkim"
)

// zone answers TXT queries from a table; "TEMP" makes a lookup fail
// temporarily.
type zone map[string][]string

func (z zone) LookupTXT(_ context.Context, name string) ([]string, error) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if v, ok := z[name]; ok {
		if len(v) == 1 && v[0] == "TEMP" {
			return nil, &net.DNSError{Err: "timeout", Name: name, IsTemporary: true, IsTimeout: true}
		}
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (z zone) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (z zone) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (z zone) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

func sign(t *testing.T, z zone, domain, msg string) string {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	z["sel._domainkey."+domain] = []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
	var b bytes.Buffer
	if err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: "sel", Signer: priv, Hash: crypto.SHA256}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func msg(from string) string {
	return "From: " + from + "\r\nTo: romeo@montague.example\r\nSubject: hi\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\nbody\r\n"
}

func TestCheck(t *testing.T) {
	z := zone{
		"capulet.example":            {"v=spf1 ip4:192.0.2.1 -all"},
		"bounce.capulet.example":     {"v=spf1 ip4:192.0.2.1 -all"},
		"_dmarc.capulet.example":     {"v=DMARC1; p=reject; sp=none"},
		"quiet.example":              {"v=spf1 -all"},
		"_dmarc.quiet.example":       {"v=DMARC1; p=quarantine"},
		"strict.example":             {"v=spf1 ip4:192.0.2.1 -all"},
		"mail.strict.example":        {"v=spf1 ip4:192.0.2.1 -all"},
		"_dmarc.strict.example":      {"v=DMARC1; p=reject; aspf=s"},
		"_dmarc.flaky.example":       {"TEMP"},
		"_dmarc.nopolicy.example.co": {},
	}
	signedCapulet := sign(t, z, "capulet.example", msg("Juliet <juliet@capulet.example>"))
	signedOther := sign(t, z, "evil.example", msg("juliet@capulet.example"))
	good, bad := net.ParseIP("192.0.2.1"), net.ParseIP("203.0.113.9")
	cases := []struct {
		name     string
		ip       net.IP
		mailFrom string
		message  string
		spf      spf.Result
		dmarc    string
		action   Action
		header   []string
	}{
		{"signed and SPF pass", good, "juliet@capulet.example", signedCapulet, spf.Pass, "pass", Deliver,
			[]string{"spf=pass", "dkim=pass header.d=capulet.example", "dmarc=pass header.from=capulet.example"}},
		{"DKIM alone passes", bad, "", signedCapulet, spf.None, "pass", Deliver, []string{"dkim=pass"}},
		{"forged From", bad, "evil@evil.example", msg("juliet@capulet.example"), spf.None, "fail", Reject, []string{"dkim=none", "dmarc=fail"}},
		{"unaligned DKIM", bad, "evil@evil.example", signedOther, spf.None, "fail", Reject, []string{"dkim=pass header.d=evil.example", "dmarc=fail"}},
		{"SPF fail, quarantine", bad, "x@quiet.example", msg("x@quiet.example"), spf.Fail, "fail", Quarantine, []string{"spf=fail"}},
		{"relaxed SPF alignment", good, "b@bounce.capulet.example", msg("juliet@capulet.example"), spf.Pass, "pass", Deliver, nil},
		{"strict SPF alignment", good, "b@mail.strict.example", msg("x@strict.example"), spf.Pass, "fail", Reject, nil},
		{"subdomain uses sp", bad, "", msg("news@news.capulet.example"), spf.None, "fail", Deliver, nil},
		{"no record", bad, "", msg("x@montague.example"), spf.None, "none", Deliver, []string{"dmarc=none"}},
		{"DNS trouble", bad, "", msg("x@flaky.example"), spf.None, "temperror", Deliver, []string{"dmarc=temperror"}},
		{"two From addresses", bad, "", msg("a@capulet.example, b@capulet.example"), spf.None, "permerror", Deliver, nil},
	}
	v := &Verifier{Hostname: "mail.montague.example", Resolver: z}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := v.Check(context.Background(), Input{RemoteIP: tc.ip, HELO: "client.example", MailFrom: tc.mailFrom,
				Message: strings.NewReader(tc.message), Size: int64(len(tc.message))})
			if r.SPF != tc.spf || string(r.DMARC) != tc.dmarc || r.Action != tc.action {
				t.Errorf("%d: spf %s dmarc %s action %d; want %s %s %d", i, r.SPF, r.DMARC, r.Action, tc.spf, tc.dmarc, tc.action)
			}
			if !strings.HasPrefix(r.Header, "Authentication-Results: mail.montague.example;") || !strings.HasSuffix(r.Header, "\r\n") {
				t.Errorf("header %q", r.Header)
			}
			for _, want := range tc.header {
				if !strings.Contains(r.Header, want) {
					t.Errorf("%d: header lacks %q: %s", i, want, r.Header)
				}
			}
		})
	}
}

func TestPercent(t *testing.T) {
	z := zone{"_dmarc.half.example": {"v=DMARC1; p=reject; pct=50"}}
	v := &Verifier{Hostname: "mx", Resolver: z}
	m := msg("x@half.example")
	seen := map[Action]int{}
	for range 200 {
		r := v.Check(context.Background(), Input{RemoteIP: net.ParseIP("203.0.113.9"), HELO: "x", Message: strings.NewReader(m), Size: int64(len(m))})
		seen[r.Action]++
	}
	if seen[Reject] < 50 || seen[Quarantine] < 50 || seen[Deliver] != 0 {
		t.Errorf("pct=50 gave %v; want about half reject, half quarantine", seen)
	}
}
