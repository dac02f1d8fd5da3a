package main

// Port probes for `tidings dns check`. For each service a domain's DNS
// advertises — the MX hosts (RFC 5321 §5.1), the mail client SRV records
// (RFC 6186, RFC 8314), the XMPP SRV records (RFC 6120 §3.2.1, XEP-0368),
// or the domain itself on 5222/5269 when it has no XMPP SRV record
// (RFC 6120 §3.2.2) — the check connects to every address of the target
// and speaks a few bytes of the protocol: the greeting or the stream
// features, STARTTLS where the port offers it, the TLS handshake (with the
// XEP-0368 ALPN on direct-TLS XMPP ports), and the certificate, checked
// against the name a client checks. A certificate that is valid for the
// name but from an unknown authority is a warning, not a failure: Tidings
// makes a self-signed one until tls.cert_file is configured.

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// defaultProbeTimeout is what one port gets to connect, greet and
	// finish TLS (--probe-timeout).
	defaultProbeTimeout = 5 * time.Second
	// probeConcurrency is how many ports are probed at once.
	probeConcurrency = 8
	// probeReadLimit bounds what one probe reads from a port (before and
	// after TLS each): greetings and stream features are a few hundred
	// bytes.
	probeReadLimit = 64 << 10
)

// The probes' verdicts, in the columns `dns check` prints.
const (
	probeOK   = "ok"
	probeWarn = "warn"
	probeFail = "FAIL"
)

const (
	nsStreams     = "http://etherx.jabber.org/streams"       // RFC 6120 §4.8.1
	nsXMPPTLS     = "urn:ietf:params:xml:ns:xmpp-tls"        // RFC 6120 §5.4
	nsClient      = "jabber:client"                          // RFC 6120 §4.8.3
	nsServer      = "jabber:server"                          // RFC 6120 §4.8.3
	certUntrusted = "certificate not trusted (self-signed?)" // the warning
)

// probeProto is the protocol a port speaks.
type probeProto int

const (
	protoSMTP probeProto = iota
	protoIMAP
	protoXMPPClient
	protoXMPPServer
)

// probeService is one kind of port a domain advertises.
type probeService struct {
	name      string // the SRV service ("submissions", "xmpp-server"); "smtp" for the MX hosts
	proto     probeProto
	directTLS bool // TLS from the first byte (RFC 8314, XEP-0368); else STARTTLS
}

var (
	mxProbe    = probeService{"smtp", protoSMTP, false}
	mailProbes = []probeService{
		{"submissions", protoSMTP, true}, {"submission", protoSMTP, false},
		{"imaps", protoIMAP, true}, {"imap", protoIMAP, false},
	}
	xmppProbes = []probeService{
		{"xmpps-client", protoXMPPClient, true}, {"xmpp-client", protoXMPPClient, false},
		{"xmpps-server", protoXMPPServer, true}, {"xmpp-server", protoXMPPServer, false},
	}
)

// alpn is the protocol a direct-TLS XMPP port negotiates (XEP-0368 §3).
func (s probeService) alpn() string {
	switch {
	case !s.directTLS:
		return ""
	case s.proto == protoXMPPClient:
		return "xmpp-client"
	case s.proto == protoXMPPServer:
		return "xmpp-server"
	}
	return ""
}

func (s probeService) xmpp() bool { return s.proto == protoXMPPClient || s.proto == protoXMPPServer }

// prober probes the ports a domain's DNS advertises.
type prober struct {
	res     *net.Resolver
	timeout time.Duration  // per port
	helo    string         // our name in EHLO
	roots   *x509.CertPool // trust anchors; nil: the system's

	// The ports used without SRV records: SMTP on the MX hosts, XMPP on the
	// domain. Tests point them at their own listeners.
	smtpPort, xmppClientPort, xmppServerPort uint16
}

func newProber(cfg Config, timeout time.Duration) *prober {
	return &prober{res: cfg.resolver(), timeout: timeout, helo: cfg.Hostname,
		smtpPort: 25, xmppClientPort: 5222, xmppServerPort: 5269}
}

