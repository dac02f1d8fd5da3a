package main

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// zone is a small authoritative DNS server for the test, on loopback.
type zone struct {
	mu      sync.Mutex
	records []dns.RR
	addr    string
}

func startZone(t *testing.T) *zone {
	z := &zone{}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z.addr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(z.serve)}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return z
}

func (z *zone) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	z.mu.Lock()
	for _, q := range req.Question {
		for _, rr := range z.records {
			h := rr.Header()
			if strings.EqualFold(h.Name, q.Name) && h.Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
	}
	z.mu.Unlock()
	if len(m.Answer) == 0 {
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
}

func (z *zone) publish(t *testing.T, r dnsRecord) {
	t.Helper()
	v := r.Value
	if r.Type == "TXT" {
		v = zoneValue(r)
	}
	rr, err := dns.NewRR(r.Name + ". 300 IN " + r.Type + " " + v)
	if err != nil {
		t.Fatalf("%s: %v", r.Name, err)
	}
	z.mu.Lock()
	z.records = append(z.records, rr)
	z.mu.Unlock()
}

func TestDNSRecordsAndCheck(t *testing.T) {
	z := startZone(t)
	environ := testEnv(t, "TIDINGS_HOSTNAME=mail.capulet.example", "TIDINGS_RESOLVER="+z.addr,
		"TIDINGS_LISTEN_SUBMISSIONS=:465", "TIDINGS_LISTEN_XMPP_CLIENT=:5222", "TIDINGS_LISTEN_XMPP_SERVER=:5269")
	if r := runCmd(t, environ, nil, "domain", "add", "capulet.example"); r.code != 0 {
		t.Fatal(r)
	}
	r := runCmd(t, environ, nil, "dns", "records", "--json", "capulet.example")
	var rs []dnsRecord
	if err := json.Unmarshal([]byte(r.stdout), &rs); err != nil || r.code != 0 {
		t.Fatalf("%v\n%v", err, r)
	}
	types := map[string]bool{}
	for _, rec := range rs {
		types[rec.Type+" "+strings.SplitN(rec.Name, ".", 2)[0]] = true
	}
	for _, want := range []string{"MX capulet", "TXT capulet", "TXT tidings-ed", "TXT tidings-rsa", "TXT _dmarc",
		"SRV _submissions", "SRV _xmpp-client", "SRV _xmpp-server"} {
		if !types[want] {
			t.Errorf("records lack %s: %v", want, types)
		}
	}
	if types["SRV _imaps"] || types["SRV _xmpps-client"] {
		t.Errorf("records for listeners that are off: %v", types)
	}
	// Nothing published: every record is reported, exit 1.
	if r := runCmd(t, environ, nil, "dns", "check", "capulet.example"); r.code != exitFailure || strings.Count(r.stdout, "WRONG") != len(rs) {
		t.Fatalf("empty zone: %v", r)
	}
	for _, rec := range rs {
		if rec.Type != "SRV" || !strings.HasPrefix(rec.Name, "_xmpp-server") {
			z.publish(t, rec)
		}
	}
	r = runCmd(t, environ, nil, "dns", "check", "capulet.example")
	if r.code != exitFailure || strings.Count(r.stdout, "WRONG") != 1 || !strings.Contains(r.stdout, "WRONG  SRV _xmpp-server._tcp.capulet.example: not published") {
		t.Fatalf("one missing: %v", r)
	}
	z.publish(t, dnsRecord{Name: "_xmpp-server._tcp.capulet.example", Type: "SRV", Value: "0 5 5269 mail.capulet.example."})
	if r := runCmd(t, environ, nil, "dns", "check", "capulet.example"); r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("all %d records are in place", len(rs))) {
		t.Fatalf("complete zone: %v", r)
	}
}
