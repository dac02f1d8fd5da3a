// Package testdns is an authoritative DNS server for tests: it serves
// zone-file records on a loopback address (UDP and TCP on one port) and
// records the questions it was asked. Tests point the resolver under test
// at Server.Addr (Tidings' `resolver` key, Prosody's unbound forward) or
// use Server.Resolver for Go code.
package testdns

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server is a running test DNS server.
type Server struct {
	Addr string // host:port, UDP and TCP

	servers []*dns.Server
	mu      sync.Mutex
	rrs     []dns.RR
	seen    []string // "MX montague.example."
}

// Start serves records (zone-file lines) on 127.0.0.1 until the test ends.
// Names with records of other types get NODATA, unknown names NXDOMAIN.
func Start(t testing.TB, records ...string) *Server {
	t.Helper()
	d, err := New(records...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// New is Start for programs that are not tests (the bench tools): the
// caller stops the server with Close.
func New(records ...string) (*Server, error) {
	d := &Server{}
	if err := d.add(records); err != nil {
		return nil, err
	}
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ln == nil; i++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		if ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
			pc.Close()
			if i == 20 {
				return nil, fmt.Errorf("testdns: no port free for both UDP and TCP: %w", err)
			}
		}
	}
	d.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(d.serve)
	d.servers = []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}}
	for _, srv := range d.servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
	}
	return d, nil
}

// Close stops the server.
func (d *Server) Close() {
	for _, srv := range d.servers {
		srv.Shutdown()
	}
}

// Add adds records (zone-file lines).
func (d *Server) Add(t testing.TB, records ...string) {
	t.Helper()
	if err := d.add(records); err != nil {
		t.Fatal(err)
	}
}

func (d *Server) add(records []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			return fmt.Errorf("record %q: %w", r, err)
		}
		d.rrs = append(d.rrs, rr)
	}
	return nil
}

// Asked reports whether the server was asked question ("MX montague.example.").
func (d *Server) Asked(question string) bool { return slices.Contains(d.Questions(), question) }

// Questions returns the questions asked so far.
func (d *Server) Questions() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.seen)
}

// Resolver returns a Go resolver that asks only this server.
func (d *Server) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dd net.Dialer
		return dd.DialContext(ctx, network, d.Addr)
	}}
}

func (d *Server) serve(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	known := false
	d.mu.Lock()
	d.seen = append(d.seen, dns.TypeToString[q.Qtype]+" "+strings.ToLower(q.Name))
	for _, rr := range d.rrs {
		if h := rr.Header(); strings.EqualFold(h.Name, q.Name) {
			known = true
			if h.Rrtype == q.Qtype {
				m.Answer = append(m.Answer, dns.Copy(rr))
			}
		}
	}
	d.mu.Unlock()
	if len(m.Answer) == 0 {
		// Negative answers carry the SOA of the question's top-level
		// domain, the zone this server pretends to be authoritative for.
		labels := dns.SplitDomainName(q.Name)
		zone := "."
		if len(labels) > 0 {
			zone = labels[len(labels)-1] + "."
		}
		soa, _ := dns.NewRR(zone + " 60 IN SOA ns." + zone + " hostmaster." + zone + " 1 3600 600 86400 60")
		m.Ns = []dns.RR{soa}
		if !known {
			m.Rcode = dns.RcodeNameError
		}
	}
	w.WriteMsg(m)
}