// probeTarget is one address to probe, or (err set) a service whose
// target could not be found.
type probeTarget struct {
	svc    probeService
	domain string
	host   string // MX or SRV target, or the domain; no trailing dot
	port   uint16
	ip     string
	note   string // how the target was found, if not by MX or SRV
	err    string // why there is nothing to connect to
}

func (t probeTarget) String() string {
	s := t.svc.name + " " + t.host
	if t.port != 0 { // 0: the lookup of the port failed
		s = t.svc.name + " " + net.JoinHostPort(t.host, strconv.Itoa(int(t.port)))
	}
	var in []string
	if t.ip != "" {
		in = append(in, t.ip)
	}
	if t.note != "" {
		in = append(in, t.note)
	}
	if len(in) > 0 {
		s += " (" + strings.Join(in, "; ") + ")"
	}
	return s
}

// certNames are the names a client checks the certificate against: the
// XMPP domain (RFC 6120 §13.7.2.1; the SRV target only with DNSSEC, which
// this check does not see), or for mail the host it connects to or the
// domain (RFC 7817 §3).
func (t probeTarget) certNames() []string {
	if t.svc.xmpp() || strings.EqualFold(t.host, t.domain) {
		return []string{t.domain}
	}
	return []string{t.host, t.domain}
}

// probeResult is a probe's verdict.
type probeResult struct {
	status string // probeOK, probeWarn or probeFail
	detail string
}

// plan lists the addresses to probe for domain, in a stable order.
func (p *prober) plan(ctx context.Context, domain string, mail, xmpp bool) []probeTarget {
	var hosts []probeTarget
	if mail {
		hosts = append(hosts, p.mxTargets(ctx, domain)...)
		for _, svc := range mailProbes {
			hosts = append(hosts, p.srvTargets(ctx, domain, svc, 0)...)
		}
	}
	if xmpp {
		for _, svc := range xmppProbes {
			var fallback uint16
			switch svc.name {
			case "xmpp-client":
				fallback = p.xmppClientPort
			case "xmpp-server":
				fallback = p.xmppServerPort
			}
			hosts = append(hosts, p.srvTargets(ctx, domain, svc, fallback)...)
		}
	}
	var out []probeTarget
	for _, h := range hosts {
		out = append(out, p.addresses(ctx, h)...)
	}
	return out
}

// mxTargets are the domain's MX hosts on the SMTP port. No MX record means
// nothing to probe: the record check reports it.
func (p *prober) mxTargets(ctx context.Context, domain string) []probeTarget {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	mxs, err := p.res.LookupMX(ctx, domain+".")
	if err != nil {
		return lookupFailure(mxProbe, domain, "MX", err)
	}
	var out []probeTarget
	for _, mx := range mxs {
		host := strings.TrimSuffix(mx.Host, ".")
		if host == "" { // null MX, RFC 7505: no mail service
			continue
		}
		out = appendTarget(out, probeTarget{svc: mxProbe, domain: domain, host: host, port: p.smtpPort})
	}
	return out
}

// srvTargets are the targets of _svc._tcp.domain. Without the record,
// fallback (if not 0) is the port to try on the domain itself.
func (p *prober) srvTargets(ctx context.Context, domain string, svc probeService, fallback uint16) []probeTarget {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	_, srvs, err := p.res.LookupSRV(ctx, "", "", "_"+svc.name+"._tcp."+domain+".")
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound && fallback != 0 {
		return []probeTarget{{svc: svc, domain: domain, host: domain, port: fallback, note: "no SRV record: the domain itself"}}
	}
	if err != nil {
		return lookupFailure(svc, domain, "SRV", err)
	}
	slices.SortStableFunc(srvs, func(a, b *net.SRV) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), strings.Compare(a.Target, b.Target), cmp.Compare(a.Port, b.Port))
	})
	var out []probeTarget
	for _, s := range srvs {
		host := strings.TrimSuffix(s.Target, ".")
		if host == "" { // "." : the service is decidedly not offered (RFC 2782)
			continue
		}
		out = appendTarget(out, probeTarget{svc: svc, domain: domain, host: host, port: s.Port})
	}
	return out
}

// lookupFailure is nothing to probe when the record is not published (the
// record check says so), else a failed target.
func lookupFailure(svc probeService, domain, rtype string, err error) []probeTarget {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return nil
	}
	return []probeTarget{{svc: svc, domain: domain, host: domain, err: rtype + " lookup failed: " + err.Error()}}
}

