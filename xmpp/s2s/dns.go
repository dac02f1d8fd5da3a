package s2s

import (
	"context"
	"errors"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Resolver looks up SRV and address records; *net.Resolver is one.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// target is one place to connect to.
type target struct {
	host   string
	port   uint16
	direct bool // XEP-0368 direct TLS
}

func (t target) String() string {
	s := net.JoinHostPort(t.host, strconv.Itoa(int(t.port)))
	if t.direct {
		s += " (direct TLS)"
	}
	return s
}

// errNoService is a "." SRV target: the domain offers no federation.
var errNoService = errors.New("the domain's SRV record says it offers no XMPP federation")

// resolve lists where domain's XMPP server is (RFC 6120 §3.2, XEP-0368):
// the _xmpps-server and _xmpp-server SRV records merged by priority
// (direct TLS first at equal priority, weight order kept from the
// resolver), else the domain itself on port 5269.
func resolve(ctx context.Context, res Resolver, domain string) ([]target, error) {
	type rec struct {
		srv    *net.SRV
		direct bool
		order  int
	}
	var recs []rec
	var errs []error
	found := false
	for _, s := range []struct {
		service string
		direct  bool
	}{{"xmpps-server", true}, {"xmpp-server", false}} {
		_, srvs, err := res.LookupSRV(ctx, s.service, "tcp", domain)
		if err != nil {
			var de *net.DNSError
			if !errors.As(err, &de) || !de.IsNotFound {
				errs = append(errs, err)
			}
		}
		for _, r := range srvs {
			found = true
			if r.Target == "." || r.Target == "" {
				continue
			}
			recs = append(recs, rec{r, s.direct, len(recs)})
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if found && len(recs) == 0 {
		return nil, errNoService
	}
	if len(recs) == 0 {
		if len(errs) > 0 {
			return nil, errs[0]
		}
		return []target{{host: domain, port: 5269}}, nil
	}
	sort.SliceStable(recs, func(i, j int) bool {
		if recs[i].srv.Priority != recs[j].srv.Priority {
			return recs[i].srv.Priority < recs[j].srv.Priority
		}
		return recs[i].direct && !recs[j].direct
	})
	out := make([]target, 0, len(recs))
	for _, r := range recs {
		out = append(out, target{host: strings.TrimSuffix(r.srv.Target, "."), port: r.srv.Port, direct: r.direct})
	}
	return out, nil
}
