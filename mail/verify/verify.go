// Package verify checks where incoming mail comes from: SPF for the
// envelope sender (RFC 7208, blitiri.com.ar/go/spf), DKIM signatures
// (RFC 6376, go-msgauth), and DMARC for the From domain (RFC 7489), whose
// alignment and policy this package evaluates itself (go-msgauth only
// parses the record). The result is an Authentication-Results header
// (RFC 8601) and a verdict: deliver, deliver to Junk (quarantine), or
// reject.
//
// Implementation notes:
//   - Organizational domains come from the public suffix list
//     (golang.org/x/net/publicsuffix), for relaxed alignment (RFC 7489
//     §3.2) and the fallback record lookup (§6.6.3).
//   - A DMARC record's pct applies the policy to that share of failing
//     mail (§6.6.4); the rest is treated as one policy level lower.
//   - DNS failures give temperror results, which never reject mail.
//   - At most maxSignatures DKIM signatures are verified per message.
package verify

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// maxSignatures bounds the DKIM work one message can cause.
const maxSignatures = 5

// Resolver is what the checks look up; *net.Resolver is one.
type Resolver interface {
	spf.DNSResolver
}

// Verifier runs the checks.
type Verifier struct {
	Hostname string   // authserv-id of the Authentication-Results header
	Resolver Resolver // nil: net.DefaultResolver
}

// Input describes a message received over SMTP.
type Input struct {
	RemoteIP net.IP
	HELO     string
	MailFrom string // the envelope sender; "" for the null sender
	Message  io.ReaderAt
	Size     int64
}

// Action is what DMARC asks the receiver to do.
type Action int

// The actions.
const (
	Deliver Action = iota
	Quarantine
	Reject
)

// String names the action for logs.
func (a Action) String() string {
	switch a {
	case Deliver:
		return "deliver"
	case Quarantine:
		return "quarantine"
	case Reject:
		return "reject"
	}
	return "unknown"
}

// Result is the outcome of the checks.
type Result struct {
	SPF        spf.Result
	SPFDomain  string
	DKIM       []DKIM
	DMARC      authres.ResultValue // pass, fail, none, temperror, permerror
	FromDomain string
	Action     Action
	Header     string // "Authentication-Results: ...\r\n"
}

// DKIM is one signature's outcome.
type DKIM struct {
	Domain string
	Pass   bool
	Temp   bool // a DNS failure, not a bad signature
	Reason string
}

func (v *Verifier) resolver() Resolver {
	if v.Resolver == nil {
		return net.DefaultResolver
	}
	return v.Resolver
}

// Check runs SPF, DKIM and DMARC.
func (v *Verifier) Check(ctx context.Context, in Input) Result {
	var r Result
	r.SPF, r.SPFDomain = v.checkSPF(ctx, in)
	r.DKIM = v.checkDKIM(ctx, in)
	v.checkDMARC(ctx, in, &r)
	r.Header = v.header(in, r)
	return r
}

func (v *Verifier) checkSPF(ctx context.Context, in Input) (spf.Result, string) {
	sender := in.MailFrom
	if sender == "" {
		sender = "postmaster@" + in.HELO // RFC 7208 §2.4: the HELO identity
	}
	res, _ := spf.CheckHostWithSender(in.RemoteIP, in.HELO, sender, spf.WithContext(ctx), spf.WithResolver(v.resolver()))
	return res, domainOf(sender)
}

func (v *Verifier) checkDKIM(ctx context.Context, in Input) []DKIM {
	lookup := func(name string) ([]string, error) { return v.resolver().LookupTXT(ctx, name) }
	vs, err := dkim.VerifyWithOptions(io.NewSectionReader(in.Message, 0, in.Size),
		&dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: maxSignatures})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return nil
	}
	out := make([]DKIM, 0, len(vs))
	for _, s := range vs {
		d := DKIM{Domain: strings.ToLower(s.Domain), Pass: s.Err == nil}
		if s.Err != nil {
			d.Reason, d.Temp = s.Err.Error(), dkim.IsTempFail(s.Err)
		}
		out = append(out, d)
	}
	return out
}