func appendTarget(ts []probeTarget, t probeTarget) []probeTarget {
	if slices.ContainsFunc(ts, func(o probeTarget) bool { return strings.EqualFold(o.host, t.host) && o.port == t.port }) {
		return ts
	}
	return append(ts, t)
}

// addresses expands a target into one per A/AAAA address of its host.
func (p *prober) addresses(ctx context.Context, t probeTarget) []probeTarget {
	if t.err != "" {
		return []probeTarget{t}
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	ips, err := p.res.LookupIPAddr(ctx, t.host+".")
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound, err == nil && len(ips) == 0:
		t.err = "no A/AAAA record for " + t.host
		return []probeTarget{t}
	case err != nil:
		t.err = "address lookup failed: " + err.Error()
		return []probeTarget{t}
	}
	out := make([]probeTarget, len(ips))
	for i, ip := range ips {
		out[i] = t
		out[i].ip = ip.String()
	}
	return out
}

// run probes the targets, probeConcurrency at a time, and returns the
// results in the targets' order.
func (p *prober) run(ctx context.Context, ts []probeTarget) []probeResult {
	out := make([]probeResult, len(ts))
	sem := make(chan struct{}, probeConcurrency)
	var wg sync.WaitGroup
	for i, t := range ts {
		if t.err != "" {
			out[i] = probeResult{probeFail, t.err}
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = p.probe(ctx, t)
		})
	}
	wg.Wait()
	return out
}

