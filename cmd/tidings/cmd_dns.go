package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/tidings/tidings/mail/dkim"
)

func init() {
	register("dns records", command{args: "DOMAIN", summary: "print the DNS records to publish for a domain", run: dnsRecords})
	register("dns check", command{args: "DOMAIN", summary: "look up a domain's DNS records, probe the ports they advertise, and say what is missing or wrong", run: dnsCheck})
}

// dnsRecord is one record to publish.
type dnsRecord struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
	Why   string `json:"why"`
}

// records computes what a domain needs: mail routing, sender
// authentication, and service discovery for the services that listen.
func records(ctx context.Context, s *cliStore, domain string) ([]dnsRecord, error) {
	d, err := s.Domain(ctx, domain)
	if err != nil {
		return nil, err
	}
	host, name := s.cfg.Hostname, d.Name
	var out []dnsRecord
	add := func(n, t, v, why string) { out = append(out, dnsRecord{n, t, v, why}) }
	if d.MailEnabled {
		add(name, "MX", "10 "+host+".", "mail for the domain goes to this server")
		add(name, "TXT", "v=spf1 mx -all", "SPF: only the MX hosts send mail for the domain")
		keys, err := dkim.New(s.db).List(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			n, v, err := k.Record()
			if err != nil {
				return nil, err
			}
			add(n, "TXT", v, "DKIM public key ("+k.Algorithm+")")
		}
		add("_dmarc."+name, "TXT", "v=DMARC1; p=quarantine; rua=mailto:postmaster@"+name, "DMARC: mail failing SPF and DKIM goes to spam; reports to postmaster")
		srv := []struct{ service, addr string }{
			{"_submissions._tcp", s.cfg.Listen.Submissions}, {"_submission._tcp", s.cfg.Listen.Submission},
			{"_imaps._tcp", s.cfg.Listen.IMAPS}, {"_imap._tcp", s.cfg.Listen.IMAP},
		}
		for _, x := range srv {
			if p := port(x.addr); p != "" {
				add(x.service+"."+name, "SRV", "0 1 "+p+" "+host+".", "mail client set-up (RFC 6186, RFC 8314)")
			}
		}
	}
	if d.XMPPEnabled {
		for _, x := range []struct{ service, addr string }{
			{"_xmpp-client._tcp", s.cfg.Listen.XMPPClient}, {"_xmpps-client._tcp", s.cfg.Listen.XMPPClientTLS},
			{"_xmpp-server._tcp", s.cfg.Listen.XMPPServer}, {"_xmpps-server._tcp", s.cfg.Listen.XMPPServerTLS},
		} {
			if p := port(x.addr); p != "" {
				add(x.service+"."+name, "SRV", "0 5 "+p+" "+host+".", "XMPP (RFC 6120 §3.2, XEP-0368)")
			}
		}
	}
	return out, nil
}

func port(addr string) string {
	if addr == "" {
		return ""
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil || p == "0" {
		return ""
	}
	return p
}

func dnsRecords(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "dns records", "DOMAIN").withJSON()
	return f.run(ctx, e, args, 1, 1, func(s *cliStore, pos []string) error {
		rs, err := records(ctx, s, pos[0])
		if err != nil {
			return err
		}
		if f.json {
			return printJSON(e.stdout, rs)
		}
		fmt.Fprintf(e.stdout, "; DNS records for %s. The server %s. also needs A/AAAA records for its public addresses,\n; and those addresses a PTR record back to %s.\n", pos[0], s.cfg.Hostname, s.cfg.Hostname)
		for _, r := range rs {
			fmt.Fprintf(e.stdout, "\n; %s\n%s.\tIN\t%s\t%s\n", r.Why, r.Name, r.Type, zoneValue(r))
		}
		return nil
	})
}

// zoneValue renders a record value for a zone file: TXT values quoted and
// split into strings of at most 255 bytes (RFC 1035 §3.3.14).
func zoneValue(r dnsRecord) string {
	if r.Type != "TXT" {
		return r.Value
	}
	var parts []string
	for v := r.Value; v != ""; {
		n := min(255, len(v))
		parts = append(parts, strconv.Quote(v[:n]))
		v = v[n:]
	}
	return strings.Join(parts, " ")
}

// errDNSProblems makes `dns check` exit non-zero.
var errDNSProblems = errors.New("some records or ports need attention")