func (v *Verifier) checkDMARC(ctx context.Context, in Input, r *Result) {
	from, err := fromDomain(in)
	if err != nil {
		r.DMARC = authres.ResultPermError
		return
	}
	r.FromDomain = from
	rec, recDomain, err := v.lookupDMARC(ctx, from)
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		r.DMARC = authres.ResultNone
		return
	case err != nil && dmarc.IsTempFail(err):
		r.DMARC = authres.ResultTempError
		return
	case err != nil:
		r.DMARC = authres.ResultPermError
		return
	}
	if v.aligned(r, rec, from) {
		r.DMARC = authres.ResultPass
		return
	}
	r.DMARC = authres.ResultFail
	r.Action = policyAction(rec, from != recDomain)
}

// lookupDMARC finds the record of the From domain or of its
// organizational domain (RFC 7489 §6.6.3).
func (v *Verifier) lookupDMARC(ctx context.Context, from string) (*dmarc.Record, string, error) {
	opts := &dmarc.LookupOptions{LookupTXT: func(name string) ([]string, error) { return v.resolver().LookupTXT(ctx, name) }}
	rec, err := dmarc.LookupWithOptions(from, opts)
	if !errors.Is(err, dmarc.ErrNoPolicy) {
		return rec, from, err
	}
	org := orgDomain(from)
	if org == from {
		return nil, from, err
	}
	rec, err = dmarc.LookupWithOptions(org, opts)
	return rec, org, err
}

// aligned: DMARC passes if SPF passed for an aligned domain, or a DKIM
// signature of an aligned domain verified (RFC 7489 §3.1).
func (v *Verifier) aligned(r *Result, rec *dmarc.Record, from string) bool {
	if r.SPF == spf.Pass && alignedDomains(r.SPFDomain, from, rec.SPFAlignment) {
		return true
	}
	for _, d := range r.DKIM {
		if d.Pass && alignedDomains(d.Domain, from, rec.DKIMAlignment) {
			return true
		}
	}
	return false
}

func alignedDomains(a, from string, mode dmarc.AlignmentMode) bool {
	if strings.EqualFold(a, from) {
		return true
	}
	return mode != dmarc.AlignmentStrict && orgDomain(a) == orgDomain(from)
}

// policyAction applies p (or sp for a subdomain) and pct.
func policyAction(rec *dmarc.Record, subdomain bool) Action {
	p := rec.Policy
	if subdomain && rec.SubdomainPolicy != "" {
		p = rec.SubdomainPolicy
	}
	a := Deliver
	switch p {
	case dmarc.PolicyReject:
		a = Reject
	case dmarc.PolicyQuarantine:
		a = Quarantine
	}
	if rec.Percent != nil && rand.IntN(100) >= *rec.Percent && a > Deliver {
		a-- // RFC 7489 §6.6.4: outside pct, apply the next policy down
	}
	return a
}

func orgDomain(d string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(strings.ToLower(d))
	if err != nil {
		return strings.ToLower(d)
	}
	return org
}

func domainOf(addr string) string {
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}

// fromDomain returns the domain of the single From address (RFC 7489
// §6.6.1: several or none make the message ineligible).
func fromDomain(in Input) (string, error) {
	r := mail.Header{}
	if h, err := readHeader(io.NewSectionReader(in.Message, 0, in.Size)); err == nil {
		r = h
	}
	list, err := r.AddressList("From")
	if err != nil || len(list) != 1 {
		return "", fmt.Errorf("need exactly one From address")
	}
	return domainOf(list[0].Address), nil
}

// header renders the Authentication-Results field (RFC 8601).
func (v *Verifier) header(in Input, r Result) string {
	results := []authres.Result{&authres.SPFResult{Value: authres.ResultValue(r.SPF), From: in.MailFrom, Helo: in.HELO}}
	if len(r.DKIM) == 0 {
		results = append(results, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range r.DKIM {
		var val authres.ResultValue = authres.ResultPass
		switch {
		case d.Temp:
			val = authres.ResultTempError
		case !d.Pass:
			val = authres.ResultFail
		}
		results = append(results, &authres.DKIMResult{Value: val, Domain: d.Domain})
	}
	results = append(results, &authres.DMARCResult{Value: r.DMARC, From: r.FromDomain})
	return "Authentication-Results: " + authres.Format(v.Hostname, results) + "\r\n"
}

func readHeader(r io.Reader) (mail.Header, error) {
	h, err := textproto.ReadHeader(bufio.NewReader(io.LimitReader(r, maxHeader)))
	return mail.Header{Header: message.Header{Header: h}}, err
}

// maxHeader bounds the header read for the From address.
const maxHeader = 1 << 20