// probe connects to one address and speaks its protocol.
func (p *prober) probe(ctx context.Context, t probeTarget) (res probeResult) {
	defer func() {
		if r := recover(); r != nil {
			res = probeResult{probeFail, fmt.Sprintf("internal error: %v", r)}
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	s := &probeSession{p: p, t: t, ctx: ctx}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(t.ip, strconv.Itoa(int(t.port))))
	if err != nil {
		return probeResult{probeFail, s.describe("connect", err).Error()}
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	s.use(c)
	return s.run()
}

// probeSession is one probe's connection.
type probeSession struct {
	p     *prober
	t     probeTarget
	ctx   context.Context
	conn  net.Conn // TCP, then TLS
	r     *bufio.Reader
	tp    *textproto.Reader
	steps []string // what went well, for the report
	warns []string
	tls   *tls.ConnectionState
}

// use makes c the connection to speak on, with a fresh read limit.
func (s *probeSession) use(c net.Conn) {
	s.conn = c
	s.r = bufio.NewReader(io.LimitReader(c, probeReadLimit))
	s.tp = textproto.NewReader(s.r)
}

func (s *probeSession) run() probeResult {
	err := s.speak()
	if err == nil && s.tls != nil {
		err = s.checkCertificate()
	}
	switch {
	case err != nil:
		return probeResult{probeFail, err.Error()}
	case len(s.warns) > 0:
		return probeResult{probeWarn, strings.Join(s.steps, ", ") + "; " + strings.Join(s.warns, "; ")}
	}
	return probeResult{probeOK, strings.Join(s.steps, ", ")}
}

func (s *probeSession) speak() error {
	if s.t.svc.directTLS {
		if err := s.startTLS(); err != nil {
			return err
		}
	}
	switch s.t.svc.proto {
	case protoSMTP:
		return s.smtp()
	case protoIMAP:
		return s.imap()
	}
	return s.xmpp()
}

func (s *probeSession) write(step, text string) error {
	if _, err := io.WriteString(s.conn, text); err != nil {
		return s.describe(step, err)
	}
	return nil
}

// smtp reads the greeting (RFC 5321 §4.2: 220) and on a STARTTLS port
// starts TLS (RFC 3207).
func (s *probeSession) smtp() error {
	if _, _, err := s.tp.ReadResponse(220); err != nil {
		return s.describe("greeting", err)
	}
	s.steps = append(s.steps, "SMTP greeting")
	if s.t.svc.directTLS {
		return s.write("QUIT", "QUIT\r\n")
	}
	if err := s.write("EHLO", "EHLO "+s.p.helo+"\r\n"); err != nil {
		return err
	}
	_, msg, err := s.tp.ReadResponse(250)
	if err != nil {
		return s.describe("EHLO", err)
	}
	if !slices.ContainsFunc(strings.Split(msg, "\n")[1:], func(l string) bool { return strings.EqualFold(strings.TrimSpace(l), "STARTTLS") }) {
		if s.t.svc == mxProbe { // mail still arrives, in the clear
			s.warns = append(s.warns, "STARTTLS not offered")
			return s.write("QUIT", "QUIT\r\n")
		}
		return errors.New("STARTTLS not offered")
	}
	if err := s.write("STARTTLS", "STARTTLS\r\n"); err != nil {
		return err
	}
	if _, _, err := s.tp.ReadResponse(220); err != nil {
		return s.describe("STARTTLS", err)
	}
	if err := s.startTLS(); err != nil {
		return err
	}
	return s.write("QUIT", "QUIT\r\n")
}

// imap reads the greeting (RFC 9051 §7.1: * OK or * PREAUTH) and on a
// STARTTLS port starts TLS (RFC 9051 §6.2.1).
func (s *probeSession) imap() error {
	line, err := s.tp.ReadLine()
	if err != nil {
		return s.describe("greeting", err)
	}
	if !strings.HasPrefix(line, "* OK") && !strings.HasPrefix(line, "* PREAUTH") {
		return fmt.Errorf("greeting: not an IMAP greeting: %q", clip(line))
	}
	s.steps = append(s.steps, "IMAP greeting")
	if s.t.svc.directTLS {
		return s.write("LOGOUT", "p LOGOUT\r\n")
	}
	if err := s.write("STARTTLS", "p STARTTLS\r\n"); err != nil {
		return err
	}
	for {
		line, err := s.tp.ReadLine()
		if err != nil {
			return s.describe("STARTTLS", err)
		}
		if strings.HasPrefix(line, "p ") {
			if !strings.HasPrefix(strings.ToUpper(line), "P OK") {
				return fmt.Errorf("STARTTLS refused: %q", clip(line))
			}
			break
		}
	}
	if err := s.startTLS(); err != nil {
		return err
	}
	return s.write("LOGOUT", "p LOGOUT\r\n")
}

// xmpp opens a stream and reads its features (RFC 6120 §4.3); on a
// STARTTLS port it negotiates TLS (§5.4) and opens the stream again over it.
func (s *probeSession) xmpp() error {
	ns := nsClient
	if s.t.svc.proto == protoXMPPServer {
		ns = nsServer
	}
	dec, f, err := s.xmppStream(ns)
	if err != nil {
		return err
	}
	s.steps = append(s.steps, "XMPP stream features")
	if s.t.svc.directTLS {
		return nil
	}
	if f.StartTLS == nil {
		return errors.New("STARTTLS not offered in the stream features")
	}
	if err := s.write("STARTTLS", "<starttls xmlns='"+nsXMPPTLS+"'/>"); err != nil {
		return err
	}
	se, err := nextStart(dec)
	if err != nil {
		return s.describe("STARTTLS", err)
	}
	if se.Name != (xml.Name{Space: nsXMPPTLS, Local: "proceed"}) {
		return fmt.Errorf("STARTTLS refused: <%s>", se.Name.Local)
	}
	if err := s.startTLS(); err != nil {
		return err
	}
	if _, _, err := s.xmppStream(ns); err != nil {
		return fmt.Errorf("after STARTTLS: %w", err)
	}
	return nil
}

// streamFeatures is the part of <stream:features> the probe looks at.
type streamFeatures struct {
	StartTLS *struct{} `xml:"urn:ietf:params:xml:ns:xmpp-tls starttls"`
}

// xmppStream sends a stream header and reads the answer's header and
// features.
func (s *probeSession) xmppStream(ns string) (*xml.Decoder, *streamFeatures, error) {
	header := "<?xml version='1.0'?><stream:stream to='" + s.t.domain + "' version='1.0' xml:lang='en' xmlns='" + ns + "' xmlns:stream='" + nsStreams + "'>"
	if err := s.write("stream", header); err != nil {
		return nil, nil, err
	}
	dec := xml.NewDecoder(s.r)
	se, err := nextStart(dec)
	if err != nil {
		return nil, nil, s.describe("stream", err)
	}
	if se.Name != (xml.Name{Space: nsStreams, Local: "stream"}) {
		return nil, nil, fmt.Errorf("stream: answered <%s> instead of a stream header", se.Name.Local)
	}
	if se, err = nextStart(dec); err != nil {
		return nil, nil, s.describe("stream features", err)
	}
	switch se.Name {
	case xml.Name{Space: nsStreams, Local: "features"}:
		var f streamFeatures
		if err := dec.DecodeElement(&f, &se); err != nil {
			return nil, nil, s.describe("stream features", err)
		}
		return dec, &f, nil
	case xml.Name{Space: nsStreams, Local: "error"}:
		return nil, nil, fmt.Errorf("stream error: %s", streamErrorCondition(dec, se))
	}
	return nil, nil, fmt.Errorf("stream: sent <%s> instead of <stream:features>", se.Name.Local)
}

// nextStart returns the next start element, skipping whitespace and the
// XML declaration.
func nextStart(dec *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			return tok, nil
		case xml.EndElement:
			return xml.StartElement{}, io.EOF // </stream:stream>
		}
	}
}