func dnsCheck(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "dns check", "DOMAIN")
	noProbe := f.Bool("no-probe", false, "check the records only; do not connect to the ports they advertise")
	timeout := f.Duration("probe-timeout", defaultProbeTimeout, "how long each port gets to connect, greet and finish TLS")
	return f.run(ctx, e, args, 1, 1, func(s *cliStore, pos []string) error {
		if *timeout <= 0 {
			return usagef("--probe-timeout must be positive")
		}
		d, err := s.Domain(ctx, pos[0])
		if err != nil {
			return err
		}
		rs, err := records(ctx, s, pos[0])
		if err != nil {
			return err
		}
		res := s.cfg.resolver()
		rep := dnsReport{records: len(rs), probed: !*noProbe}
		for _, r := range rs {
			if problem := checkRecord(ctx, res, r); problem != "" {
				rep.badRecords++
				fmt.Fprintf(e.stdout, "WRONG  %s %s: %s\n       publish: %s. IN %s %s\n", r.Type, r.Name, problem, r.Name, r.Type, zoneValue(r))
			} else {
				fmt.Fprintf(e.stdout, "ok     %s %s\n", r.Type, r.Name)
			}
		}
		if rep.probed {
			p := newProber(s.cfg, *timeout)
			ts := p.plan(ctx, d.Name, d.MailEnabled, d.XMPPEnabled)
			rep.count(e.stdout, ts, p.run(ctx, ts))
		}
		return rep.summarize(e.stdout)
	})
}

// dnsReport counts what `dns check` found.
type dnsReport struct {
	records, badRecords    int
	probed                 bool
	probes, failed, warned int
}

// count prints the probes' results, one line each, and counts them.
func (r *dnsReport) count(w io.Writer, ts []probeTarget, res []probeResult) {
	if len(ts) > 0 {
		fmt.Fprintln(w)
	}
	for i, t := range ts {
		r.probes++
		switch res[i].status {
		case probeFail:
			r.failed++
		case probeWarn:
			r.warned++
		}
		fmt.Fprintf(w, "%-7s%s: %s\n", res[i].status, t, res[i].detail)
	}
}

func (r dnsReport) summarize(w io.Writer) error {
	fmt.Fprintln(w)
	if r.badRecords > 0 {
		fmt.Fprintf(w, "%d of %d records need attention (see 'tidings dns records').\n", r.badRecords, r.records)
	} else {
		fmt.Fprintf(w, "all %d records are in place.\n", r.records)
	}
	switch {
	case !r.probed:
	case r.probes == 0:
		fmt.Fprintln(w, "no ports to probe: the records advertise none.")
	case r.failed > 0:
		fmt.Fprintf(w, "%d of %d ports do not answer as they should.\n", r.failed, r.probes)
	case r.warned > 0:
		fmt.Fprintf(w, "all %d ports answer, %d with warnings.\n", r.probes, r.warned)
	default:
		fmt.Fprintf(w, "all %d ports answer.\n", r.probes)
	}
	if r.badRecords > 0 || r.failed > 0 {
		return errDNSProblems
	}
	return nil
}

// checkRecord returns "" if the record is published as expected, else
// what is wrong.
func checkRecord(ctx context.Context, res *net.Resolver, r dnsRecord) string {
	switch r.Type {
	case "MX":
		mxs, err := res.LookupMX(ctx, r.Name)
		if err != nil {
			return lookupProblem(err)
		}
		want := strings.Fields(r.Value)[1]
		for _, mx := range mxs {
			if strings.EqualFold(mx.Host, want) {
				return ""
			}
		}
		return fmt.Sprintf("no MX points to %s (found %s)", want, mxHosts(mxs))
	case "TXT":
		txts, err := res.LookupTXT(ctx, r.Name)
		if err != nil {
			return lookupProblem(err)
		}
		return checkTXT(r.Value, txts)
	case "SRV":
		_, srvs, err := res.LookupSRV(ctx, "", "", r.Name)
		if err != nil {
			return lookupProblem(err)
		}
		f := strings.Fields(r.Value)
		for _, s := range srvs {
			if strconv.Itoa(int(s.Port)) == f[2] && strings.EqualFold(s.Target, f[3]) {
				return ""
			}
		}
		return "no SRV record with target " + f[3] + " port " + f[2]
	}
	return ""
}

// checkTXT accepts an SPF or DMARC policy of the owner's own making (any
// record of that kind), but a DKIM key only if it is exactly ours.
func checkTXT(want string, have []string) string {
	kind, _, _ := strings.Cut(want, " ")
	for _, h := range have {
		switch {
		case h == want:
			return ""
		case kind != "v=DKIM1;" && strings.HasPrefix(h, kind):
			return ""
		}
	}
	if kind == "v=DKIM1;" && slices.ContainsFunc(have, func(h string) bool { return strings.HasPrefix(h, "v=DKIM1") }) {
		return "a DKIM key is published, but not this server's"
	}
	return "not published"
}

func lookupProblem(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return "not published"
	}
	return "lookup failed: " + err.Error()
}

func mxHosts(mxs []*net.MX) string {
	var hs []string
	for _, m := range mxs {
		hs = append(hs, m.Host)
	}
	if len(hs) == 0 {
		return "none"
	}
	return strings.Join(hs, ", ")
}