// streamErrorCondition is the defined condition of a <stream:error>
// (RFC 6120 §4.9.3), e.g. "host-unknown".
func streamErrorCondition(dec *xml.Decoder, se xml.StartElement) string {
	var e struct {
		Children []struct{ XMLName xml.Name } `xml:",any"`
	}
	if dec.DecodeElement(&e, &se) != nil {
		return "unreadable"
	}
	for _, c := range e.Children {
		if c.XMLName.Local != "text" {
			return c.XMLName.Local
		}
	}
	return "no condition"
}

// startTLS does the handshake on the connection. The certificate is
// checked afterwards (checkCertificate), to tell an untrusted certificate
// from a wrong one.
func (s *probeSession) startTLS() error {
	cfg := &tls.Config{ServerName: s.t.certNames()[0], InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	alpn := s.t.svc.alpn()
	if alpn != "" {
		cfg.NextProtos = []string{alpn}
	}
	tc := tls.Client(s.conn, cfg)
	if err := tc.HandshakeContext(s.ctx); err != nil {
		return s.describe("TLS handshake", err)
	}
	cs := tc.ConnectionState()
	s.tls = &cs
	s.use(tc)
	step := "STARTTLS"
	if s.t.svc.directTLS {
		step = "TLS"
	}
	switch {
	case alpn == "":
	case cs.NegotiatedProtocol == alpn:
		step += " (ALPN " + alpn + ")"
	default:
		s.warns = append(s.warns, "the server did not confirm ALPN "+alpn)
	}
	s.steps = append(s.steps, step)
	return nil
}

// checkCertificate fails a certificate that is not for the names a client
// checks or that is expired, and warns about one from an unknown authority.
func (s *probeSession) checkCertificate() error {
	certs := s.tls.PeerCertificates
	if len(certs) == 0 {
		return errors.New("no certificate")
	}
	leaf, names := certs[0], s.t.certNames()
	if !slices.ContainsFunc(names, func(n string) bool { return leaf.VerifyHostname(n) == nil }) {
		return fmt.Errorf("certificate is for %s, not %s", cmp.Or(strings.Join(leaf.DNSNames, ", "), "no DNS name"), strings.Join(names, " or "))
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: s.p.roots, Intermediates: inter})
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	switch {
	case err == nil:
		s.steps = append(s.steps, "certificate valid")
		return nil
	case errors.As(err, &ua):
		s.warns = append(s.warns, certUntrusted)
		return nil
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		return fmt.Errorf("certificate expired or not yet valid (valid %s to %s)", leaf.NotBefore.Format(time.DateOnly), leaf.NotAfter.Format(time.DateOnly))
	}
	return fmt.Errorf("certificate: %w", err)
}

// describe words a network or protocol error of a step for the report.
func (s *probeSession) describe(step string, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: the server closed the connection", step)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: connection refused (port closed)", step)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%s: no answer within %v", step, s.p.timeout)
	}
	return fmt.Errorf("%s: %w", step, err)
}

// clip shortens a peer's line for the report.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
